"""The archive's other commands: plan (preview), restore (archive -> MySQL), verify, lifecycle rules.

Restore takes the same per-table MySQL lock as a run, inserts with INSERT IGNORE (existing primary
keys are skipped) and then removes the restored rows from the archive, so every row lives in
exactly one of MySQL or the archive and a later run re-archives it without duplicates.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from tierflow.archive import layout
from tierflow.archive.guards import check_as_of, utc_now
from tierflow.archive.ledger import Ledger, LedgerEntry
from tierflow.archive.run import TableArchiver
from tierflow.archive.schema import ROW_HASH_COLUMN, content_checksum
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
    from tierflow.archive.run import ordered_tables

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
    """Copy archived rows with ``start <= time column <= end`` back into MySQL; idempotent."""
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
                object_keys=keys,
                partitions=sorted({layout.partition_of(k) for k in keys}),
            )
        )
        lo = datetime.combine(start, datetime.min.time())
        hi = datetime.combine(end + timedelta(days=1), datetime.min.time())
        conn = mysql.connect(settings.mysql_url, autocommit=False)
        try:
            cur = conn.cursor()
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
                cols = ", ".join(mysql.quote_ident(c) for c in part.column_names)
                sql = (
                    f"INSERT IGNORE INTO {mysql.quote_ident(table)} ({cols}) "
                    f"VALUES ({', '.join(['%s'] * part.num_columns)})"
                )
                for batch in part.to_batches(max_chunksize=5000):
                    rows = list(zip(*(c.to_pylist() for c in batch.columns), strict=True))
                    result.rows_inserted += cur.executemany(sql, rows) or 0
                    conn.commit()
        finally:
            conn.close()
        result.rows_skipped = result.rows_read - result.rows_inserted
        for entry in entries:
            archiver.reconcile(entry)
        ledger.update(record, state="restored", row_count=result.rows_inserted)
    result.seconds = time.monotonic() - started
    log.info(
        "archive.restore",
        table=table,
        start=str(start),
        end=str(end),
        inserted=result.rows_inserted,
        skipped=result.rows_skipped,
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


def retention_days(table: Any) -> int:
    """The table's archive retention in days, as its S3 lifecycle rule expires objects."""
    return int(round(table.archive.retention_years * 365))


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
    as a problem. ``now`` defaults to MySQL's clock, the one the ledger's timestamps come from.
    """
    settings = settings or Settings.from_env()
    policy = policy or load_policy(settings.policy_path)
    mysql.check_policy(policy, settings.mysql_url)
    store = store_for(settings)
    report = VerifyReport()
    with Ledger(settings.mysql_url) as ledger, mysql.connection(settings.mysql_url) as conn:
        cur = conn.cursor()
        if now is None:
            cur.execute("SELECT NOW()")
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


# lifecycle ----------------------------------------------------------------------------------------
def lifecycle_rules(settings: Settings, policy: Policy) -> list[dict[str, Any]]:
    """S3 lifecycle rules from the policy: Glacier IR after N days, expiry after retention."""
    from urllib.parse import urlsplit

    prefix = urlsplit(settings.archive_uri).path.strip("/")
    database = mysql.database_of(settings.mysql_url)
    rules = []
    for t in policy.archived_tables:
        key_prefix = "/".join(p for p in (prefix, layout.table_prefix(database, t.name)) if p) + "/"
        rule: dict[str, Any] = {
            "ID": f"tierflow-{database}-{t.name}",
            "Filter": {"Prefix": key_prefix},
            "Status": "Enabled",
            "Expiration": {"Days": retention_days(t)},
        }
        if policy.archive.glacier_ir_after_days:
            rule["Transitions"] = [
                {"Days": policy.archive.glacier_ir_after_days, "StorageClass": "GLACIER_IR"}
            ]
        rules.append(rule)
    return rules


def apply_lifecycle(settings: Settings, policy: Policy) -> list[dict[str, Any]]:
    """Put the lifecycle rules on the archive bucket and return what S3 reports back."""
    from tierflow.stores.objects import S3Store

    store = store_for(settings)
    if not isinstance(store, S3Store):
        raise TierflowError(f"lifecycle rules apply to an s3:// archive, not {settings.archive_uri}")
    rules = lifecycle_rules(settings, policy)
    store.client.put_bucket_lifecycle_configuration(
        Bucket=store.bucket, LifecycleConfiguration={"Rules": rules}
    )
    return store.client.get_bucket_lifecycle_configuration(Bucket=store.bucket)["Rules"]
