"""Warehouse races against real MariaDB and PostgreSQL: a row updated while a load pages through
its table, two builders wanting the same slot, and load and build stamps from one clock."""

from __future__ import annotations

import pytest
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy
from tierflow.stores import mysql, warehouse
from tierflow.warehouse.load import load_table, superseded_sql

from tests import redshift_harness as rh

pytestmark = pytest.mark.integration


@pytest.fixture
def wh_settings(seeded_mysql_url: str, warehouse_url: str, file_archive_uri: str) -> Settings:
    return Settings(
        mysql_url=seeded_mysql_url,
        warehouse_url=warehouse_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
    )


def test_rows_updated_between_pages_load_once_at_their_latest_version(wh_settings: Settings) -> None:
    table = load_policy(DEFAULT_POLICY).table("loans")
    with mysql.connection(wh_settings.mysql_url) as conn:
        cur = conn.cursor()
        cur.execute("SELECT id, principal FROM loans ORDER BY updated_at, id LIMIT 7")
        first_page = {i: p + 1 for i, p in cur.fetchall()}
        cur.execute("SELECT COUNT(*) FROM loans")
        total = cur.fetchone()[0]
    writer = mysql.connect(wh_settings.mysql_url, autocommit=True)
    pages = []

    def write_between_pages(page_no: int) -> None:
        """A writer on its own connection: after the first page, the rows it held change (their
        change column moves past the load's cursor, so a later page reads them again)."""
        pages.append(page_no)
        if page_no == 1:
            marks = ", ".join(["%s"] * len(first_page))
            writer.cursor().execute(
                f"UPDATE loans SET principal = principal + 1, updated_at = NOW(6) WHERE id IN ({marks})",
                list(first_page),
            )

    try:
        report = load_table(wh_settings, table, page_rows=50, on_page=write_between_pages)
    finally:
        writer.close()
    assert len(pages) > 2
    assert report.superseded == len(first_page)
    assert report.rows_staged == total + len(first_page)
    with warehouse.connection(wh_settings.warehouse_url) as conn:
        rows = conn.execute("SELECT id, principal FROM raw.loans").fetchall()
    assert len(rows) == total == len({r[0] for r in rows})
    assert {i: p for i, p in rows if i in first_page} == first_page


def test_superseded_sql_is_redshift_sql() -> None:
    assert rh.problems(superseded_sql("loans", "id", "updated_at")) == []
