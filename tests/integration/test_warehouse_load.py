"""Warehouse load against real MariaDB, PostgreSQL and moto S3: raw mirrors MySQL, reruns change
nothing, updates flow through, a bad batch is stopped at the gate, kill -9 mid-load is harmless."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY, PROJECT_ROOT
from tierflow.policy import load_policy
from tierflow.quality import QualityGateError
from tierflow.stores import mysql, warehouse
from tierflow.stores.objects import store_for
from tierflow.warehouse.load import load_all, load_table
from tierflow.warehouse.target import read_watermark

pytestmark = pytest.mark.integration

# (table, columns compared) — the content of raw must equal MySQL's for these.
COMPARED = {
    "loans": "id, customer_id, product, principal, status, disbursed_at, updated_at",
    "loan_transactions": "id, loan_id, amount, status, gateway, metadata, updated_at",
}


@pytest.fixture
def wh_settings(seeded_mysql_url: str, warehouse_url: str, s3_archive_uri: str, moto_server) -> Settings:
    return Settings(
        mysql_url=seeded_mysql_url,
        warehouse_url=warehouse_url,
        archive_uri=s3_archive_uri,
        policy_path=DEFAULT_POLICY,
        aws_endpoint_url=moto_server.endpoint,
    )


def mysql_rows(url: str, table: str) -> list[tuple]:
    with mysql.connection(url) as conn:
        cur = conn.cursor()
        cur.execute(f"SELECT {COMPARED[table]} FROM {table} ORDER BY id")
        return [tuple(_norm(v) for v in r) for r in cur.fetchall()]


def raw_rows(url: str, table: str) -> list[tuple]:
    with warehouse.connection(url) as conn:
        rows = conn.execute(f"SELECT {COMPARED[table]} FROM raw.{table} ORDER BY id").fetchall()
        return [tuple(_norm(v) for v in r) for r in rows]


def _norm(v):
    import json
    from decimal import Decimal

    if isinstance(v, Decimal):
        return str(v.quantize(Decimal("0.01")))
    if isinstance(v, (bytes, str)) and str(v).startswith("{"):
        return json.dumps(json.loads(v), sort_keys=True)
    return v


def test_raw_mirrors_mysql_and_rerun_changes_nothing(wh_settings: Settings) -> None:
    run = load_all(wh_settings, ["loans", "loan_transactions"])
    assert {r.table for r in run.reports} == {"loans", "loan_transactions"}
    for table in COMPARED:
        assert raw_rows(wh_settings.warehouse_url, table) == mysql_rows(wh_settings.mysql_url, table)
    staged = [o.key for o in store_for(wh_settings).list("_tierflow_staging/loans/")]
    assert staged and all(k.endswith(".parquet") for k in staged)

    with warehouse.connection(wh_settings.warehouse_url) as conn:
        before = conn.execute("SELECT max(_loaded_at), count(*) FROM raw.loan_transactions").fetchone()
    again = load_all(wh_settings, ["loans", "loan_transactions"])
    assert all(r.inserted == 0 and r.updated == 0 for r in again.reports)
    assert [r.watermark for r in again.reports] == [r.watermark for r in run.reports]
    with warehouse.connection(wh_settings.warehouse_url) as conn:
        after = conn.execute("SELECT max(_loaded_at), count(*) FROM raw.loan_transactions").fetchone()
    assert after == before


def test_row_updated_in_mysql_is_updated_in_raw(wh_settings: Settings) -> None:
    table = load_policy(wh_settings.policy_path).table("loan_transactions")
    load_table(wh_settings, table)
    with mysql.connection(wh_settings.mysql_url) as conn:
        cur = conn.cursor()
        cur.execute("SELECT id FROM loan_transactions WHERE status = 'success' LIMIT 1")
        (txn_id,) = cur.fetchone()
        cur.execute(
            "UPDATE loan_transactions SET status = 'reversed', updated_at = NOW(6) WHERE id = %s",
            (txn_id,),
        )
        conn.commit()
    report = load_table(wh_settings, table)
    assert report.updated == 1 and report.inserted == 0
    with warehouse.connection(wh_settings.warehouse_url) as conn:
        status = conn.execute("SELECT status FROM raw.loan_transactions WHERE id = %s", (txn_id,))
        assert status.fetchone()[0] == "reversed"
    assert raw_rows(wh_settings.warehouse_url, "loan_transactions") == mysql_rows(
        wh_settings.mysql_url, "loan_transactions"
    )


BAD_BATCHES = {
    # (DDL that lets the bad row into MySQL, the bad row's change, the expectation that must fail)
    "null": (
        "ALTER TABLE loan_transactions MODIFY gateway_ref VARCHAR(40) NULL",
        "gateway_ref = NULL",
        "expect_column_values_to_not_be_null",
    ),
    "negative": (
        "ALTER TABLE loan_transactions DROP CONSTRAINT ck_txn_amount",
        "amount = -10.00",
        "expect_column_values_to_be_between",
    ),
    "unknown_enum": (
        "ALTER TABLE loan_transactions MODIFY gateway "
        "ENUM('razorpay','cashfree','payu','paytm','nach','upi_autopay','neft','bitcoin') NOT NULL",
        "gateway = 'bitcoin'",
        "expect_column_values_to_be_in_set",
    ),
}


@pytest.mark.parametrize("case", list(BAD_BATCHES))
def test_bad_batch_is_rejected_and_raw_untouched(wh_settings: Settings, case: str) -> None:
    ddl, change, expectation = BAD_BATCHES[case]
    table = load_policy(wh_settings.policy_path).table("loan_transactions")
    load_table(wh_settings, table)
    with warehouse.connection(wh_settings.warehouse_url) as conn:
        raw_before = conn.execute(
            "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM raw.loan_transactions t"
        ).fetchone()
        wm_before = read_watermark(conn, "loan_transactions")
    with mysql.connection(wh_settings.mysql_url) as conn:
        cur = conn.cursor()
        cur.execute(ddl)
        cur.execute(f"UPDATE loan_transactions SET {change}, updated_at = NOW(6) ORDER BY id DESC LIMIT 1")
        conn.commit()

    with pytest.raises(QualityGateError) as err:
        load_table(wh_settings, table)
    assert expectation in str(err.value)
    assert "raw_audit.loan_transactions" in str(err.value)
    with warehouse.connection(wh_settings.warehouse_url) as conn:
        assert (
            conn.execute(
                "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM raw.loan_transactions t"
            ).fetchone()
            == raw_before
        )
        assert read_watermark(conn, "loan_transactions") == wm_before
        # The rejected batch stays in raw_audit for inspection.
        kept = conn.execute(
            f"SELECT count(*) FROM raw_audit.loan_transactions WHERE {change.replace('= NULL', 'IS NULL')}"
        )
        assert kept.fetchone()[0] == 1


KILLED_LOAD = """
import sys, time
from pathlib import Path
from tierflow.config import Settings
from tierflow.policy import load_policy
from tierflow.warehouse.load import load_table
s = Settings(mysql_url=sys.argv[1], warehouse_url=sys.argv[2], archive_uri=sys.argv[3],
             aws_endpoint_url=sys.argv[4])
marker = Path(sys.argv[5])
def on_page(n):
    if n == 2:
        marker.write_text("2")
    time.sleep(0.5)
load_table(s, load_policy(s.policy_path).table("loan_transactions"), page_rows=500, on_page=on_page,
           full_refresh=True)
"""


def test_kill_9_during_load_then_rerun(wh_settings: Settings, tmp_path: Path) -> None:
    table = load_policy(wh_settings.policy_path).table("loan_transactions")
    load_table(wh_settings, table)
    with mysql.connection(wh_settings.mysql_url) as conn:
        cur = conn.cursor()
        cur.execute(
            "UPDATE loan_transactions SET status = 'reversed', updated_at = NOW(6) "
            "WHERE status = 'success' ORDER BY id LIMIT 25"
        )
        conn.commit()
    marker = tmp_path / "paged"
    env = dict(os.environ, PYTHONPATH=f"{PROJECT_ROOT / 'include'}:{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLED_LOAD,
            wh_settings.mysql_url,
            wh_settings.warehouse_url,
            wh_settings.archive_uri,
            wh_settings.aws_endpoint_url,
            str(marker),
        ],
        env=env,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, "the load finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    report = load_table(wh_settings, table)
    assert report.updated == 25
    assert raw_rows(wh_settings.warehouse_url, "loan_transactions") == mysql_rows(
        wh_settings.mysql_url, "loan_transactions"
    )
    with warehouse.connection(wh_settings.warehouse_url) as conn:
        dupes = conn.execute("SELECT count(*) - count(DISTINCT id) FROM raw.loan_transactions").fetchone()[0]
    assert dupes == 0


def test_loads_of_different_tables_create_the_warehouse_together(mysql_url: str, warehouse_url: str) -> None:
    """Airflow runs the loads of different tables at once: on a fresh warehouse they all create
    the schemas, the watermark table and their raw tables together (a race in PostgreSQL's catalog
    once failed one of them with a unique violation on pg_namespace)."""
    import threading

    from tierflow.warehouse import AUDIT_SCHEMA, RAW_SCHEMA
    from tierflow.warehouse.columns import source_columns
    from tierflow.warehouse.load import warehouse_tables
    from tierflow.warehouse.target import ensure_raw_table

    tables = warehouse_tables(load_policy(DEFAULT_POLICY))
    columns = {t.name: source_columns(mysql_url, t.name) for t in tables}
    for _ in range(4):
        with warehouse.connection(warehouse_url, autocommit=True) as conn:
            for schema in (RAW_SCHEMA, AUDIT_SCHEMA):
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        start = threading.Barrier(len(tables))
        errors: list[BaseException] = []

        def create(table, start=start, errors=errors) -> None:
            try:
                with warehouse.connection(warehouse_url) as conn:
                    start.wait()
                    ensure_raw_table(conn, table, columns[table.name])
                    conn.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below, with its table
                errors.append(exc)

        threads = [threading.Thread(target=create, args=(t,)) for t in tables]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
    with warehouse.connection(warehouse_url) as conn:
        made = {
            r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (RAW_SCHEMA,))
        }
    assert {t.name for t in tables} <= made
