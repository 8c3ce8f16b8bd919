"""Airflow plugin: the "Storage tiers" page (latest tier report and chart) in the Airflow UI nav."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from tierflow_airflow.ui.app import app


class TierflowUiPlugin(AirflowPlugin):
    name = "tierflow_ui"
    fastapi_apps = [{"app": app, "url_prefix": "/tierflow", "name": "tierflow storage tiers"}]
    external_views = [
        {
            "name": "Storage tiers",
            # Relative to the UI's base URL, so it works behind a proxy prefix too.
            "href": "tierflow/storage-tiers/",
            "url_route": "storage-tiers",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
