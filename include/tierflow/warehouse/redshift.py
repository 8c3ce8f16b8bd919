"""The production load target (``target.RawTarget`` for ``load.load_table``): staged Parquet on S3
-> ``COPY ... FORMAT AS PARQUET`` into ``raw_audit`` -> gate -> MERGE into ``raw`` + watermark, over
one IAM-authenticated redshift_connector session as the loader (the sign-in that dbt, the gates
and publish use too). Redshift has no advisory locks: the table's lock is a lease row
(``lease.LOAD_LEASE_TABLE``), extended while the load works.

Target in the warehouse URL: ``redshift://tierflow_loader@<endpoint>:5439/db?cluster=<id>`` (or
``?workgroup=<name>`` on Serverless); ``&iam_role=arn:...`` is the role COPY reads S3 with.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.policy import TablePolicy
from tierflow.urls import parse
from tierflow.warehouse import AUDIT_SCHEMA, LOADED_AT, RAW_SCHEMA
from tierflow.warehouse import lease as leases
from tierflow.warehouse import sql as wsql
from tierflow.warehouse.columns import Column, quote
from tierflow.warehouse.raw_ddl import raw_table_ddl
from tierflow.warehouse.target import (
    Batch,
    LoadInProgress,
    Watermark,
    read_watermark,
    superseded_sql,
    utc_now,
)

# how often a running load pushes its lease's expiry out (the lease lasts LOAD_LEASE_TTL)
KEEP_ALIVE_SECONDS = 600.0


def copy_sql(table: str, columns: list[Column], s3_prefix: str, iam_role: str | None) -> str:
    """COPY every Parquet part of one staged batch into ``raw_audit.<table>``.

    Parquet columns map by position, so the staged file carries ``_loaded_at`` as its last column.
    """
    role = f"IAM_ROLE '{iam_role}'" if iam_role else "IAM_ROLE default"
    cols = ", ".join([quote(c.name) for c in columns] + [quote(LOADED_AT)])
    return (
        f"COPY {wsql.qualified(AUDIT_SCHEMA, table)} ({cols})\n"
        f"FROM '{s3_prefix.rstrip('/')}/'\n{role}\nFORMAT AS PARQUET"
    )


def publish_statements(table: TablePolicy, columns: list[Column]) -> list[str]:
    """The statements of the publish step, run as ONE transaction."""
    delete, insert = wsql.set_watermark_sql()
    return [
        wsql.changes_sql(table.name, columns, table.primary_key, wsql.REDSHIFT),
        wsql.merge_sql(table.name, columns, table.primary_key),
        f"DROP TABLE {quote(wsql.CHANGES_TABLE)}",
        delete.replace("%s", ":table_name"),
        insert.replace("%s", "{}").format(
            ":table_name", ":wm_column", ":wm_value", ":wm_pk", ":batch_id", ":rows", ":loaded_at"
        ),
    ]


def _with_loaded_at(page, loaded_at: datetime):
    import pyarrow as pa

    return page.append_column(
        pa.field(LOADED_AT, pa.timestamp("us"), nullable=False),
        pa.array([loaded_at] * page.num_rows, pa.timestamp("us")),
    )


def publish_values(batch: Batch, watermark: Watermark, rows: int, loaded_at: datetime) -> dict[str, str]:
    """The typed literals of ``publish_statements`` (the values are ours, not users')."""
    return {
        ":table_name": f"'{batch.table.name}'",
        ":wm_column": f"'{batch.watermark_column}'",
        ":wm_value": f"'{watermark.value.isoformat(sep=' ')}'",
        ":wm_pk": str(int(watermark.pk)),
        ":batch_id": f"'{batch.batch_id}'",
        ":rows": str(int(rows)),
        ":loaded_at": f"'{loaded_at.isoformat(sep=' ')}'",
    }


class RedshiftTarget:
    """Redshift: the table's lease, one autocommit loader session, COPY of the whole staged batch."""

    dialect = wsql.REDSHIFT

    def __init__(self, settings: Settings, store: Any) -> None:
        if not store.uri.startswith("s3://"):
            raise TierflowError("a Redshift warehouse loads from S3: set TIERFLOW_ARCHIVE_URI to s3://...")
        self.settings = settings
        self.url = settings.warehouse_url
        self.iam_role = parse(self.url).query.get("iam_role")
        self.conn: Any = None
        self.owner = ""
        self.table = ""
        self._renewed = 0.0

    @contextmanager
    def session(self, batch: Batch) -> Iterator[RedshiftTarget]:
        from tierflow.stores import warehouse

        self.table = batch.table.name
        self.owner = f"load:{socket.gethostname()}:{os.getpid()}:{batch.batch_id}"
        lease_of = {"table": leases.LOAD_LEASE_TABLE, "name": self.table}
        try:
            leases.take(self.settings, self.owner, ttl=leases.LOAD_LEASE_TTL, **lease_of)
        except leases.LeaseHeldError as exc:
            raise LoadInProgress(
                f"another load of {self.table} is running ({exc.held.owner} holds its lease in "
                f"{RAW_SCHEMA}.{leases.LOAD_LEASE_TABLE} until {exc.held.expires_at:%Y-%m-%d %H:%M:%S} UTC); "
                "wait for it, or, if that load is gone, delete that row"
            ) from None
        self._renewed = time.monotonic()
        try:
            self.conn = warehouse.connect(self.url, aws=self.settings, autocommit=True)
            try:
                yield self
            finally:
                self.conn.close()
                self.conn = None
        finally:
            leases.release(self.settings, self.owner, **lease_of)

    def keep_alive(self) -> None:
        if time.monotonic() - self._renewed < KEEP_ALIVE_SECONDS:
            return
        leases.extend(
            self.conn,
            self.url,
            self.owner,
            table=leases.LOAD_LEASE_TABLE,
            name=self.table,
            ttl=leases.LOAD_LEASE_TTL,
        )
        self._renewed = time.monotonic()

    def prepare(self, batch: Batch) -> tuple[Watermark | None, datetime]:
        table, columns = batch.table, batch.columns
        for stmt in (
            f"CREATE SCHEMA IF NOT EXISTS {quote(RAW_SCHEMA)}",
            f"CREATE SCHEMA IF NOT EXISTS {quote(AUDIT_SCHEMA)}",
            wsql.watermarks_ddl(),
            raw_table_ddl(RAW_SCHEMA, table, columns, wsql.REDSHIFT),
            f"DROP TABLE IF EXISTS {wsql.qualified(AUDIT_SCHEMA, table.name)}",
            raw_table_ddl(AUDIT_SCHEMA, table, columns, wsql.REDSHIFT, if_not_exists=False),
        ):
            self.conn.execute(stmt)
        # the loader's clock: no build compares Redshift stamps (publish.loads_settled_at)
        return read_watermark(self.conn, table.name), utc_now()

    def staged_page(self, page: Any, loaded_at: datetime) -> Any:
        return _with_loaded_at(page, loaded_at)

    def copy_page(self, batch: Batch, page: Any) -> None:
        return None

    def copy_batch(self, batch: Batch, staged_url: str) -> None:
        self.conn.execute(copy_sql(batch.table.name, batch.columns, staged_url, self.iam_role))

    def settle(self, batch: Batch, repeated: list[int]) -> int:
        if not repeated:
            return 0
        table = batch.table
        sql = superseded_sql(table.name, table.primary_key, batch.watermark_column, repeated)
        return max(self.conn.execute(sql).rowcount, 0)

    def publish(self, batch: Batch, watermark: Watermark, rows: int, loaded_at: datetime) -> tuple[int, int]:
        values = publish_values(batch, watermark, rows, loaded_at)
        conn = self.conn
        conn.raw.autocommit = False
        try:
            for stmt in publish_statements(batch.table, batch.columns):
                for k, v in values.items():
                    stmt = stmt.replace(k, v)
                conn.execute(stmt)
            conn.commit()
        except BaseException:
            conn.rollback()  # the temp changes table goes with the transaction
            raise
        finally:
            conn.raw.autocommit = True
        return 0, 0  # the MERGE's counts are not read back on Redshift
