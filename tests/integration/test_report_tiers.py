"""The tier report against the real services: planted violations are reported and --strict fails."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from tierflow import report as tier_report
from tierflow.cli import app
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy
from tierflow.stores import mysql
from typer.testing import CliRunner

pytestmark = pytest.mark.integration
AS_OF = datetime(2026, 6, 30)


@pytest.fixture
def tier_settings(mysql_url, redis_url, warehouse_url, file_archive_uri) -> Settings:
    return Settings(
        mysql_url=mysql_url,
        redis_url=redis_url,
        warehouse_url=warehouse_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
    )


def env_of(s: Settings, policy: Path | None = None) -> dict[str, str]:
    return {
        "TIERFLOW_MYSQL_URL": s.mysql_url,
        "TIERFLOW_REDIS_URL": s.redis_url,
        "TIERFLOW_WAREHOUSE_URL": s.warehouse_url,
        "TIERFLOW_ARCHIVE_URI": s.archive_uri,
        "TIERFLOW_POLICY": str(policy or s.policy_path),
    }


def insert_loan_rows(url: str, txn_times: list[datetime]) -> None:
    """One customer and loan created a month before AS_OF, with transactions at ``txn_times``."""
    created = AS_OF - timedelta(days=30)
    with mysql.connection(url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute(
            "INSERT INTO customers (id, full_name, phone, email, pan, date_of_birth, city, state, "
            "kyc_status, created_at, updated_at) VALUES (1, 'A B', '9876543210', 'a@b.in', 'ABCDE1234F', "
            "'1990-01-01', 'Pune', 'MH', 'verified', %s, %s) ON DUPLICATE KEY UPDATE id = id",
            (created, created),
        )
        cur.execute(
            "INSERT INTO loans (id, customer_id, product, principal, interest_rate_pct, tenure_months, "
            "status, applied_at, created_at, updated_at) VALUES (1, 1, 'bnpl', 1000, 18, 3, 'applied', "
            "%s, %s, %s) ON DUPLICATE KEY UPDATE id = id",
            (created, created, created),
        )
        for i, t in enumerate(txn_times):
            cur.execute(
                "INSERT INTO loan_transactions (loan_id, customer_id, txn_type, amount, gateway, "
                "gateway_ref, status, created_at, updated_at) VALUES (1, 1, 'emi_payment', 100, 'upi_autopay', "
                "%s, 'success', %s, %s)",
                (f"ref{i}-{t:%Y%m%d}", t, t),
            )


def run_cli(s: Settings, *args: str, policy: Path | None = None):
    return CliRunner().invoke(app, ["tiers", "report", "--as-of", "2026-06-30", *args], env=env_of(s, policy))


def test_old_mysql_row_is_a_violation_and_strict_fails(tier_settings):
    insert_loan_rows(tier_settings.mysql_url, [AS_OF - timedelta(days=3)])
    green = run_cli(tier_settings, "--strict", "--json")
    assert green.exit_code == 0, green.output
    body = json.loads(green.output)
    assert body["status"] == "green", body["violations"]
    assert [t["name"] for t in body["tables"]] == list(load_policy(DEFAULT_POLICY).tables)
    mysql_extra = next(t for t in body["tables"] if t["name"] == "loan_transactions")["mysql"]["extra"]
    assert list(mysql_extra) == [
        "data_bytes",
        "index_bytes",
        "overdue_rows",
        "held_by_children",
        "newest_overdue",
        "overdue_before",
    ]
    assert (mysql_extra["overdue_rows"], mysql_extra["newest_overdue"]) == (0, None)

    # Planted: a transaction two years old, far past the 365-day warm window plus 7 days' grace.
    insert_loan_rows(tier_settings.mysql_url, [AS_OF - timedelta(days=730)])
    red = run_cli(tier_settings, "--strict")
    assert red.exit_code == 1, red.output
    assert "mysql_past_window" in red.output and "loan_transactions" in red.output

    r = tier_report.build(tier_settings, load_policy(DEFAULT_POLICY), AS_OF)
    [v] = r.red
    assert (v.kind, v.table, v.details["rows"]) == ("mysql_past_window", "loan_transactions", 1)
    lt = next(t for t in r.tables if t.name == "loan_transactions")
    assert lt.mysql.rows == 2 and lt.mysql.oldest.startswith("2024-06-30")
    # Without --strict the same report exits 0.
    assert run_cli(tier_settings).exit_code == 0


def test_old_parent_rows_with_live_children_are_held_not_overdue(tier_settings):
    """A loan past its warm window whose transactions are still warm cannot be archived before
    them: the report shows it as held (a finding), not as a violation; once the child is gone it
    is overdue."""
    insert_loan_rows(tier_settings.mysql_url, [AS_OF - timedelta(days=3)])
    old = AS_OF - timedelta(days=800)
    with mysql.connection(tier_settings.mysql_url, autocommit=True) as conn:
        conn.cursor().execute("UPDATE loans SET created_at = %s, applied_at = %s WHERE id = 1", (old, old))
    r = tier_report.build(tier_settings, load_policy(DEFAULT_POLICY), AS_OF)
    assert r.red == []
    [held] = [f for f in r.findings if f.kind == "mysql_held_by_children"]
    assert (held.table, held.details["rows"]) == ("loans", 1)

    with mysql.connection(tier_settings.mysql_url, autocommit=True) as conn:
        conn.cursor().execute("DELETE FROM loan_transactions")
    r = tier_report.build(tier_settings, load_policy(DEFAULT_POLICY), AS_OF)
    assert [(v.kind, v.table) for v in r.red] == [("mysql_past_window", "loans")]


def test_database_cap_below_current_size_fails_strict(tier_settings, tmp_path):
    raw = yaml.safe_load(DEFAULT_POLICY.read_text())
    raw["database"]["soft_cap_gb"] = 0.00001  # ~10 KB: the empty schema alone is bigger
    raw["database"]["hard_cap_gb"] = 0.00002
    policy = tmp_path / "tiers.yaml"
    policy.write_text(yaml.safe_dump(raw))
    result = run_cli(tier_settings, "--strict", "--json", policy=policy)
    assert result.exit_code == 1, result.output
    body = json.loads(result.output)
    kinds = [v["kind"] for v in body["violations"]]
    assert kinds == ["database_hard_cap"], kinds
    assert body["database"]["bytes"] > body["database"]["hard_cap_bytes"]


def test_redis_entries_and_drift(tier_settings):
    import redis

    client = redis.Redis.from_url(tier_settings.redis_url)
    recent = (AS_OF - timedelta(days=2)).timestamp()
    stale = (AS_OF - timedelta(days=60)).timestamp()
    client.hset("tierflow:hot:{1}:loan_transactions", mapping={"1": "{}", "2": "{}"})
    client.zadd("tierflow:hot:{1}:loan_transactions:idx", {"1": recent, "2": stale})
    client.hset("tierflow:hot:{1}:ver", mapping={"loan_transactions:1": 1})
    client.set("tierflow:hot:reconcile:last", json.dumps({"at": "2026-06-30T01:00:00Z", "drifted_keys": 3}))
    r = tier_report.build(tier_settings, load_policy(DEFAULT_POLICY), AS_OF)
    lt = next(t for t in r.tables if t.name == "loan_transactions")
    assert lt.redis.rows == 1 and lt.redis.entries == 2 and lt.redis.bytes > 0
    assert lt.redis.stale_entries == 1
    assert lt.redis.oldest.startswith("2026-05-01")
    lt_json = next(t for t in r.to_dict()["tables"] if t["name"] == "loan_transactions")
    assert lt_json["redis"]["extra"] == {"entries": 2, "stale_entries": 1, "redis_keys": lt.redis.redis_keys}
    kinds = {v.kind: v.severity for v in r.violations}
    assert kinds == {"redis_past_window": "violation", "hot_drift": "finding"}


def write_parquet(root: Path, key: str, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": list(range(rows))}), path)


def test_archive_from_store_then_ledger(tier_settings):
    root = Path(tier_settings.archive_uri.removeprefix("file://"))
    db = mysql.database_of(tier_settings.mysql_url)
    write_parquet(root, f"{db}/api_request_logs/dt=2026-01-05/part-0.parquet", 3)
    write_parquet(root, f"{db}/api_request_logs/dt=2026-01-06/part-0.parquet", 4)
    policy = load_policy(DEFAULT_POLICY)

    r = tier_report.build(tier_settings, policy, AS_OF)
    logs = next(t for t in r.tables if t.name == "api_request_logs")
    assert (logs.archive.rows, logs.archive.files) == (7, 2)
    assert (logs.archive.oldest, logs.archive.newest) == ("2026-01-05", "2026-01-06")
    assert logs.archive.rows_from == "parquet footers"
    assert r.status == "green"

    # The ledger knows one partition (verified) and one batch still 'uploaded'.
    from tierflow.archive import ledger

    with mysql.connection(tier_settings.mysql_url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute(ledger.DDL)
        for state, part in (("verified", "dt=2026-01-05"), ("uploaded", "dt=2026-02-01")):
            cur.execute(
                f"INSERT INTO {ledger.LEDGER_TABLE} (run_id, table_name, batch_name, state, row_count, "
                "bytes, object_keys, partitions) VALUES (%s, 'api_request_logs', %s, %s, 3, 100, %s, %s)",
                (
                    "r" * 32,
                    part,
                    state,
                    json.dumps([f"{db}/api_request_logs/{part}/part-0.parquet"]),
                    json.dumps([part]),
                ),
            )
    r = tier_report.build(tier_settings, policy, AS_OF)
    logs = next(t for t in r.tables if t.name == "api_request_logs")
    assert logs.archive.rows == 3 and logs.archive.rows_from == "ledger"
    found = {v.kind: v for v in r.red}
    assert set(found) == {"archive_partition_unledgered", "ledger_unverified"}
    assert found["archive_partition_unledgered"].details["partitions"] == ["2026-01-06"]
    logs_json = next(t for t in r.to_dict()["tables"] if t["name"] == "api_request_logs")["archive"]
    assert logs_json["extra"] == {
        "files": 2,
        "partitions": ["2026-01-05", "2026-01-06"],
        "unledgered_partitions": ["2026-01-06"],
        "unverified_entries": [{"state": "uploaded", "partitions": ["dt=2026-02-01"]}],
        "rows_from": "ledger",
    }
    assert tier_report.Report.from_json(r.to_json()).to_dict() == r.to_dict()

    # A failed batch is the table's last word until a later batch of it is archived.
    def add_entry(state: str, part: str) -> None:
        with mysql.connection(tier_settings.mysql_url, autocommit=True) as conn:
            conn.cursor().execute(
                f"INSERT INTO {ledger.LEDGER_TABLE} (run_id, table_name, batch_name, state, row_count, "
                "bytes, object_keys, partitions) VALUES (%s, 'api_request_logs', %s, %s, 1, 1, '[]', %s)",
                ("f" * 32, f"{state}-{part}", state, json.dumps([part])),
            )

    def unverified_states() -> list[str]:
        found = tier_report.build(tier_settings, policy, AS_OF)
        logs = next(t for t in found.tables if t.name == "api_request_logs")
        return sorted(str(e.state) for e in logs.archive.unverified_entries or [])

    add_entry("failed", "dt=2026-01-07")
    assert unverified_states() == ["failed", "uploaded"]
    add_entry("verified", "dt=2026-01-08")
    assert unverified_states() == ["uploaded"], "a batch archived after the failure closes it"

    # A stray file inside a ledgered partition is caught too: the ledger names its objects.
    write_parquet(root, f"{db}/api_request_logs/dt=2026-01-05/part-stray.parquet", 1)
    r = tier_report.build(tier_settings, policy, AS_OF)
    unledgered = next(v for v in r.red if v.kind == "archive_partition_unledgered")
    assert unledgered.details["partitions"] == ["2026-01-05", "2026-01-06"]


def test_saved_reports_give_growth(tier_settings):
    policy = load_policy(DEFAULT_POLICY)
    first = tier_report.build(tier_settings, policy, AS_OF - timedelta(days=2))
    first.database.bytes -= 2_000_000  # as if the database grew 1 MB/day since
    tier_report.save(tier_settings, first)
    history = tier_report.load_history(tier_settings)
    assert [d for d, _ in history] == [date(2026, 6, 28)]
    today = tier_report.generate(tier_settings, AS_OF)
    assert today.database.history_days == 2
    assert abs(today.database.growth_bytes_per_day - 1_000_000) < 1
    assert today.database.days_until_soft_cap > 1000
    tier_report.save(tier_settings, today)
    assert tier_report.latest(tier_settings).as_of.startswith("2026-06-30")


def test_seeded_dataset_lists_every_table(
    seeded_mysql_url, redis_url, warehouse_url, file_archive_uri, tmp_path
):
    s = Settings(
        mysql_url=seeded_mysql_url,
        redis_url=redis_url,
        warehouse_url=warehouse_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
    )
    r = tier_report.build(s, load_policy(DEFAULT_POLICY), AS_OF)
    assert all(t.mysql.rows > 0 for t in r.tables)
    # Nothing archived yet: three years of data break every window shorter than three years.
    overdue = {v.table for v in r.red if v.kind == "mysql_past_window"}
    assert "api_request_logs" in overdue and "customers" not in overdue
    from tierflow.report.chart import draw

    png = draw(r, tmp_path / "chart.png")
    assert png.stat().st_size > 10_000
