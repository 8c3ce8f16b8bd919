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


def test_the_dags_dbt_environment_is_the_clis_for_the_builder(monkeypatch: pytest.MonkeyPatch) -> None:
    """warehouse_refresh's Cosmos tasks get dbt's profile variables from the one builder of dbt's
    environment (tierflow.warehouse.dbt.profile_env), as the builder, for the slot chosen."""
    import importlib.util

    import jinja2
    from tierflow.paths import PROJECT_ROOT
    from tierflow.warehouse.dbt import PROFILE_VARS, dbt_env

    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_WAREHOUSE", LOADER)
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_WAREHOUSE_BUILD", BUILDER)
    spec = importlib.util.spec_from_file_location(
        "warehouse_refresh_dag", PROJECT_ROOT / "dags" / "warehouse_refresh.py"
    )
    dag_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dag_file)
    dag_file.dbt_profile_env.cache_clear()

    class TaskInstance:
        def xcom_pull(self, task_ids: str) -> dict:
            assert task_ids == "choose_build_slot"
            return {"slot": "analytics_audit_green"}

    context = {"ti": TaskInstance(), "dbt_profile_env": dag_file.dbt_profile_env}
    rendered = {k: jinja2.Template(v).render(**context) for k, v in dag_file.DBT_ENV.items()}
    assert set(rendered) == set(PROFILE_VARS)
    cli = dbt_env(BUILDER, "analytics_audit_green", base={})
    assert rendered == {k: cli[k] for k in PROFILE_VARS}
    assert rendered["TIERFLOW_DBT_USER"] == "tierflow_builder" and rendered["TIERFLOW_DBT_CLUSTER_ID"] == "tf"
