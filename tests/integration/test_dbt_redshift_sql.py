"""The production SQL in sql/redshift/ at the SQL level: the raw DDL is generated from the live MySQL
schema for every warehouse table (the loader runs the same statements, on PostgreSQL without the
distribution clauses), and the long-history views count a row held by both raw and the archive once.
(Redshift itself is not available here; these run against the real MariaDB and PostgreSQL.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tierflow.paths import DEFAULT_POLICY, PROJECT_ROOT
from tierflow.policy import load_policy
from tierflow.stores import mysql, warehouse
from tierflow.warehouse import raw_ddl
from tierflow.warehouse import sql as wsql

pytestmark = pytest.mark.integration

REDSHIFT_SQL = PROJECT_ROOT / "sql" / "redshift"
REDSHIFT_ONLY = re.compile(
    r'\s*(diststyle \w+|distkey \("?\w+"?\)|(compound |interleaved )?sortkey \([^)]*\)|with no schema binding)',
    re.IGNORECASE,
)


def for_postgres(sql: str) -> str:
    """Redshift DDL minus distribution/sort keys and late binding, which PostgreSQL lacks."""
    sql = REDSHIFT_ONLY.sub("", sql)
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("grant "))


def raw_schema_on_postgres(conn, mysql_url: str) -> None:
    for statement in raw_ddl.raw_schema_statements(mysql_url, load_policy(DEFAULT_POLICY), wsql.POSTGRES):
        conn.execute(statement)


def test_raw_ddl_file_is_generated_from_the_mysql_schema(mysql_url: str, tmp_path: Path) -> None:
    """The file and the loader's DDL are one: both come from raw_ddl over the live MySQL columns;
    `tierflow warehouse ddl` writes what sql/redshift/ holds."""
    env = dict(os.environ, TIERFLOW_MYSQL_URL=mysql_url)
    tierflow = str(Path(sys.executable).parent / "tierflow")
    subprocess.run(
        [tierflow, "warehouse", "ddl", "--out", str(tmp_path)], env=env, check=True, capture_output=True
    )
    for name in ("000_access.sql", "001_raw_schema.sql"):
        assert (tmp_path / name).read_text() == (REDSHIFT_SQL / name).read_text(), name
    text = (REDSHIFT_SQL / "001_raw_schema.sql").read_text()
    policy = load_policy(DEFAULT_POLICY)
    wanted = {name for name, table in policy.tables.items() if table.warehouse}
    assert set(re.findall(r'CREATE TABLE IF NOT EXISTS "raw"\."(\w+)"', text)) == wanted | {
        "_tierflow_watermarks",
        "_tierflow_load_leases",
    }
    live = mysql.columns_by_table(mysql_url)
    for table in wanted:  # every MySQL column, in order, and _loaded_at
        body = text.split(f'"raw"."{table}" (', 1)[1].split("\n)", 1)[0]
        assert re.findall(r'^  "(\w+)"', body, re.M) == [*live[table], "_loaded_at"], table


def test_raw_ddl_runs_and_is_idempotent(mysql_url: str, warehouse_url: str) -> None:
    with warehouse.connection(warehouse_url, autocommit=True) as conn:
        raw_schema_on_postgres(conn, mysql_url)
        raw_schema_on_postgres(conn, mysql_url)
        count = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'raw'"
        ).fetchone()[0]
    assert count == 9  # 7 warehouse tables, the watermarks and the load leases


def test_spectrum_schema_points_at_the_archive_glue_database() -> None:
    sql = (REDSHIFT_SQL / "002_spectrum_archive.sql").read_text()
    statement = re.search(
        r"create external schema if not exists archive\s+from data catalog\s+"
        r"database '(\w+)'.*?iam_role :iam_role;",
        sql,
        re.S,
    )
    assert statement and statement.group(1) == "tierflow_archive"


def test_history_views_take_archive_rows_raw_does_not_have(mysql_url: str, warehouse_url: str) -> None:
    with warehouse.connection(warehouse_url, autocommit=True) as conn:
        raw_schema_on_postgres(conn, mysql_url)
        # Stand-in for the Spectrum schema: the archive's tables, same columns plus the dt partition.
        conn.execute("create schema archive; create schema history")
        for table in (
            "loans",
            "emi_schedules",
            "loan_transactions",
            "communications",
            "communication_events",
            "user_device_apps",
        ):
            conn.execute(f"create table archive.{table} (like raw.{table})")
            conn.execute(f"alter table archive.{table} drop column _loaded_at, add column dt varchar(10)")
        conn.execute(for_postgres((REDSHIFT_SQL / "003_history_views.sql").read_text()))

        insert = (
            "insert into {} (id, loan_id, customer_id, txn_type, amount, currency, gateway, gateway_ref,"
            " status, created_at, updated_at{}) values (%s, 1, 1, 'emi_payment', 100, 'INR', 'nach', 'r',"
            " 'success', '2024-01-05', '2024-01-05'{})"
        )
        for txn_id in (1, 2, 3):  # archived long ago
            conn.execute(insert.format("archive.loan_transactions", ", dt", ", '2024-01-05'"), (txn_id,))
        for txn_id in (3, 4):  # 3 was loaded before it was archived; 4 is recent
            conn.execute(insert.format("raw.loan_transactions", ", _loaded_at", ", now()"), (txn_id,))
        got = conn.execute("select id, tier from history.loan_transactions order by id").fetchall()
    assert got == [(1, "archive"), (2, "archive"), (3, "warehouse"), (4, "warehouse")]
