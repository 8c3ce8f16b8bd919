"""Incremental write-audit-publish load of one MySQL table into the warehouse's ``raw`` schema.

extract (keyset pages since the watermark minus a lookback) -> staging Parquet in the archive store
(under its reserved ``_tierflow_staging/`` prefix)
-> bulk COPY into ``raw_audit.<table>`` -> GX gate on the warehouse -> MERGE into ``raw.<table>``
and advance ``raw._tierflow_watermarks`` in one transaction. A failed gate or a crash leaves ``raw``
and the watermark as they were; the batch stays in ``raw_audit`` for inspection.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.log import get_logger
from tierflow.policy import Policy, TablePolicy, load_policy
from tierflow.stores import mysql
from tierflow.stores.objects import STAGING_PREFIX
from tierflow.warehouse import AUDIT_SCHEMA, LOADED_AT, RAW_SCHEMA, WATERMARKS_TABLE
from tierflow.warehouse import sql as wsql
from tierflow.warehouse.columns import Column, arrow_schema, quote, source_columns
from tierflow.warehouse.raw_ddl import raw_table_ddl

log = get_logger("tierflow.warehouse.load")

PAGE_ROWS = 250_000
# Rows committed in MySQL with an older change/time value than the watermark (long transactions,
# late events, clock skew) are picked up again if they are this recent; unchanged rows drop out.
DEFAULT_LOOKBACK = timedelta(days=3)
STAGING_BATCHES_KEPT = 3


class LoadInProgress(TierflowError):
    """Another load of the same table holds its lock."""


@dataclass(frozen=True)
class Watermark:
    value: datetime
    pk: int

    def __str__(self) -> str:
        return f"({self.value.isoformat(sep=' ')}, {self.pk})"


@dataclass
class LoadReport:
    table: str
    batch_id: str
    full_refresh: bool
    rows_staged: int = 0
    superseded: int = 0  # staged copies of a row that a later page holds at a newer version
    inserted: int = 0
    updated: int = 0
    previous: Watermark | None = None
    watermark: Watermark | None = None
    staged: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def copy_rows_per_s(self) -> float:
        t = self.seconds.get("copy", 0.0)
        return self.rows_staged / t if t > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "batch_id": self.batch_id,
            "rows_staged": self.rows_staged,
            "superseded": self.superseded,
            "inserted": self.inserted,
            "updated": self.updated,
            "watermark": str(self.watermark) if self.watermark else None,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def watermark_column(table: TablePolicy) -> str:
    """The change column when the table has one (updates bump it), else the time column."""
    return table.change_column or table.time_column


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_batch_id(now: datetime | None = None) -> str:
    return f"{(now or _now()).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def ensure_raw_table(conn, table: TablePolicy, columns: list[Column]) -> None:
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


def read_watermark(conn, table: str) -> Watermark | None:
    row = conn.execute(
        f"SELECT watermark_value, watermark_pk FROM {wsql.qualified(RAW_SCHEMA, WATERMARKS_TABLE)} "  # noqa: S608
        "WHERE table_name = %s",
        (table,),
    ).fetchone()
    return Watermark(row[0], int(row[1])) if row else None


def _read_page(mysql_url: str, query: str, schema):
    """One keyset page as an Arrow table in the warehouse's types (connectorx: no Python rows)."""
    page = mysql.read_arrow(mysql_url, query)
    if page.num_rows == 0:
        return page.slice(0, 0)
    return page.select(schema.names).cast(schema)


def _parquet_bytes(page) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(page, buf, compression="zstd")
    return buf.getvalue()


def copy_arrow(conn, schema: str, table: str, page) -> None:
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


def staging_prefix(table: str, batch_id: str | None = None) -> str:
    """Where a load stages its Parquet: under the store's reserved STAGING_PREFIX, which no
    archived database or table can start with, so staging cleanup never meets an archive object."""
    head = f"{STAGING_PREFIX}/{table}/"
    return head if batch_id is None else f"{head}batch={batch_id}"


def prune_staging(store, table: str, keep: int = STAGING_BATCHES_KEPT) -> list[str]:
    """Keep the newest ``keep`` staged batches of a table (batch ids sort by time); returns the
    keys deleted. Only ``batch=<id>/part-*.parquet`` keys are candidates."""
    prefix = staging_prefix(table)
    batches: dict[str, list[str]] = {}
    for obj in store.list(prefix):
        batch, _, name = obj.key[len(prefix) :].partition("/")
        if batch.startswith("batch=") and name.startswith("part-") and name.endswith(".parquet"):
            batches.setdefault(batch, []).append(obj.key)
    deleted = []
    for batch in sorted(batches)[:-keep] if keep else sorted(batches):
        for key in batches[batch]:
            store.delete(key)
            deleted.append(key)
    return deleted


def load_table(  # noqa: C901, PLR0915 -- to burn down
    settings: Settings,
    table: TablePolicy,
    *,
    full_refresh: bool = False,
    lookback: timedelta = DEFAULT_LOOKBACK,
    page_rows: int = PAGE_ROWS,
    gate: Callable[[str, str, str], None] | None = None,
    on_page: Callable[[int], None] | None = None,
) -> LoadReport:
    """Load new and changed rows of ``table`` into ``raw``; see the module docstring.

    ``gate(warehouse_url, schema, table)`` raises QualityGateError to stop the publish
    (default: the table's suite in ``expectations/warehouse``).
    """
    from tierflow.stores import warehouse
    from tierflow.stores.objects import store_for

    if warehouse.is_redshift(settings.warehouse_url):
        from tierflow.warehouse.redshift import load_table_redshift

        return load_table_redshift(settings, table, full_refresh=full_refresh, lookback=lookback)
    if gate is None:
        from tierflow.warehouse.gates import check_batch

        gate = check_batch

    started = time.perf_counter()
    batch_id = new_batch_id()
    report = LoadReport(table=table.name, batch_id=batch_id, full_refresh=full_refresh)
    columns = source_columns(settings.mysql_url, table.name)
    schema = arrow_schema(columns)
    wm_col = watermark_column(table)
    store = store_for(settings)
    warehouse.ensure_database(settings.warehouse_url)
    lock = warehouse.connect(settings.warehouse_url, autocommit=True)
    try:
        got = lock.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s))", (f"tierflow.load.{table.name}",)
        ).fetchone()[0]
        if not got:
            raise LoadInProgress(
                f"another load of {table.name} is running (advisory lock held); wait for it or stop it"
            )
        with warehouse.connection(settings.warehouse_url) as conn:
            ensure_raw_table(conn, table, columns)
            conn.commit()
            report.previous = read_watermark(conn, table.name)
            since = None
            if report.previous and not full_refresh:
                since = report.previous.value - lookback

            # Stage: a fresh raw_audit table holds exactly this batch. Its load time is the
            # warehouse's clock, the one a build's "loaded since" stamp is read from too.
            loaded_at = warehouse.server_now(conn, settings.warehouse_url)
            audit = wsql.qualified(AUDIT_SCHEMA, table.name)
            conn.execute(f"DROP TABLE IF EXISTS {audit}")
            conn.execute(raw_table_ddl(AUDIT_SCHEMA, table, columns, wsql.POSTGRES, if_not_exists=False))
            # Every row of the batch carries the batch's load time (a literal we formatted).
            conn.execute(
                f"ALTER TABLE {audit} ALTER COLUMN {quote(LOADED_AT)} "
                f"SET DEFAULT '{loaded_at.isoformat(sep=' ')}'::timestamp"
            )
            after: tuple[datetime, int] | None = None
            keys = StagedKeys(table.primary_key)
            page_no = 0
            t_extract = t_copy = t_stage = 0.0
            while True:
                t0 = time.perf_counter()
                query = wsql.extract_sql(
                    table.name, columns, wm_col, table.primary_key, since=since, after=after, limit=page_rows
                )
                page = _read_page(settings.mysql_url, query, schema)
                t_extract += time.perf_counter() - t0
                if page.num_rows == 0:
                    break
                t0 = time.perf_counter()
                key = f"{staging_prefix(table.name, batch_id)}/part-{page_no:05d}.parquet"
                store.put_bytes(key, _parquet_bytes(page))
                report.staged.append(store.url(key))
                t_stage += time.perf_counter() - t0
                t0 = time.perf_counter()
                copy_arrow(conn, AUDIT_SCHEMA, table.name, page)
                t_copy += time.perf_counter() - t0
                report.rows_staged += page.num_rows
                keys.add(page)
                last = page.slice(page.num_rows - 1, 1).to_pylist()[0]
                after = (last[wm_col], int(last[table.primary_key]))
                page_no += 1
                if on_page:
                    on_page(page_no)
                if page.num_rows < page_rows:
                    break
            if repeated := keys.repeated():
                sql = superseded_sql(table.name, table.primary_key, wm_col, repeated)
                report.superseded = conn.execute(sql).rowcount
            conn.execute(f"ANALYZE {audit}")
            conn.commit()
            report.seconds.update(extract=t_extract, stage=t_stage, copy=t_copy)

            if report.rows_staged == 0:
                report.watermark = report.previous
                report.seconds["total"] = time.perf_counter() - started
                log.info("warehouse load: nothing new", **report.as_dict())
                return report

            # Audit: the gate reads the committed batch in raw_audit; raw is untouched so far.
            t0 = time.perf_counter()
            gate(settings.warehouse_url, AUDIT_SCHEMA, table.name)
            report.seconds["gate"] = time.perf_counter() - t0

            # Publish: MERGE + watermark in one transaction.
            t0 = time.perf_counter()
            new_wm = Watermark(after[0], after[1]) if after else None
            if report.previous and (
                new_wm is None or (report.previous.value, report.previous.pk) > (new_wm.value, new_wm.pk)
            ):
                new_wm = report.previous
            if new_wm is None:
                raise TierflowError(f"{table.name}: rows were staged but no watermark was read")
            report.inserted, report.updated = merge_batch(conn, table, columns)
            delete, insert = wsql.set_watermark_sql()
            conn.execute(delete, (table.name,))
            conn.execute(
                insert, (table.name, wm_col, new_wm.value, new_wm.pk, batch_id, report.rows_staged, loaded_at)
            )
            conn.commit()
            report.watermark = new_wm
            report.seconds["merge"] = time.perf_counter() - t0
    finally:
        lock.close()  # also releases the advisory lock
    prune_staging(store, table.name)
    report.seconds["total"] = time.perf_counter() - started
    log.info("warehouse load", **report.as_dict())
    return report


class StagedKeys:
    """The primary keys of the pages a load staged, to find the rows it read twice (cheaply, in
    memory: 8 bytes a row) so the common batch, with none, costs no extra SQL."""

    def __init__(self, primary_key: str) -> None:
        self.primary_key = primary_key
        self.parts: list[Any] = []

    def add(self, page) -> None:
        self.parts.append(page.column(self.primary_key).to_numpy())

    def repeated(self) -> list[int]:
        """Each key staged more than once, in order."""
        import numpy as np

        if len(self.parts) < 2:
            return []  # keyset order: one page never holds a key twice
        keys = np.sort(np.concatenate(self.parts))
        return [int(k) for k in np.unique(keys[1:][keys[1:] == keys[:-1]])]


SUPERSEDED_KEYS_LISTED = 10_000


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


def merge_batch(conn, table: TablePolicy, columns: list[Column]) -> tuple[int, int]:
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


@dataclass
class LoadRun:
    reports: list[LoadReport]
    seconds: float

    @property
    def rows(self) -> int:
        return sum(r.rows_staged for r in self.reports)

    @property
    def copy_rows_per_s(self) -> float:
        t = sum(r.seconds.get("copy", 0.0) for r in self.reports)
        return self.rows / t if t > 0 else 0.0


def warehouse_tables(policy: Policy, names: list[str] | None = None) -> list[TablePolicy]:
    selected = policy.select(names)
    if names:
        for t in selected:
            if not t.warehouse:
                raise TierflowError(
                    f"table {t.name!r} is not marked `warehouse: true` in {policy.source}; "
                    "set it there to load it into the warehouse"
                )
    return [t for t in selected if t.warehouse]


def load_all(
    settings: Settings,
    names: list[str] | None = None,
    *,
    full_refresh: bool = False,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> LoadRun:
    """Load every warehouse table of the policy (or the named ones), parents first."""
    policy = load_policy(settings.policy_path)
    mysql.check_policy(policy, settings.mysql_url)
    started = time.perf_counter()
    tables = list(reversed(warehouse_tables(policy, names)))  # policy lists children first
    reports = [load_table(settings, t, full_refresh=full_refresh, lookback=lookback) for t in tables]
    return LoadRun(reports, time.perf_counter() - started)
