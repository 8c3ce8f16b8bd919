"""What an archive run refuses or stops on, against real MariaDB and a file:// archive: a future or
offset as_of, a run over the policy's share of a table, a throttle that never clears, a copy that
differs from MySQL in any column, and a seed that would drop an archived database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tierflow.archive import FutureAsOfError, LargeRunError, check_as_of, run_archive
from tierflow.archive.ledger import Ledger
from tierflow.archive.plan import plan_archive
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy
from tierflow.stores import mysql
from tierflow.stores.objects import open_store
from tierflow_airflow.archive import archive_one_table

from tests.conftest import AS_OF as SEED_AS_OF
from tests.conftest import NO_WAREHOUSE_URL
from tests.integration.test_archive_run import AS_OF, archive_rows, assert_union_equals, mysql_rows


def cli(settings: Settings, *args: str, tz: str | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "TIERFLOW_MYSQL_URL": settings.mysql_url,
        "TIERFLOW_ARCHIVE_URI": settings.archive_uri,
        "TIERFLOW_WAREHOUSE_URL": NO_WAREHOUSE_URL,
        "COLUMNS": "200",
    }
    if tz:
        env["TZ"] = tz
    return subprocess.run(
        [sys.executable, "-m", "tierflow.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def nothing_archived(settings: Settings) -> bool:
    with mysql.connection(settings.mysql_url) as conn:
        cur = conn.cursor()
        cur.execute("SHOW TABLES LIKE 'tierflow_archive_ledger'")
        if cur.fetchone():
            cur.execute("SELECT COUNT(*) FROM tierflow_archive_ledger")
            if cur.fetchone()[0]:
                return False
    return not list(open_store(settings.archive_uri).list(""))


def test_future_as_of_is_refused_by_library_task_and_cli_and_nothing_changes(
    small_settings: Settings,
) -> None:
    before = mysql_rows(small_settings.mysql_url)
    future = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)
    for call in (
        lambda: plan_archive(small_settings, as_of=datetime(2099, 1, 1)),
        lambda: run_archive(small_settings, as_of=datetime(2099, 1, 1), allow_large_run=True),
        lambda: run_archive(small_settings, as_of=future, dry_run=True),
        lambda: archive_one_table(
            "loan_transactions", {"as_of": "2099-01-01", "dry_run": False}, small_settings
        ),
    ):
        with pytest.raises(FutureAsOfError, match="later than now"):
            call()
    for command in ("plan", "run"):
        out = cli(
            small_settings,
            "archive",
            command,
            "--as-of",
            "2099-01-01",
            *(["--no-progress"] * (command == "run")),
        )
        assert out.returncode == 2, out.stdout + out.stderr
        assert "as_of 2099-01-01" in out.stderr and "later than now" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
    assert mysql_rows(small_settings.mysql_url) == before
    assert nothing_archived(small_settings)


def test_as_of_with_an_offset_is_converted_to_utc_not_cut_off(small_settings: Settings) -> None:
    assert check_as_of("2026-06-30T05:30:00+05:30") == datetime(2026, 6, 30, 0, 0)
    assert check_as_of(datetime(2026, 6, 30, 9, 0, tzinfo=UTC)) == datetime(2026, 6, 30, 9, 0)
    aware = datetime.fromisoformat("2026-06-30T05:30:00+05:30")
    plan = plan_archive(small_settings, tables=["loan_transactions"], as_of=aware)[0]
    assert plan.cutoff == datetime(2025, 6, 30, 0, 0)  # 365 days before 00:00 UTC, naive
    out = cli(
        small_settings, "archive", "plan", "-t", "loan_transactions", "--as-of", "2026-06-30T05:30:00+05:30"
    )
    assert out.returncode == 0, out.stderr
    assert "2025-06-30 00:00" in out.stdout, out.stdout


def test_default_as_of_is_utc_whatever_the_local_time_zone(small_settings: Settings) -> None:
    """A dry run in Asia/Kolkata judges windows as of now in UTC, not of now in IST."""
    out = cli(small_settings, "archive", "run", "--dry-run", "-t", "loan_transactions", tz="Asia/Kolkata")
    assert out.returncode == 0, out.stderr
    shown = re.search(r"as of (\d{4}-\d\d-\d\d \d\d:\d\d)", out.stdout)
    assert shown, out.stdout
    as_of = datetime.strptime(shown.group(1), "%Y-%m-%d %H:%M")
    assert abs(as_of - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=5), (as_of, out.stdout)


def test_large_run_stops_before_the_first_batch_and_the_flag_lets_it_through(
    small_settings: Settings,
) -> None:
    original = mysql_rows(small_settings.mysql_url)  # 60 of its 65 transactions are cold
    with pytest.raises(LargeRunError) as err:
        run_archive(small_settings, tables=["loan_transactions"], as_of=AS_OF)
    text = str(err.value)
    assert "'loan_transactions'" in text and "60 of its 65 rows" in text and "--allow-large-run" in text
    assert "max_run_fraction (0.5)" in text
    assert mysql_rows(small_settings.mysql_url) == original and nothing_archived(small_settings)

    out = cli(
        small_settings, "archive", "run", "-t", "loan_transactions", "--as-of", "2026-06-30", "--no-progress"
    )
    assert out.returncode == 2 and "--allow-large-run" in out.stderr, out.stdout + out.stderr
    assert nothing_archived(small_settings)

    # the DAG's task refuses alike, and takes the same switch from its params
    with pytest.raises(LargeRunError):
        archive_one_table("loan_transactions", {"as_of": "2026-06-30", "dry_run": False}, small_settings)
    done = archive_one_table(
        "loan_transactions",
        {"as_of": "2026-06-30", "dry_run": False, "allow_large_run": True},
        small_settings,
    )["result"]
    assert done["rows"] == done["deleted"] == 60
    assert_union_equals(small_settings, original)


def test_large_run_limit_comes_from_the_policy(small_settings: Settings) -> None:
    policy = load_policy(DEFAULT_POLICY)
    lenient = policy.model_copy(
        update={"archive": policy.archive.model_copy(update={"max_run_fraction": 0.95})}
    )
    summary = run_archive(small_settings, tables=["loan_transactions"], as_of=AS_OF, policy=lenient)
    assert summary.ok and summary.tables[0].rows == 60, summary.errors()


def test_dry_run_and_plan_report_the_same_numbers_on_the_seeded_data(
    seeded_mysql_url: str, file_archive_uri: str
) -> None:
    settings = Settings(
        warehouse_url=NO_WAREHOUSE_URL,
        mysql_url=seeded_mysql_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
    )
    planned = {p.table: (p.rows, p.held) for p in plan_archive(settings, as_of=SEED_AS_OF)}
    dry = run_archive(settings, as_of=SEED_AS_OF, dry_run=True)
    assert {t.table: (t.rows, t.held) for t in dry.tables} == planned
    assert planned["loans"][1] > 0  # some cold loans are held back by child rows that stay
    assert nothing_archived(settings)
    real = run_archive(settings, as_of=SEED_AS_OF, gate=False, allow_large_run=True)
    assert real.ok, real.errors()
    assert {t.table: t.rows for t in real.tables} == {t: rows for t, (rows, _) in planned.items()}


def test_throttle_stops_the_run_after_its_longest_wait(small_settings: Settings) -> None:
    from tierflow.policy import Throttle as Limits

    policy = load_policy(DEFAULT_POLICY)
    limits = Limits(max_threads_running=1, pause_seconds=0.2, check_every_batches=1, max_wait_seconds=1)
    policy = policy.model_copy(update={"database": policy.database.model_copy(update={"throttle": limits})})
    original = mysql_rows(small_settings.mysql_url)

    def sleep() -> None:  # a second running query keeps Threads_running at 2 for 8 s
        with mysql.connection(small_settings.mysql_url) as conn:
            conn.cursor().execute("SELECT SLEEP(8)")

    sleeper = threading.Thread(target=sleep)
    sleeper.start()
    try:
        import time

        time.sleep(0.3)
        started = time.monotonic()
        summary = run_archive(
            small_settings,
            tables=["loan_transactions", "loans"],
            as_of=AS_OF,
            policy=policy,
            allow_large_run=True,
        )
        took = time.monotonic() - started
    finally:
        sleeper.join()
    assert took < 6, took
    t = summary.tables[0]
    assert not summary.ok and t.status == "throttled" and len(summary.tables) == 1  # the run stopped
    assert "max_wait_seconds" in t.error and "Threads_running" in t.error
    with Ledger(small_settings.mysql_url) as ledger:
        assert {e.state for e in ledger.entries("loan_transactions")} <= {"deleted"}  # nothing half done
    assert_union_equals(small_settings, original)


def test_a_row_changed_without_its_change_column_stays_in_mysql(
    small_settings: Settings, monkeypatch
) -> None:
    """A data fix that keeps updated_at (``SET amount = 1, updated_at = updated_at``) between
    extract and delete: only the content digest sees it; the fixed row stays, the next run takes it."""
    from tierflow.archive.archiver import TableArchiver

    url = small_settings.mysql_url
    original = mysql_rows(url)
    real_delete = TableArchiver.delete

    def delete_after_a_quiet_fix(self, entry, rows, workers=None):
        if entry.key_min <= 7 <= entry.key_max:
            with mysql.connection(url, autocommit=True) as conn:
                conn.cursor().execute(
                    "UPDATE loan_transactions SET amount = 1.00, updated_at = updated_at WHERE id = 7"
                )
        return real_delete(self, entry, rows, workers)

    monkeypatch.setattr(TableArchiver, "delete", delete_after_a_quiet_fix)
    summary = run_archive(small_settings, tables=["loan_transactions"], as_of=AS_OF, allow_large_run=True)
    t = summary.tables[0]
    assert summary.ok and (t.deleted, t.kept_changed) == (59, 1), summary.errors()
    live = mysql_rows(url)
    assert live[7]["amount"] == Decimal("1.00")  # the fix survived in MySQL ...
    assert 7 not in {k for k, _ in archive_rows(small_settings)}  # ... and the stale copy left the archive
    original[7] = live[7]
    assert_union_equals(small_settings, original)
    monkeypatch.setattr(TableArchiver, "delete", real_delete)
    run_archive(small_settings, tables=["loan_transactions"], as_of=AS_OF, allow_large_run=True)
    assert 7 not in mysql_rows(url)
    assert_union_equals(small_settings, original)


def test_a_copy_that_differs_from_mysql_keeps_the_row_for_a_table_without_change_column(
    small_settings: Settings, monkeypatch
) -> None:
    """The archived copy of one communication_events row differs from MySQL (as a faulty
    conversion would make it) while the store returns exactly what was written: the digest
    computed from the Parquet read back differs from MySQL's, so that row is not deleted."""
    import pyarrow as pa
    from tierflow.archive import archiver as run_module

    url = small_settings.mysql_url
    with mysql.connection(url, autocommit=True) as conn:
        conn.cursor().execute(
            "INSERT INTO communications VALUES (1, 1, 'c1', 'sms', 't1', 'sent', "
            "'2024-01-01 10:00:00.5', '2024-01-01 10:00:00.5')"
        )
        conn.cursor().execute(
            "INSERT INTO communication_events VALUES (1, 1, 'sent', NULL, '2024-01-01 10:00:01'), "
            "(2, 1, 'delivered', '{\"a\": 1}', '2024-01-01 10:00:02'), (3, 1, 'clicked', NULL, '2024-01-01 10:05:00')"
        )
    real_shape = run_module.shape

    def faulty_shape(raw, columns, table, schema, **kwargs):
        rows = real_shape(raw, columns, table, schema, **kwargs)
        if table.name != "communication_events":
            return rows
        i = rows.column_names.index("event_type")
        values = rows.column(i).to_pylist()
        values[1] = "clicked"  # row 2's copy no longer says what MySQL says
        return rows.set_column(i, "event_type", pa.array(values, rows.schema.field(i).type))

    monkeypatch.setattr(run_module, "shape", faulty_shape)
    summary = run_archive(small_settings, tables=["communication_events"], as_of=AS_OF, allow_large_run=True)
    t = summary.tables[0]
    assert summary.ok and (t.rows, t.deleted, t.kept_changed) == (3, 2, 1), summary.errors()
    with mysql.connection(url) as conn:
        cur = conn.cursor()
        cur.execute("SELECT id, event_type FROM communication_events")
        assert cur.fetchall() == ((2, "delivered"),)
    monkeypatch.setattr(run_module, "shape", real_shape)
    again = run_archive(small_settings, tables=["communication_events"], as_of=AS_OF, allow_large_run=True)
    assert again.ok and again.tables[0].deleted == 1


def test_seed_refuses_to_drop_a_database_with_an_archive_ledger_or_off_loopback(
    seeded_mysql_url: str,
) -> None:
    from tierflow.devdata import DropRefusedError, check_drop_allowed, seed_database

    name = mysql.database_of(seeded_mysql_url)
    check_drop_allowed(seeded_mysql_url)  # seeded, nothing archived yet: a local re-seed is fine
    with Ledger(seeded_mysql_url) as ledger:
        from tierflow.archive.ledger import LedgerEntry

        ledger.insert(LedgerEntry(table_name="loan_transactions", batch_name="b", state="deleted"))
    with mysql.connection(seeded_mysql_url) as conn:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM customers")
        customers = cur.fetchone()[0]
    with pytest.raises(DropRefusedError) as err:
        seed_database(seeded_mysql_url, scale="tiny", years=1, seed=1, progress=False)
    assert (
        name in str(err.value) and "archive ledger" in str(err.value) and "--drop-existing" in str(err.value)
    )
    with pytest.raises(DropRefusedError, match="names 'other'"):
        seed_database(seeded_mysql_url, scale="tiny", years=1, seed=1, progress=False, drop_existing="other")
    out = subprocess.run(
        [sys.executable, "-m", "tierflow.cli", "seed", "--scale", "tiny", "--years", "1", "--no-progress"],
        env={**os.environ, "TIERFLOW_MYSQL_URL": seeded_mysql_url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2 and "--drop-existing" in out.stderr, out.stdout + out.stderr
    with mysql.connection(seeded_mysql_url) as conn:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM customers")
        assert cur.fetchone()[0] == customers  # nothing was dropped
        cur.execute("SELECT COUNT(*) FROM tierflow_archive_ledger")
        assert cur.fetchone()[0] == 1

    # a remote host is refused before any connection is made
    with pytest.raises(DropRefusedError, match="not this machine"):
        check_drop_allowed("mysql://root@10.255.255.1:3306/lending")
    check_drop_allowed("mysql://root@10.255.255.1:3306/lending", drop_existing="lending")

    # named, it is replaced
    seed_database(seeded_mysql_url, scale="tiny", years=1, seed=1, progress=False, drop_existing=name)
    with mysql.connection(seeded_mysql_url) as conn:
        cur = conn.cursor()
        cur.execute("SHOW TABLES LIKE 'tierflow_archive_ledger'")
        assert cur.fetchone() is None
