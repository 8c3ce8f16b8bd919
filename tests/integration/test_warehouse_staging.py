"""The warehouse's staging lives under the store's reserved ``_tierflow_staging/`` prefix: a MySQL
database named ``staging`` archives beside it, and staging cleanup never removes an archive object."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tierflow.archive import run_archive
from tierflow.archive.verify import verify_archive
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy
from tierflow.stores import mysql
from tierflow.stores.objects import STAGING_PREFIX, open_store
from tierflow.warehouse.load import STAGING_BATCHES_KEPT, load_table

from tests.conftest import AS_OF, MYSQL_SERVER
from tests.integration.test_archive_run import make_rows

pytestmark = pytest.mark.integration


@pytest.fixture
def staging_db_url() -> Iterator[str]:
    """A MySQL database named exactly ``staging`` (the name that met the old staging prefix)."""
    url = f"{MYSQL_SERVER}/staging"
    with mysql.connection(url, database=False, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'staging'")
        if cur.fetchone():
            pytest.fail("a database named `staging` already exists on the test server; drop it first")
    mysql.init_schema(url)
    yield url
    with mysql.connection(url, database=False, autocommit=True) as conn:
        conn.cursor().execute("DROP DATABASE IF EXISTS `staging`")


def test_staging_cleanup_never_removes_archive_objects(
    staging_db_url: str, warehouse_url: str, file_archive_uri: str
) -> None:
    make_rows(staging_db_url)
    settings = Settings(
        mysql_url=staging_db_url,
        warehouse_url=warehouse_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
    )
    store = open_store(file_archive_uri)
    # the warehouse has the rows first, so the archive may delete them
    table = load_policy(DEFAULT_POLICY).table("loan_transactions")
    load_table(settings, table, full_refresh=True)
    summary = run_archive(settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF)
    assert summary.ok and summary.tables[0].deleted == 60, summary.errors()
    archived = sorted(o.key for o in store.list("staging/loan_transactions/"))
    assert any(k.endswith(".parquet") for k in archived) and any("_manifests" in k for k in archived)

    for _ in range(STAGING_BATCHES_KEPT + 2):
        assert load_table(settings, table, full_refresh=True).rows_staged == 5

    assert sorted(o.key for o in store.list("staging/loan_transactions/")) == archived
    staged = {o.key.split("/")[2] for o in store.list(f"{STAGING_PREFIX}/loan_transactions/")}
    assert len(staged) == STAGING_BATCHES_KEPT and all(b.startswith("batch=") for b in staged)
    assert verify_archive(settings, tables=["loan_transactions"]).ok
