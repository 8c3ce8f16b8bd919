"""TierflowHook: builds tierflow ``Settings`` from Airflow Connections and Variables."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook, Variable
from tierflow.config import Settings

from tierflow_airflow import connections as ids


def _conn_uri(conn_id: str) -> str | None:
    from airflow.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    return conn.get_uri()


def _normalise(uri: str, scheme: str) -> str:
    """Airflow renders 'postgres://' and 'mysql://'; tierflow wants its own schemes."""
    head, _, rest = uri.partition("://")
    if scheme == "warehouse":
        head = "redshift" if head.startswith("redshift") else "postgresql"
    return f"{head}://{rest}"


class TierflowHook(BaseHook):
    """Owns the mapping Connection -> tierflow setting. Env vars fill in what is not configured."""

    conn_name_attr = "mysql_conn_id"
    hook_name = "tierflow"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def get_settings(self) -> Settings:
        base = Settings.from_env()
        changes: dict[str, Any] = {}
        if uri := _conn_uri(ids.MYSQL_CONN_ID):
            changes["mysql_url"] = _normalise(uri, "mysql")
        if uri := _conn_uri(ids.WAREHOUSE_CONN_ID):
            changes["warehouse_url"] = _normalise(uri, "warehouse")
        if uri := _conn_uri(ids.WAREHOUSE_BUILD_CONN_ID):
            changes["warehouse_build_url"] = _normalise(uri, "warehouse")
        if uri := _conn_uri(ids.REDIS_CONN_ID):
            changes["redis_url"] = uri
        archive = Variable.get(ids.ARCHIVE_URI_VARIABLE, default=None)
        if archive:
            changes["archive_uri"] = archive
        policy = Variable.get(ids.POLICY_VARIABLE, default=None)
        if policy:
            from pathlib import Path

            changes["policy_path"] = Path(policy)
        return base.with_(**changes)
