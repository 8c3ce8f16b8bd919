"""Where the raw load writes: the ``RawTarget`` protocol that ``load.load_table`` drives, and its
PostgreSQL target (the local warehouse). The Redshift target is ``warehouse.redshift``.

A target owns the engine's side of one table's load: the per-table lock, the DDL, how a page
reaches ``raw_audit`` (COPY FROM STDIN here, COPY from the staged Parquet on Redshift) and the
MERGE + watermark transaction. The loop (extract, stage, gate, timings, staging cleanup) is one.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.policy import TablePolicy
from tierflow.warehouse import AUDIT_SCHEMA, LOADED_AT, RAW_SCHEMA, WATERMARKS_TABLE
from tierflow.warehouse import sql as wsql
from tierflow.warehouse.columns import Column, quote
from tierflow.warehouse.raw_ddl import raw_table_ddl


class LoadInProgress(TierflowError):
    """Another load of the same table holds its lock."""


@dataclass(frozen=True)
class Watermark:
    value: datetime
    pk: int

    def __str__(self) -> str:
        return f"({self.value.isoformat(sep=' ')}, {self.pk})"


@dataclass(frozen=True)
class Batch:
    """One load of one table: what every target step needs to know about it."""

    table: TablePolicy
    columns: list[Column]
    batch_id: str
    watermark_column: str


class RawTarget(Protocol):
    """The engine side of a raw load; ``load.load_table`` calls these in this order."""

    dialect: str

    def session(self, batch: Batch) -> Any:
        """A context manager: the table's load lock (LoadInProgress when another load holds it)
        and the target's connection, both held until it exits."""
        ...

    def prepare(self, batch: Batch) -> tuple[Watermark | None, datetime]:
        """Schemas, ``raw.<table>``, a fresh ``raw_audit.<table>``; (previous watermark, the
        ``_loaded_at`` every row of the batch carries)."""
        ...

    def staged_page(self, page: Any, loaded_at: datetime) -> Any:
        """The Arrow table written to the staging Parquet for ``page``."""
        ...

    def copy_page(self, batch: Batch, page: Any) -> None:
        """Move one page into ``raw_audit`` (a no-op where the whole batch is copied at once)."""
        ...

    def copy_batch(self, batch: Batch, staged_url: str) -> None:
        """Move the staged batch at ``staged_url`` into ``raw_audit`` (a no-op where each page was)."""
        ...

    def settle(self, batch: Batch, repeated: list[int]) -> int:
        """Drop superseded copies of ``repeated`` keys from ``raw_audit`` and make the batch
        visible to the gate; returns the rows dropped."""
        ...

    def publish(self, batch: Batch, watermark: Watermark, rows: int, loaded_at: datetime) -> tuple[int, int]:
        """MERGE ``raw_audit`` into ``raw`` and set the watermark in ONE transaction; (inserted,
        updated), as far as the engine tells."""
        ...

    def keep_alive(self) -> None:
        """Called while the load works (each page, each step): a lease-based lock is extended."""
        ...


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def parquet_bytes(page: Any) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(page, buf, compression="zstd")
    return buf.getvalue()


def read_watermark(conn: Any, table: str) -> Watermark | None:
    row = conn.execute(
        f"SELECT watermark_value, watermark_pk FROM {wsql.qualified(RAW_SCHEMA, WATERMARKS_TABLE)} "  # noqa: S608
        "WHERE table_name = %s",
        (table,),
    ).fetchone()
    return Watermark(row[0], int(row[1])) if row else None


def superseded_sql(table: str, primary_key: str, watermark_column: str, keys: list[int] | None = None) -> str:
    """Delete from ``raw_audit.<table>`` every staged copy of a row that the batch also holds at a
    newer version. A row updated while the load pages through the table moves past the keyset
    cursor and is read again; keeping only its latest version before the gate means such a batch
    neither fails the gate's unique key nor merges twice. Valid on PostgreSQL and Redshift."""
    audit = wsql.qualified(AUDIT_SCHEMA, table)
    pk, wm = quote(primary_key), quote(watermark_column)
    # a correlated EXISTS, not DELETE ... USING (subquery): Redshift's USING takes tables only.
    # ``keys`` (the repeated ones, integers we format) narrow it to the rows that can match.
    among = ""
    if keys and len(keys) <= SUPERSEDED_KEYS_LISTED:
        among = f"{audit}.{pk} IN ({', '.join(str(int(k)) for k in keys)}) AND "
    return (
        f"DELETE FROM {audit} WHERE {among}EXISTS (\n"  # noqa: S608
        f"  SELECT 1 FROM {audit} AS newer\n"
        f"  WHERE newer.{pk} = {audit}.{pk} AND newer.{wm} > {audit}.{wm}\n"
        ")"
    )


SUPERSEDED_KEYS_LISTED = 10_000


# --- PostgreSQL ----------------------------------------------------------------------------------


def ensure_raw_table(conn: Any, table: TablePolicy, columns: list[Column]) -> None:
    """Schemas, the watermark table and ``raw.<table>``; new MySQL columns are added to raw."""
    # Loads of different tables run at once, and PostgreSQL's CREATE ... IF NOT EXISTS races on its
    # catalog (a unique violation on pg_namespace): the DDL takes turns until the caller commits.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('tierflow.warehouse.ddl'))")
    for schema in (RAW_SCHEMA, AUDIT_SCHEMA):
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
    conn.execute(wsql.watermarks_ddl())
    conn.execute(raw_table_ddl(RAW_SCHEMA, table, columns, wsql.POSTGRES))
    present = {
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (RAW_SCHEMA, table.name),
        )
    }
    for col in columns:
        if col.name not in present:
            # Added nullable: rows loaded before the column existed have no value for it.
            conn.execute(
                f"ALTER TABLE {wsql.qualified(RAW_SCHEMA, table.name)} "
                f"ADD COLUMN {quote(col.name)} {col.postgres_type()}"
            )


def copy_arrow(conn: Any, schema: str, table: str, page: Any) -> None:
    """Bulk load an Arrow table with COPY ... FROM STDIN (CSV written by Arrow's C++ writer)."""
    import pyarrow.csv as pacsv

    buf = io.BytesIO()
    pacsv.write_csv(page, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    cols = ", ".join(quote(n) for n in page.column_names)
    with conn.cursor().copy(
        f"COPY {wsql.qualified(schema, table)} ({cols}) FROM STDIN WITH (FORMAT csv)"
    ) as copy:
        view = buf.getbuffer()
        step = 8 << 20
        for start in range(0, len(view), step):
            copy.write(view[start : start + step])


def merge_batch(conn: Any, table: TablePolicy, columns: list[Column]) -> tuple[int, int]:
    """Upsert ``raw_audit.<table>`` into ``raw.<table>`` inside the caller's transaction.

    Returns (inserted, updated). Rows identical to ``raw`` are not touched.
    """
    raw = wsql.qualified(RAW_SCHEMA, table.name)
    empty = conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {raw})").fetchone()[0]  # noqa: S608
    if empty:
        cur = conn.execute(wsql.insert_all_sql(table.name, columns))
        return cur.rowcount, 0
    conn.execute(wsql.changes_sql(table.name, columns, table.primary_key, wsql.POSTGRES))
    inserted, total = conn.execute(
        f"SELECT COALESCE(SUM(_tierflow_is_new), 0), COUNT(*) FROM {quote(wsql.CHANGES_TABLE)}"  # noqa: S608
    ).fetchone()
    if total:
        conn.execute(wsql.merge_sql(table.name, columns, table.primary_key))
    return int(inserted), int(total) - int(inserted)


class PostgresTarget:
    """The local warehouse: a session advisory lock per table on its own connection, COPY FROM
    STDIN per page, the batch stamped with the warehouse's clock."""

    dialect = wsql.POSTGRES

    def __init__(self, settings: Settings) -> None:
        self.url = settings.warehouse_url
        self.conn: Any = None

    @contextmanager
    def session(self, batch: Batch) -> Iterator[PostgresTarget]:
        from tierflow.stores import warehouse

        name = batch.table.name
        warehouse.ensure_database(self.url)
        lock = warehouse.connect(self.url, autocommit=True)
        try:
            got = lock.execute(
                "SELECT pg_try_advisory_lock(hashtext(%s))", (f"tierflow.load.{name}",)
            ).fetchone()
            if not got[0]:
                raise LoadInProgress(
                    f"another load of {name} is running (advisory lock held); wait for it or stop it"
                )
            with warehouse.connection(self.url) as self.conn:
                yield self
        finally:
            self.conn = None
            lock.close()  # also releases the advisory lock

    def prepare(self, batch: Batch) -> tuple[Watermark | None, datetime]:
        from tierflow.stores import warehouse

        conn, table = self.conn, batch.table
        ensure_raw_table(conn, table, batch.columns)
        conn.commit()
        previous = read_watermark(conn, table.name)
        # A fresh raw_audit table holds exactly this batch. Its load time is the warehouse's
        # clock, the one a build's "loaded since" stamp is read from too.
        loaded_at = warehouse.server_now(conn, self.url)
        audit = wsql.qualified(AUDIT_SCHEMA, table.name)
        conn.execute(f"DROP TABLE IF EXISTS {audit}")
        conn.execute(raw_table_ddl(AUDIT_SCHEMA, table, batch.columns, wsql.POSTGRES, if_not_exists=False))
        # Every row of the batch carries the batch's load time (a literal we formatted).
        conn.execute(
            f"ALTER TABLE {audit} ALTER COLUMN {quote(LOADED_AT)} "
            f"SET DEFAULT '{loaded_at.isoformat(sep=' ')}'::timestamp"
        )
        return previous, loaded_at

    def staged_page(self, page: Any, loaded_at: datetime) -> Any:
        return page

    def copy_page(self, batch: Batch, page: Any) -> None:
        copy_arrow(self.conn, AUDIT_SCHEMA, batch.table.name, page)

    def copy_batch(self, batch: Batch, staged_url: str) -> None:
        return None

    def settle(self, batch: Batch, repeated: list[int]) -> int:
        table = batch.table
        dropped = 0
        if repeated:
            sql = superseded_sql(table.name, table.primary_key, batch.watermark_column, repeated)
            dropped = self.conn.execute(sql).rowcount
        self.conn.execute(f"ANALYZE {wsql.qualified(AUDIT_SCHEMA, table.name)}")
        self.conn.commit()
        return dropped

    def publish(self, batch: Batch, watermark: Watermark, rows: int, loaded_at: datetime) -> tuple[int, int]:
        conn, table = self.conn, batch.table
        counts = merge_batch(conn, table, batch.columns)
        delete, insert = wsql.set_watermark_sql()
        conn.execute(delete, (table.name,))
        conn.execute(
            insert,
            (
                table.name,
                batch.watermark_column,
                watermark.value,
                watermark.pk,
                batch.batch_id,
                rows,
                loaded_at,
            ),
        )
        conn.commit()
        return counts

    def keep_alive(self) -> None:
        return None
