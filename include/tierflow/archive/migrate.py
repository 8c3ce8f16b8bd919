"""``archive migrate``: rewrite objects written in an older encoding in today's, so that external
engines (Athena, Redshift Spectrum, Spark) read every object through the generated catalog.

Older objects hold unsigned integers (``UINT_8``…``UINT_64``) and INT64 timestamps; today's hold
signed integers and INT96 timestamps (docs/archive.md, "Types and readers"). The archive's own
readers map old objects on read; external engines do not. Each old object is rewritten through the
order every rewrite follows (new object written and verified, ledger switched, old object retired)
under the table's lock, with its rows and checksum unchanged.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from tierflow.archive.archiver import TableArchiver
from tierflow.clock import utc_now
from tierflow.config import Settings
from tierflow.log import get_logger
from tierflow.policy import Policy, load_policy
from tierflow.stores import mysql
from tierflow.stores.objects import ObjectStore, store_for

log = get_logger("tierflow.archive")

FINISHED = ("verified", "deleted", "restored")


@dataclass
class MigrateReport:
    dry_run: bool = False
    entries: int = 0
    objects: int = 0
    old_objects: list[str] = field(default_factory=list)
    rewritten: int = 0

    def as_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "entries": self.entries,
            "objects": self.objects,
            "old_objects": len(self.old_objects),
            "rewritten": self.rewritten,
        }


def old_encoding(data: bytes) -> list[str]:
    """The columns of a Parquet object that are not in today's encoding: unsigned integers and
    timestamps stored as INT64 (today: signed integers, INT96 timestamps). Reads only the footer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.ParquetFile(pa.BufferReader(data)).schema
    old = []
    for i in range(len(schema)):
        column = schema.column(i)
        logical = column.logical_type
        if logical.type == "INT" and not json.loads(logical.to_json()).get("isSigned", True):
            old.append(column.name)
        elif logical.type == "TIMESTAMP" and column.physical_type == "INT64":
            old.append(column.name)
    return old


def _old_keys(store: ObjectStore, keys: list[str]) -> list[str]:
    return [
        k for k in keys if k.endswith(".parquet") and store.exists(k) and old_encoding(store.get_bytes(k))
    ]


def migrate_encoding(
    settings: Settings | None = None,
    *,
    tables: list[str] | None = None,
    policy: Policy | None = None,
    dry_run: bool = False,
    lock_wait: float = 30,
) -> MigrateReport:
    """Rewrite every finished entry's objects that are in an older encoding (``dry_run``: only
    count them). Idempotent: a second run finds nothing to do."""
    settings = settings or Settings.from_env()
    policy = policy or load_policy(settings.policy_path)
    mysql.check_policy(policy, settings.mysql_url)
    store = store_for(settings)
    report = MigrateReport(dry_run=dry_run)
    for tp in policy.select(tables):
        if not tp.archive.enabled:
            continue
        archiver = TableArchiver(
            settings, policy, tp, run_id=uuid.uuid4().hex, as_of=utc_now(), store=store, lock_wait=lock_wait
        )
        with archiver:
            for entry in archiver.ledger.entries(tp.name, FINISHED):
                report.entries += 1
                report.objects += len(entry.object_keys)
                old = _old_keys(store, entry.object_keys)
                report.old_objects.extend(old)
                if old and not dry_run:
                    report.rewritten += archiver.reencode(entry, old)
                    log.info("archive.migrate.entry", table=tp.name, entry=entry.id, objects=len(old))
    log.info("archive.migrate", **report.as_dict())
    return report
