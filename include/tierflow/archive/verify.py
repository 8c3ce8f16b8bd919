"""``archive verify``: every ledger entry's objects are present and hold what the ledger says."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tierflow.archive import layout
from tierflow.archive.ledger import Ledger
from tierflow.archive.lifecycle import retention_days
from tierflow.archive.schema import content_checksum
from tierflow.config import Settings
from tierflow.log import get_logger
from tierflow.policy import Policy, load_policy
from tierflow.stores import mysql
from tierflow.stores.objects import store_for

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
