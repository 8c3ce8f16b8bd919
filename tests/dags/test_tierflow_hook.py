"""TierflowHook turns the warehouse Connections into settings: the loader's and, when the
deployment has one, the builder's (Connections from AIRFLOW_CONN_* variables, as a secrets
backend would give them)."""

from __future__ import annotations

import pytest
from tierflow_airflow.hooks import TierflowHook

LOADER = "redshift://tierflow_loader@wh.example:5439/wh?cluster=tf&region=ap-south-1"
BUILDER = "redshift://tierflow_builder@wh.example:5439/wh?cluster=tf&region=ap-south-1"


def test_the_builder_connection_becomes_the_builders_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_WAREHOUSE", LOADER)
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_WAREHOUSE_BUILD", BUILDER)
    settings = TierflowHook().get_settings()
    assert settings.warehouse_url == LOADER
    assert settings.as_builder().warehouse_url == BUILDER


def test_without_a_builder_connection_every_step_uses_the_warehouse_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_WAREHOUSE", LOADER)
    monkeypatch.delenv("AIRFLOW_CONN_TIERFLOW_WAREHOUSE_BUILD", raising=False)
    monkeypatch.delenv("TIERFLOW_WAREHOUSE_BUILD_URL", raising=False)
    settings = TierflowHook().get_settings()
    assert settings.as_builder().warehouse_url == LOADER
