"""``archive run``: move cold rows of each table to Parquet, verify the copy, then delete the rows.

Order of operations per batch (each step recorded in the ledger before the next starts):
select (keyset on the PK) -> gate (GX suite) -> write + upload -> read back and verify -> delete
rows still identical to the archived copy -> drop any row that stayed in MySQL from the archive.
Objects are created, never replaced; a rewrite writes and verifies the new object, switches the
ledger, and only then retires the old one. Every destructive step first checks that the run still
holds its table lock and owns the ledger entry.

The parts: ``archiver`` (the per-table pipeline), ``delete`` (the delete protocol), ``rewrite``
(object rewrites and retirement), ``throttle``, ``summary``, ``faults`` (crash points for tests).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from tierflow import memory
from tierflow.archive.archiver import TableArchiver
from tierflow.archive.errors import (
    ArchiveLockedError,
    ThrottledError,
    describe_failure,
)
from tierflow.archive.guards import check_as_of, check_run_sizes
from tierflow.archive.summary import RunSummary, TableSummary
from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.log import get_logger
from tierflow.policy import Policy, TablePolicy, load_policy
from tierflow.stores import mysql
from tierflow.stores.mysql_graph import ordered_tables
from tierflow.stores.objects import store_for

log = get_logger("tierflow.archive")
# a table's status when its run raised one of these (any other error: "failed")
_STATUS_OF: dict[type[Exception], str] = {ArchiveLockedError: "locked", ThrottledError: "throttled"}


def parse_duration(text: str | None) -> float | None:
    """'90s', '15m', '2h', '1h30m' or plain seconds -> seconds."""
    if not text:
        return None
    import re

    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)([smh]?)", text.strip()):
        if m.start() != pos:
            break
        total += float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        pos = m.end()
    if pos != len(text.strip()) or pos == 0:
        raise TierflowError(f"--max-runtime {text!r}: use seconds or a duration like 90s, 15m, 2h")
    return total


def task_max_runtime(value: float | int | str | None) -> float | None:
    """A DAG param's ``max_runtime``: seconds as a number, or a duration such as '15m'."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    return parse_duration(str(value))


def run_archive(
    settings: Settings | None = None,
    *,
    tables: list[str] | None = None,
    as_of: datetime | date | str | None = None,
    max_runtime: float | None = None,
    dry_run: bool = False,
    allow_large_run: bool = False,
    batch_rows: int | None = None,
    gate: bool = True,
    lock_wait: float = 0,
    policy: Policy | None = None,
    progress: Callable[[str, int], None] | None = None,
    on_table_start: Callable[[str, int], None] | None = None,
) -> RunSummary:
    """Archive the given tables (all archived tables by default), children before parents.

    ``as_of`` (default now, UTC) later than now is refused (FutureAsOfError). Before the first
    batch, a run that would move more than ``archive.max_run_fraction`` of any table's rows is
    refused (LargeRunError) unless ``allow_large_run``. A dry run reports what ``plan_archive``
    counts and changes nothing. Returns a RunSummary; a failing table does not stop the others.
    Call ``summary.raise_for_failures()`` to turn failures into an error.
    """
    settings = settings or Settings.from_env()
    policy = policy or load_policy(settings.policy_path)
    as_of = check_as_of(as_of)
    mysql.check_policy(policy, settings.mysql_url)
    run_id = uuid.uuid4().hex
    summary = RunSummary(run_id=run_id, as_of=as_of)
    started = time.monotonic()
    if dry_run:
        summary.tables.extend(_dry_run_tables(settings, policy, tables, as_of))
        summary.wall_seconds = time.monotonic() - started
        return summary
    _check_sizes(settings, policy, tables, as_of, allow_large_run)
    memory.bound_arenas()
    deadline = started + max_runtime if max_runtime else None
    store = store_for(settings)
    fks = mysql.foreign_keys(settings.mysql_url)
    for table in ordered_tables(policy, tables, fks):
        log.info("archive.table.start", table=table.name, run_id=run_id, as_of=str(as_of))
        archiver_args = {
            "run_id": run_id,
            "as_of": as_of,
            "store": store,
            "batch_rows": batch_rows,
            "lock_wait": lock_wait,
            "gate": gate,
            "progress": progress,
        }
        result = _archive_table(settings, policy, table, archiver_args, deadline, on_table_start)
        summary.tables.append(result)
        log.info(
            "archive.table.done",
            table=table.name,
            status=result.status,
            rows=result.rows,
            deleted=result.deleted,
            seconds=round(result.total_seconds, 3),
        )
        if result.stops_the_run:
            break
    summary.wall_seconds = time.monotonic() - started
    return summary


def _dry_run_tables(
    settings: Settings, policy: Policy, tables: list[str] | None, as_of: datetime
) -> list[TableSummary]:
    """What ``plan_archive`` counts, as the run's table summaries; nothing changes."""
    from tierflow.archive.plan import plan_tables

    return [
        TableSummary(plan.table, status="dry-run", cutoff=plan.cutoff, rows=plan.rows, held=plan.held)
        for plan in plan_tables(settings, policy, tables, as_of)
    ]


def _check_sizes(
    settings: Settings, policy: Policy, tables: list[str] | None, as_of: datetime, allow_large_run: bool
) -> None:
    """Refuse (LargeRunError) a run that would move too large a share of a table, before any batch."""
    from tierflow.archive.plan import plan_tables

    counts = [(p.table, p.rows, p.total) for p in plan_tables(settings, policy, tables, as_of, detail=False)]
    check_run_sizes(
        counts, policy.archive.max_run_fraction, allowed=allow_large_run, source=policy.source or "the policy"
    )


def _archive_table(
    settings: Settings,
    policy: Policy,
    table: TablePolicy,
    archiver_args: dict[str, Any],
    deadline: float | None,
    on_table_start: Callable[[str, int], None] | None,
) -> TableSummary:
    """One table's run; its failure is recorded in its summary, not raised."""
    archiver: TableArchiver | None = None
    try:
        archiver = TableArchiver(settings, policy, table, **archiver_args)
        with archiver:
            if on_table_start:
                archiver.prepare()
                on_table_start(table.name, archiver.cold_range()[0])
            return archiver.run(deadline)
    except Exception as exc:  # noqa: BLE001 - one table's failure must not stop the others
        result = archiver.summary if archiver else TableSummary(table.name)
        result.status = _STATUS_OF.get(type(exc), "failed")
        result.error = describe_failure(exc)
        result.failure = exc
        log.error("archive.table.failed", table=table.name, error=result.error)
        return result
