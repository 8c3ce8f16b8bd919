"""``archive verify``: every ledger entry's objects are present and hold what the ledger says."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tierflow.archive import layout
from tierflow.archive.ledger import Ledger, LedgerEntry
from tierflow.archive.lifecycle import retention_days
from tierflow.archive.schema import content_checksum
from tierflow.config import Settings
from tierflow.log import get_logger
from tierflow.policy import Policy, TablePolicy, load_policy
from tierflow.stores import mysql
from tierflow.stores.objects import ObjectStore, store_for

log = get_logger("tierflow.archive")


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
            for entry in ledger.entries(tp.name):
                _verify_entry(report, store, cur, tp, entry, now)
    return report


def _verify_entry(
    report: VerifyReport, store: ObjectStore, cur: Any, tp: TablePolicy, entry: LedgerEntry, now: datetime
) -> None:
    """One ledger entry: pending, expired, or its objects hold its rows and MySQL none of them."""
    name = f"{tp.name} {entry.batch_name} (ledger id {entry.id})"
    if entry.state in {"extracted", "uploaded", "verified", "restoring"}:
        report.pending.append(f"{name}: {entry.state}, unfinished; the next archive run completes it")
        return
    if entry.state != "deleted":
        return
    report.entries += 1
    missing = [k for k in entry.object_keys if not store.exists(k)]
    if missing:
        written = entry.updated_at or entry.created_at  # the last write is after the upload
        if written is not None and now >= written + timedelta(days=retention_days(tp) + 1):
            report.expired.append(
                f"{name}: {len(missing)} object(s) past the {retention_days(tp)}-day retention, "
                "removed by the lifecycle rule"
            )
        else:
            report.problems.append(f"{name}: object(s) missing from the store: {missing[:3]}")
        return
    back = layout.read_objects(store, entry.object_keys)
    count, checksum = content_checksum(back) if back is not None else (0, "0")
    report.objects += len(entry.object_keys)
    report.rows += count
    if (count, checksum) != (entry.row_count, entry.checksum):
        report.problems.append(
            f"{name}: store has {count} rows / checksum {checksum}, ledger says "
            f"{entry.row_count} / {entry.checksum}"
        )
        return
    if back is None:
        return
    present = _still_in_mysql(cur, tp, back.column(tp.primary_key).to_pylist())
    if present:
        report.problems.append(
            f"{name}: {len(present)} archived-and-deleted row(s) are still in MySQL "
            f"(sample keys {present[:5]}); run `tierflow archive run --table {tp.name}` to reconcile"
        )


def _still_in_mysql(cur: Any, tp: TablePolicy, keys: list[Any]) -> list[Any]:
    """The keys among ``keys`` that MySQL still holds, looked up 5,000 at a time."""
    pk, table = mysql.quote_ident(tp.primary_key), mysql.quote_ident(tp.name)
    present: list[Any] = []
    for i in range(0, len(keys), 5000):
        chunk = keys[i : i + 5000]
        placeholders = ", ".join(["%s"] * len(chunk))
        cur.execute(f"SELECT {pk} FROM {table} WHERE {pk} IN ({placeholders})", chunk)
        present.extend(r[0] for r in cur.fetchall())
    return present
