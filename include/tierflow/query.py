"""``tierflow query "SQL"``: the Athena stand-in. DuckDB over the archive's Parquet files.

Each archived table is a view over ``<archive>/<database>/<table>/dt=*/*.parquet`` with Hive
partitioning (``dt`` is a column) and union_by_name, so files of older schema fingerprints read
together with newer ones. A table whose policy maps renamed columns (``archive.column_map``) also
gets ``<table>_v``: the same rows with each renamed column read under its current name (the new
column, else the old one), as the Athena view of ``tierflow archive ddl`` does. Each table is a lazy pyarrow dataset over the
objects in place (S3 or local), which DuckDB scans with its filters on ``dt`` and its projected
columns pushed down: nothing is copied.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.log import get_logger
from tierflow.stores import ident

log = get_logger("tierflow.query")


def archive_filesystem(settings: Settings) -> tuple[Any, str]:
    """The archive as a pyarrow filesystem and the root path in it: ``S3FileSystem`` with the
    endpoint, region and keys that boto3 gets (``Settings.aws_client_kwargs``), or the local one."""
    from pyarrow import fs

    parts = urlsplit(settings.archive_uri)
    if parts.scheme == "file":
        return fs.LocalFileSystem(), unquote(parts.path).rstrip("/")
    s3 = settings.aws_client_kwargs("s3")
    kwargs: dict[str, Any] = {
        "region": s3.get("region_name"),
        "access_key": s3.get("aws_access_key_id"),
        "secret_key": s3.get("aws_secret_access_key"),
        "session_token": s3.get("aws_session_token"),
    }
    if s3.get("endpoint_url"):
        endpoint = urlsplit(s3["endpoint_url"])
        kwargs.update(endpoint_override=endpoint.netloc, scheme=endpoint.scheme or "https")
    root = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
    return fs.S3FileSystem(**{k: v for k, v in kwargs.items() if v}), root


def table_datasets(settings: Settings, database: str) -> dict[str, list[Any]]:
    """One lazy pyarrow dataset per archived table, over its ``dt=*/*.parquet`` objects in place:
    nothing is copied, ``dt`` is a Hive partition (the day or month as text) that a filter prunes,
    and only the projected columns are read. A table holds one dataset per schema fingerprint."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyarrow import fs

    filesystem, root = archive_filesystem(settings)
    base = f"{root}/{database}"
    found: dict[str, list[str]] = {}
    try:
        infos = filesystem.get_file_info(fs.FileSelector(base, recursive=True, allow_not_found=True))
    except OSError as exc:
        raise TierflowError(f"archive {settings.archive_uri} cannot be listed: {exc}") from None
    for info in infos:
        rel = info.path[len(base) + 1 :].split("/")
        if (
            info.type == fs.FileType.File
            and len(rel) == 3
            and rel[1].startswith("dt=")
            and rel[2].endswith(".parquet")
        ):
            found.setdefault(rel[0], []).append(info.path)
    partitioning = ds.partitioning(pa.schema([("dt", pa.string())]), flavor="hive")
    datasets: dict[str, list[Any]] = {}
    for table, paths in sorted(found.items()):
        whole = ds.dataset(
            sorted(paths),
            filesystem=filesystem,
            format="parquet",
            partitioning=partitioning,
            partition_base_dir=f"{base}/{table}",
        )
        # One dataset per schema fingerprint: pyarrow cannot unify uint64 with int64, so DuckDB
        # unions them by name (as its union_by_name did) and widens each column itself.
        by_schema: dict[Any, list[str]] = {}
        for frag in whole.get_fragments():
            by_schema.setdefault(frag.physical_schema, []).append(frag.path)
        datasets[table] = [
            ds.dataset(
                group,
                schema=pa.unify_schemas([physical, partitioning.schema]),
                filesystem=filesystem,
                format="parquet",
                partitioning=partitioning,
                partition_base_dir=f"{base}/{table}",
            )
            for physical, group in by_schema.items()
        ]
    return datasets


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


def connect(settings: Settings | None = None, *, policy: Any = None):
    """A DuckDB connection with one view per archived table (and ``<table>_v`` where the policy
    maps renamed columns); returns (connection, view names)."""
    import duckdb

    from tierflow.archive.schema import renamed_columns
    from tierflow.policy import load_policy
    from tierflow.stores import mysql

    settings = settings or Settings.from_env()
    policy = policy or load_policy(settings.policy_path)
    con = duckdb.connect()
    views = []
    for name, parts in table_datasets(settings, mysql.database_of(settings.mysql_url)).items():
        for i, dataset in enumerate(parts):
            con.register(f"_archive_{name}_{i}", dataset)
        scans = [f"SELECT * FROM {ident.ansi(f'_archive_{name}_{i}')}" for i in range(len(parts))]  # noqa: S608 - quoted names
        source = f"({' UNION ALL BY NAME '.join(scans)})"
        con.execute(
            f"CREATE VIEW {ident.ansi(name)} AS SELECT *{_signed(con, source)} FROM {source}"  # noqa: S608 - quoted names
        )
        views.append(name)
        table = policy.tables.get(name)
        if table is None or not table.archive.column_map:
            continue
        present = {row[0] for row in con.execute(f"DESCRIBE {ident.ansi(name)}").fetchall()}
        renames = renamed_columns(table.archive.column_map, present)
        if renames:
            olds = ", ".join(ident.ansi(o) for names in renames.values() for o in names)
            current = ", ".join(
                f"COALESCE({', '.join(ident.ansi(c) for c in [new, *old])}) AS {ident.ansi(new)}"
                for new, old in renames.items()
            )
            con.execute(
                f"CREATE VIEW {ident.ansi(name + '_v')} AS SELECT * EXCLUDE ({olds}) "  # noqa: S608 - quoted names
                f"REPLACE ({current}) FROM {ident.ansi(name)}"
            )
            views.append(name + "_v")
    return con, views


def run_query(sql: str, settings: Settings | None = None, *, policy: Any = None):
    """Run ``sql`` over the archive; returns a pyarrow Table. Each successful run is journaled
    (``record``, at ``Settings.query_journal``) for ``tierflow advise``."""
    import duckdb

    settings = settings or Settings.from_env()
    con, views = connect(settings, policy=policy)
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
