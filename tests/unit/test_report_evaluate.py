"""The tier report's pure parts: violations from collected stats, growth, chart, JSON."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy
from tierflow.report import (
    GB,
    ArchiveStats,
    DatabaseSize,
    MySQLStats,
    RedisStats,
    Report,
    TierStats,
    UnverifiedEntry,
    evaluate,
    growth,
    load_history,
    month_range,
    report_key,
    table_report,
)
from tierflow.report.chart import render_png, violation_months

POLICY = load_policy(DEFAULT_POLICY)
AS_OF = datetime(2026, 6, 30)


def make_report(mysql=None, redis=None, archive=None, db_bytes=10 * 1024**2, hot=None) -> Report:
    tables = [
        table_report(t, AS_OF, mysql or {}, redis or {}, archive or {}, {}) for t in POLICY.tables.values()
    ]
    report = Report(
        generated_at="2026-06-30 01:00:00",
        as_of=AS_OF.isoformat(sep=" "),
        policy="include/tiers.yaml",
        database=DatabaseSize("lending", db_bytes, 8 * GB, 16 * GB),
        tables=tables,
        hot=hot or {},
    )
    report.violations = evaluate(report, POLICY)
    return report


def test_clean_report_is_green():
    ok = MySQLStats(
        rows=10,
        bytes=1000,
        oldest="2026-01-01 00:00:00",
        newest="2026-06-29 00:00:00",
        overdue_rows=0,
    )
    report = make_report(mysql={"loan_transactions": ok})
    assert report.status == "green"
    assert report.violations == []


def test_overdue_mysql_rows_are_a_violation():
    stats = MySQLStats(
        rows=11,
        oldest="2024-01-01 00:00:00",
        newest="2026-06-29 00:00:00",
        overdue_rows=1,
        overdue_before="2025-06-23 00:00:00",
        newest_overdue="2024-01-01 00:00:00",
    )
    report = make_report(mysql={"loan_transactions": stats})
    assert report.status == "red"
    [v] = report.red
    assert (v.kind, v.table, v.details["rows"]) == ("mysql_past_window", "loan_transactions", 1)
    lt = next(t for t in report.tables if t.name == "loan_transactions")
    assert violation_months(lt)["mysql"] == {"2024-01"}


def test_parent_rows_held_by_children_are_a_finding_not_a_violation():
    stats = MySQLStats(
        rows=20,
        oldest="2023-12-06 00:00:00",
        newest="2026-06-29 00:00:00",
        overdue_rows=0,
        held_by_children=7,
        overdue_before="2024-06-23 00:00:00",
    )
    report = make_report(mysql={"loans": stats})
    assert report.status == "amber" and report.red == []
    [f] = report.findings
    assert (f.kind, f.table, f.details["rows"]) == ("mysql_held_by_children", "loans", 7)


def test_caps_growth_and_days_until():
    soft = make_report(db_bytes=9 * GB)
    assert [v.kind for v in soft.red] == ["database_soft_cap"]
    hard = make_report(db_bytes=17 * GB)
    assert [v.kind for v in hard.red] == ["database_hard_cap"]
    per_day, points = growth([(date(2026, 6, 28), 100), (date(2026, 6, 29), 200)], date(2026, 6, 30), 300)
    assert points == 3 and abs(per_day - 100) < 1e-9
    assert growth([], date(2026, 6, 30), 300) == (None, 1)


def test_cap_forecast_is_a_finding_not_a_violation():
    report = make_report(db_bytes=7 * GB)
    report.database.days_until_soft_cap = 10
    report.database.growth_bytes_per_day = 0.1 * GB
    report.violations = evaluate(report, POLICY)
    assert [v.kind for v in report.violations] == ["database_cap_forecast"]
    assert report.status == "amber" and not report.red


def test_redis_ledger_drift():
    redis = {
        "loan_transactions": RedisStats(
            rows=3, oldest="2026-01-01 00:00:00", newest="2026-06-29 00:00:00", stale_entries=4
        )
    }
    archive = {
        "api_request_logs": ArchiveStats(
            rows=5,
            files=2,
            partitions=["2026-01-01", "2026-01-02"],
            unledgered_partitions=["2026-01-02"],
            unverified_entries=[UnverifiedEntry(state="uploaded", partitions=["2026-01-01"])],
        )
    }
    report = make_report(redis=redis, archive=archive, hot={"reconcile": {"at": "x", "drifted_keys": 7}})
    kinds = sorted(v.kind for v in report.violations)
    assert kinds == ["archive_partition_unledgered", "hot_drift", "ledger_unverified", "redis_past_window"]
    assert next(v for v in report.violations if v.kind == "hot_drift").severity == "finding"


def test_months():
    assert month_range("2025-11-03", "2026-02-01 00:00:00") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert month_range(None, "2026-01-01") == []


def test_json_roundtrip_and_chart_png():
    stats = MySQLStats(
        rows=11,
        oldest="2024-01-01 00:00:00",
        newest="2026-06-29 00:00:00",
        overdue_rows=1,
        overdue_before="2025-06-23 00:00:00",
        newest_overdue="2024-01-01 00:00:00",
    )
    report = make_report(mysql={"loan_transactions": stats})
    again = Report.from_json(report.to_json())
    assert again.to_dict() == report.to_dict()
    png = render_png(again)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


# A stored daily report as written before each tier's figures were typed (a loose ``extra`` dict).
BEFORE_TYPED_STATS = Path(__file__).parent / "data" / "tier_report_before_typed_stats.json"


def test_history_written_before_typed_stats_loads_and_keeps_its_shape(tmp_path):
    text = BEFORE_TYPED_STATS.read_text()
    settings = Settings(archive_uri=f"file://{tmp_path}")
    key = tmp_path / report_key(date(2026, 6, 30))
    key.parent.mkdir(parents=True)
    key.write_text(text)

    [(day, report)] = load_history(settings)
    assert day == date(2026, 6, 30)
    tables = {t.name: t for t in report.tables}
    lt, loans, logs, events = (
        tables[n] for n in ("loan_transactions", "loans", "api_request_logs", "communication_events")
    )
    assert isinstance(lt.mysql, MySQLStats) and isinstance(lt.redis, RedisStats)
    assert (lt.mysql.overdue_rows, lt.mysql.overdue_before, lt.mysql.data_bytes) == (
        1,
        "2025-06-23 00:00:00",
        16384,
    )
    assert loans.mysql is not None and loans.mysql.newest_overdue is None
    assert (lt.redis.entries, lt.redis.stale_entries, lt.redis.redis_keys) == (2, 1, 3)
    assert logs.mysql is not None and logs.mysql.missing and not lt.mysql.missing
    assert isinstance(logs.archive, ArchiveStats) and isinstance(events.archive, ArchiveStats)
    assert (logs.archive.files, logs.archive.rows_from) == (2, "ledger")
    assert logs.archive.unledgered_partitions == logs.archive.uncataloged_partitions == ["2026-01-02"]
    assert logs.archive.unverified_entries == [UnverifiedEntry("uploaded", ["dt=2026-01-01"])]
    assert (events.archive.rows_from, events.archive.unledgered_partitions) == ("parquet footers", None)
    assert type(loans.warehouse) is TierStats and loans.warehouse.rows == 2

    # Read back, the rules find what the old report found, and it is written out as it was read.
    assert [(v.kind, v.table, v.details) for v in evaluate(report, POLICY)] == [
        (v.kind, v.table, v.details) for v in report.violations
    ]
    assert report.to_dict() == json.loads(text)
    assert report.to_json() == text.rstrip("\n")
