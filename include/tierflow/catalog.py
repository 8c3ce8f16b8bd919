"""Athena/Glue catalog for the archive: DDL generated from the Parquet schema, Glue partitions.

``sql/athena/<table>.sql`` holds one external table per archived table (partitioned by ``dt``), with
a partition-projection variant in a comment for buckets where registering partitions is not wanted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tierflow.config import Settings
from tierflow.paths import SQL_DIR
from tierflow.policy import Policy, TablePolicy

ATHENA_DIR = SQL_DIR / "athena"
DEFAULT_GLUE_DATABASE = "tierflow_archive"
PLACEHOLDER_LOCATION = "s3://tierflow-archive/lake"


def catalog_fields(schema) -> list[Any]:
    """The archived columns the catalog declares: all but ``_tf_row_hash``, the archive's own
    verification hash. It is an unsigned 64-bit value, which Athena has no type for (it would read
    half of them as negative or refuse the column's statistics); analysts never need it, and Athena
    matches Parquet columns by name, so leaving it out of the table leaves the files readable."""
    from tierflow.archive.schema import ROW_HASH_COLUMN

    return [f for f in schema if f.name != ROW_HASH_COLUMN]


def hive_type(arrow_type) -> str:
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_binary(t):
        return "binary"
    if pa.types.is_float32(t):
        return "float"
    if pa.types.is_float64(t):
        return "double"
    if pa.types.is_boolean(t):
        return "boolean"
    # unsigned widen by one step; uint64 stays bigint (keys here stay far below 2^63)
    return {
        "int8": "tinyint",
        "int16": "smallint",
        "int32": "int",
        "int64": "bigint",
        "uint8": "smallint",
        "uint16": "int",
        "uint32": "bigint",
        "uint64": "bigint",
    }[str(t)]


def table_schema(settings: Settings, table: TablePolicy):
    """The archived Arrow schema: from the newest archived object if any, else derived from MySQL.

    Columns the policy's ``column_map`` names as renamed or dropped are kept from older objects
    (appended, with their archived type), so the catalog still reads the files written before.
    """
    from tierflow.archive import layout
    from tierflow.archive.schema import archived_schema, source_columns
    from tierflow.stores import mysql
    from tierflow.stores.objects import store_for

    database = mysql.database_of(settings.mysql_url)
    store = store_for(settings)
    keys = [
        o.key
        for o in store.list(layout.table_prefix(database, table.name) + "/dt=")
        if o.key.endswith(".parquet")
    ]
    if keys:
        import pyarrow as pa
        import pyarrow.parquet as pq

        keys.sort(reverse=True)
        schema = pq.read_schema(pa.BufferReader(store.get_bytes(keys[0])))
        wanted = [old for old in table.archive.column_map if old not in schema.names]
        for key in keys[1:]:
            if not wanted:
                break
            older = pq.read_schema(pa.BufferReader(store.get_bytes(key)))
            for name in [w for w in wanted if w in older.names]:
                schema = schema.append(older.field(name))
                wanted.remove(name)
        return schema
    return archived_schema(source_columns(settings.mysql_url, table.name), table)


def renamed_view_sql(table: TablePolicy, schema, *, glue_database: str) -> str:
    """Athena view ``<table>_v`` reading each column the policy maps as renamed under its current
    name (the new column, else the old one); empty when no rename has both columns archived."""
    from tierflow.archive.schema import renamed_columns

    renames = renamed_columns(table.archive.column_map, set(schema.names))
    if not renames:
        return ""
    olds = {o for names in renames.values() for o in names}
    cols = []
    for f in catalog_fields(schema):
        if f.name in olds:
            continue
        if f.name in renames:
            merged = ", ".join(f'"{c}"' for c in [f.name, *renames[f.name]])
            cols.append(f'COALESCE({merged}) AS "{f.name}"')
        else:
            cols.append(f'"{f.name}"')
    cols.append('"dt"')
    select = ",\n  ".join(cols)
    return (
        "\n-- Renamed columns (policy column_map) under their current names, across old and new files.\n"
        f'CREATE OR REPLACE VIEW "{glue_database}"."{table.name}_v" AS\nSELECT\n  {select}\n'
        f'FROM "{glue_database}"."{table.name}";\n'
    )


def athena_ddl(table: TablePolicy, schema, *, location: str, glue_database: str) -> str:
    cols = ",\n".join(f"  `{f.name}` {hive_type(f.type)}" for f in catalog_fields(schema))
    fmt = "yyyy-MM-dd" if table.archive.partition_by == "day" else "yyyy-MM"
    unit = "DAYS" if table.archive.partition_by == "day" else "MONTHS"
    return f"""-- Generated by `tierflow archive ddl` from the archived Parquet schema. Do not edit.
-- Partitions are registered in Glue by the nightly_archive DAG (one per dt= value archived).
CREATE EXTERNAL TABLE IF NOT EXISTS `{glue_database}`.`{table.name}` (
{cols}
)
PARTITIONED BY (`dt` string)
STORED AS PARQUET
LOCATION '{location}/'
TBLPROPERTIES ('parquet.compression' = 'ZSTD', 'classification' = 'parquet');

-- Alternative without partition registration: partition projection (Athena computes partitions).
-- ALTER TABLE `{glue_database}`.`{table.name}` SET TBLPROPERTIES (
--   'projection.enabled' = 'true',
--   'projection.dt.type' = 'date',
--   'projection.dt.format' = '{fmt}',
--   'projection.dt.range' = '2015-01{"-01" if unit == "DAYS" else ""},NOW',
--   'projection.dt.interval' = '1',
--   'projection.dt.interval.unit' = '{unit}',
--   'storage.location.template' = '{location}/dt=${{dt}}/'
-- );
""" + renamed_view_sql(table, schema, glue_database=glue_database)


def location_for(settings: Settings, table: str) -> str:
    from tierflow.archive import layout
    from tierflow.stores import mysql

    root = settings.archive_uri if settings.archive_uri.startswith("s3://") else PLACEHOLDER_LOCATION
    return f"{root.rstrip('/')}/{layout.table_prefix(mysql.database_of(settings.mysql_url), table)}"


def write_ddl(
    settings: Settings,
    policy: Policy,
    *,
    tables: list[str] | None = None,
    out_dir: Path = ATHENA_DIR,
    glue_database: str = DEFAULT_GLUE_DATABASE,
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for t in policy.select(tables):
        if not t.archive.enabled:
            continue
        ddl = athena_ddl(
            t, table_schema(settings, t), location=location_for(settings, t.name), glue_database=glue_database
        )
        path = out_dir / f"{t.name}.sql"
        path.write_text(ddl)
        written.append(path)
    return written


def _storage_descriptor(schema, location: str) -> dict[str, Any]:
    return {
        "Columns": [{"Name": f.name, "Type": hive_type(f.type)} for f in catalog_fields(schema)],
        "Location": location + "/",
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
    }


def archived_partitions(settings: Settings, table: str) -> list[str]:
    """Every dt partition the ledger has verified data in, for ``table`` (what the catalog must
    list, including batches a later run finished after a kill)."""
    from tierflow.archive.ledger import Ledger

    with Ledger(settings.mysql_url) as ledger:
        entries = ledger.entries(table, ("verified", "deleted"))
    return sorted({p for e in entries if e.object_keys for p in e.partitions})


def register_partitions(
    glue,
    settings: Settings,
    table: TablePolicy,
    partitions: list[str],
    *,
    glue_database: str = DEFAULT_GLUE_DATABASE,
) -> int:
    """Create the Glue database/table if missing and add the missing dt partitions.

    ``glue`` is a boto3 Glue client (in Airflow: ``GlueCatalogHook().get_conn()``). Returns the
    number of partitions added; re-running adds nothing.
    """
    schema = table_schema(settings, table)
    location = location_for(settings, table.name)
    try:
        glue.create_database(DatabaseInput={"Name": glue_database})
    except glue.exceptions.AlreadyExistsException:
        pass
    try:
        glue.create_table(
            DatabaseName=glue_database,
            TableInput={
                "Name": table.name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"classification": "parquet"},
                "PartitionKeys": [{"Name": "dt", "Type": "string"}],
                "StorageDescriptor": _storage_descriptor(schema, location),
            },
        )
    except glue.exceptions.AlreadyExistsException:
        # a column added in MySQL since (schema drift) must reach Athena too
        current = glue.get_table(DatabaseName=glue_database, Name=table.name)["Table"]
        wanted = _storage_descriptor(schema, location)
        if current["StorageDescriptor"].get("Columns") != wanted["Columns"]:
            glue.update_table(
                DatabaseName=glue_database,
                TableInput={
                    "Name": table.name,
                    "TableType": "EXTERNAL_TABLE",
                    "Parameters": current.get("Parameters") or {"classification": "parquet"},
                    "PartitionKeys": [{"Name": "dt", "Type": "string"}],
                    "StorageDescriptor": wanted,
                },
            )
    existing = set()
    for page in glue.get_paginator("get_partitions").paginate(
        DatabaseName=glue_database, TableName=table.name
    ):
        existing.update(p["Values"][0] for p in page["Partitions"])
    new = sorted(set(partitions) - existing)
    for i in range(0, len(new), 100):
        glue.batch_create_partition(
            DatabaseName=glue_database,
            TableName=table.name,
            PartitionInputList=[
                {"Values": [dt], "StorageDescriptor": _storage_descriptor(schema, f"{location}/dt={dt}")}
                for dt in new[i : i + 100]
            ],
        )
    return len(new)
