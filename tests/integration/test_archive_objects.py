"""Archive objects are never overwritten nor orphaned, and a run acts only while it owns its lock.

Real MariaDB, a file:// archive and moto's S3 server; the tiny seed where a whole table is needed.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from tierflow.archive import run_archive
from tierflow.archive.ledger import Ledger
from tierflow.archive.restore import restore
from tierflow.archive.verify import verify_archive
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY

from tests.conftest import AS_OF as SEED_AS_OF
from tests.conftest import NO_WAREHOUSE_URL
from tests.integration.test_archive_run import archive_rows, assert_union_equals, mysql_rows

pytestmark = pytest.mark.integration

AS_OF = datetime.combine(SEED_AS_OF, datetime.min.time())


def test_restore_of_first_and_last_cold_day_then_a_run_loses_no_row(
    seeded_mysql_url: str, file_archive_uri: str
) -> None:
    """The batch after a restore can have the same first and last key as the batch that archived
    those rows; its objects must not replace the objects whose other rows already left MySQL."""
    settings = Settings(
        warehouse_url=NO_WAREHOUSE_URL,
        mysql_url=seeded_mysql_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
    )
    original = mysql_rows(seeded_mysql_url)
    run_archive(
        settings, tables=["loan_transactions"], as_of=AS_OF, gate=False, allow_large_run=True
    ).raise_for_failures()
    days = sorted({r["created_at"].date() for _, r in archive_rows(settings)})
    assert len(days) > 30
    for day in (days[0], days[-1]):
        assert restore(settings, table="loan_transactions", start=day, end=day).rows_inserted > 0
    assert_union_equals(settings, original)
    again = run_archive(settings, tables=["loan_transactions"], as_of=AS_OF, gate=False, allow_large_run=True)
    assert again.ok, again.errors()
    assert again.tables[0].rows > 0
    assert_union_equals(settings, original)
    assert verify_archive(settings, tables=["loan_transactions"]).ok
    with Ledger(seeded_mysql_url) as ledger:
        keys = [k for e in ledger.entries("loan_transactions", ("deleted",)) for k in e.object_keys]
    assert len(keys) == len(set(keys)), "two ledger entries name the same object"
