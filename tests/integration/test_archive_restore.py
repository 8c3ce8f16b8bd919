"""Restore against real MariaDB: a row MySQL refuses (foreign key, truncation) or stores differently
(a trigger) is named, is not left in MySQL altered, and stays in the archive."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tierflow.archive import run_archive
from tierflow.archive.ledger import Ledger
from tierflow.archive.restore import RestoreError, restore
from tierflow.archive.verify import verify_archive
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY
from tierflow.stores import mysql

from tests.conftest import NO_WAREHOUSE_URL
from tests.integration.test_archive_run import (
    AS_OF,
    COLD_START,
    archive_rows,
    assert_union_equals,
    make_rows,
    mysql_rows,
)


@pytest.fixture
def archived(mysql_url: str, file_archive_uri: str) -> tuple[Settings, dict]:
    """Loan 1's 60 cold transactions and loan 2's three (ids 100-102, all on the first cold day)
    archived; transaction 5 had a 30-character gateway_ref."""
    make_rows(mysql_url)
    with mysql.connection(mysql_url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("UPDATE loan_transactions SET gateway_ref = REPEAT('r', 30) WHERE id = 5")
        cur.execute(
            "INSERT INTO loans VALUES (2,1,'bnpl',900.00,18.50,3,'disbursed','2024-01-02',"
            "'2024-01-02','2024-01-02',NULL,'2024-01-02','2024-01-02')"
        )
        for i in (100, 101, 102):
            cur.execute(
                "INSERT INTO loan_transactions (id, loan_id, customer_id, txn_type, amount, gateway, "
                "gateway_ref, status, created_at, updated_at) VALUES (%s, 2, 1, 'emi_payment', 300.00, "
                "'razorpay', %s, 'success', '2024-03-01 12:00:00', '2024-03-01 12:00:00')",
                (i, f"l2-{i}"),
            )
    settings = Settings(
        warehouse_url=NO_WAREHOUSE_URL,
        mysql_url=mysql_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
    )
    original = mysql_rows(mysql_url)
    run_archive(
        settings, tables=["loan_transactions"], as_of=AS_OF, allow_large_run=True
    ).raise_for_failures()
    return settings, original


def test_restore_names_each_row_mysql_refuses_or_alters_and_the_archive_keeps_them(archived) -> None:
    settings, original = archived
    url = settings.mysql_url
    with mysql.connection(url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("DELETE FROM loans WHERE id = 2")  # its transactions are all in the archive
        cur.execute("ALTER TABLE loan_transactions MODIFY gateway_ref VARCHAR(10) NOT NULL")
        cur.execute(
            "CREATE TRIGGER tf_test_alter BEFORE INSERT ON loan_transactions FOR EACH ROW "
            "BEGIN IF NEW.id = 8 THEN SET NEW.status = 'reversed'; END IF; END"
        )
    day = COLD_START.date()
    with pytest.raises(RestoreError) as err:
        restore(settings, table="loan_transactions", start=day, end=day)
    result, text = err.value.result, str(err.value)
    failed = {line.split(":")[0] for line in result.failures}
    assert failed == {"id 5", "id 8", "id 100", "id 101", "id 102"}, result.failures
    lines = dict(line.split(":", 1) for line in result.failures)
    assert "1406" in lines["id 5"] or "too long" in lines["id 5"].lower()  # truncation is an error
    assert "foreign key" in lines["id 100"].lower()
    assert "differently" in lines["id 8"]
    assert "id 5" in text and "stay in the archive" in text
    assert result.rows_inserted == 18  # ids 1-20 of the first day, less 5 and 8

    live = mysql_rows(url)
    assert set(live) == set(range(1, 21)) - {5, 8} | set(range(61, 66))
    archived_keys = {k for k, _ in archive_rows(settings)}
    assert {5, 8, 100, 101, 102} <= archived_keys and not archived_keys & set(live)
    assert_union_equals(settings, original)  # every row once, as it was
    with mysql.connection(url) as conn:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM loan_transactions WHERE status = 'reversed'")
        assert cur.fetchone()[0] == 0  # the altered row was taken out again
    with Ledger(url) as ledger:
        record = [e for e in ledger.entries("loan_transactions") if e.state == "restored"][-1]
    assert record.row_count == 18 and "id 100" in record.error
    assert verify_archive(settings).ok

    # the CLI says the same and exits 1
    out = subprocess.run(
        [sys.executable, "-m", "tierflow.cli", "archive", "restore", "-t", "loan_transactions"]
        + ["--from", str(day), "--to", str(day)],
        env={**os.environ, "TIERFLOW_MYSQL_URL": url, "TIERFLOW_ARCHIVE_URI": settings.archive_uri},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "id 101" in out.stderr and "stay in the archive" in out.stderr

    # once MySQL accepts them as they were, they come back
    with mysql.connection(url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("DROP TRIGGER tf_test_alter")
        cur.execute("ALTER TABLE loan_transactions MODIFY gateway_ref VARCHAR(40) NOT NULL")
        cur.execute(
            "INSERT INTO loans VALUES (2,1,'bnpl',900.00,18.50,3,'disbursed','2024-01-02',"
            "'2024-01-02','2024-01-02',NULL,'2024-01-02','2024-01-02')"
        )
    again = restore(settings, table="loan_transactions", start=day, end=day)
    assert (again.rows_inserted, again.rows_skipped) == (5, 0)  # the archive held only those five
    assert_union_equals(settings, original)
