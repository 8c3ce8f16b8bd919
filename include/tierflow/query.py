"""``tierflow query "SQL"``: the Athena stand-in. DuckDB over the archive's Parquet files.

Each archived table is a view over ``<archive>/<database>/<table>/dt=*/*.parquet`` with Hive
partitioning (``dt`` is a column) and union_by_name, so files of older schema fingerprints read
together with newer ones. A table whose policy maps renamed columns (``archive.column_map``) also
gets ``<table>_v``: the same rows with each renamed column read under its current name (the new
column, else the old one), as the Athena view of ``tierflow archive ddl`` does. For ``s3://`` the objects are fetched with boto3 into a local cache first
(DuckDB's httpfs extension would need a download, which this environment does not allow).
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.log import get_logger
from tierflow.stores import ident

log = get_logger("tierflow.query")


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


_SIGNED = {"UTINYINT": "SMALLINT", "USMALLINT": "INTEGER", "UINTEGER": "BIGINT", "UBIGINT": "BIGINT"}


def _signed(con, source: str) -> str:
    """A ``REPLACE`` clause giving every integer column the signed type the catalog declares.

    Objects written before every integer was signed hold unsigned columns; read together with
    newer ones DuckDB widens such a column (UBIGINT with BIGINT is HUGEINT). ``_tf_row_hash``
    is reinterpreted as the signed 64-bit value MySQL computes, as ``archive.schema`` does."""
    from tierflow.archive.schema import ROW_HASH_COLUMN

    replace = []
    described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()  # noqa: S608 - escaped path
    for name, typ, *_ in described:
        if name == ROW_HASH_COLUMN and typ in {"UBIGINT", "HUGEINT"}:
            q = ident.ansi(name)
            replace.append(
                f"CAST(CASE WHEN {q} > 9223372036854775807 THEN {q}::HUGEINT - 18446744073709551616 "
                f"ELSE {q} END AS BIGINT) AS {q}"
            )
        elif typ in _SIGNED or typ == "HUGEINT":
            replace.append(f"CAST({ident.ansi(name)} AS {_SIGNED.get(typ, 'BIGINT')}) AS {ident.ansi(name)}")
    return f" REPLACE ({', '.join(replace)})" if replace else ""


def connect(settings: Settings | None = None, *, cache_dir: Path | None = None, policy: Any = None):
    """A DuckDB connection with one view per archived table (and ``<table>_v`` where the policy
    maps renamed columns); returns (connection, view names)."""
    import duckdb

    from tierflow.archive.schema import renamed_columns
    from tierflow.policy import load_policy
    from tierflow.stores import mysql

    settings = settings or Settings.from_env()
    policy = policy or load_policy(settings.policy_path)
    root = _local_root(settings, cache_dir) / mysql.database_of(settings.mysql_url)
    con = duckdb.connect()
    views = []
    if root.is_dir():
        for table_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            if not any(table_dir.glob("dt=*/*.parquet")):
                continue
            pattern = str(table_dir / "dt=*" / "*.parquet").replace("'", "''")
            source = f"read_parquet('{pattern}', hive_partitioning = true, union_by_name = true)"
            con.execute(
                f"CREATE VIEW {ident.ansi(table_dir.name)} AS SELECT *{_signed(con, source)} FROM {source}"  # noqa: S608 - quoted names, escaped path
            )
            views.append(table_dir.name)
            table = policy.tables.get(table_dir.name)
            if table is None or not table.archive.column_map:
                continue
            present = {row[0] for row in con.execute(f"DESCRIBE {ident.ansi(table_dir.name)}").fetchall()}
            renames = renamed_columns(table.archive.column_map, present)
            if renames:
                olds = ", ".join(ident.ansi(o) for names in renames.values() for o in names)
                current = ", ".join(
                    f"COALESCE({', '.join(ident.ansi(c) for c in [new, *old])}) AS {ident.ansi(new)}"
                    for new, old in renames.items()
                )
                con.execute(
                    f"CREATE VIEW {ident.ansi(table_dir.name + '_v')} AS SELECT * EXCLUDE ({olds}) "  # noqa: S608 - quoted names
                    f"REPLACE ({current}) FROM {ident.ansi(table_dir.name)}"
                )
                views.append(table_dir.name + "_v")
    return con, views


def run_query(
    sql: str, settings: Settings | None = None, *, cache_dir: Path | None = None, policy: Any = None
):
    """Run ``sql`` over the archive; returns a pyarrow Table. Each successful run is journaled
    (``record``, at ``Settings.query_journal``) for ``tierflow advise``."""
    import duckdb

    settings = settings or Settings.from_env()
    con, views = connect(settings, cache_dir=cache_dir, policy=policy)
    try:
        started = time.perf_counter()
        result = con.sql(sql).to_arrow_table()
        record(sql, (time.perf_counter() - started) * 1000, settings.query_journal)
        return result
    except duckdb.Error as exc:
        known = ", ".join(views) or "(none archived yet)"
        raise TierflowError(f"query failed: {exc}\n  archived tables: {known}") from None
    finally:
        con.close()


def record(sql: str, elapsed_ms: float, path: Path) -> None:
    """Append one run of ``tierflow query`` to its journal, which the query advisor reads
    (``tierflow.advisor.history.journal_history``): one JSON object a line, appended whole (appends
    this short are atomic on a local file system). A journal that cannot be written never fails
    the query."""
    line = json.dumps(
        {
            "at": datetime.now(UTC).isoformat(),
            "source": "tierflow",
            "sql": sql,
            "elapsed_ms": round(elapsed_ms, 3),
        }
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    except OSError as exc:
        log.warning("query.journal.unwritable", path=str(path), error=str(exc))
