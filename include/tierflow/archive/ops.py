"""The archive's other commands: plan (preview), restore (archive -> MySQL), verify.

Restore takes the same per-table MySQL lock as a run, inserts in strict mode (existing primary keys
are skipped; a refused, warned or altered row is an error naming it), checks each restored row
against its archived copy and then removes the restored rows from the archive, so every row lives
in exactly one of MySQL or the archive and a later run re-archives it without duplicates.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from tierflow.archive import layout
from tierflow.archive.archiver import TableArchiver
from tierflow.archive.digest import digest_sql, nullable_columns, row_digests
from tierflow.archive.guards import check_as_of
from tierflow.archive.ledger import Ledger, LedgerEntry
from tierflow.archive.lifecycle import retention_days
from tierflow.archive.schema import ROW_HASH_COLUMN, content_checksum
from tierflow.clock import utc_now
from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.log import get_logger
from tierflow.policy import PiiTreatment, Policy, load_policy
from tierflow.stores import mysql
from tierflow.stores.objects import store_for

log = get_logger("tierflow.archive")
PLAN_ROWS_PER_SECOND = 35_000  # bench/bench_archive.py on 2 cores, gate + verify on; only for the estimate


# plan ---------------------------------------------------------------------------------------------
@dataclass
class TablePlan:
    table: str
    cutoff: datetime
    rows: int
    bytes: int
    partitions: int
    first: str | None
    last: str | None
    held: int = 0  # past the cutoff, but kept: a child row stays in MySQL
    total: int = 0  # rows in the table now

    @property
    def est_seconds(self) -> float:
        return self.rows / PLAN_ROWS_PER_SECOND


def plan_archive(
    settings: Settings | None = None,
    *,
    tables: list[str] | None = None,
    as_of: datetime | None = None,
    policy: Policy | None = None,
) -> list[TablePlan]:
    """What a run would move, per table. Read-only: changes nothing, creates nothing.

    A parent row moves only once none of its child rows is left in MySQL, and the run takes
    children first: a cold parent row is counted as held when some child row stays, i.e. is warm,
    belongs to a table this run does not archive, or is itself held by a child of its own.
    ``archive run --dry-run`` reports these same numbers (it calls ``plan_tables``).
    """
    settings = settings or Settings.from_env()
    policy = policy or load_policy(settings.policy_path)
    as_of = check_as_of(as_of)
    mysql.check_policy(policy, settings.mysql_url)
    return plan_tables(settings, policy, tables, as_of)


def plan_tables(
    settings: Settings, policy: Policy, tables: list[str] | None, as_of: datetime, *, detail: bool = True
) -> list[TablePlan]:
    """The plan of ``tables`` (children first) for a checked policy and ``as_of``: the one count
    behind ``archive plan``, ``archive run --dry-run`` and the run's size limit. Without
    ``detail`` only rows, held and total are counted (no partitions, bytes or first/last)."""
    from tierflow.stores.mysql_graph import ordered_tables

    sizes = mysql.table_sizes(settings.mysql_url) if detail else {}
    plans = []
    fks = mysql.foreign_keys(settings.mysql_url)
    ordered = ordered_tables(policy, tables, fks)
    moving = {t.name: t for t in ordered}
    with mysql.connection(settings.mysql_url) as conn:
        cur = conn.cursor()
        for t in ordered:
            cutoff = t.cutoff(as_of)
            fmt = "%%Y-%%m-%%d" if t.archive.partition_by == "day" else "%%Y-%%m"
            held_sql, held_params = held_by_children(t.name, "t", moving, fks, as_of)
            tc = mysql.quote_ident(t.time_column)
            q = mysql.quote_ident(t.name)
            # one pass over the cold rows: each is either held (a child row stays) or moves
            described = (
                f"COUNT(DISTINCT IF(held, NULL, DATE_FORMAT(cold_at, '{fmt}'))), "
                f"DATE_FORMAT(MIN(IF(held, NULL, cold_at)), '{fmt}'), "
                f"DATE_FORMAT(MAX(IF(held, NULL, cold_at)), '{fmt}')"
                if detail
                else "0, NULL, NULL"
            )
            cur.execute(
                f"SELECT COALESCE(SUM(NOT held), 0), COALESCE(SUM(held), 0), {described} "
                f"FROM (SELECT t.{tc} AS cold_at, ({held_sql or 'FALSE'}) AS held "
                f"FROM {q} AS t WHERE t.{tc} < %s) AS cold",
                [*held_params, cutoff],
            )
            moved, held, parts, first, last = cur.fetchone()
            cur.execute(f"SELECT COUNT(*) FROM {q}")
            total = int(cur.fetchone()[0])
            rows = int(moved)  # SUM gives a DECIMAL
            size = sizes.get(t.name, {})
            avg = size.get("data_bytes", 0) / size["rows"] if size.get("rows") else 0
            plans.append(
                TablePlan(t.name, cutoff, rows, int(rows * avg), int(parts), first, last, int(held), total)
            )
    return plans


def held_by_children(
    table: str,
    alias: str,
    moving: dict[str, Any],
    fks: list[tuple[str, str, str, str]],
    as_of: datetime,
    depth: int = 0,
) -> tuple[str, list[Any]]:
    """SQL true when row ``alias`` of ``table`` keeps a child row in MySQL after a run that
    archives the ``moving`` tables (children first), and its parameters in order. A child row
    stays when its table is not moving, when it is newer than its table's cutoff, or when it is
    itself held by a child of its own. Names come from the policy and the schema's foreign keys."""
    if depth > 8:
        raise TierflowError(f"foreign keys into {table!r} nest deeper than 8 tables: cannot plan")
    parts: list[str] = []
    params: list[Any] = []
    for n, (child, child_col, parent, parent_col) in enumerate(fks):
        if parent != table or child == parent:
            continue
        a = f"c{depth}_{n}"
        link = f"{a}.{mysql.quote_ident(child_col)} = {alias}.{mysql.quote_ident(parent_col)}"
        spec = moving.get(child)
        if spec is None:
            parts.append(f"EXISTS (SELECT 1 FROM {mysql.quote_ident(child)} AS {a} WHERE {link})")
            continue
        stays = f"{a}.{mysql.quote_ident(spec.time_column)} >= %s"
        stays_params: list[Any] = [spec.cutoff(as_of)]
        deeper, deeper_params = held_by_children(child, a, moving, fks, as_of, depth + 1)
        if deeper:
            stays = f"{stays} OR {deeper}"
            stays_params.extend(deeper_params)
        parts.append(f"EXISTS (SELECT 1 FROM {mysql.quote_ident(child)} AS {a} WHERE {link} AND ({stays}))")
        params.extend(stays_params)
    return " OR ".join(parts), params


# restore ------------------------------------------------------------------------------------------
@dataclass
class RestoreResult:
    table: str
    rows_read: int = 0
    rows_inserted: int = 0
    rows_skipped: int = 0
    objects: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)  # per row: its key and what MySQL said


class RestoreError(TierflowError):
    """Some rows could not be restored exactly; they stay in the archive. ``.result`` has the rest."""

    def __init__(self, message: str, result: RestoreResult) -> None:
        super().__init__(message)
        self.result = result


# Truncation, coercion, zero dates and bad values are errors, never warnings with altered data.
RESTORE_SQL_MODE = (
    "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_DATE,NO_ZERO_IN_DATE,NO_ENGINE_SUBSTITUTION"
)
RESTORE_ROWS_PER_STATEMENT = 5000


class _RowRefused(Exception):
    pass


def _insert_exactly(
    conn, table: str, pk: str, part, digest: str, expected: list[int]
) -> tuple[int, int, list[str]]:
    """Insert the archived rows of ``part`` not yet in MySQL, one transaction per chunk:
    (inserted, already present, failures). A chunk that raises or warns is retried row by row
    under savepoints, so each failing row is named with MySQL's message and the others go in.
    Before each commit, the inserted rows are read back and their digests compared with the
    archived copy's: a row that MySQL stored differently (a trigger, a default, a conversion) is
    taken out again and reported, so the archive never gives up a row MySQL does not hold as it was."""
    import MySQLdb

    q, qpk = mysql.quote_ident(table), mysql.quote_ident(pk)
    cols = ", ".join(mysql.quote_ident(c) for c in part.column_names)
    insert = f"INSERT INTO {q} ({cols}) VALUES ({', '.join(['%s'] * part.num_columns)})"
    cur = conn.cursor()
    inserted = present = 0
    failures: list[str] = []
    digests = dict(zip(part.column(pk).to_pylist(), expected, strict=True))
    for batch in part.to_batches(max_chunksize=RESTORE_ROWS_PER_STATEMENT):
        rows = list(zip(*(c.to_pylist() for c in batch.columns), strict=True))
        key_at = part.column_names.index(pk)
        keys = [r[key_at] for r in rows]
        cur.execute(f"SELECT {qpk} FROM {q} WHERE {qpk} IN ({', '.join(['%s'] * len(keys))})", keys)
        there = {r[0] for r in cur.fetchall()}
        present += len(there)
        rows = [r for r in rows if r[key_at] not in there]
        if not rows:
            continue
        try:
            cur.executemany(insert, rows)
            if conn.warning_count():
                raise _RowRefused
            done = [r[key_at] for r in rows]
        except (MySQLdb.Error, _RowRefused):
            conn.rollback()
            done = []
            for row in rows:
                cur.execute("SAVEPOINT tf_row")
                try:
                    cur.execute(insert, row)
                    if conn.warning_count():
                        cur.execute("SHOW WARNINGS")
                        raise _RowRefused("; ".join(f"{w[1]}: {w[2]}" for w in cur.fetchall()))
                    done.append(row[key_at])
                except (MySQLdb.Error, _RowRefused) as exc:
                    cur.execute("ROLLBACK TO SAVEPOINT tf_row")
                    failures.append(f"{pk} {row[key_at]}: {exc}")
        if done:
            cur.execute(
                f"SELECT {qpk}, {digest} FROM {q} WHERE {qpk} IN ({', '.join(['%s'] * len(done))})", done
            )
            differ = [k for k, d in cur.fetchall() if int(d) != digests[k]]
            if differ:
                cur.execute(f"DELETE FROM {q} WHERE {qpk} IN ({', '.join(['%s'] * len(differ))})", differ)
                failures.extend(
                    f"{pk} {k}: MySQL stored it differently from its archived copy (a trigger, default or "
                    "conversion changed it); taken out again"
                    for k in differ
                )
            inserted += len(done) - len(differ)
        conn.commit()
    return inserted, present, failures


def _in_range(partition: str, start: date, end: date) -> bool:
    if len(partition) == 7:  # monthly
        return start.strftime("%Y-%m") <= partition <= end.strftime("%Y-%m")
    return start.isoformat() <= partition <= end.isoformat()


def restore(
    settings: Settings | None = None,
    *,
    table: str,
    start: date,
    end: date,
    policy: Policy | None = None,
    lock_wait: float = 30,
) -> RestoreResult:
    """Copy archived rows with ``start <= time column <= end`` back into MySQL; idempotent.

    Rows whose key is in MySQL already are skipped. Each insert runs in strict SQL mode with
    foreign keys checked; a row MySQL refuses, warns about or stores differently from its copy is
    not restored, and RestoreError names every such row (with ``.result``); those rows stay in
    the archive, which gives up only rows MySQL now holds exactly as archived."""
    import pyarrow as pa
    import pyarrow.compute as pc

    settings = settings or Settings.from_env()
    policy = policy or load_policy(settings.policy_path)
    tp = policy.table(table)
    mysql.check_policy(policy, settings.mysql_url)
    done_to = {PiiTreatment.HASH: "hashed", PiiTreatment.DROP: "dropped"}
    altered = {c: done_to[v] for c, v in tp.archive.pii.items() if v != PiiTreatment.KEEP}
    if altered:
        raise TierflowError(
            f"table {table!r}: column(s) "
            + ", ".join(f"{c} ({how})" for c, how in sorted(altered.items()))
            + " are not kept as they were in the archive (PII policy), so its rows cannot be "
            "restored into MySQL as they were. Read them with `tierflow query` instead."
        )
    if end < start:
        raise TierflowError(f"restore {table}: --to {end} is before --from {start}")
    result = RestoreResult(table)
    started = time.monotonic()
    store = store_for(settings)
    archiver = TableArchiver(
        settings, policy, tp, run_id=uuid.uuid4().hex, as_of=utc_now(), store=store, lock_wait=lock_wait
    )
    with archiver:
        archiver.prepare()
        ledger: Ledger = archiver.ledger
        entries = [
            e
            for e in ledger.entries(table, ("deleted",))
            if any(_in_range(p, start, end) for p in e.partitions)
        ]
        keys = sorted(
            {k for e in entries for k in e.object_keys if _in_range(layout.partition_of(k), start, end)}
        )
        record = ledger.insert(
            LedgerEntry(
                table_name=table,
                batch_name=f"restore-{start}-{end}",
                state="restoring",
                run_id=archiver.run_id,
                owner_run=archiver.run_id,
                object_keys=keys,
                partitions=sorted({layout.partition_of(k) for k in keys}),
            )
        )
        lo = datetime.combine(start, datetime.min.time())
        hi = datetime.combine(end + timedelta(days=1), datetime.min.time())
        conn = mysql.connect(settings.mysql_url, autocommit=False)
        nullable = nullable_columns(settings.mysql_url, table)
        try:
            archiver.check_lock("restoring rows into MySQL")
            conn.cursor().execute(f"SET SESSION sql_mode = '{RESTORE_SQL_MODE}'")
            conn.cursor().execute("SET SESSION foreign_key_checks = 1")
            for key in keys:
                if not store.exists(key):
                    continue
                part = layout.read_object(store, key)
                times = part.column(tp.time_column)
                if pa.types.is_date(times.type):
                    times = pc.cast(times, pa.timestamp("us"))
                lo_s, hi_s = pa.scalar(lo, pa.timestamp("us")), pa.scalar(hi, pa.timestamp("us"))
                part = part.filter(pc.and_(pc.greater_equal(times, lo_s), pc.less(times, hi_s)))
                if ROW_HASH_COLUMN in part.column_names:
                    part = part.drop_columns([ROW_HASH_COLUMN])
                result.objects += 1
                result.rows_read += part.num_rows
                if not part.num_rows:
                    continue
                present = [c for c in archiver.columns if c.name in part.column_names]
                inserted, skipped, failed = _insert_exactly(
                    conn,
                    table,
                    tp.primary_key,
                    part,
                    digest_sql(present, tp, nullable),
                    row_digests(part, present, tp),
                )
                result.rows_inserted += inserted
                result.rows_skipped += skipped
                result.failures.extend(failed)
        finally:
            conn.close()
        for entry in entries:  # each object that gave rows up is rewritten, then retired
            archiver.reconcile(entry)
        error = None
        if result.failures:
            error = f"{len(result.failures)} row(s) not restored:\n" + "\n".join(result.failures)
        ledger.update(record, state="restored", row_count=result.rows_inserted, error=error and error[:60000])
    result.seconds = time.monotonic() - started
    log.info(
        "archive.restore",
        table=table,
        start=str(start),
        end=str(end),
        inserted=result.rows_inserted,
        skipped=result.rows_skipped,
        failed=len(result.failures),
    )
    if result.failures:
        shown = "\n".join(f"  {line}" for line in result.failures[:20])
        more = f"\n  ... and {len(result.failures) - 20} more" if len(result.failures) > 20 else ""
        raise RestoreError(
            f"restore {table} {start}..{end}: {result.rows_inserted:,} rows restored, "
            f"{len(result.failures):,} not, and they stay in the archive:\n{shown}{more}\n"
            "Fix what MySQL refused (a missing parent row, a narrowed column) and restore again.",
            result,
        )
    return result


# verify -------------------------------------------------------------------------------------------
@dataclass
class VerifyReport:
    entries: int = 0
    objects: int = 0
    rows: int = 0
    pending: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)  # past retention: the lifecycle rule removed them

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_archive(
    settings: Settings | None = None,
    *,
    tables: list[str] | None = None,
    policy: Policy | None = None,
    now: datetime | None = None,
) -> VerifyReport:
    """Re-check every finished ledger entry against the store and against MySQL.

    Objects of an entry older than its table's retention (plus a day: S3 expires at the next
    midnight UTC) are the lifecycle rule's to remove: missing, they are reported as expired, not
    as a problem. ``now`` defaults to MySQL's clock in UTC, the one the ledger's timestamps come from.
    """
    settings = settings or Settings.from_env()
    policy = policy or load_policy(settings.policy_path)
    mysql.check_policy(policy, settings.mysql_url)
    store = store_for(settings)
    report = VerifyReport()
    with Ledger(settings.mysql_url) as ledger, mysql.connection(settings.mysql_url) as conn:
        cur = conn.cursor()
        if now is None:
            cur.execute("SELECT UTC_TIMESTAMP(6)")
            now = cur.fetchone()[0]
        for tp in policy.select(tables):
            expires_after = timedelta(days=retention_days(tp) + 1)
            for entry in ledger.entries(tp.name):
                name = f"{tp.name} {entry.batch_name} (ledger id {entry.id})"
                if entry.state in {"extracted", "uploaded", "verified", "restoring"}:
                    report.pending.append(
                        f"{name}: {entry.state}, unfinished; the next archive run completes it"
                    )
                    continue
                if entry.state != "deleted":
                    continue
                report.entries += 1
                missing = [k for k in entry.object_keys if not store.exists(k)]
                written = entry.updated_at or entry.created_at  # the last write is after the upload
                if missing and written is not None and now >= written + expires_after:
                    report.expired.append(
                        f"{name}: {len(missing)} object(s) past the {retention_days(tp)}-day retention, "
                        "removed by the lifecycle rule"
                    )
                    continue
                if missing:
                    report.problems.append(f"{name}: object(s) missing from the store: {missing[:3]}")
                    continue
                back = layout.read_objects(store, entry.object_keys)
                count, checksum = content_checksum(back) if back is not None else (0, "0")
                report.objects += len(entry.object_keys)
                report.rows += count
                if (count, checksum) != (entry.row_count, entry.checksum):
                    report.problems.append(
                        f"{name}: store has {count} rows / checksum {checksum}, ledger says "
                        f"{entry.row_count} / {entry.checksum}"
                    )
                    continue
                if back is None:
                    continue
                keys = back.column(tp.primary_key).to_pylist()
                present: list[Any] = []
                for i in range(0, len(keys), 5000):
                    chunk = keys[i : i + 5000]
                    cur.execute(
                        f"SELECT {mysql.quote_ident(tp.primary_key)} FROM {mysql.quote_ident(tp.name)} "
                        f"WHERE {mysql.quote_ident(tp.primary_key)} IN ({', '.join(['%s'] * len(chunk))})",
                        chunk,
                    )
                    present.extend(r[0] for r in cur.fetchall())
                if present:
                    report.problems.append(
                        f"{name}: {len(present)} archived-and-deleted row(s) are still in MySQL "
                        f"(sample keys {present[:5]}); run `tierflow archive run --table {tp.name}` "
                        "to reconcile"
                    )
    return report
