"""Warehouse races against real MariaDB and PostgreSQL: a row updated while a load pages through
its table, two builders wanting the same slot, and load and build stamps from one clock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY, PROJECT_ROOT
from tierflow.policy import load_policy
from tierflow.stores import mysql, warehouse
from tierflow.warehouse import lease
from tierflow.warehouse.lease import BuildSlotLeasedError, LeaseLostError
from tierflow.warehouse.load import load_table
from tierflow.warehouse.target import superseded_sql

from tests import redshift_harness as rh

pytestmark = pytest.mark.integration


@pytest.fixture
def wh_settings(seeded_mysql_url: str, warehouse_url: str, file_archive_uri: str) -> Settings:
    return Settings(
        mysql_url=seeded_mysql_url,
        warehouse_url=warehouse_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
    )


def test_rows_updated_between_pages_load_once_at_their_latest_version(wh_settings: Settings) -> None:
    table = load_policy(DEFAULT_POLICY).table("loans")
    with mysql.connection(wh_settings.mysql_url) as conn:
        cur = conn.cursor()
        cur.execute("SELECT id, principal FROM loans ORDER BY updated_at, id LIMIT 7")
        first_page = {i: p + 1 for i, p in cur.fetchall()}
        cur.execute("SELECT COUNT(*) FROM loans")
        total = cur.fetchone()[0]
    writer = mysql.connect(wh_settings.mysql_url, autocommit=True)
    pages = []

    def write_between_pages(page_no: int) -> None:
        """A writer on its own connection: after the first page, the rows it held change (their
        change column moves past the load's cursor, so a later page reads them again)."""
        pages.append(page_no)
        if page_no == 1:
            marks = ", ".join(["%s"] * len(first_page))
            writer.cursor().execute(
                f"UPDATE loans SET principal = principal + 1, updated_at = NOW(6) WHERE id IN ({marks})",
                list(first_page),
            )

    try:
        report = load_table(wh_settings, table, page_rows=50, on_page=write_between_pages)
    finally:
        writer.close()
    assert len(pages) > 2
    assert report.superseded == len(first_page)
    assert report.rows_staged == total + len(first_page)
    with warehouse.connection(wh_settings.warehouse_url) as conn:
        rows = conn.execute("SELECT id, principal FROM raw.loans").fetchall()
    assert len(rows) == total == len({r[0] for r in rows})
    assert {i: p for i, p in rows if i in first_page} == first_page


def test_superseded_sql_is_redshift_sql() -> None:
    assert rh.problems(superseded_sql("loans", "id", "updated_at")) == []
    assert rh.problems(superseded_sql("loans", "id", "updated_at", [3, 5])) == []


def _hold_lease_in_another_process(settings: Settings, owner: str) -> None:
    """Take the lease in a separate Python process, which then exits (as an Airflow task does)."""
    code = (
        "import sys; from tierflow.config import Settings; from tierflow.warehouse import lease; "
        "lease.acquire(Settings(warehouse_url=sys.argv[1]), sys.argv[2])"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "include")}
    subprocess.run(
        [sys.executable, "-c", code, settings.warehouse_url, owner], env=env, check=True, timeout=120
    )


def test_a_cli_build_is_refused_while_a_dag_run_holds_the_slot(wh_settings: Settings) -> None:
    from tierflow.warehouse.publish import build_and_publish, plan_build

    dag_owner = "airflow:warehouse_refresh/manual__2026-06-30"
    plan = plan_build(wh_settings, lease_owner=dag_owner)  # what choose_build_slot does
    with pytest.raises(BuildSlotLeasedError) as err:
        build_and_publish(wh_settings)  # `tierflow warehouse build`, before dbt runs
    assert dag_owner in str(err.value) and plan.slot in str(err.value)
    assert lease.confirm(wh_settings, dag_owner, slot=plan.slot).owner == dag_owner  # still the run's
    assert lease.release(wh_settings, dag_owner)


def test_a_dag_run_is_refused_while_another_process_holds_the_slot(wh_settings: Settings) -> None:
    from tierflow.warehouse.publish import plan_build

    cli_owner = "cli:builder-host:4242"
    _hold_lease_in_another_process(wh_settings, cli_owner)
    with pytest.raises(BuildSlotLeasedError, match="cli:builder-host:4242"):
        plan_build(wh_settings, lease_owner="airflow:warehouse_refresh/scheduled__1")
    assert lease.release(wh_settings, cli_owner)
    assert plan_build(wh_settings, lease_owner="airflow:warehouse_refresh/scheduled__1").slot


def test_the_tierflow_command_refuses_to_build_a_leased_slot(wh_settings: Settings) -> None:
    from tierflow.warehouse.publish import plan_build

    plan = plan_build(wh_settings, lease_owner="airflow:warehouse_refresh/scheduled__2")
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT / "include"),
        "TIERFLOW_MYSQL_URL": wh_settings.mysql_url,
        "TIERFLOW_WAREHOUSE_URL": wh_settings.warehouse_url,
        "TIERFLOW_ARCHIVE_URI": wh_settings.archive_uri,
        "COLUMNS": "400",  # the error on one line
    }
    out = subprocess.run(
        [sys.executable, "-m", "tierflow.cli", "warehouse", "build"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    text = " ".join((out.stdout + out.stderr).split())
    assert out.returncode == 2, text
    assert "airflow:warehouse_refresh/scheduled__2" in text and plan.slot in text
    with warehouse.connection(wh_settings.warehouse_url) as conn:
        assert not conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (plan.slot,)
        ).fetchone()  # dbt never ran


def test_an_expired_lease_is_taken_and_its_owner_cannot_publish(wh_settings: Settings) -> None:
    lease.acquire(wh_settings, "airflow:warehouse_refresh/stuck", ttl=timedelta(seconds=1))
    time.sleep(1.5)
    lease.acquire(wh_settings, "cli:host:1")
    with pytest.raises(LeaseLostError, match="cli:host:1"):
        lease.confirm(wh_settings, "airflow:warehouse_refresh/stuck")
    assert not lease.release(wh_settings, "airflow:warehouse_refresh/stuck")
    assert lease.release(wh_settings, "cli:host:1")


def test_loaded_since_the_last_build_reads_one_clock(wh_settings: Settings, monkeypatch) -> None:
    """The loader's machine clock two hours behind the builder's: rows it loads after a build are
    still 'loaded since' that build, as both stamps come from the warehouse."""
    from tierflow.warehouse import load as load_module
    from tierflow.warehouse.publish import plan_build, record_published_build

    table = load_policy(DEFAULT_POLICY).table("loans")
    load_table(wh_settings, table)
    first = plan_build(wh_settings)
    record_published_build(wh_settings, first, primed_all=False)  # a published build
    with mysql.connection(wh_settings.mysql_url, autocommit=True) as conn:
        conn.cursor().execute("UPDATE loans SET principal = principal + 1, updated_at = NOW(6) WHERE id <= 5")
    skewed = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=2)
    with monkeypatch.context() as m:
        m.setattr(load_module, "_now", lambda: skewed)
        assert load_table(wh_settings, table).updated == 5
    second = plan_build(wh_settings)
    assert second.tests_loaded_since == first.settled_at
    with warehouse.connection(wh_settings.warehouse_url) as conn:
        since = datetime.fromisoformat(second.tests_loaded_since)
        seen = conn.execute(
            "SELECT id FROM raw.loans WHERE _loaded_at >= %s ORDER BY id", (since,)
        ).fetchall()
    assert [r[0] for r in seen] == [1, 2, 3, 4, 5]


def test_lease_and_clock_sql_is_redshift_sql() -> None:
    from tierflow.warehouse.sql import qualified

    table = qualified("raw", lease.LEASE_TABLE)
    for sql in (lease.lease_ddl(), f"LOCK {table}", "SELECT SYSDATE"):
        assert rh.problems(sql) == [], sql


def test_publish_marts_publishes_only_under_its_own_lease(wh_settings: Settings, tmp_path) -> None:
    """The DAG's publish step: refused once the run's lease is another builder's, and it gives
    the lease up after a publish (a project with no marts keeps dbt out of it)."""
    import json

    from tierflow.warehouse.publish import live_slot, plan_build, publish_slot

    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "manifest.json").write_text(json.dumps({"nodes": {}, "metadata": {}}))
    (tmp_path / "dbt_project.yml").write_text("name: tierflow\nvars: {lookback_days: 3}\n")
    run = "airflow:warehouse_refresh/scheduled__3"
    plan = plan_build(wh_settings, lease_owner=run)
    lease.acquire(wh_settings, run, ttl=timedelta(seconds=1))  # dbt outlasts the lease
    time.sleep(1.5)
    lease.acquire(wh_settings, "cli:host:2")  # the run's lease expired and was taken
    with pytest.raises(LeaseLostError, match="cli:host:2"):
        publish_slot(wh_settings, plan.slot, plan=plan, project_dir=tmp_path)
    with warehouse.connection(wh_settings.warehouse_url) as conn:
        assert live_slot(conn) is None  # nothing was published
    lease.release(wh_settings, "cli:host:2")

    plan = plan_build(wh_settings, lease_owner=run)
    publish_slot(wh_settings, plan.slot, plan=plan, project_dir=tmp_path)
    with warehouse.connection(wh_settings.warehouse_url) as conn:
        assert live_slot(conn) == plan.slot
    assert not lease.release(wh_settings, run)  # already given up by the publish
