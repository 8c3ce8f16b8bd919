"""The archive read through its own catalog by a real engine: Spark SQL over the Athena DDL.

An archived ``tiny`` dataset is read by pyspark in local mode with Hive support and the default
reader settings, as an EMR or Glue ETL user would: every table is created from the DDL that
``tierflow archive ddl`` generates, its partitions found with ``MSCK REPAIR TABLE``, every column
read, and the rows compared with the ledger and with DuckDB (``tierflow query``). One Spark
session serves the whole module (starting one takes most of a minute on this machine).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from tierflow.archive import run_archive
from tierflow.archive.ledger import Ledger
from tierflow.catalog import DEFAULT_GLUE_DATABASE, PLACEHOLDER_LOCATION, write_ddl
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy
from tierflow.query import connect
from tierflow.stores import mysql

from tests.conftest import AS_OF, MYSQL_SERVER, NO_WAREHOUSE_URL, unique_name

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Path]]:
    """A tiny dataset archived to a file:// archive, and its generated DDL in a temp dir."""
    from tierflow.devdata import seed_database

    url = f"{MYSQL_SERVER}/{unique_name('tfspark')}"
    mysql.init_schema(url)
    root = tmp_path_factory.mktemp("spark-archive")
    settings = Settings(
        mysql_url=url,
        archive_uri=(root / "archive").as_uri(),
        policy_path=DEFAULT_POLICY,
        warehouse_url=NO_WAREHOUSE_URL,
    )
    try:
        seed_database(url, scale="tiny", years=3, seed=7, as_of=AS_OF, recreate=False, progress=False)
        # The first archive of three seeded years moves most of each short-window table.
        summary = run_archive(
            settings, as_of=datetime.combine(AS_OF, datetime.min.time()), allow_large_run=True
        )
        assert summary.ok, summary.errors()
        ddl_dir = root / "ddl"
        write_ddl(settings, load_policy(DEFAULT_POLICY), out_dir=ddl_dir)
        yield settings, ddl_dir
    finally:
        with mysql.connection(url, database=False, autocommit=True) as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{mysql.database_of(url)}`")


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """Spark SQL with Hive support, its metastore (Derby) and warehouse in a temp dir.

    Nothing about Parquet is configured: the readers are Spark's defaults. The session time zone
    is UTC so that timestamps print as the wall-clock values MySQL holds (Spark reads a Parquet
    timestamp as an instant and shows it in the session zone)."""
    from pyspark.sql import SparkSession

    home = tmp_path_factory.mktemp("spark")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("tierflow-archive-spark")
        .config("spark.sql.warehouse.dir", str(home / "warehouse"))
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true",
        )
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={home}")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .enableHiveSupport()
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def spark_statements(ddl: str, archive_uri: str) -> list[str]:
    """The generated DDL as Spark runs it. The one change: the S3 location is the local archive
    (the DDL is written for ``s3://``; the path below it, <database>/<table>/, is unchanged).
    Comment lines (the partition-projection alternative, Athena only) are dropped."""
    local = ddl.replace(PLACEHOLDER_LOCATION, archive_uri.rstrip("/"))
    body = "\n".join(line for line in local.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def normalise(value):
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, float):
        return round(value, 4)
    return value


def duckdb_rows(settings: Settings, table: str) -> dict[object, dict]:
    con, views = connect(settings)
    try:
        if table not in views:
            return {}
        rel = con.sql(f'SELECT * FROM "{table}"')
        names = rel.columns
        # DuckDB types the hive partition value (a date for daily tables); the catalog says string
        return {
            r[0]: {n: str(v) if n == "dt" else normalise(v) for n, v in zip(names, r, strict=True)}
            for r in rel.fetchall()
        }
    finally:
        con.close()


def ledger_count(settings: Settings, table: str) -> int:
    with Ledger(settings.mysql_url) as ledger:
        return sum(e.row_count or 0 for e in ledger.entries(table, ("verified", "deleted")) if e.object_keys)


@pytest.fixture(scope="module")
def tables(spark, archived: tuple[Settings, Path]) -> list[str]:
    """Every table created in Spark from its generated DDL, partitions found by MSCK REPAIR."""
    settings, ddl_dir = archived
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {DEFAULT_GLUE_DATABASE}")
    tables = []
    for path in sorted(ddl_dir.glob("*.sql")):
        statements = spark_statements(path.read_text(), settings.archive_uri)
        assert len(statements) == 1 and statements[0].startswith("CREATE EXTERNAL TABLE"), path.name
        spark.sql(statements[0])
        spark.sql(f"MSCK REPAIR TABLE {DEFAULT_GLUE_DATABASE}.{path.stem}")
        tables.append(path.stem)
    return tables


def read_all(spark, table: str) -> tuple[list[str], dict[object, dict]]:
    df = spark.sql(f"SELECT * FROM {DEFAULT_GLUE_DATABASE}.{table}")
    rows = {}
    for r in df.collect():
        d = {k: normalise(v) for k, v in r.asDict().items()}
        rows[r[0]] = d
    return df.columns, rows


def check_reads_like_duckdb_and_the_ledger(spark, settings: Settings, tables: list[str]) -> dict[str, int]:
    assert len(tables) == 9, tables
    counts = {}
    for table in tables:
        columns, rows = read_all(spark, table)
        want = duckdb_rows(settings, table)
        assert len(rows) == ledger_count(settings, table), table
        assert set(columns) == set(next(iter(want.values()), {}) or columns), table
        assert rows == want, table
        counts[table] = len(rows)
    return counts


def test_every_archived_table_reads_through_its_ddl_with_sparks_default_reader(
    spark, archived, tables
) -> None:
    # nothing set: Spark's own (vectorized) Parquet reader reads Hive Parquet tables
    assert spark.conf.get("spark.sql.hive.convertMetastoreParquet", None) is None
    counts = check_reads_like_duckdb_and_the_ledger(spark, archived[0], tables)
    moved = [t for t, n in counts.items() if n]
    assert len(moved) >= 8, counts  # the tiny dataset has cold rows in (nearly) every table
    sample = spark.sql(
        f"SELECT id, created_at, amount FROM {DEFAULT_GLUE_DATABASE}.loan_transactions ORDER BY id LIMIT 1"
    ).collect()[0]
    assert isinstance(sample["id"], int) and isinstance(sample["amount"], Decimal)
    assert isinstance(sample["created_at"], datetime)


def test_every_archived_table_reads_with_the_hive_serde_reader(spark, archived, tables) -> None:
    # the older reader (Hive's ParquetHiveSerDe), which EMR Hive and Spark with this setting use
    spark.conf.set("spark.sql.hive.convertMetastoreParquet", "false")
    try:
        check_reads_like_duckdb_and_the_ledger(spark, archived[0], tables)
    finally:
        spark.conf.unset("spark.sql.hive.convertMetastoreParquet")


def test_partition_filter_prunes_in_the_plan(spark, archived, tables) -> None:
    settings, _ = archived
    for table in tables:
        parts = [r[0] for r in spark.sql(f"SHOW PARTITIONS {DEFAULT_GLUE_DATABASE}.{table}").collect()]
        if not parts:
            continue
        dt = parts[0].split("=", 1)[1]
        query = f"SELECT count(*) FROM {DEFAULT_GLUE_DATABASE}.{table} WHERE dt = '{dt}'"
        plan = spark.sql(f"EXPLAIN EXTENDED {query}").collect()[0][0]
        physical = plan.split("== Physical Plan ==", 1)[1]
        assert re.search(rf"PartitionFilters: \[[^\]]*\(dt#\d+ = {dt}\)\]", physical), (table, physical)
        # and the scan reads the selected partition's files only
        files = spark.sql(query).inputFiles()
        every = spark.sql(f"SELECT * FROM {DEFAULT_GLUE_DATABASE}.{table}").inputFiles()
        assert files and all(f"/dt={dt}/" in f for f in files), (table, files)
        assert len(files) < len(every) or len(parts) == 1, table
        got = spark.sql(query).collect()[0][0]
        con, _ = connect(settings)
        try:
            want = con.execute(f"SELECT count(*) FROM \"{table}\" WHERE dt = '{dt}'").fetchone()[0]
        finally:
            con.close()
        assert got == want, (table, dt)
