"""The archive and the warehouse (real MariaDB and PostgreSQL): a row of a warehouse table leaves
MySQL only once ``raw.<table>`` holds it at its current version."""

from __future__ import annotations

import pytest
from tierflow.archive import run_archive
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy
from tierflow.stores import mysql
from tierflow.warehouse.load import load_table

from tests.conftest import PG_SERVER, free_port
from tests.integration.test_archive_run import AS_OF, archive_rows, assert_union_equals, make_rows, mysql_rows


def no_gate(*_: str) -> None:
    """The warehouse suites expect the seeded dataset; these tests load a handful of rows."""


@pytest.fixture
def wh_settings(mysql_url: str, file_archive_uri: str, warehouse_url: str) -> Settings:
    make_rows(mysql_url)
    return Settings(
        mysql_url=mysql_url,
        archive_uri=file_archive_uri,
        warehouse_url=warehouse_url,
        policy_path=DEFAULT_POLICY,
    )


def load(settings: Settings) -> None:
    load_table(settings, load_policy(DEFAULT_POLICY).table("loan_transactions"), gate=no_gate)


def test_a_row_updated_after_the_load_waits_for_the_next_load(wh_settings: Settings) -> None:
    url = wh_settings.mysql_url
    load(wh_settings)
    with mysql.connection(url, autocommit=True) as conn:  # updated_at moves: the load has the old version
        conn.cursor().execute("UPDATE loan_transactions SET amount = 7.00 WHERE id = 12")
    original = mysql_rows(url)
    summary = run_archive(wh_settings, tables=["loan_transactions"], as_of=AS_OF, allow_large_run=True)
    t = summary.tables[0]
    assert summary.ok and (t.rows, t.deleted, t.unloaded) == (59, 59, 1), summary.errors()
    assert set(mysql_rows(url)) == {12, *range(61, 66)}  # the update stays until it is loaded
    assert 12 not in {k for k, _ in archive_rows(wh_settings)}
    assert_union_equals(wh_settings, original)

    load(wh_settings)
    again = run_archive(wh_settings, tables=["loan_transactions"], as_of=AS_OF, allow_large_run=True)
    assert again.ok and (again.tables[0].deleted, again.tables[0].unloaded) == (1, 0)
    assert set(mysql_rows(url)) == set(range(61, 66))
    assert_union_equals(wh_settings, original)


def test_a_warehouse_that_never_loaded_the_table_holds_all_of_it(wh_settings: Settings) -> None:
    """The warehouse database exists but has no raw.loan_transactions: nothing of that table
    moves; api_request_logs is not loaded into the warehouse and is not held."""
    with mysql.connection(wh_settings.mysql_url, autocommit=True) as conn:
        conn.cursor().execute(
            "INSERT INTO api_request_logs (id, request_id, customer_id, method, path, status_code, latency_ms, "
            "client_ip, user_agent, created_at) VALUES (1, REPEAT('a', 32), 1, 'GET', '/v1/x', 200, 5, '10.0.0.1', 'ua', "
            "'2024-01-01 00:00:00')"
        )
    original = mysql_rows(wh_settings.mysql_url)
    summary = run_archive(
        wh_settings, tables=["loan_transactions", "api_request_logs"], as_of=AS_OF, allow_large_run=True
    )
    by_table = {t.table: t for t in summary.tables}
    assert summary.ok, summary.errors()
    assert (by_table["loan_transactions"].deleted, by_table["loan_transactions"].unloaded) == (0, 60)
    assert by_table["api_request_logs"].deleted == 1
    assert mysql_rows(wh_settings.mysql_url) == original


def test_a_warehouse_that_cannot_be_reached_fails_the_table_before_anything_moves(
    wh_settings: Settings,
) -> None:
    down = wh_settings.with_(warehouse_url=f"postgresql://postgres@127.0.0.1:{free_port()}/tfwh_down")
    original = mysql_rows(down.mysql_url)
    summary = run_archive(down, tables=["loan_transactions"], as_of=AS_OF, allow_large_run=True)
    t = summary.tables[0]
    assert t.status == "failed" and "warehouse" in t.error and "not reachable" in t.error
    assert mysql_rows(down.mysql_url) == original and not archive_rows(down)


def test_no_warehouse_database_means_no_check(mysql_url: str, file_archive_uri: str) -> None:
    make_rows(mysql_url)
    settings = Settings(
        mysql_url=mysql_url,
        archive_uri=file_archive_uri,
        warehouse_url=f"{PG_SERVER}/tfwh_absent_for_archive_test",
        policy_path=DEFAULT_POLICY,
    )
    summary = run_archive(settings, tables=["loan_transactions"], as_of=AS_OF, allow_large_run=True)
    assert summary.ok and summary.tables[0].deleted == 60
