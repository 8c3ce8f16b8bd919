"""Archive runs against real MariaDB and a file:// archive: types, PII, gate, drift, restore, lock."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from tierflow.archive import layout, run_archive
from tierflow.archive.ledger import Ledger
from tierflow.archive.restore import restore
from tierflow.archive.verify import verify_archive
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY, PROJECT_ROOT
from tierflow.policy import load_policy, parse_policy
from tierflow.stores import mysql
from tierflow.stores.objects import open_store

from tests.conftest import NO_WAREHOUSE_URL

AS_OF = datetime(2026, 6, 30)
COLD_START = datetime(2024, 3, 1, 0, 0, 0, 123456)


def make_rows(url: str, cold: int = 60, warm: int = 5, days: int = 3) -> None:
    """One customer and loan; ``cold`` transactions spread over ``days`` days in 2024, ``warm`` recent."""
    with mysql.connection(url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute(
            "INSERT INTO customers VALUES (1,'Asha Rao','9876543210','a@x.in','ABCDE1234F',"
            "'1990-01-01','Pune','MH','verified','2024-01-01','2024-01-01')"
        )
        cur.execute(
            "INSERT INTO loans VALUES (1,1,'bnpl',50000.00,18.50,12,'disbursed','2024-01-02',"
            "'2024-01-02','2024-01-02',NULL,'2024-01-02','2024-01-02')"
        )
        rows = []
        for i in range(cold + warm):
            ts = (
                COLD_START + timedelta(hours=i * 24 * days / max(cold, 1))
                if i < cold
                else (AS_OF - timedelta(days=3, minutes=i))
            )
            rows.append(
                (
                    i + 1,
                    1,
                    1,
                    "emi_payment",
                    Decimal(f"{1000 + i}.{i % 100:02d}"),
                    "razorpay",
                    f"ref{i}",
                    "success",
                    json.dumps({"n": i}),
                    ts,
                    ts,
                )
            )
        cur.executemany(
            "INSERT INTO loan_transactions (id, loan_id, customer_id, txn_type, amount, gateway, "
            "gateway_ref, status, metadata, created_at, updated_at) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            rows,
        )


def _json_columns(url: str, table: str) -> set[str]:
    from tierflow.archive.schema import source_columns

    return {c.name for c in source_columns(url, table) if c.data_type == "json"}


def _row(values: dict, json_columns: set[str]) -> dict:
    """A row as a dict of every column; JSON parsed, so formatting never counts as a change."""
    return {c: json.loads(v) if c in json_columns and v is not None else v for c, v in values.items()}


def mysql_rows(url: str, table: str = "loan_transactions", *, where: str = "", conn=None) -> dict[int, dict]:
    """Every row of ``table`` by primary key, with every column (the union check compares all).
    ``conn``: read inside that connection's transaction (its own uncommitted writes included)."""
    import contextlib

    from tierflow.archive.schema import select_expression, source_columns

    columns = source_columns(url, table)
    names = [c.name for c in columns]
    with contextlib.nullcontext(conn) if conn is not None else mysql.connection(url) as c:
        cur = c.cursor()
        cur.execute(
            f"SELECT {', '.join(select_expression(col) for col in columns)} FROM {table} AS t"
            + (f" WHERE {where}" if where else "")
        )
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    json_cols = _json_columns(url, table)
    return {r[names[0]]: _row(r, json_cols) for r in rows}


def archive_rows(settings: Settings, table: str = "loan_transactions") -> list[tuple[int, dict]]:
    """Every row in every Parquet object of the table (orphans included: they would be
    duplicates), with every archived column but the row hash."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tierflow.archive.schema import ROW_HASH_COLUMN

    store = open_store(settings.archive_uri, endpoint_url=settings.aws_endpoint_url)
    prefix = f"{mysql.database_of(settings.mysql_url)}/{table}/dt="
    json_cols = _json_columns(settings.mysql_url, table)
    out = []
    for obj in store.list(prefix):
        if not obj.key.endswith(".parquet"):
            continue
        t = pq.read_table(pa.BufferReader(store.get_bytes(obj.key)))
        if ROW_HASH_COLUMN in t.column_names:
            t = t.drop_columns([ROW_HASH_COLUMN])
        pk = t.column_names[0]
        out.extend((r[pk], _row(r, json_cols)) for r in t.to_pylist())
    return out


def assert_union_equals(settings: Settings, original: dict[int, dict]) -> None:
    """MySQL plus the archive hold every original row exactly once, every column equal."""
    live = mysql_rows(settings.mysql_url)
    archived = archive_rows(settings)
    keys = [k for k, _ in archived]
    assert len(keys) == len(set(keys)), "duplicate rows in the archive"
    assert not set(keys) & set(live), "rows both in MySQL and in the archive"
    union = {**live, **dict(archived)}
    lost = sorted(set(original) - set(union))
    assert not lost, f"{len(lost)} row(s) in neither MySQL nor the archive, e.g. {lost[:10]}"
    extra = sorted(set(union) - set(original))
    assert not extra, f"{len(extra)} row(s) that were never there, e.g. {extra[:10]}"
    differ = [k for k in original if union[k] != original[k]]
    assert not differ, (
        f"{len(differ)} row(s) differ, e.g. {differ[0]}: {union[differ[0]]} != {original[differ[0]]}"
    )


def test_archive_moves_cold_rows_with_exact_types(small_settings: Settings) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    original = mysql_rows(small_settings.mysql_url)
    summary = run_archive(
        small_settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF, batch_rows=25
    )
    t = summary.tables[0]
    assert summary.ok, summary.errors()
    assert (t.rows, t.deleted, t.batches) == (60, 60, 3)
    assert t.delete_fallbacks == 0  # every chunk went by the range delete
    assert set(mysql_rows(small_settings.mysql_url)) == set(range(61, 66))  # warm rows stay
    assert_union_equals(small_settings, original)

    store = open_store(small_settings.archive_uri)
    db = mysql.database_of(small_settings.mysql_url)
    keys = [o.key for o in store.list(f"{db}/loan_transactions/")]
    parquet = [k for k in keys if k.endswith(".parquet")]
    assert {k.split("/")[2] for k in parquet} == {"dt=2024-03"}  # the policy partitions by month
    assert len(parquet) == 3  # one object per batch and partition
    assert sum(k.endswith(".json") for k in keys) == 3  # one manifest per batch
    schema = pq.read_schema(pa.BufferReader(store.get_bytes(parquet[0])))
    assert schema.field("id").type == pa.int64()  # BIGINT UNSIGNED written as the catalog's bigint
    assert schema.field("amount").type == pa.decimal128(14, 2)
    # timestamps are INT96 (what Athena, Spectrum and both Spark readers read), and come back
    # from the archive's own reader as the microseconds MySQL holds
    physical = pq.ParquetFile(pa.BufferReader(store.get_bytes(parquet[0]))).schema
    assert physical.column(schema.get_field_index("created_at")).physical_type == "INT96"
    assert layout.read_object(store, parquet[0]).schema.field("created_at").type == pa.timestamp("us")
    assert schema.field("txn_type").type == pa.string()
    assert schema.field("metadata").type == pa.string()
    assert (
        pq.ParquetFile(pa.BufferReader(store.get_bytes(parquet[0])))
        .metadata.row_group(0)
        .column(0)
        .compression
        == "ZSTD"
    )

    with Ledger(small_settings.mysql_url) as ledger:
        entries = ledger.entries("loan_transactions")
    assert [e.state for e in entries] == ["deleted"] * 3
    assert sum(e.row_count for e in entries) == 60
    assert all(e.checksum and e.schema_fingerprint and e.object_keys for e in entries)
    assert verify_archive(small_settings, tables=["loan_transactions"]).ok

    # rerun: nothing left to move, archive unchanged
    again = run_archive(small_settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF)
    assert again.tables[0].rows == 0
    assert_union_equals(small_settings, original)


def test_day_partitions_follow_each_rows_own_date(small_settings: Settings) -> None:
    text = DEFAULT_POLICY.read_text()
    month = "archive: {partition_by: month, retention_years: 8}\n    warehouse: true"
    assert month in text
    daily = parse_policy(text.replace(month, month.replace("month", "day"), 1))
    original = mysql_rows(small_settings.mysql_url)
    summary = run_archive(
        small_settings,
        allow_large_run=True,
        tables=["loan_transactions"],
        as_of=AS_OF,
        batch_rows=25,
        policy=daily,
    )
    assert summary.ok, summary.errors()
    store = open_store(small_settings.archive_uri)
    db = mysql.database_of(small_settings.mysql_url)
    parquet = [o.key for o in store.list(f"{db}/loan_transactions/") if o.key.endswith(".parquet")]
    assert {k.split("/")[2] for k in parquet} == {"dt=2024-03-01", "dt=2024-03-02", "dt=2024-03-03"}
    for key, (_, (_, _, created, _)) in ((k, r) for k in parquet for r in _rows_of(store, k)):
        assert key.split("/")[2] == f"dt={created:%Y-%m-%d}"
    assert_union_equals(small_settings, original)


def _rows_of(store, key: str) -> list[tuple[int, tuple]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(pa.BufferReader(store.get_bytes(key)))
    return [(r["id"], (r["amount"], r["metadata"], r["created_at"], r["updated_at"])) for r in t.to_pylist()]


def test_delete_digest_is_what_mysql_computes(small_settings: Settings) -> None:
    """The delete's check: MySQL's digest of each live row equals the digest of its archived
    copy, for every column type of the lending schema (DECIMAL, DATETIME(6) before 1970 too,
    ENUM, JSON, NULLs), and for a table without a change column."""
    from tierflow.archive.digest import digest_sql, nullable_columns, row_digests
    from tierflow.archive.schema import archived_schema, select_expression, shape, source_columns

    url = small_settings.mysql_url
    with mysql.connection(url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("UPDATE loan_transactions SET updated_at = '1969-12-31 23:59:59.000001' WHERE id = 3")
        cur.execute(
            "INSERT INTO communications VALUES (1, 1, 'c1', 'sms', 't1', 'sent', "
            "'2024-01-01 10:00:00.5', '2024-01-01 10:00:00.5')"
        )
        cur.execute(
            "INSERT INTO communication_events VALUES (1, 1, 'sent', NULL, '2024-01-01 10:00:01'), "
            "(2, 1, 'delivered', '{\"a\": [1, \"x\"]}', '2024-01-01 10:00:02.25'), "
            "(3, 1, 'clicked', NULL, '2024-01-01 10:05:00')"
        )
    policy = load_policy(DEFAULT_POLICY)
    for table in ("loan_transactions", "communication_events", "loans", "customers"):
        tp = policy.table(table)
        columns = source_columns(url, table)
        schema = archived_schema(columns, tp)
        exprs = ", ".join(select_expression(c) for c in columns if c.name in schema.names)
        raw = mysql.read_arrow(url, f"SELECT {exprs} FROM {table} AS t ORDER BY t.{tp.primary_key}")
        if "_tf_row_hash" in schema.names:
            import pyarrow as pa

            raw = raw.append_column("_tf_row_hash", pa.nulls(raw.num_rows, pa.uint64()))
        archived = shape(raw, columns, tp, schema)  # as written to Parquet (PII hashed or dropped)
        with mysql.connection(url) as conn:
            cur = conn.cursor()
            cur.execute("SET @tierflow_pii_salt = %s", ("tierflow",))
            sql = digest_sql(columns, tp, nullable_columns(url, table))
            cur.execute(f"SELECT {sql} FROM {table} ORDER BY {tp.primary_key}")
            in_mysql = [int(r[0]) for r in cur.fetchall()]
        assert len(in_mysql) == archived.num_rows > 0, table
        assert in_mysql == row_digests(archived, columns, tp), table


def test_pii_is_hashed_or_dropped_and_parents_wait_for_children(
    mysql_url: str, file_archive_uri: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with mysql.connection(mysql_url, autocommit=True) as conn:
        cur = conn.cursor()
        for cid, pan in ((1, "ABCDE1234F"), (2, "ABCDE1234G")):
            cur.execute(
                "INSERT INTO customers VALUES (%s,'Old Name','9876543210','o@x.in',%s,'1970-01-01',"
                "'Pune','MH','verified','2014-01-05','2014-01-05')",
                (cid, pan),
            )
        # customer 2 still has a loan in MySQL: it must stay
        cur.execute(
            "INSERT INTO loans VALUES (1,2,'bnpl',100.00,10.00,3,'applied','2026-06-01',"
            "NULL,NULL,NULL,'2026-06-01','2026-06-01')"
        )
    settings = Settings(
        warehouse_url=NO_WAREHOUSE_URL,
        mysql_url=mysql_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
        pii_key="a-long-secret-key",
    )
    # an S3 archive of PII without a key of its own refuses to start, an empty key too
    for unset in (None, ""):
        on_aws = settings.with_(archive_uri="s3://tierflow-nowhere/lending", pii_key=unset)
        refused = run_archive(on_aws, allow_large_run=True, tables=["customers"], as_of=AS_OF)
        assert not refused.ok and "TIERFLOW_PII_SALT is not set" in refused.tables[0].error
    summary = run_archive(settings, allow_large_run=True, tables=["customers", "loans"], as_of=AS_OF)
    assert summary.ok, summary.errors()
    assert [t.table for t in summary.tables] == ["loans", "customers"]  # children first
    with mysql.connection(mysql_url) as conn:
        cur = conn.cursor()
        cur.execute("SELECT id FROM customers")
        assert [r[0] for r in cur.fetchall()] == [2]
    store = open_store(file_archive_uri)
    key = next(
        o.key for o in store.list(f"{mysql.database_of(mysql_url)}/customers/") if o.key.endswith(".parquet")
    )
    t = pq.read_table(pa.BufferReader(store.get_bytes(key)))
    assert "full_name" not in t.column_names
    # hashed with the settings' key, and the delete's digest (MySQL's, keyed by the same setting)
    # matched the archived copy: customer 1 left MySQL
    assert t.column("pan")[0].as_py() == hashlib.sha256(b"a-long-secret-keyABCDE1234F").hexdigest()
    assert t.column("date_of_birth").type == pa.date32()


def test_row_updated_between_extract_and_delete_survives(small_settings: Settings, monkeypatch) -> None:
    from tierflow.archive.archiver import TableArchiver

    original = mysql_rows(small_settings.mysql_url)
    real_delete = TableArchiver.delete

    def delete_after_an_update(self, entry, rows, workers=None):
        with mysql.connection(small_settings.mysql_url, autocommit=True) as conn:
            conn.cursor().execute(
                "UPDATE loan_transactions SET amount = 1.00 WHERE id = 7"  # updated_at moves by itself
            )
        return real_delete(self, entry, rows, workers)

    monkeypatch.setattr(TableArchiver, "delete", delete_after_an_update)
    summary = run_archive(small_settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF)
    t = summary.tables[0]
    assert summary.ok and t.kept_changed == 1 and t.deleted == 59
    assert t.delete_fallbacks == 1  # the chunk with the changed row took the per-key path
    live = mysql_rows(small_settings.mysql_url)
    assert live[7]["amount"] == Decimal("1.00")  # the update survived
    assert 7 not in {k for k, _ in archive_rows(small_settings)}  # stale copy left the archive
    original[7] = live[7]
    assert_union_equals(small_settings, original)
    assert verify_archive(small_settings).ok
    monkeypatch.setattr(TableArchiver, "delete", real_delete)
    # the next run takes the updated row
    run_archive(small_settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF)
    assert 7 not in mysql_rows(small_settings.mysql_url)
    assert_union_equals(small_settings, original)


def test_row_inserted_into_an_archived_key_range_is_not_deleted(
    small_settings: Settings, monkeypatch
) -> None:
    """A cold row that appears inside a batch's key range after extraction was never archived."""
    from tierflow.archive.archiver import TableArchiver

    url = small_settings.mysql_url
    with mysql.connection(url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("SELECT * FROM loan_transactions WHERE id = 30")
        late_row = cur.fetchone()
        cur.execute("DELETE FROM loan_transactions WHERE id = 30")
    original = mysql_rows(url)
    real_delete = TableArchiver.delete

    def delete_after_an_insert(self, entry, rows, workers=None):
        if entry.key_min < 30 < entry.key_max:
            with mysql.connection(url, autocommit=True) as conn:
                marks = ", ".join(["%s"] * len(late_row))
                conn.cursor().execute(f"INSERT INTO loan_transactions VALUES ({marks})", late_row)
        return real_delete(self, entry, rows, workers)

    monkeypatch.setattr(TableArchiver, "delete", delete_after_an_insert)
    summary = run_archive(small_settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF)
    t = summary.tables[0]
    assert summary.ok and t.deleted == 59 and t.delete_fallbacks == 1
    assert 30 in mysql_rows(url)  # the late row stays in MySQL ...
    assert 30 not in {k for k, _ in archive_rows(small_settings)}  # ... and is not in the archive
    assert_union_equals(small_settings, {**original, 30: mysql_rows(url)[30]})
    assert verify_archive(small_settings).ok


def test_suite_violation_deletes_nothing_of_the_batch_and_names_expectation(
    small_settings: Settings, tmp_path: Path
) -> None:
    suite = json.loads((PROJECT_ROOT / "expectations/archive/loan_transactions.json").read_text())
    suite["expectations"].append(
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "amount", "max_value": 1040},
            "meta": {},
        }
    )
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive/loan_transactions.json").write_text(json.dumps(suite))
    before = mysql_rows(small_settings.mysql_url)
    summary = run_archive(
        small_settings.with_(expectations_dir=tmp_path),
        allow_large_run=True,
        tables=["loan_transactions", "communications"],
        as_of=AS_OF,
        batch_rows=30,
    )
    lt, comm = summary.tables
    assert not summary.ok and lt.status == "failed" and comm.ok  # other tables unaffected
    assert "expect_column_values_to_be_between" in lt.error and "'amount'" in lt.error
    assert "1059" in lt.error or "sample" in lt.error
    after = mysql_rows(small_settings.mysql_url)
    # batch 1 (ids 1-30, amounts <= 1029.29) passed and moved; batch 2 failed: all of it stays
    assert set(after) == set(range(31, 66))
    assert {k for k, _ in archive_rows(small_settings)} == set(range(1, 31))
    with Ledger(small_settings.mysql_url) as ledger:
        states = [e.state for e in ledger.entries("loan_transactions")]
    assert states == ["deleted", "failed"]
    assert_union_equals(small_settings, before)


def test_schema_drift_new_column_and_dropped_column(small_settings: Settings, tmp_path: Path) -> None:
    from tierflow.query import run_query

    url = small_settings.mysql_url
    run_archive(
        small_settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF, batch_rows=1000
    ).raise_for_failures()
    with mysql.connection(url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("ALTER TABLE loan_transactions ADD COLUMN channel VARCHAR(16) NULL")
        cur.execute("UPDATE loan_transactions SET channel = 'app', created_at = '2024-04-01' WHERE id = 61")
    run_archive(
        small_settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF
    ).raise_for_failures()
    with Ledger(url) as ledger:
        prints = {e.schema_fingerprint for e in ledger.entries("loan_transactions")}
    assert len(prints) == 2
    result = run_query(
        "SELECT count(*) AS n, count(channel) AS with_channel FROM loan_transactions", small_settings
    ).to_pylist()
    assert result == [{"n": 61, "with_channel": 1}]

    with mysql.connection(url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("ALTER TABLE loan_transactions CHANGE gateway_ref gateway_reference VARCHAR(40) NOT NULL")
        cur.execute("UPDATE loan_transactions SET created_at = '2024-04-02' WHERE id = 62")
    summary = run_archive(small_settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF)
    assert summary.tables[0].status == "failed"
    assert "gateway_ref" in summary.tables[0].error and "column_map" in summary.tables[0].error
    assert 62 in mysql_rows(url)  # nothing moved

    text = DEFAULT_POLICY.read_text().replace(
        "archive: {partition_by: month, retention_years: 8}\n    warehouse: true",
        "archive: {partition_by: month, retention_years: 8, column_map: {gateway_ref: gateway_reference}}"
        "\n    warehouse: true",
        1,
    )
    mapped = parse_policy(text)
    summary = run_archive(
        small_settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF, policy=mapped
    )
    assert summary.ok, summary.errors()
    assert 62 not in mysql_rows(url)

    # Old files carry gateway_ref, new ones gateway_reference: <table>_v reads both under the new
    # name, locally and (same view) in the Athena DDL, whose table keeps the old column readable.
    from tierflow.catalog import athena_ddl, table_schema

    rows = run_query(
        "SELECT * FROM loan_transactions_v WHERE id IN (1, 62) ORDER BY id", small_settings, policy=mapped
    ).to_pylist()
    assert [(r["id"], r["gateway_reference"]) for r in rows] == [(1, "ref0"), (62, "ref61")]
    assert "gateway_ref" not in rows[0]
    schema = table_schema(small_settings, mapped.table("loan_transactions"))
    assert {"gateway_ref", "gateway_reference"} <= set(schema.names)
    ddl = athena_ddl(mapped.table("loan_transactions"), schema, location="s3://b/p", glue_database="lake")
    assert "`gateway_ref` string" in ddl and "`gateway_reference` string" in ddl
    assert 'COALESCE("gateway_reference", "gateway_ref") AS "gateway_reference"' in ddl
    assert 'CREATE OR REPLACE VIEW "lake"."loan_transactions_v"' in ddl


def test_restore_then_archive_again_has_no_duplicates(small_settings: Settings) -> None:
    original = mysql_rows(small_settings.mysql_url)
    run_archive(
        small_settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF
    ).raise_for_failures()
    result = restore(
        small_settings, table="loan_transactions", start=COLD_START.date(), end=COLD_START.date()
    )
    assert result.rows_inserted == 20 and result.rows_skipped == 0
    live = mysql_rows(small_settings.mysql_url)
    assert set(range(1, 21)) <= set(live)
    assert_union_equals(small_settings, original)
    again = restore(small_settings, table="loan_transactions", start=COLD_START.date(), end=COLD_START.date())
    assert again.rows_inserted == 0  # idempotent
    with Ledger(small_settings.mysql_url) as ledger:
        assert [e.state for e in ledger.entries("loan_transactions")].count("restored") == 2
    assert verify_archive(small_settings).ok
    run_archive(
        small_settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF
    ).raise_for_failures()
    assert set(mysql_rows(small_settings.mysql_url)) == set(range(61, 66))
    assert_union_equals(small_settings, original)


def test_second_run_on_a_locked_table_leaves_it_alone(small_settings: Settings) -> None:
    env = {
        "TIERFLOW_MYSQL_URL": small_settings.mysql_url,
        "TIERFLOW_ARCHIVE_URI": small_settings.archive_uri,
        "TIERFLOW_WAREHOUSE_URL": NO_WAREHOUSE_URL,
        "TIERFLOW_ARCHIVE_PAUSE_AT": "extracted:4",
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),  # this checkout's tierflow
    }
    cmd = [
        sys.executable,
        "-m",
        "tierflow.cli",
        "archive",
        "run",
        "--table",
        "loan_transactions",
        "--as-of",
        "2026-06-30",
        "--no-progress",
        "--no-gate",
        "--allow-large-run",
    ]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    with Ledger(small_settings.mysql_url) as ledger:
        while not ledger.entries("loan_transactions") and time.monotonic() < deadline:
            time.sleep(0.2)
    second = subprocess.run(
        cmd, env={**env, "TIERFLOW_ARCHIVE_PAUSE_AT": ""}, capture_output=True, text=True, timeout=120
    )
    out1, err1 = first.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert second.returncode == 1
    assert "being archived by another run" in second.stderr
    with Ledger(small_settings.mysql_url) as ledger:
        runs = {e.run_id for e in ledger.entries("loan_transactions")}
    assert len(runs) == 1
    assert set(mysql_rows(small_settings.mysql_url)) == set(range(61, 66))


def test_plan_changes_nothing(small_settings: Settings) -> None:
    from tierflow.archive.plan import plan_archive

    plans = plan_archive(
        small_settings, tables=["loan_transactions"], as_of=AS_OF, policy=load_policy(DEFAULT_POLICY)
    )
    assert (plans[0].rows, plans[0].partitions, plans[0].first) == (60, 1, "2024-03")  # monthly
    with mysql.connection(small_settings.mysql_url) as conn:
        cur = conn.cursor()
        cur.execute("SHOW TABLES LIKE 'tierflow_archive_ledger'")
        assert cur.fetchone() is None


def test_plan_counts_parents_held_by_child_rows_that_stay(small_settings: Settings) -> None:
    """A parent row past its window is held while a child row stays in MySQL (warm, of a table
    the run does not take, or held itself): the plan counts what the run would actually move.
    Moments after today are planned with ``plan_tables``, the count behind ``plan_archive``
    (which refuses a future as_of)."""
    from tierflow.archive.plan import plan_tables

    policy = load_policy(DEFAULT_POLICY)

    def plan(as_of: datetime, tables: list[str] | None = None) -> dict[str, tuple[int, int]]:
        return {p.table: (p.rows, p.held) for p in plan_tables(small_settings, policy, tables, as_of)}

    # loan 1 is past its 730 days but keeps 5 warm transactions; customer 1 is inside its 10 years
    now = plan(AS_OF)
    assert (now["loan_transactions"], now["loans"], now["customers"]) == ((60, 0), (0, 1), (0, 0))
    # in 2034 every transaction is cold and goes first, so the loan and then the customer follow
    far = datetime(2034, 6, 28)
    later = plan(far)
    assert (later["loan_transactions"], later["loans"], later["customers"]) == ((65, 0), (1, 0), (1, 0))
    # planned alone, the loans are held by their transactions, cold or not: this run leaves them
    assert plan(far, ["loans"])["loans"] == (0, 1)
    # one warm transaction then holds the loan, and the customer through the loan
    with mysql.connection(small_settings.mysql_url, autocommit=True) as conn:
        conn.cursor().execute(
            "INSERT INTO loan_transactions (id, loan_id, customer_id, txn_type, amount, gateway, "
            "gateway_ref, status, created_at, updated_at) VALUES (1000, 1, 1, 'emi_payment', 10.00, "
            "'razorpay', 'late', 'success', '2034-06-01', '2034-06-01')"
        )
    held = plan(far)
    assert (held["loan_transactions"], held["loans"], held["customers"]) == ((65, 0), (0, 1), (0, 1))


def test_policy_naming_a_missing_column_stops_before_anything_is_written(small_settings: Settings) -> None:
    """A misspelled PII column would archive the real one in clear: the run refuses, names it,
    and has not even created its ledger."""
    from tierflow.errors import PolicyError

    text = DEFAULT_POLICY.read_text()
    assert "pan: hash" in text
    typo = parse_policy(text.replace("pan: hash", "pann: hash", 1), source="typo.yaml")
    before = mysql_rows(small_settings.mysql_url)
    with pytest.raises(PolicyError) as err:
        run_archive(small_settings, allow_large_run=True, as_of=AS_OF, policy=typo)
    assert "typo.yaml" in str(err.value) and "tables.customers.archive.pii.pann" in str(err.value)
    with mysql.connection(small_settings.mysql_url) as conn:
        cur = conn.cursor()
        cur.execute("SHOW TABLES LIKE 'tierflow_archive_ledger'")
        assert cur.fetchall() == ()
    assert mysql_rows(small_settings.mysql_url) == before
    assert not list(open_store(small_settings.archive_uri).list(""))


def test_restore_refuses_tables_whose_archive_altered_pii(small_settings: Settings) -> None:
    with pytest.raises(Exception) as err:
        restore(small_settings, table="customers", start=COLD_START.date(), end=COLD_START.date())
    assert "pan (hashed)" in str(err.value) and "tierflow query" in str(err.value)


def test_verify_counts_objects_past_retention_as_expired_not_missing(small_settings: Settings) -> None:
    """The lifecycle rule expires objects after the table's retention: once an entry is that old,
    its missing objects are expired, not damage; a younger entry's missing object still fails."""
    run_archive(
        small_settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF, batch_rows=25
    ).raise_for_failures()
    store = open_store(small_settings.archive_uri)
    with Ledger(small_settings.mysql_url) as ledger:
        old, young, _ = ledger.entries("loan_transactions")
    days = int(round(load_policy(DEFAULT_POLICY).table("loan_transactions").archive.retention_years * 365))
    with mysql.connection(small_settings.mysql_url, autocommit=True) as conn:
        conn.cursor().execute(
            "UPDATE tierflow_archive_ledger SET created_at = NOW(6) - INTERVAL %s DAY, "
            "updated_at = NOW(6) - INTERVAL %s DAY WHERE id = %s",
            (days + 2, days + 2, old.id),
        )
    for key in old.object_keys:
        store.delete(key)
    report = verify_archive(small_settings, tables=["loan_transactions"])
    assert report.ok, report.problems
    assert len(report.expired) == 1 and f"ledger id {old.id}" in report.expired[0]
    assert report.entries == 3 and report.rows == 60 - old.row_count

    store.delete(young.object_keys[0])
    report = verify_archive(small_settings, tables=["loan_transactions"])
    assert not report.ok
    assert [p for p in report.problems if f"ledger id {young.id}" in p and "missing" in p]


def test_verify_finds_a_missing_object_a_changed_object_and_a_row_back_in_mysql(
    small_settings: Settings, tmp_path: Path
) -> None:
    """`archive verify` must fail (exit 1) on each kind of damage, naming the batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    run_archive(
        small_settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF, batch_rows=25
    ).raise_for_failures()
    assert verify_archive(small_settings, tables=["loan_transactions"]).ok
    store = open_store(small_settings.archive_uri)
    with Ledger(small_settings.mysql_url) as ledger:
        first, second, third = ledger.entries("loan_transactions")

    # 1. an object of the first batch is gone
    saved = store.get_bytes(first.object_keys[0])
    store.delete(first.object_keys[0])
    # 2. a row of the second batch changed in the store
    t = pq.read_table(pa.BufferReader(store.get_bytes(second.object_keys[0])))
    amounts = t.column("amount").to_pylist()
    amounts[0] += 1
    changed = t.set_column(
        t.column_names.index("amount"), "amount", pa.array(amounts, t.schema.field("amount").type)
    )
    sink = pa.BufferOutputStream()
    pq.write_table(changed, sink)
    store.put_bytes(second.object_keys[0], sink.getvalue().to_pybytes())
    # 3. a row of the third batch is back in MySQL though its archived copy says it was deleted
    back_key = pq.read_table(pa.BufferReader(store.get_bytes(third.object_keys[0]))).column("id")[0].as_py()
    with mysql.connection(small_settings.mysql_url, autocommit=True) as conn:
        conn.cursor().execute(
            "INSERT INTO loan_transactions (id, loan_id, customer_id, txn_type, amount, gateway, gateway_ref,"
            " status, created_at, updated_at) VALUES (%s, 1, 1, 'emi_payment', 1, 'razorpay', 'x', 'success',"
            " '2024-03-01', '2024-03-01')",
            (back_key,),
        )

    report = verify_archive(small_settings, tables=["loan_transactions"])
    assert not report.ok and len(report.problems) == 3, report.problems
    text = "\n".join(report.problems)
    assert f"{first.batch_name}" in text and "missing from the store" in text
    assert f"{second.batch_name}" in text and "checksum" in text
    assert f"{third.batch_name}" in text and "still in MySQL" in text and str(back_key) in text

    env = {
        **os.environ,
        "TIERFLOW_MYSQL_URL": small_settings.mysql_url,
        "TIERFLOW_ARCHIVE_URI": small_settings.archive_uri,
        "TIERFLOW_WAREHOUSE_URL": NO_WAREHOUSE_URL,
    }
    out = subprocess.run(
        [sys.executable, "-m", "tierflow.cli", "archive", "verify", "--table", "loan_transactions"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    store.put_bytes(first.object_keys[0], saved)


def test_max_runtime_stops_between_batches_and_the_next_run_finishes(small_settings: Settings) -> None:
    original = mysql_rows(small_settings.mysql_url)
    budget = 8.0
    started = time.monotonic()

    def slow_batch(table: str, rows: int) -> None:  # the first batch outlasts the budget
        time.sleep(max(0.0, started + budget + 0.2 - time.monotonic()))

    summary = run_archive(
        small_settings,
        allow_large_run=True,
        tables=["loan_transactions"],
        as_of=AS_OF,
        batch_rows=25,
        max_runtime=budget,
        progress=slow_batch,
    )
    t = summary.tables[0]
    assert t.status == "stopped" and "--max-runtime" in t.error
    assert 25 <= t.rows < 60  # stopped between batches, not before the first or after the last
    with Ledger(small_settings.mysql_url) as ledger:
        states = {e.state for e in ledger.entries("loan_transactions")}
    assert states == {"deleted"}  # nothing half done
    assert_union_equals(small_settings, original)

    rest = run_archive(
        small_settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF, batch_rows=25
    )
    assert rest.ok and rest.tables[0].rows == 60 - t.rows
    assert_union_equals(small_settings, original)


def test_throttle_pauses_while_mysql_is_busy(small_settings: Settings) -> None:
    """Threads_running above the policy's limit pauses the run until it drops."""
    import contextlib
    import threading

    from tierflow.archive.throttle import Throttle
    from tierflow.policy import Throttle as Limits

    policy = load_policy(DEFAULT_POLICY)
    limits = Limits(max_threads_running=1, pause_seconds=0.2, check_every_batches=1)
    policy = policy.model_copy(update={"database": policy.database.model_copy(update={"throttle": limits})})

    @contextlib.contextmanager
    def busy_mysql():
        """A second query running on MySQL for 2 s (Threads_running 2), from 0.3 s before."""

        def sleep() -> None:
            with mysql.connection(small_settings.mysql_url) as conn:
                conn.cursor().execute("SELECT SLEEP(2)")

        sleeper = threading.Thread(target=sleep)
        sleeper.start()
        time.sleep(0.3)
        try:
            yield
        finally:
            sleeper.join()

    with mysql.connection(small_settings.mysql_url) as conn:
        throttle = Throttle(policy, conn)
        with busy_mysql():
            t0 = time.monotonic()
            throttle.wait(None)  # the sleeping query makes two threads run: wait for it to end
            waited = time.monotonic() - t0
    assert throttle.paused_seconds > 0 and waited >= 1.0

    # and a run under a deadline stops waiting when the deadline passes
    with mysql.connection(small_settings.mysql_url) as conn:
        throttle = Throttle(policy, conn)
        with busy_mysql():
            t0 = time.monotonic()
            throttle.wait(time.monotonic() + 0.3)
            assert time.monotonic() - t0 < 1.2


def test_ddl_out_writes_the_ddl_elsewhere_and_leaves_the_repository_alone(
    mysql_url: str, tmp_path: Path
) -> None:
    athena = PROJECT_ROOT / "sql" / "athena"
    before = {p.name: p.read_bytes() for p in athena.glob("*.sql")}
    env = {
        **os.environ,
        "TIERFLOW_MYSQL_URL": mysql_url,
        "TIERFLOW_ARCHIVE_URI": (tmp_path / "archive").as_uri(),
        "TIERFLOW_POLICY": str(DEFAULT_POLICY),
    }
    out = tmp_path / "ddl" / "nested"
    cli = [sys.executable, "-m", "tierflow.cli", "archive", "ddl", "--out"]
    done = subprocess.run([*cli, str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in out.glob("*.sql"))
    assert written == sorted(before)  # one file per archived table, as in sql/athena/
    assert "`_tf_row_hash` bigint" in (out / "api_request_logs.sql").read_text()
    assert {p.name: p.read_bytes() for p in athena.glob("*.sql")} == before
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("")
    bad = subprocess.run([*cli, str(a_file)], env=env, capture_output=True, text=True, timeout=120)
    message = " ".join((bad.stdout + bad.stderr).split())  # the console wraps long lines
    assert bad.returncode == 2 and f"DDL directory {a_file} is a file: give a directory" in message


def test_objects_written_unsigned_before_still_verify_query_and_restore(small_settings: Settings) -> None:
    """Objects of the earlier encoding (UINT_64 ids, INT64 microsecond timestamps) beside new ones."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from tierflow.query import run_query

    original = mysql_rows(small_settings.mysql_url)
    run_archive(
        small_settings, tables=["loan_transactions"], as_of=AS_OF, batch_rows=25, allow_large_run=True
    ).raise_for_failures()
    store = open_store(small_settings.archive_uri)
    keys = sorted(k.key for k in store.list("") if k.key.endswith(".parquet"))
    assert len(keys) == 3
    old_key = keys[0]
    part = layout.read_object(store, old_key)
    unsigned = {"id", "loan_id", "customer_id"}
    for name in unsigned:
        i = part.schema.get_field_index(name)
        part = part.set_column(i, pa.field(name, pa.uint64()), pc.cast(part.column(i), pa.uint64()))
    buf = pa.BufferOutputStream()
    pq.write_table(part, buf, compression="zstd")  # the encoding objects were written in before
    store.put_bytes(old_key, buf.getvalue().to_pybytes())
    written = pq.ParquetFile(pa.BufferReader(store.get_bytes(old_key))).schema_arrow
    assert written.field("id").type == pa.uint64() and written.field("created_at").type == pa.timestamp("us")

    # the ledger's checksums still hold for the old object
    assert verify_archive(small_settings, tables=["loan_transactions"]).ok
    # tierflow query reads old and new files together, ids as the catalog's bigint
    got = run_query(
        "SELECT typeof(id) AS t, count(*) AS n, sum(id) AS s, min(created_at) AS first "
        "FROM loan_transactions GROUP BY 1",
        small_settings,
    ).to_pylist()
    assert got == [{"t": "BIGINT", "n": 60, "s": sum(range(1, 61)), "first": COLD_START}]
    # and the restore brings the old object's rows back exactly
    result = restore(
        small_settings, table="loan_transactions", start=COLD_START.date(), end=COLD_START.date()
    )
    assert result.rows_inserted == 20
    live = mysql_rows(small_settings.mysql_url)
    assert {k: live[k] for k in range(1, 21)} == {k: original[k] for k in range(1, 21)}
    assert_union_equals(small_settings, original)
