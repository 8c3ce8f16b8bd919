"""``tierflow query "SQL"``: the Athena stand-in. DuckDB over the archive's Parquet files.

Each archived table is a view over ``<archive>/<database>/<table>/dt=*/*.parquet`` with Hive
partitioning (``dt`` is a column) and union_by_name, so files of older schema fingerprints read
together with newer ones. For ``s3://`` the objects are fetched with boto3 into a local cache first
(DuckDB's httpfs extension would need a download, which this environment does not allow).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tierflow.config import Settings
from tierflow.errors import TierflowError


def _local_root(settings: Settings, cache_dir: Path | None) -> Path:
    from tierflow.stores.objects import LocalStore, store_for

    store = store_for(settings)
    if isinstance(store, LocalStore):
        return store.root
    cache = cache_dir or Path(tempfile.mkdtemp(prefix="tierflow-query-"))
    for obj in store.list(""):
        if not obj.key.endswith(".parquet"):
            continue
        target = cache / obj.key
        if target.exists() and target.stat().st_size == obj.size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.get_bytes(obj.key))
    return cache


def connect(settings: Settings | None = None, *, cache_dir: Path | None = None):
    """A DuckDB connection with one view per archived table; returns (connection, view names)."""
    import duckdb

    from tierflow.stores import mysql

    settings = settings or Settings.from_env()
    root = _local_root(settings, cache_dir) / mysql.database_of(settings.mysql_url)
    con = duckdb.connect()
    views = []
    if root.is_dir():
        for table_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            if not any(table_dir.glob("dt=*/*.parquet")):
                continue
            pattern = str(table_dir / "dt=*" / "*.parquet").replace("'", "''")
            con.execute(
                f"CREATE VIEW \"{table_dir.name}\" AS SELECT * FROM read_parquet('{pattern}', "
                "hive_partitioning = true, union_by_name = true)"
            )
            views.append(table_dir.name)
    return con, views


def run_query(sql: str, settings: Settings | None = None, *, cache_dir: Path | None = None):
    """Run ``sql`` over the archive; returns a pyarrow Table."""
    import duckdb

    con, views = connect(settings, cache_dir=cache_dir)
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        known = ", ".join(views) or "(none archived yet)"
        raise TierflowError(f"query failed: {exc}\n  archived tables: {known}") from None
    finally:
        con.close()
