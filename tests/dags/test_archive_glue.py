"""nightly_archive's glue: what a run may do, and which failures Airflow retries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from airflow.sdk.api.datamodels._generated import DagRunType
from airflow.sdk.exceptions import AirflowFailException
from tierflow.archive.errors import ArchiveLockedError
from tierflow.errors import PolicyError, ServiceUnavailable
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy
from tierflow.quality import QualityGateError
from tierflow_airflow.archive import RunParamsError, plan_run, summarise_run
from tierflow_airflow.failures import for_airflow, retry_only_transient

POLICY = load_policy(DEFAULT_POLICY)
IN_WINDOW = datetime(2026, 6, 29, 20, 30, tzinfo=UTC)  # 02:00 IST
MIDDAY = datetime(2026, 6, 30, 8, 0, tzinfo=UTC)  # 13:30 IST


def test_manual_run_is_a_dry_run_by_default_and_runs_any_time() -> None:
    plan = plan_run({}, "manual", POLICY, MIDDAY)
    assert plan == {
        "run_type": "manual",
        "tables": [],
        "as_of": None,
        "dry_run": True,
        "allow_large_run": False,
        "skipped": None,
    }


def test_the_run_type_a_task_is_given_is_read_by_its_value() -> None:
    """A task's ``dag_run.run_type`` is the Task SDK's enum, whose ``str()`` is ``DagRunType.MANUAL``:
    a manual run read as anything else would archive every table for real."""
    params = {"tables": ["loans"], "dry_run": True, "allow_large_run": True}
    plan = plan_run(params, DagRunType.MANUAL, POLICY, MIDDAY)
    assert type(plan["run_type"]) is str and plan["run_type"] == "manual"
    assert (plan["tables"], plan["dry_run"], plan["allow_large_run"]) == (["loans"], True, True)
    scheduled = plan_run(params, DagRunType.SCHEDULED, POLICY, IN_WINDOW)
    assert type(scheduled["run_type"]) is str and scheduled["run_type"] == "scheduled"
    assert (scheduled["tables"], scheduled["dry_run"]) == ([], False)


def test_scheduled_run_archives_as_the_policy_says_whatever_the_defaults() -> None:
    plan = plan_run(
        {"tables": ["loans"], "dry_run": True, "as_of": "2020-01-01"}, "scheduled", POLICY, IN_WINDOW
    )
    assert plan == {
        "run_type": "scheduled",
        "tables": [],
        "as_of": None,
        "dry_run": False,
        "allow_large_run": False,
        "skipped": None,
    }


def test_a_run_that_would_delete_outside_the_window_does_nothing() -> None:
    """The run Airflow starts on unpause at midday is a scheduled run outside the window."""
    plan = plan_run({}, "scheduled", POLICY, MIDDAY)
    assert "outside the run window 01:00-05:00 Asia/Kolkata" in plan["skipped"]
    manual = plan_run({"dry_run": False}, "manual", POLICY, MIDDAY)
    assert manual["skipped"] and not manual["dry_run"]
    summary = summarise_run(plan, [], [])
    assert summary["skipped"] == plan["skipped"] and summary["failed"] == []


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"as_of": "2099-01-01"}, "is in the future"),
        ({"as_of": "not-a-date"}, r"is not a date \(YYYY-MM-DD\)"),
        ({"tables": ["no_such_table"]}, "no_such_table not in the policy"),
    ],
)
def test_bad_params_fail_at_once(params: dict, words: str) -> None:
    with pytest.raises(RunParamsError, match=words):
        plan_run(params, "manual", POLICY, MIDDAY)
    with pytest.raises(AirflowFailException, match="not retried"), retry_only_transient():
        plan_run(params, "manual", POLICY, MIDDAY)


@pytest.mark.parametrize(
    "exc",
    [PolicyError("bad policy"), QualityGateError("loans", []), RunParamsError("bad"), ValueError("x")],
)
def test_errors_a_retry_cannot_fix_fail_at_once(exc: Exception) -> None:
    assert isinstance(for_airflow(exc), AirflowFailException)


@pytest.mark.parametrize(
    "exc",
    [ServiceUnavailable("mysql down"), ArchiveLockedError("locked"), ConnectionResetError(), TimeoutError()],
)
def test_transient_errors_are_retried(exc: Exception) -> None:
    assert for_airflow(exc) is exc


def test_mysql_lost_connection_and_lock_wait_are_transient_a_syntax_error_is_not() -> None:
    import MySQLdb

    lost = MySQLdb.OperationalError(2013, "Lost connection to server during query")
    assert for_airflow(lost) is lost
    lock = MySQLdb.OperationalError(1205, "Lock wait timeout exceeded")
    assert for_airflow(lock) is lock
    assert isinstance(for_airflow(MySQLdb.ProgrammingError(1064, "syntax")), AirflowFailException)


def test_warehouse_and_redis_connection_losses_are_transient_their_sql_errors_are_not() -> None:
    import psycopg
    import redis

    for lost in (
        psycopg.OperationalError("server closed the connection unexpectedly"),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        redis.ConnectionError("Connection reset by peer"),
        redis.TimeoutError("Timeout reading from socket"),
    ):
        assert for_airflow(lost) is lost, lost
    for wrong in (
        psycopg.errors.UndefinedTable("relation raw.x does not exist"),
        redis.ResponseError("WRONGTYPE"),
    ):
        assert isinstance(for_airflow(wrong), AirflowFailException), wrong


def test_s3_throttling_is_transient() -> None:
    from botocore.exceptions import ClientError

    slow = ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, "PutObject")
    assert for_airflow(slow) is slow
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")
    assert isinstance(for_airflow(denied), AirflowFailException)


def test_summary_fails_the_tables_that_failed_and_keeps_the_others() -> None:
    plan = {"dry_run": False, "allow_large_run": False, "skipped": None}
    results = [
        {"table": "api_request_logs", "status": "ok", "rows": 30, "deleted": 30, "error": None},
        {"table": "communication_events", "status": "failed", "rows": 0, "deleted": 0, "error": "gate"},
    ]
    summary = summarise_run(plan, ["api_request_logs", "communication_events", "loans"], results)
    assert summary["failed"] == ["communication_events", "loans"]
    assert summary["tables"]["api_request_logs"] == {"status": "ok", "rows": 30, "deleted": 30, "error": None}
    assert summary["tables"]["loans"]["error"] == "no result: the task did not finish"
    assert (summary["rows"], summary["deleted"]) == (30, 30)
