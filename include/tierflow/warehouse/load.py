"""Incremental write-audit-publish load of one MySQL table into the warehouse's ``raw`` schema.

extract (keyset pages since the watermark minus a lookback) -> staging Parquet in the archive store
(under its reserved ``_tierflow_staging/`` prefix)
-> bulk COPY into ``raw_audit.<table>`` -> GX gate on the warehouse -> MERGE into ``raw.<table>``
and advance ``raw._tierflow_watermarks`` in one transaction. A failed gate or a crash leaves ``raw``
and the watermark as they were; the batch stays in ``raw_audit`` for inspection.

One loop for both engines; what differs (lock, DDL, COPY, MERGE) is the ``target.RawTarget`` it
drives: ``target.PostgresTarget`` locally, ``redshift.RedshiftTarget`` in production.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.log import get_logger
from tierflow.policy import Policy, TablePolicy, load_policy
from tierflow.stores import mysql
from tierflow.stores.objects import STAGING_PREFIX
from tierflow.urls import is_redshift
from tierflow.warehouse import AUDIT_SCHEMA
from tierflow.warehouse import sql as wsql
from tierflow.warehouse.columns import arrow_schema, source_columns
from tierflow.warehouse.target import Batch, PostgresTarget, RawTarget, Watermark, parquet_bytes, utc_now

log = get_logger("tierflow.warehouse.load")

PAGE_ROWS = 250_000
# Rows committed in MySQL with an older change/time value than the watermark (long transactions,
# late events, clock skew) are picked up again if they are this recent; unchanged rows drop out.
DEFAULT_LOOKBACK = timedelta(days=3)
STAGING_BATCHES_KEPT = 3


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
    return utc_now()


def new_batch_id(now: datetime | None = None) -> str:
    return f"{(now or _now()).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def _read_page(mysql_url: str, query: str, schema):
    """One keyset page as an Arrow table in the warehouse's types (connectorx: no Python rows)."""
    page = mysql.read_arrow(mysql_url, query)
    if page.num_rows == 0:
        return page.slice(0, 0)
    return page.select(schema.names).cast(schema)


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


Gate = Callable[[str, str, str], None]


def target_for(settings: Settings, store: Any) -> RawTarget:
    """The warehouse's target: Redshift for a ``redshift://`` URL, else PostgreSQL."""
    if is_redshift(settings.warehouse_url):
        from tierflow.warehouse.redshift import RedshiftTarget

        return RedshiftTarget(settings, store)
    return PostgresTarget(settings)


@dataclass
class _Load:
    """One running load: what the loop's steps share."""

    settings: Settings
    target: RawTarget
    store: Any
    batch: Batch
    report: LoadReport
    page_rows: int
    on_page: Callable[[int], None] | None
    loaded_at: datetime | None = None
    after: tuple[datetime, int] | None = None


def load_table(
    settings: Settings,
    table: TablePolicy,
    *,
    full_refresh: bool = False,
    lookback: timedelta = DEFAULT_LOOKBACK,
    page_rows: int = PAGE_ROWS,
    gate: Gate | None = None,
    on_page: Callable[[int], None] | None = None,
) -> LoadReport:
    """Load new and changed rows of ``table`` into ``raw``; see the module docstring.

    ``gate(warehouse_url, schema, table)`` raises QualityGateError to stop the publish
    (default: the table's suite in ``expectations/warehouse``).
    """
    from tierflow.stores.objects import store_for

    if gate is None:
        from tierflow.warehouse.gates import check_batch

        gate = check_batch
    started = time.perf_counter()
    store = store_for(settings)
    target = target_for(settings, store)
    batch = Batch(
        table, source_columns(settings.mysql_url, table.name), new_batch_id(), watermark_column(table)
    )
    report = LoadReport(table=table.name, batch_id=batch.batch_id, full_refresh=full_refresh)
    run = _Load(settings, target, store, batch, report, page_rows, on_page)
    with target.session(batch):
        published = False
        try:
            report.previous, run.loaded_at = target.prepare(batch)
            since = None
            if report.previous and not full_refresh:
                since = report.previous.value - lookback
            _stage(run, since)
            if report.rows_staged:
                _audit_and_publish(run, gate)
            else:
                report.watermark = report.previous
            published = True
        finally:
            _clean_staging(store, batch, failed=not published)
    report.seconds["total"] = time.perf_counter() - started
    log.info("warehouse load" if report.rows_staged else "warehouse load: nothing new", **report.as_dict())
    return report


def _stage(run: _Load, since: datetime | None) -> None:
    """Extract keyset pages, stage each as Parquet and move it towards ``raw_audit``; then the
    whole batch, superseded copies dropped (timings: extract, stage, copy)."""
    batch, report, target, store = run.batch, run.report, run.target, run.store
    table, wm_col = batch.table, batch.watermark_column
    schema = arrow_schema(batch.columns)
    keys = StagedKeys(table.primary_key)
    seconds = dict.fromkeys(("extract", "stage", "copy"), 0.0)
    page_no = 0
    while True:
        t0 = time.perf_counter()
        query = wsql.extract_sql(
            table.name,
            batch.columns,
            wm_col,
            table.primary_key,
            since=since,
            after=run.after,
            limit=run.page_rows,
        )
        page = _read_page(run.settings.mysql_url, query, schema)
        seconds["extract"] += time.perf_counter() - t0
        if page.num_rows == 0:
            break
        t0 = time.perf_counter()
        key = f"{staging_prefix(table.name, batch.batch_id)}/part-{page_no:05d}.parquet"
        if run.loaded_at is None:
            raise TierflowError(f"{table.name}: the target gave no load time before staging")
        store.put_bytes(key, parquet_bytes(target.staged_page(page, run.loaded_at)))
        report.staged.append(store.url(key))
        seconds["stage"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        target.copy_page(batch, page)
        seconds["copy"] += time.perf_counter() - t0
        report.rows_staged += page.num_rows
        keys.add(page)
        last = page.slice(page.num_rows - 1, 1).to_pylist()[0]
        run.after = (last[wm_col], int(last[table.primary_key]))
        page_no += 1
        target.keep_alive()
        if run.on_page:
            run.on_page(page_no)
        if page.num_rows < run.page_rows:
            break
    t0 = time.perf_counter()
    if report.rows_staged:
        target.copy_batch(batch, store.url(staging_prefix(table.name, batch.batch_id)))
    seconds["copy"] += time.perf_counter() - t0
    report.superseded = target.settle(batch, keys.repeated())
    report.seconds.update(seconds)


def _audit_and_publish(run: _Load, gate: Gate) -> None:
    """Audit: the gate reads the batch in raw_audit (raw is untouched so far). Publish: MERGE +
    watermark in one transaction (timings: gate, merge)."""
    batch, report, target = run.batch, run.report, run.target
    target.keep_alive()
    t0 = time.perf_counter()
    gate(run.settings.warehouse_url, AUDIT_SCHEMA, batch.table.name)
    report.seconds["gate"] = time.perf_counter() - t0
    target.keep_alive()
    t0 = time.perf_counter()
    new_wm = Watermark(*run.after) if run.after else None
    previous = report.previous
    if previous and (new_wm is None or (previous.value, previous.pk) > (new_wm.value, new_wm.pk)):
        new_wm = previous
    if new_wm is None or run.loaded_at is None:
        raise TierflowError(f"the batch of {batch.table.name} staged rows but holds no watermark")
    report.inserted, report.updated = target.publish(batch, new_wm, report.rows_staged, run.loaded_at)
    report.watermark = new_wm
    report.seconds["merge"] = time.perf_counter() - t0


def _clean_staging(store: Any, batch: Batch, *, failed: bool) -> None:
    """After every load, the table keeps its newest STAGING_BATCHES_KEPT staged batches; a failed
    batch's own objects go first (never published: what reached raw_audit stays there). A cleanup
    error after a failure is logged, so it never hides the failure."""
    name = batch.table.name
    try:
        if failed:
            for obj in store.list(staging_prefix(name, batch.batch_id) + "/"):
                store.delete(obj.key)
        prune_staging(store, name)
    except Exception:
        if not failed:
            raise
        log.exception("warehouse load: staging cleanup failed", table=name, batch_id=batch.batch_id)


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
