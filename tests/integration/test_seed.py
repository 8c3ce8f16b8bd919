"""The fake-data generator against real MariaDB: deterministic, constraint-clean and realistic."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tierflow.devdata import LOAD_ORDER, seed_database
from tierflow.stores import mysql

from tests.conftest import AS_OF

pytestmark = pytest.mark.integration


def _fingerprint(url: str) -> dict[str, tuple[int, int]]:
    """Row count and content checksum of every seeded table."""
    out = {}
    with mysql.connection(url) as conn:
        cur = conn.cursor()
        for table in LOAD_ORDER:
            cur.execute(f"CHECKSUM TABLE `{table}` EXTENDED")
            checksum = cur.fetchone()[1]
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")
            out[table] = (cur.fetchone()[0], checksum)
    return out


def _scalar(url: str, sql: str):
    with mysql.connection(url) as conn:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchone()[0]


def test_same_seed_gives_identical_data_and_another_seed_differs(seeded_mysql_url: str) -> None:
    first = _fingerprint(seeded_mysql_url)
    seed_database(seeded_mysql_url, scale="tiny", years=3, seed=7, as_of=AS_OF, recreate=True, progress=False)
    assert _fingerprint(seeded_mysql_url) == first
    seed_database(seeded_mysql_url, scale="tiny", years=3, seed=8, as_of=AS_OF, recreate=True, progress=False)
    assert _fingerprint(seeded_mysql_url) != first


def test_every_table_is_filled_within_the_period(seeded_mysql_url: str) -> None:
    counts = _fingerprint(seeded_mysql_url)
    assert all(rows > 0 for rows, _ in counts.values()), counts
    assert counts["loan_transactions"][0] > counts["loans"][0] > counts["customers"][0]
    newest = _scalar(seeded_mysql_url, "SELECT MAX(created_at) FROM loan_transactions")
    oldest = _scalar(seeded_mysql_url, "SELECT MIN(created_at) FROM customers")
    assert newest.date() <= AS_OF
    assert (AS_OF - oldest.date()).days > 2 * 365


def test_foreign_keys_hold_after_the_bulk_load(seeded_mysql_url: str) -> None:
    orphans = _scalar(
        seeded_mysql_url,
        "SELECT COUNT(*) FROM loan_transactions t LEFT JOIN loans l ON l.id = t.loan_id "
        "WHERE l.id IS NULL OR l.customer_id <> t.customer_id",
    )
    assert orphans == 0
    assert (
        _scalar(
            seeded_mysql_url,
            "SELECT COUNT(*) FROM emi_schedules e LEFT JOIN loans l ON l.id = e.loan_id WHERE l.id IS NULL",
        )
        == 0
    )
    # Secondary indexes dropped for the load are back.
    with mysql.connection(seeded_mysql_url) as conn:
        cur = conn.cursor()
        cur.execute("SHOW INDEX FROM loan_transactions WHERE Key_name = 'ix_txn_created_at'")
        assert cur.fetchall()


def test_data_is_realistic_over_the_years(seeded_mysql_url: str) -> None:
    url = seeded_mysql_url
    # Customer growth: the last year brings more sign-ups than the first.
    first_year = _scalar(
        url, f"SELECT COUNT(*) FROM customers WHERE created_at < DATE_SUB('{AS_OF}', INTERVAL 2 YEAR)"
    )
    last_year = _scalar(
        url, f"SELECT COUNT(*) FROM customers WHERE created_at >= DATE_SUB('{AS_OF}', INTERVAL 1 YEAR)"
    )
    assert last_year > 1.5 * first_year
    # Delinquency is non-trivial: some instalments are 90+ days past due, most are paid.
    npa = _scalar(
        url,
        f"SELECT COUNT(*) FROM emi_schedules WHERE status = 'missed' AND due_date < DATE_SUB('{AS_OF}', INTERVAL 90 DAY)",
    )
    paid = _scalar(url, "SELECT COUNT(*) FROM emi_schedules WHERE status IN ('paid', 'late')")
    missed = _scalar(url, "SELECT COUNT(*) FROM emi_schedules WHERE status = 'missed'")
    assert npa > 0 and paid > 5 * missed
    assert _scalar(url, "SELECT COUNT(DISTINCT status) FROM loans") >= 4
    assert (
        _scalar(
            url, "SELECT COUNT(*) FROM loan_transactions WHERE status = 'failed' AND failure_reason IS NULL"
        )
        == 0
    )
    # Bank SMS in the formats Indian banks use; app categories for the profile marts.
    assert (
        _scalar(
            url,
            "SELECT COUNT(*) FROM user_device_sms WHERE is_bank_sms = 1 AND body REGEXP 'Rs\\\\.? ?[0-9,]+\\\\.[0-9]{2}|INR [0-9,]+'",
        )
        > 0
    )
    assert _scalar(url, "SELECT COUNT(DISTINCT category) FROM user_device_apps") >= 6
    # Campaign funnels narrow: sent > delivered > opened > clicked.
    funnel = [
        _scalar(url, f"SELECT COUNT(*) FROM communication_events WHERE event_type = '{e}'")
        for e in ("sent", "delivered", "opened", "clicked")
    ]
    assert funnel == sorted(funnel, reverse=True) and funnel[-1] > 0


def test_cli_prints_rows_per_table_and_overall_rate(mysql_url: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tierflow.cli",
            "seed",
            "--scale",
            "tiny",
            "--as-of",
            "2026-06-30",
            "--no-progress",
        ],
        env={**__import__("os").environ, "TIERFLOW_MYSQL_URL": mysql_url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "loan_transactions" in result.stdout
    assert "rows/s overall" in result.stdout


def test_progress_bar_counts_every_table_as_its_indexes_are_built(mysql_url: str) -> None:
    import io

    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=120)
    report = seed_database(
        mysql_url, scale="tiny", years=1, seed=7, as_of=AS_OF, recreate=False, progress=True, console=console
    )
    assert [load.table for load in report.loads] == LOAD_ORDER
    shown = out.getvalue()
    assert f"{len(LOAD_ORDER)}/{len(LOAD_ORDER)} tables" in shown, shown


def test_seed_publishes_the_hot_window_as_events(mysql_url: str, redis_url: str) -> None:
    import os

    import redis

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tierflow.cli",
            "seed",
            "--scale",
            "tiny",
            "--as-of",
            "2026-06-30",
            "--no-progress",
            "--publish-events",
        ],
        env={**os.environ, "TIERFLOW_MYSQL_URL": mysql_url, "TIERFLOW_REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "published hot-window events" in result.stdout
    hot_txns = _scalar(
        mysql_url, "SELECT COUNT(*) FROM loan_transactions WHERE created_at >= '2026-06-02 23:59:59.999999'"
    )
    assert hot_txns > 0
    assert redis.Redis.from_url(redis_url).xlen("tierflow:events") >= hot_txns
