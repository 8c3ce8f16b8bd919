"""The query-history readers: Athena through moto, Redshift's SYS_QUERY_HISTORY at the SQL level
(the conformance harness), the ``tierflow query`` journal, and the ranking of what they return."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from moto import mock_aws
from tierflow.advisor import history
from tierflow.advisor.advise import advise, group_runs, rank, since_of
from tierflow.advisor.history import QueryRun

from tests import redshift_harness as rh


def test_athena_executions_are_read_with_their_text_and_state() -> None:
    since = datetime.now(UTC) - timedelta(hours=1)
    with mock_aws():
        client = boto3.client("athena", region_name="ap-south-1")
        client.create_work_group(Name="other")
        out = {"OutputLocation": "s3://results/"}
        for status in ("success", "failed", "success"):
            client.start_query_execution(
                QueryString=f"SELECT count(*) FROM loans WHERE status = '{status}'",
                WorkGroup="primary",
                ResultConfiguration=out,
            )
        client.start_query_execution(QueryString="SELECT 1", WorkGroup="other", ResultConfiguration=out)
        runs = history.athena_history(client, since, workgroup="primary")
        later = history.athena_history(client, datetime.now(UTC) + timedelta(hours=1), workgroup="primary")
    assert sorted(r.sql for r in runs) == [
        "SELECT count(*) FROM loans WHERE status = 'failed'",
        "SELECT count(*) FROM loans WHERE status = 'success'",
        "SELECT count(*) FROM loans WHERE status = 'success'",
    ]
    assert {r.source for r in runs} == {history.ATHENA}
    assert all(r.scanned_bytes == 0 and r.calls == 1 for r in runs)
    assert later == []
    groups = group_runs(runs)
    assert len(groups) == 1
    (group,) = groups.values()
    assert group.calls == 3
    assert sorted(group.samples) == [("'failed'",), ("'success'",)]


class _BatchClient:
    """Athena's paging and 50-id batches, which moto does not implement."""

    def __init__(self, count: int) -> None:
        self.ids = [f"q{i}" for i in range(count)]
        self.batches: list[int] = []

    def list_query_executions(self, WorkGroup: str, NextToken: str | None = None) -> dict:
        start = int(NextToken or 0)
        page = {"QueryExecutionIds": self.ids[start : start + 50]}
        if start + 50 < len(self.ids):
            page["NextToken"] = str(start + 50)
        return page

    def batch_get_query_execution(self, QueryExecutionIds: list[str]) -> dict:
        self.batches.append(len(QueryExecutionIds))
        at = datetime.now(UTC)
        return {
            "QueryExecutions": [
                {
                    "QueryExecutionId": q,
                    "Query": f"SELECT sum(amount) FROM loans WHERE id > {q[1:]}",
                    "StatementType": "DML",
                    "Status": {"State": "FAILED" if q == "q7" else "SUCCEEDED", "SubmissionDateTime": at},
                    "Statistics": {"EngineExecutionTimeInMillis": 120, "DataScannedInBytes": 1000},
                }
                for q in QueryExecutionIds
            ]
        }


def test_athena_pages_and_batches_of_fifty() -> None:
    client = _BatchClient(120)
    runs = history.athena_history(client, datetime.now(UTC) - timedelta(minutes=5))
    assert client.batches == [50, 50, 20]
    assert len(runs) == 119  # q7 failed
    assert sum(r.total_ms for r in runs) == 119 * 120
    assert sum(r.scanned_bytes or 0 for r in runs) == 119_000


def test_the_redshift_history_query_is_valid_redshift_sql() -> None:
    assert rh.problems(history.REDSHIFT_HISTORY_SQL.replace("%s", "'2026-01-01'")) == []
    assert "generic_query_hash" in history.REDSHIFT_HISTORY_SQL
    assert "queue_time" in history.REDSHIFT_HISTORY_SQL


class _Cursor:
    def __init__(self, rows: list[tuple]) -> None:
        self.rows, self.executed = rows, []

    def execute(self, sql: str, params: tuple) -> None:
        self.executed.append((sql, params))

    def fetchall(self) -> list[tuple]:
        return self.rows


class _Conn:
    def __init__(self, rows: list[tuple]) -> None:
        self.cur = _Cursor(rows)

    def cursor(self) -> _Cursor:
        return self.cur


def test_redshift_rows_become_runs_per_literal_set_and_share_the_fingerprint() -> None:
    at = datetime(2026, 6, 1, 10)
    rows = [
        (
            11,
            101,
            "SELECT gateway, NVL(SUM(amount), 0) FROM raw.t WHERE status = 'a' GROUP BY 1",
            4,
            800.0,
            20.0,
            at,
        ),
        (
            11,
            102,
            "SELECT gateway, NVL(SUM(amount), 0) FROM raw.t WHERE status = 'b' GROUP BY 1",
            2,
            300.0,
            0.0,
            at,
        ),
        (12, 103, "INSERT INTO raw.t VALUES (1)", 1, 5.0, 0.0, at),
    ]
    conn = _Conn(rows)
    runs = history.redshift_history(conn, datetime(2026, 5, 25, tzinfo=UTC))
    assert conn.cur.executed[0][1] == (datetime(2026, 5, 25),)
    assert [(r.calls, r.total_ms, r.queue_ms, r.engine_hash) for r in runs] == [
        (4, 800.0, 20.0, "11"),
        (2, 300.0, 0.0, "11"),
    ]
    (group,) = group_runs(runs).values()
    assert (group.calls, group.total_ms) == (6, 1100.0)


def test_the_journal_records_and_reads_back_within_the_window(tmp_path: Path) -> None:
    from tierflow.query import record

    path = tmp_path / "journal.jsonl"
    record("SELECT count(*) FROM loans WHERE status = 'x'", 12.5, path)
    record("SELECT count(*) FROM loans WHERE status = 'y'", 7.5, path)
    path.write_text(path.read_text() + '{"at": "torn')
    runs = history.journal_history(datetime.now(UTC) - timedelta(minutes=1), path=path)
    assert [(r.source, r.total_ms) for r in runs] == [("tierflow", 12.5), ("tierflow", 7.5)]
    assert history.journal_history(datetime.now(UTC) + timedelta(minutes=1), path=path) == []


def test_ranking_is_calls_times_mean_cost_and_archive_shapes_are_not_promoted() -> None:
    runs = [
        QueryRun("tierflow", "SELECT count(*) FROM loans WHERE id > 5", 1, 10.0),
        QueryRun("tierflow", "SELECT count(*) FROM loans WHERE id > 6", 1, 30.0),
        QueryRun("tierflow", "SELECT max(id) FROM loans", 1, 25.0),
        QueryRun("tierflow", "SELECT min(id) FROM loans", 1, 1.0),
    ]
    ranked = rank(group_runs(runs))
    assert [(g.calls, g.total_ms) for g in ranked] == [(2, 40.0), (1, 25.0), (1, 1.0)]
    assert [g.calls for g in rank(group_runs(runs), min_calls=2)] == [2]
    assert len(rank(group_runs(runs), top=2)) == 2
    (top,) = advise(None, runs, min_calls=2)
    assert top.promotable is False
    assert "archive" in (top.reason or "")
    assert top.mean_ms == 20.0


def test_since_parses_days_hours_minutes() -> None:
    now = datetime(2026, 6, 8, tzinfo=UTC)
    assert since_of("7d", now) == datetime(2026, 6, 1, tzinfo=UTC)
    assert since_of("12h", now) == datetime(2026, 6, 7, 12, tzinfo=UTC)


def test_only_analyst_selects_count_as_history() -> None:
    dbt = '/* {"app": "dbt", "dbt_version": "1.11.16", "node_id": "model.tierflow.x"} */\nselect count(*) from raw.t'
    assert not history._is_query(dbt)
    assert not history._is_query("INSERT INTO raw.t SELECT 1")
    assert history._is_query("  (SELECT 1)")
    assert history._is_query("WITH a AS (SELECT 1) SELECT * FROM a")


def test_tierflow_query_journals_each_successful_run(tmp_path: Path, monkeypatch) -> None:
    import duckdb
    import pytest
    from tierflow import query
    from tierflow.config import Settings
    from tierflow.errors import TierflowError

    journal = tmp_path / "journal.jsonl"
    settings = Settings(query_journal=journal)
    monkeypatch.setattr(query, "connect", lambda *a, **k: (duckdb.connect(), []))
    assert query.run_query("SELECT 41 + 1 AS answer", settings=settings).to_pylist() == [{"answer": 42}]
    with pytest.raises(TierflowError):
        query.run_query("SELECT * FROM no_such_table", settings=settings)
    runs = history.journal_history(datetime.now(UTC) - timedelta(minutes=1), path=journal)
    assert [(r.source, r.sql) for r in runs] == [("tierflow", "SELECT 41 + 1 AS answer")]
    assert runs[0].total_ms >= 0
