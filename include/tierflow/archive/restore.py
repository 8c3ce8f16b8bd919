"""``archive restore``: archived rows back into MySQL.

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

from tierflow.archive import layout
from tierflow.archive.archiver import TableArchiver
from tierflow.archive.digest import digest_sql, nullable_columns, row_digests
from tierflow.archive.ledger import Ledger, LedgerEntry
from tierflow.archive.schema import ROW_HASH_COLUMN
from tierflow.clock import utc_now
from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.log import get_logger
from tierflow.policy import PiiTreatment, Policy, TablePolicy, load_policy
from tierflow.stores import mysql
from tierflow.stores.objects import store_for

log = get_logger("tierflow.archive")


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


def _restorable(policy: Policy, table: str) -> TablePolicy:
    tp = policy.table(table)
    done_to = {PiiTreatment.HASH: "hashed", PiiTreatment.DROP: "dropped"}
    altered = {c: done_to[v] for c, v in tp.archive.pii.items() if v != PiiTreatment.KEEP}
    if altered:
        raise TierflowError(
            f"table {table!r}: column(s) "
            + ", ".join(f"{c} ({how})" for c, how in sorted(altered.items()))
            + " are not kept as they were in the archive (PII policy), so its rows cannot be "
            "restored into MySQL as they were. Read them with `tierflow query` instead."
        )
    return tp


def _record_restore(
    archiver: TableArchiver, table: str, start: date, end: date
) -> tuple[list[LedgerEntry], LedgerEntry]:
    """The deleted entries with rows in ``start..end``, and the 'restoring' entry that names the
    objects the restore reads (inserted in the ledger before any row is)."""
    ledger = archiver.ledger
    entries = [
        e for e in ledger.entries(table, ("deleted",)) if any(_in_range(p, start, end) for p in e.partitions)
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
    return entries, record


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
    settings = settings or Settings.from_env()
    policy = policy or load_policy(settings.policy_path)
    tp = _restorable(policy, table)
    mysql.check_policy(policy, settings.mysql_url)
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
        entries, record = _record_restore(archiver, table, start, end)
        keys = record.object_keys
        _insert_objects(archiver, keys, start, end, result)
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
        raise _not_restored(result, start, end)
    return result


def _insert_objects(
    archiver: TableArchiver, keys: list[str], start: date, end: date, result: RestoreResult
) -> None:
    """Insert the rows of each object that fall in ``start..end``, in strict mode, one MySQL
    transaction per object."""
    settings, tp, table = archiver.settings, archiver.table, archiver.table.name
    lo = datetime.combine(start, datetime.min.time())
    hi = datetime.combine(end + timedelta(days=1), datetime.min.time())
    conn = mysql.connect(settings.mysql_url, autocommit=False)
    nullable = nullable_columns(settings.mysql_url, table)
    try:
        archiver.check_lock("restoring rows into MySQL")
        conn.cursor().execute(f"SET SESSION sql_mode = '{RESTORE_SQL_MODE}'")
        conn.cursor().execute("SET SESSION foreign_key_checks = 1")
        for key in keys:
            if not archiver.store.exists(key):
                continue
            part = _rows_in_range(layout.read_object(archiver.store, key), tp, lo, hi)
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


def _rows_in_range(part, tp: TablePolicy, lo: datetime, hi: datetime):
    import pyarrow as pa
    import pyarrow.compute as pc

    times = part.column(tp.time_column)
    if pa.types.is_date(times.type):
        times = pc.cast(times, pa.timestamp("us"))
    lo_s, hi_s = pa.scalar(lo, pa.timestamp("us")), pa.scalar(hi, pa.timestamp("us"))
    part = part.filter(pc.and_(pc.greater_equal(times, lo_s), pc.less(times, hi_s)))
    if ROW_HASH_COLUMN in part.column_names:
        part = part.drop_columns([ROW_HASH_COLUMN])
    return part


def _not_restored(result: RestoreResult, start: date, end: date) -> RestoreError:
    shown = "\n".join(f"  {line}" for line in result.failures[:20])
    more = f"\n  ... and {len(result.failures) - 20} more" if len(result.failures) > 20 else ""
    return RestoreError(
        f"restore {result.table} {start}..{end}: {result.rows_inserted:,} rows restored, "
        f"{len(result.failures):,} not, and they stay in the archive:\n{shown}{more}\n"
        "Fix what MySQL refused (a missing parent row, a narrowed column) and restore again.",
        result,
    )
