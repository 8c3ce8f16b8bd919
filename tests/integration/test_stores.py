"""The stores against the real services: object store on file:// and on moto's S3 server, and the
MySQL source schema (idempotent DDL; constraints that really reject bad rows)."""

from __future__ import annotations

from pathlib import Path

import boto3
import MySQLdb
import pytest
from tierflow.config import Settings
from tierflow.errors import ServiceUnavailable, TierflowError
from tierflow.stores import mysql
from tierflow.stores.objects import (
    LocalStore,
    ObjectExistsError,
    PutOptions,
    S3Store,
    open_store,
    store_for,
)

pytestmark = pytest.mark.integration

PARQUET_KEY = "loan_transactions/dt=2024-06-30/part-00000.parquet"


def round_trip(store, tmp_path: Path, options: PutOptions | None) -> None:
    store.put_bytes(PARQUET_KEY, b"PAR1 fake parquet bytes PAR1", options)
    src = tmp_path / "manifest.json"
    src.write_bytes(b'{"rows": 3}')
    store.put_file("loan_transactions/_manifest.json", src, options)
    store.put_bytes("loans/dt=2024-06/part-00000.parquet", b"x" * 1000, options)

    assert store.get_bytes(PARQUET_KEY) == b"PAR1 fake parquet bytes PAR1"
    with store.open("loan_transactions/_manifest.json") as fh:
        assert fh.read() == b'{"rows": 3}'
    assert store.exists(PARQUET_KEY)
    assert not store.exists("loan_transactions/dt=2099-01-01/part-00000.parquet")
    assert store.size("loans/dt=2024-06/part-00000.parquet") == 1000
    assert store.size("nope/missing") is None

    listed = {o.key: o.size for o in store.list("loan_transactions/")}
    assert listed == {PARQUET_KEY: 28, "loan_transactions/_manifest.json": 11}
    # A prefix that ends in the middle of a name (a partition range) lists the same way on both.
    assert [o.key for o in store.list("loan_transactions/dt=2024-0")] == [PARQUET_KEY]
    assert len(list(store.list())) == 3

    # put_new refuses an existing key and leaves it as it was (S3 If-None-Match: *, moto
    # honours it; on disk an exclusive link), and creates a new one
    with pytest.raises(ObjectExistsError) as err:
        store.put_new(PARQUET_KEY, b"other", options)
    assert store.url(PARQUET_KEY) in str(err.value) and "never replaced" in str(err.value)
    assert store.get_bytes(PARQUET_KEY) == b"PAR1 fake parquet bytes PAR1"
    store.put_new("loans/dt=2024-06/part-00001.parquet", b"new", options)
    assert store.get_bytes("loans/dt=2024-06/part-00001.parquet") == b"new"
    store.delete("loans/dt=2024-06/part-00001.parquet")

    store.put_bytes(PARQUET_KEY, b"replaced", options)  # put_bytes (reports, staging) may overwrite
    assert store.get_bytes(PARQUET_KEY) == b"replaced"
    store.delete(PARQUET_KEY)
    assert not store.exists(PARQUET_KEY)
    store.delete(PARQUET_KEY)  # deleting twice is fine (idempotent cleanup)
    assert store.url("a/b.parquet") == store.uri.rstrip("/") + "/a/b.parquet"


def test_file_store_round_trip(file_archive_uri: str, tmp_path: Path) -> None:
    store = open_store(file_archive_uri)
    assert isinstance(store, LocalStore)
    round_trip(store, tmp_path, PutOptions(storage_class="STANDARD_IA"))
    # Atomic writes leave no temporary files behind.
    root = Path(store.root)
    assert not [p for p in root.rglob(".tmp-*")]


def test_file_store_refuses_keys_outside_its_root(file_archive_uri: str) -> None:
    store = open_store(file_archive_uri)
    with pytest.raises(TierflowError, match="escapes the archive root"):
        store.put_bytes("../../etc/evil", b"x")


def test_s3_store_round_trip_with_sse_and_storage_class(s3_archive_uri: str, tmp_path: Path) -> None:
    settings = Settings.from_env().with_(archive_uri=s3_archive_uri)
    store = store_for(settings)
    assert isinstance(store, S3Store)
    assert store.endpoint_url == settings.aws_endpoint_url
    options = PutOptions(sse="AES256", storage_class="STANDARD_IA")
    round_trip(store, tmp_path, options)

    # Check what S3 itself recorded, with a client of our own, not through the store.
    s3 = boto3.client("s3", endpoint_url=settings.aws_endpoint_url, region_name="ap-south-1")
    for key in ("loan_transactions/_manifest.json", "loans/dt=2024-06/part-00000.parquet"):
        head = s3.head_object(Bucket=store.bucket, Key=f"lake/{key}")
        assert head["ServerSideEncryption"] == "AES256"
        assert head["StorageClass"] == "STANDARD_IA"
    listed = s3.list_objects_v2(Bucket=store.bucket, Prefix="lake/")
    assert {o["Key"] for o in listed["Contents"]} == {
        "lake/loan_transactions/_manifest.json",
        "lake/loans/dt=2024-06/part-00000.parquet",
    }


def test_s3_store_with_kms(s3_archive_uri: str) -> None:
    settings = Settings.from_env().with_(archive_uri=s3_archive_uri)
    kms = boto3.client("kms", endpoint_url=settings.aws_endpoint_url, region_name="ap-south-1")
    key_id = kms.create_key(Description="tierflow archive")["KeyMetadata"]["KeyId"]
    store = store_for(settings)
    store.put_bytes(
        "k.parquet", b"data", PutOptions(sse="aws:kms", kms_key_id=key_id, storage_class="GLACIER_IR")
    )
    head = store.head("k.parquet")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert key_id in head["SSEKMSKeyId"]
    assert head["StorageClass"] == "GLACIER_IR"


def test_s3_store_reports_an_unreachable_endpoint(moto_server) -> None:
    from tests.conftest import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    store = open_store("s3://nobody/prefix", endpoint_url=dead, region="ap-south-1")
    with pytest.raises(ServiceUnavailable, match="not reachable"):
        store.put_bytes("a", b"b")


def test_open_store_rejects_unknown_schemes() -> None:
    with pytest.raises(TierflowError, match="unsupported scheme 'gs'"):
        open_store("gs://bucket/prefix")
    with pytest.raises(TierflowError, match="names no bucket"):
        open_store("s3:///prefix")


# --- MySQL source schema -------------------------------------------------------------------------

EXPECTED_TABLES = {
    "customers",
    "loans",
    "emi_schedules",
    "loan_transactions",
    "user_device_apps",
    "user_device_sms",
    "communications",
    "communication_events",
    "api_request_logs",
}

CUSTOMER = (
    "INSERT INTO customers (full_name, phone, email, pan, date_of_birth, city, state, kyc_status, "
    "created_at, updated_at) VALUES (%s, %s, 'x@example.in', %s, '1988-02-03', 'Jaipur', 'Rajasthan', "
    "%s, '2025-01-01 10:00:00', '2025-01-01 10:00:00')"
)
LOAN = (
    "INSERT INTO loans (customer_id, product, principal, interest_rate_pct, tenure_months, status, "
    "applied_at, created_at, updated_at) VALUES (%s, %s, %s, 18.5, 12, 'applied', "
    "'2025-01-02 10:00:00', '2025-01-02 10:00:00', '2025-01-02 10:00:00')"
)
TXN = (
    "INSERT INTO loan_transactions (loan_id, customer_id, txn_type, amount, gateway, gateway_ref, "
    "status, created_at, updated_at) VALUES (%s, %s, 'emi_payment', %s, 'razorpay', 'pay_ABC123', "
    "'success', '2025-02-02 10:00:00', '2025-02-02 10:00:00')"
)


def count(cur, table: str) -> int:
    cur.execute(f"SELECT COUNT(*) FROM {mysql.quote_ident(table)}")
    return cur.fetchone()[0]


def test_init_schema_is_idempotent(mysql_url: str) -> None:
    with mysql.connection(mysql_url, autocommit=True) as conn:
        conn.cursor().execute(CUSTOMER, ("Ravi Kumar", "9123456789", "AAAAA1111A", "verified"))
    columns_before = mysql.columns_by_table(mysql_url)
    fks_before = mysql.foreign_keys(mysql_url)

    tables = mysql.init_schema(mysql_url)  # second application: no error, nothing lost

    assert set(tables) == EXPECTED_TABLES
    assert mysql.columns_by_table(mysql_url) == columns_before
    assert mysql.foreign_keys(mysql_url) == fks_before
    with mysql.connection(mysql_url) as conn:
        assert count(conn.cursor(), "customers") == 1


def test_schema_has_the_foreign_keys_and_time_indexes(mysql_url: str) -> None:
    fks = set(mysql.foreign_keys(mysql_url))
    assert ("loans", "customer_id", "customers", "id") in fks
    assert ("loan_transactions", "loan_id", "loans", "id") in fks
    assert ("emi_schedules", "loan_id", "loans", "id") in fks
    assert ("communication_events", "communication_id", "communications", "id") in fks
    with mysql.connection(mysql_url) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT DISTINCT table_name FROM information_schema.statistics WHERE table_schema = %s "
            "AND column_name = 'created_at' AND seq_in_index = 1",
            (mysql.database_of(mysql_url),),
        )
        indexed = {r[0] for r in cur.fetchall()}
    assert indexed == EXPECTED_TABLES


@pytest.fixture
def lending_rows(mysql_url: str):
    """A connection with one valid customer and loan; yields (conn, customer_id, loan_id)."""
    with mysql.connection(mysql_url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute(CUSTOMER, ("Meera Iyer", "9988776655", "BBBBB2222B", "verified"))
        customer_id = cur.lastrowid
        cur.execute(LOAN, (customer_id, "personal_loan", "50000.00"))
        loan_id = cur.lastrowid
        cur.execute(TXN, (loan_id, customer_id, "4500.00"))  # a valid row goes in
        yield conn, customer_id, loan_id


def rejected(conn, sql: str, params: tuple) -> str:
    cur = conn.cursor()
    with pytest.raises((MySQLdb.IntegrityError, MySQLdb.OperationalError, MySQLdb.DataError)) as err:
        cur.execute(sql, params)
    return str(err.value)


def test_negative_amounts_are_rejected(lending_rows) -> None:
    conn, customer_id, loan_id = lending_rows
    msg = rejected(conn, TXN, (loan_id, customer_id, "-10.00"))
    assert "ck_txn_amount" in msg
    msg = rejected(conn, LOAN, (customer_id, "bnpl", "-1.00"))
    assert "ck_loans_principal" in msg
    assert count(conn.cursor(), "loan_transactions") == 1
    assert count(conn.cursor(), "loans") == 1


def test_bad_pan_and_phone_are_rejected(lending_rows) -> None:
    conn, _, _ = lending_rows
    assert "ck_customers_pan" in rejected(conn, CUSTOMER, ("Bad Pan", "9000000001", "12345ABCDE", "pending"))
    assert "ck_customers_phone" in rejected(
        conn, CUSTOMER, ("Bad Phone", "1234567890", "CCCCC3333C", "pending")
    )
    assert count(conn.cursor(), "customers") == 1


def test_unknown_enum_values_are_rejected(lending_rows) -> None:
    conn, customer_id, _ = lending_rows
    rejected(conn, CUSTOMER, ("Bad Kyc", "9000000002", "DDDDD4444D", "approved-ish"))
    rejected(conn, LOAN, (customer_id, "mortgage", "100.00"))
    assert count(conn.cursor(), "customers") == 1
    assert count(conn.cursor(), "loans") == 1


def test_foreign_keys_reject_orphans(lending_rows) -> None:
    conn, customer_id, loan_id = lending_rows
    assert "fk_loans_customer" in rejected(conn, LOAN, (customer_id + 999, "bnpl", "100.00"))
    assert "fk_txn_loan" in rejected(conn, TXN, (loan_id + 999, customer_id, "10.00"))
    cur = conn.cursor()
    with pytest.raises(MySQLdb.IntegrityError):
        cur.execute("DELETE FROM customers WHERE id = %s", (customer_id,))
    assert count(cur, "customers") == 1


def test_unreachable_mysql_is_a_clear_error() -> None:
    from tests.conftest import free_port

    with pytest.raises(ServiceUnavailable, match="TIERFLOW_MYSQL_URL"):
        mysql.connect(f"mysql://root@127.0.0.1:{free_port()}/lending")
