"""End to end on Airflow as production runs it: api-server, scheduler, dag-processor and triggerer
as separate processes, LocalExecutor, a fresh PostgreSQL metadata database and AIRFLOW_HOME, the
project's DAGs and plugins, against a freshly seeded MySQL, warehouse database, Redis and archive
(the session's ``deployment``).

Every DAG is unpaused and triggered through the REST API with params, as the UI does. The run
window of the policy is moved around now (or away from it), so the tests do not depend on the hour
they run at: the run Airflow starts on unpause falls outside it, and a manual run that archives
inside it.
"""

from __future__ import annotations

import pytest
from tierflow.stores import mysql, warehouse

from tests.e2e.airflow_stack import AirflowStack
from tests.e2e.conftest import OUR_DAGS, Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(2400)]


def assert_healthy(stack: AirflowStack) -> None:
    status, health = stack.call("GET", "/api/v2/monitor/health")
    assert status == 200, health
    states = {name: part.get("status") for name, part in health.items()}
    assert states == dict.fromkeys(states, "healthy"), health
    assert {"metadatabase", "scheduler", "triggerer", "dag_processor"} <= set(states)


def assert_no_tracebacks(stack: AirflowStack) -> None:
    for component in ("scheduler", "dag-processor"):
        found = stack.tracebacks(component)
        assert not found, f"{component} logged {len(found)} traceback(s):\n" + "\n---\n".join(found[:3])


def unpause_outside_the_window(deployment: Deployment, dag_id: str) -> list[dict]:
    """Unpause ``dag_id`` with the run window away from now: the run Airflow starts on unpause
    must do nothing. Its summary says why."""
    deployment.run_window(covers_now=False)
    started = deployment.stack.unpause(dag_id)
    for run in started:
        assert run["run_type"] == "scheduled" and run["state"] == "success", run
        if dag_id == "nightly_archive":
            summary = deployment.stack.xcom(dag_id, run["dag_run_id"], "summarise_archive_run")
            assert "outside the run window" in summary["skipped"] and summary["rows"] == 0, summary
    return started


def test_a_failed_table_fails_the_night_and_the_others_still_archive(deployment: Deployment) -> None:
    stack = deployment.stack
    unpause_outside_the_window(deployment, "nightly_archive")
    with mysql.connection(deployment.mysql_url) as conn:
        # one cold row its archive suite refuses (status_code between 100 and 599), as a database
        # without the CHECK constraint would hold
        cur = conn.cursor()
        cur.execute("ALTER TABLE api_request_logs DROP CONSTRAINT ck_api_status")
        cur.execute("SELECT id, status_code FROM api_request_logs ORDER BY id LIMIT 1")
        broken_id, status_code = cur.fetchone()
        cur.execute("UPDATE api_request_logs SET status_code = 999 WHERE id = %s", (broken_id,))
        conn.commit()
    try:
        before = deployment.row_counts()
        deployment.run_window(covers_now=True)
        run_id = stack.trigger(
            "nightly_archive",
            {
                "tables": ["api_request_logs", "user_device_sms"],
                "dry_run": False,
                "as_of": None,
                "allow_large_run": True,
            },
        )
        manual = stack.wait_run("nightly_archive", run_id, 900)
    finally:
        deployment.run_window(covers_now=False)
        with mysql.connection(deployment.mysql_url) as conn:
            conn.cursor().execute(
                "UPDATE api_request_logs SET status_code = %s WHERE id = %s", (status_code, broken_id)
            )
            conn.commit()
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
    assert "user_device_sms" in summary_log and '"status": "ok"' in summary_log.replace('\\"', '"')
    after = deployment.row_counts()
    assert after["user_device_sms"] < before["user_device_sms"], "the other table was held back"
    assert after["api_request_logs"] == before["api_request_logs"]
    assert_healthy(stack)


def test_every_dag_runs_green_on_the_scheduler(deployment: Deployment) -> None:
    """A night as the UI would run it: each DAG unpaused and triggered with params, in the order
    the data needs (hot tier and warehouse load, then the archive of what the warehouse holds, then
    the audit), every run Airflow starts ending ``success``, every component healthy at the end."""
    stack = deployment.stack
    status, errors = stack.call("GET", "/api/v2/importErrors")
    assert status == 200 and errors["total_entries"] == 0, errors
    before = deployment.row_counts()
    runs: dict[str, list[str]] = {dag_id: [] for dag_id in OUR_DAGS}

    def start(dag_id: str, conf: dict, window_covers_now: bool = False) -> None:
        runs[dag_id] += [r["dag_run_id"] for r in unpause_outside_the_window(deployment, dag_id)]
        deployment.run_window(window_covers_now)
        runs[dag_id].append(stack.trigger(dag_id, conf))

    start("hot_tier_reconcile", {})
    # the run Airflow starts on unpause loads the warehouse; the form's run after it finds nothing
    # new and runs beside the archive, as a night's DAGs overlap
    start("warehouse_refresh", {"full_refresh": False})

    # the first archive of a three-year database moves most of each table: the form's switch
    try:
        conf = {"tables": [], "as_of": None, "dry_run": False, "allow_large_run": True}
        start("nightly_archive", conf, window_covers_now=True)
        stack.wait_run("nightly_archive", runs["nightly_archive"][-1], 900)
    finally:
        deployment.run_window(covers_now=False)
    for dag_id in ("hot_tier_reconcile", "warehouse_refresh"):
        for run_id in runs[dag_id]:
            stack.wait_run(dag_id, run_id, 1200)

    start("tier_audit", {"strict": True})
    for run_id in runs["tier_audit"]:
        stack.wait_run("tier_audit", run_id, 600)

    # the weekly advisor reads the warehouse's query history the night left behind
    start("query_advisor", {"min_calls": 3, "top": 20})
    for run_id in runs["query_advisor"]:
        stack.wait_run("query_advisor", run_id, 600)

    ended = {
        dag_id: {r["dag_run_id"]: r["state"] for r in stack.runs(dag_id) if r["dag_run_id"] in ids}
        for dag_id, ids in runs.items()
    }
    failed = {
        dag_id: {
            run_id: stack.task_states(dag_id, run_id)
            for run_id, state in states.items()
            if state != "success"
        }
        for dag_id, states in ended.items()
    }
    assert not any(failed.values()), failed
    assert all(len(ids) >= 1 for ids in runs.values()), runs

    archive = stack.xcom("nightly_archive", runs["nightly_archive"][-1], "summarise_archive_run")
    assert archive["failed"] == [] and archive["deleted"] > 0, archive
    after = deployment.row_counts()
    assert after["communication_events"] < before["communication_events"], (before, after)
    with warehouse.connection(deployment.warehouse_url) as conn:
        loaded = conn.execute("SELECT COUNT(*) FROM raw.communication_events").fetchone()[0]
    # the archive moved only rows the warehouse had loaded: every row MySQL had is in raw
    assert loaded == before["communication_events"], (loaded, before)
    assert_healthy(stack)
    assert_no_tracebacks(stack)


def tierflow_lines(stack: AirflowStack, dag_id: str, run_id: str, task_id: str) -> dict[str, str]:
    """{event name: level} of the tierflow lines in a task's log."""
    return {
        line["event"].split(" ", 1)[0]: line["level"]
        for line in stack.task_log_lines(dag_id, run_id, task_id)
        if str(line.get("logger", "")).startswith("tierflow")
    }


def test_task_logs_show_tierflow_lines_at_their_level(deployment: Deployment) -> None:
    """A real run asked for outside the run window: it does nothing and says so, at WARNING, beside
    its INFO lines; nothing of tierflow's is logged at ERROR in a run that succeeds."""
    stack = deployment.stack
    unpause_outside_the_window(deployment, "nightly_archive")
    before = deployment.row_counts()
    run_id = stack.trigger("nightly_archive", {"tables": ["user_device_sms"], "dry_run": False})
    run = stack.wait_run("nightly_archive", run_id, 600)
    assert run["state"] == "success", stack.task_states("nightly_archive", run_id)

    planned = tierflow_lines(stack, "nightly_archive", run_id, "check_archive_run")
    assert planned == {"archive.run.outside_window": "warning", "archive.run.planned": "info"}, planned
    summarised = tierflow_lines(stack, "nightly_archive", run_id, "summarise_archive_run")
    assert summarised == {"archive.run.skipped": "warning", "archive.run.summary": "info"}, summarised
    summary = stack.xcom("nightly_archive", run_id, "summarise_archive_run")
    assert "outside the run window" in summary["skipped"] and summary["rows"] == 0, summary
    assert deployment.row_counts() == before


def test_a_future_as_of_fails_the_run_at_once_and_touches_nothing(deployment: Deployment) -> None:
    """The form accepts any date; ``check_archive_run`` refuses a future one before any table is
    touched, and Airflow does not retry it."""
    stack = deployment.stack
    unpause_outside_the_window(deployment, "nightly_archive")
    before = deployment.row_counts()
    run_id = stack.trigger("nightly_archive", {"as_of": "2099-01-01", "dry_run": True})
    run = stack.wait_run("nightly_archive", run_id, 600)
    states = stack.task_states("nightly_archive", run_id)
    assert run["state"] == "failed" and states["check_archive_run"] == "failed", states
    assert not any(k.startswith("archive_wave_") and v == "success" for k, v in states.items()), states
    # neither the refusal nor the summary after it waits for a retry
    for task_id in ("check_archive_run", "summarise_archive_run"):
        path = f"/api/v2/dags/nightly_archive/dagRuns/{run_id}/taskInstances/{task_id}"
        status, ti = stack.call("GET", path)
        assert status == 200 and (ti["state"], ti["try_number"]) == ("failed", 1), ti
    log = stack.task_log("nightly_archive", run_id, "check_archive_run")
    assert "2099-01-01 is in the future" in log and "not retried" in log, log[-2000:]
    assert deployment.row_counts() == before
