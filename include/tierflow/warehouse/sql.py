"""The SQL of the raw load, built once for both engines (PostgreSQL locally, Redshift in production).

Every identifier comes from MySQL's information_schema or the validated tier policy and is quoted;
values (watermarks, batch ids) are bound parameters or typed literals formatted here.
"""

from __future__ import annotations

from datetime import date, datetime

from tierflow.warehouse import AUDIT_SCHEMA, LOADED_AT, RAW_SCHEMA, WATERMARKS_TABLE
from tierflow.warehouse.columns import Column, quote

POSTGRES = "postgres"
REDSHIFT = "redshift"
CHANGES_TABLE = "_tierflow_changes"


def qualified(schema: str, table: str) -> str:
    return f"{quote(schema)}.{quote(table)}"


def column_type(column: Column, dialect: str) -> str:
    return column.redshift_type() if dialect == REDSHIFT else column.postgres_type()


def table_ddl(
    schema: str,
    table: str,
    columns: list[Column],
    primary_key: str,
    dialect: str,
    *,
    if_not_exists: bool = True,
    distkey: str | None = None,
    sortkey: str | None = None,
) -> str:
    """CREATE TABLE for a raw or raw_audit table: the MySQL columns plus ``_loaded_at``; on
    Redshift distributed on ``distkey`` and sorted on ``sortkey`` (the primary key and
    ``_loaded_at`` unless given; ``raw_ddl.raw_table_ddl`` gives the raw schema's own)."""
    lines = [
        f"  {quote(c.name)} {column_type(c, dialect)}{'' if c.nullable else ' NOT NULL'}" for c in columns
    ]
    lines.append(f"  {quote(LOADED_AT)} timestamp NOT NULL")
    if schema == RAW_SCHEMA:
        # Redshift keeps it as an informational constraint; PostgreSQL enforces it.
        lines.append(f"  PRIMARY KEY ({quote(primary_key)})")
    tail = ""
    if dialect == REDSHIFT:
        tail = f"\nDISTKEY ({quote(distkey or primary_key)})\nSORTKEY ({quote(sortkey or LOADED_AT)})"
    exists = "IF NOT EXISTS " if if_not_exists else ""
    return f"CREATE TABLE {exists}{qualified(schema, table)} (\n" + ",\n".join(lines) + f"\n){tail}"


def watermarks_ddl() -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified(RAW_SCHEMA, WATERMARKS_TABLE)} (\n"
        "  table_name varchar(128) NOT NULL PRIMARY KEY,\n"
        "  watermark_column varchar(128) NOT NULL,\n"
        "  watermark_value timestamp NOT NULL,\n"
        "  watermark_pk bigint NOT NULL,\n"
        "  batch_id varchar(64) NOT NULL,\n"
        "  rows_loaded bigint NOT NULL,\n"
        "  loaded_at timestamp NOT NULL\n"
        ")"
    )


def mysql_literal(value: datetime | date | int) -> str:
    """A typed literal for the extract query (values come from our watermark table, never users)."""
    if isinstance(value, datetime):
        return f"'{value.strftime('%Y-%m-%d %H:%M:%S.%f')}'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    return str(int(value))


def extract_sql(
    table: str,
    columns: list[Column],
    watermark_column: str,
    primary_key: str,
    *,
    since: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> str:
    """One keyset page of new and changed rows, in (watermark column, primary key) order.

    ``since`` is the lower bound (watermark minus lookback); ``after`` the last row of the
    previous page. Both predicates use the index on the watermark column.
    """
    from tierflow.stores.mysql import quote_ident as bq

    wm, pk = bq(watermark_column), bq(primary_key)
    where: list[str] = []
    if since is not None:
        where.append(f"{wm} >= {mysql_literal(since)}")
    if after is not None:
        last_value, last_pk = after
        where.append(
            f"({wm} > {mysql_literal(last_value)} OR "
            f"({wm} = {mysql_literal(last_value)} AND {pk} > {mysql_literal(last_pk)}))"
        )
    cols = ", ".join(bq(c.name) for c in columns)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT {cols} FROM {bq(table)}{clause} ORDER BY {wm}, {pk} LIMIT {int(limit)}"  # noqa: S608 - quoted names, escaped literals


def _same(column: str) -> str:
    a, r = f"a.{quote(column)}", f"r.{quote(column)}"
    # Null-safe equality that Redshift also understands (it has no IS DISTINCT FROM).
    return f"({a} = {r} OR ({a} IS NULL AND {r} IS NULL))"


def changes_sql(table: str, columns: list[Column], primary_key: str, dialect: str) -> str:
    """A temp table of the batch rows that are new or differ from ``raw`` (unchanged rows drop out,
    so a rerun of the same batch changes nothing, not even ``_loaded_at``)."""
    pk = quote(primary_key)
    names = [quote(c.name) for c in columns] + [quote(LOADED_AT)]
    select = ", ".join(f"a.{n}" for n in names)
    differs = " AND ".join(_same(c.name) for c in columns if c.name != primary_key)
    on_commit = " ON COMMIT DROP" if dialect == POSTGRES else ""
    return (
        f"CREATE TEMP TABLE {quote(CHANGES_TABLE)}{on_commit} AS\n"
        f"SELECT {select}, CASE WHEN r.{pk} IS NULL THEN 1 ELSE 0 END AS _tierflow_is_new\n"
        f"FROM {qualified(AUDIT_SCHEMA, table)} a\n"
        f"LEFT JOIN {qualified(RAW_SCHEMA, table)} r ON r.{pk} = a.{pk}\n"
        f"WHERE r.{pk} IS NULL OR NOT ({differs or 'TRUE'})"
    )


def merge_sql(table: str, columns: list[Column], primary_key: str) -> str:
    """Upsert the changed rows into ``raw`` by primary key (MERGE: PostgreSQL 15+ and Redshift)."""
    pk = quote(primary_key)
    names = [quote(c.name) for c in columns] + [quote(LOADED_AT)]
    updates = ", ".join(f"{n} = c.{n}" for n in names if n != pk)
    return (
        f"MERGE INTO {qualified(RAW_SCHEMA, table)} AS r USING {quote(CHANGES_TABLE)} AS c\n"  # noqa: S608 - quoted names
        f"ON r.{pk} = c.{pk}\n"
        f"WHEN MATCHED THEN UPDATE SET {updates}\n"
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) VALUES ({', '.join('c.' + n for n in names)})"
    )


def insert_all_sql(table: str, columns: list[Column]) -> str:
    """First load into an empty raw table: a plain INSERT ... SELECT, no join needed."""
    names = ", ".join([quote(c.name) for c in columns] + [quote(LOADED_AT)])
    return (
        f"INSERT INTO {qualified(RAW_SCHEMA, table)} ({names})\n"
        f"SELECT {names} FROM {qualified(AUDIT_SCHEMA, table)}"
    )


def set_watermark_sql() -> tuple[str, str]:
    """DELETE + INSERT (portable to Redshift, which has no ON CONFLICT); run in the MERGE's transaction."""
    target = qualified(RAW_SCHEMA, WATERMARKS_TABLE)
    return (
        f"DELETE FROM {target} WHERE table_name = %s",  # noqa: S608 - quoted names, bound values
        f"INSERT INTO {target} (table_name, watermark_column, watermark_value, watermark_pk, "  # noqa: S608 - quoted names, bound values
        "batch_id, rows_loaded, loaded_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
    )
