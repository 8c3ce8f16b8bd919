"""Where archived objects live and how they are written and read back.

``<archive-uri>/<database>/<table>/dt=YYYY-MM-DD/part-<entry>-<digest>.parquet`` (dt=YYYY-MM for
monthly tables), and one manifest per batch in ``<database>/<table>/_manifests/<entry>-<digest>.json``.
``<entry>`` is the ledger entry's id and ``<digest>`` a hash of the object's bytes: no other batch,
attempt or rewrite produces the same name, so an object is never replaced, only retired.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from typing import Any

from tierflow.archive.schema import current_encoding
from tierflow.policy import Policy, TablePolicy
from tierflow.stores.objects import ObjectInfo, ObjectStore, PutOptions, check_archive_name


def batch_name(key_min: int, key_max: int) -> str:
    return f"{key_min:020d}-{key_max:020d}"


def table_prefix(database: str, table: str) -> str:
    """``<database>/<table>``; neither may start with the store's reserved prefix, so no archive
    object can fall under the warehouse's staging (whose cleanup deletes what it finds there)."""
    return f"{check_archive_name('database', database)}/{check_archive_name('table', table)}"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def object_key(database: str, table: str, partition: str, entry_id: int, data: bytes) -> str:
    """The name of a Parquet object holding ``data`` for ledger entry ``entry_id``."""
    return f"{table_prefix(database, table)}/dt={partition}/part-{entry_id:012d}-{digest(data)}.parquet"


def manifest_key(database: str, table: str, entry_id: int, data: bytes) -> str:
    return f"{table_prefix(database, table)}/_manifests/{entry_id:012d}-{digest(data)}.json"


def partition_of(key: str) -> str:
    for part in key.split("/"):
        if part.startswith("dt="):
            return part[3:]
    raise ValueError(f"object key {key!r} has no dt= partition")


def partition_value(partition: str) -> str:
    """``dt=2024-01-05`` / ``2024-01-05`` / ``dt=2024-01`` -> the date part."""
    return partition.split("=", 1)[1] if "=" in partition else partition


def archived_files(
    store: ObjectStore, database: str, table: str
) -> tuple[list[ObjectInfo], dict[str, list[str]]]:
    """The Parquet objects under ``<database>/<table>/``, and their keys by dt= partition value
    (an object outside any dt= partition is listed but in no partition)."""
    prefix = f"{database}/{table}/"
    files = [o for o in store.list(prefix) if o.key.endswith(".parquet")]
    partitions: dict[str, list[str]] = {}
    for obj in files:
        part = next((p for p in obj.key[len(prefix) :].split("/") if p.startswith("dt=")), None)
        if part:
            partitions.setdefault(partition_value(part), []).append(obj.key)
    return files, partitions


def parquet_rows(store: ObjectStore, keys: list[str]) -> int:
    """Rows of these Parquet objects, from their footers."""
    import pyarrow.parquet as pq

    total = 0
    for key in keys:
        with store.open(key) as fh:
            total += pq.ParquetFile(fh).metadata.num_rows
    return total


def put_options(policy: Policy) -> PutOptions:
    a = policy.archive
    return PutOptions(sse=a.sse, kms_key_id=a.kms_key_id, storage_class=a.storage_class)


def partition_values(table, table_policy: TablePolicy):
    """The dt= value of each row, from the row's own time column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = table.column(table_policy.time_column)
    if pa.types.is_date(col.type):
        col = pc.cast(col, pa.timestamp("us"))
    fmt = "%Y-%m-%d" if table_policy.archive.partition_by == "day" else "%Y-%m"
    return pc.strftime(col, format=fmt)


def split_by_partition(table, table_policy: TablePolicy) -> dict[str, Any]:
    """The rows of each dt= partition (one sort, then slices: linear in rows, not rows x days)."""
    import numpy as np
    import pyarrow.compute as pc

    values = partition_values(table, table_policy)
    labels = values.to_numpy(zero_copy_only=False)
    if len(labels) == 0:
        return {}
    if (labels[1:] >= labels[:-1]).all():
        ordered = table  # already in time order (the usual case: keys grow with time): slices, no copy
    else:
        order = pc.sort_indices(values)
        ordered = table.take(order)
        labels = labels[order.to_numpy()]
    starts = np.flatnonzero(np.concatenate(([True], labels[1:] != labels[:-1])))
    ends = np.append(starts[1:], len(labels))
    return {str(labels[a]): ordered.slice(int(a), int(b - a)) for a, b in zip(starts, ends, strict=True)}


def parquet_bytes(table, policy: Policy, table_policy: TablePolicy) -> bytes:
    import pyarrow.parquet as pq

    compression = table_policy.archive.compression or policy.archive.compression
    level = policy.archive.compression_level if compression in {"zstd", "gzip"} else None
    buf = io.BytesIO()
    pq.write_table(
        table,
        buf,
        compression=None if compression == "none" else compression,
        compression_level=level,
        row_group_size=policy.archive.row_group_rows,
        use_dictionary=True,
        write_statistics=True,
        # INT96: the one timestamp encoding that Athena, Redshift Spectrum and both of Spark's
        # Parquet readers read (docs/archive.md, "Types and readers")
        use_deprecated_int96_timestamps=True,
    )
    return buf.getvalue()


def parquet_table(data: bytes):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # INT96 timestamps come back as written (microseconds), objects of older encodings mapped to
    # today's types
    table = pq.read_table(pa.BufferReader(data), coerce_int96_timestamp_unit="us")
    return current_encoding(table)


def read_object(store: ObjectStore, key: str):
    return parquet_table(store.get_bytes(key))


def read_objects(store: ObjectStore, keys: list[str]):
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    with ThreadPoolExecutor(8, thread_name_prefix="get") as pool:
        tables = list(pool.map(lambda k: read_object(store, k), keys))
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]


def manifest(entry: dict[str, Any]) -> bytes:
    keep = (
        "table_name",
        "batch_name",
        "state",
        "row_count",
        "bytes",
        "object_keys",
        "partitions",
        "key_min",
        "key_max",
        "checksum",
        "schema_fingerprint",
        "schema_columns",
        "run_id",
        "cutoff",
    )
    doc = {k: entry.get(k) for k in keep}
    doc["format"] = "tierflow-archive-manifest/1"
    doc["written_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return json.dumps(doc, default=str, indent=1).encode()
