"""End to end on Airflow as production runs it: api-server, scheduler, dag-processor and triggerer
as separate processes, LocalExecutor, a fresh PostgreSQL metadata database and AIRFLOW_HOME, the
project's DAGs and plugins, against a freshly seeded MySQL, warehouse database, Redis and archive.

Every DAG is unpaused and triggered through the REST API with params, as the UI does. The policy is
the project's, with its run window moved around now (or away from it), so the tests do not depend
on the hour they run at.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from tierflow.paths import DEFAULT_POLICY
from tierflow.stores import mysql

from tests.conftest import NO_WAREHOUSE_URL
from tests.e2e.airflow_stack import AirflowStack

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1500)]

ALL_DAGS = {"nightly_archive", "hot_tier_reconcile", "tier_audit", "warehouse_refresh"}


def policy_with_window(tmp: Path, covers_now: bool) -> Path:
    """The project's policy with ``archive.run_window`` around now (or 12 hours away from it)."""
    now = datetime.now(UTC) + (timedelta() if covers_now else timedelta(hours=12))
    raw = yaml.safe_load(DEFAULT_POLICY.read_text())
    raw["archive"]["run_window"] = {
        "start": f"{now - timedelta(hours=2):%H:%M}",
        "end": f"{now + timedelta(hours=2):%H:%M}",
        "timezone": "UTC",
    }
    path = tmp / "tiers.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def start_airflow(
    tmp_path, seeded_mysql_url, redis_url, file_archive_uri
) -> Iterator[Callable[[bool], AirflowStack]]:
    stacks: list[AirflowStack] = []

    def start(window_covers_now: bool, login: bool = False) -> AirflowStack:
        stack = AirflowStack(
            tmp_path,
            {
                "TIERFLOW_MYSQL_URL": seeded_mysql_url,
                "TIERFLOW_REDIS_URL": redis_url,
                # no warehouse database: the archive moves rows without waiting for its load
                "TIERFLOW_WAREHOUSE_URL": NO_WAREHOUSE_URL,
                "TIERFLOW_ARCHIVE_URI": file_archive_uri,
                "TIERFLOW_POLICY": str(policy_with_window(tmp_path, window_covers_now)),
            },
            login=login,
        )
        stacks.append(stack)
        stack.start(ALL_DAGS)
        return stack

    yield start
    for stack in stacks:
        stack.stop()


def row_counts(url: str) -> dict[str, int]:
    with mysql.connection(url) as conn:
        cur = conn.cursor()
        counts = {}
        for table in ("api_request_logs", "communication_events", "loans", "customers"):
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")
            counts[table] = cur.fetchone()[0]
    return counts


def runs_of(stack: AirflowStack, dag_id: str) -> list[dict]:
    status, body = stack.call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")
    assert status == 200, body
    return body["dag_runs"]


def wait_all_runs(stack: AirflowStack, dag_id: str, timeout: float) -> list[dict]:
    for run in runs_of(stack, dag_id):
        stack.wait_run(dag_id, run["dag_run_id"], timeout)
    return runs_of(stack, dag_id)


def assert_healthy(stack: AirflowStack) -> None:
    status, health = stack.call("GET", "/api/v2/monitor/health")
    assert status == 200, health
    states = {name: part.get("status") for name, part in health.items()}
    assert states == dict.fromkeys(states, "healthy"), health
    assert {"metadatabase", "scheduler", "triggerer", "dag_processor"} <= set(states)


def test_a_failed_table_fails_the_night_and_the_others_still_archive(start_airflow, seeded_mysql_url) -> None:
    stack = start_airflow(True)
    with mysql.connection(seeded_mysql_url) as conn:
        # one cold row its archive suite refuses (status_code between 100 and 599), as a database
        # without the CHECK constraint would hold
        cur = conn.cursor()
        cur.execute("ALTER TABLE api_request_logs DROP CONSTRAINT ck_api_status")
        cur.execute("UPDATE api_request_logs SET status_code = 999 ORDER BY id LIMIT 1")
        conn.commit()
    before = row_counts(seeded_mysql_url)
    run_id = stack.trigger(
        "nightly_archive",
        {
            "tables": ["api_request_logs", "communication_events"],
            "dry_run": False,
            "as_of": None,
            "allow_large_run": True,
        },
    )
    runs = wait_all_runs(stack, "nightly_archive", 900)
    manual = next(r for r in runs if r["dag_run_id"] == run_id)
    states = stack.task_states("nightly_archive", run_id)
    assert manual["state"] == "failed", states
    assert states["summarise_archive_run"] == "failed"
    # the form's tables, and only those, are mapped (a manual run read as scheduled maps them all)
    mapped = {k: v for k, v in states.items() if k.startswith("archive_wave_") and "[" in k}
    assert len(mapped) == 2, states
    wave_0 = [v for k, v in mapped.items() if k.startswith("archive_wave_0[")]
    assert sorted(wave_0) == ["failed", "success"], states

    status, tis = stack.call("GET", f"/api/v2/dags/nightly_archive/dagRuns/{run_id}/taskInstances?limit=100")
    failed = [t for t in tis["task_instances"] if t["task_id"] == "archive_wave_0" and t["state"] == "failed"]
    assert [t["try_number"] for t in failed] == [1], "a failed quality gate must not be retried"

    summary_log = stack.task_log("nightly_archive", run_id, "summarise_archive_run")
    assert "archive.run.failed failed=" in summary_log and "api_request_logs" in summary_log
    assert "communication_events" in summary_log and '"status": "ok"' in summary_log.replace('\\"', '"')
    after = row_counts(seeded_mysql_url)
    assert after["communication_events"] < before["communication_events"], "the other table was held back"
    assert after["api_request_logs"] == before["api_request_logs"]
    assert_healthy(stack)
