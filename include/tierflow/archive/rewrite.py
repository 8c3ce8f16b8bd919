"""Object rewrites and retirement: the only code that removes an archived object."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tierflow.archive import layout
from tierflow.archive.errors import VerificationError
from tierflow.archive.faults import crash_point
from tierflow.archive.ledger import Ledger, LedgerEntry
from tierflow.archive.schema import (
    content_checksum,
)
from tierflow.log import get_logger

if TYPE_CHECKING:
    from tierflow.policy import Policy, TablePolicy
    from tierflow.stores.objects import ObjectStore

log = get_logger("tierflow.archive")


class ObjectRewrites:
    """Where rows leave an archived object (restore, kept rows, a failed batch): write the new
    object, verify it, switch the ledger, and only then retire the old one (a mixin of
    ``TableArchiver``)."""

    # the archiver's state and methods this mixin uses (set and defined by TableArchiver)
    policy: Policy
    table: TablePolicy
    store: ObjectStore
    ledger: Ledger
    conn: Any
    database: str
    q: str
    pk: str
    check_lock: Callable[[str], None]
    own: Callable[..., LedgerEntry]

    def reconcile(self, entry: LedgerEntry, ledger: Ledger | None = None, conn=None) -> int:
        """Drop from the archive every row of this entry still present in MySQL.

        After the delete, a row still in MySQL was changed since extraction (or restored): it lives
        in MySQL and is archived again later, so the archive must not keep the stale copy. Each
        object that loses rows is replaced by a new one (a new name) holding the rest.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        ledger = ledger or self.ledger
        self.own(entry, ledger)
        pk = self.table.primary_key
        removed = 0
        keep: list[str] = []
        tables = []
        writes: dict[str, tuple[bytes, Any]] = {}
        retire: list[str] = []
        for key in entry.object_keys:
            if not self.store.exists(key):  # expired by the lifecycle rule, or lost: nothing to keep
                continue
            part = layout.read_object(self.store, key)
            present = self.present_keys(part.column(pk).to_pylist(), conn)
            if present:
                gone = pa.array(sorted(present), part.schema.field(pk).type)
                part = part.filter(pc.invert(pc.is_in(part.column(pk), gone)))
                removed += len(present)
                retire.append(key)
                if part.num_rows:
                    data = layout.parquet_bytes(part, self.policy, self.table)
                    key = layout.object_key(
                        self.database, self.table.name, layout.partition_of(key), entry.number, data
                    )
                    writes[key] = (data, part)
            if part.num_rows:
                keep.append(key)
                tables.append(part)
        if len(keep) == len(entry.object_keys) and not retire:
            return 0
        self._switch_objects(entry, ledger, keep, tables, writes, retire)
        return removed

    def reencode(self, entry: LedgerEntry, old_keys: list[str], ledger: Ledger | None = None) -> int:
        """Rewrite the entry's objects named in ``old_keys`` (written in an older encoding) in
        today's encoding, same rows, through the same order: new objects written and verified,
        the ledger switched, the old ones retired. Returns the number of objects rewritten."""
        ledger = ledger or self.ledger
        self.own(entry, ledger)
        keep, tables, writes, retire = [], [], {}, []
        for key in entry.object_keys:
            if not self.store.exists(key):  # expired by the lifecycle rule: nothing to rewrite
                continue
            part = layout.read_object(self.store, key)  # old types mapped to today's on read
            if key in old_keys:
                data = layout.parquet_bytes(part, self.policy, self.table)
                retire.append(key)
                key = layout.object_key(
                    self.database, self.table.name, layout.partition_of(key), entry.number, data
                )
                writes[key] = (data, part)
            keep.append(key)
            tables.append(part)
        if not retire:
            return 0
        rewritten = len(retire)
        self._switch_objects(entry, ledger, keep, tables, writes, retire, same_rows=True)
        return rewritten

    def _switch_objects(
        self,
        entry: LedgerEntry,
        ledger: Ledger,
        keep: list[str],
        tables: list,
        writes: dict[str, tuple[bytes, Any]],
        retire: list[str],
        *,
        same_rows: bool = False,
    ) -> None:
        """The entry's new object list (``keep``, holding ``tables``), its manifest, and the
        write-verify-switch-retire of ``writes`` in place of ``retire``. ``same_rows``: the rows
        must be the entry's as the ledger records them (a rewrite that only changes encoding)."""
        import pyarrow as pa

        rows = pa.concat_tables(tables, promote_options="default") if tables else None
        count, checksum = content_checksum(rows) if rows is not None else (0, "0")
        if same_rows and (count, checksum) != (entry.row_count, entry.checksum):
            raise VerificationError(
                f"table {self.table.name!r} batch {entry.batch_name}: its objects read back differ "
                "from the ledger's row count or checksum, so they are not rewritten; run "
                "`tierflow archive verify`."
            )
        changes: dict[str, Any] = {
            "object_keys": keep,
            "row_count": count,
            "checksum": checksum,
            "bytes": sum(len(writes[k][0]) if k in writes else self.store.size(k) or 0 for k in keep),
            "partitions": [layout.partition_of(k) for k in keep],
        }
        manifest = layout.manifest({**entry.as_dict(), **changes})
        changes["manifest_key"] = layout.manifest_key(self.database, self.table.name, entry.number, manifest)
        writes[changes["manifest_key"]] = (manifest, None)
        if entry.manifest_key:
            retire.append(entry.manifest_key)
        self.replace_objects(entry, ledger, writes, retire, **changes)

    def replace_objects(
        self,
        entry: LedgerEntry,
        ledger: Ledger,
        writes: dict[str, tuple[bytes, Any]],
        retire: list[str],
        **changes: Any,
    ) -> None:
        """Rows leave objects in this order: name the new objects in the ledger (pending), create
        and verify them, switch the entry to them, then retire the old ones. A kill at any point
        leaves every row in an object the entry references; the next run clears what is loose."""
        options = layout.put_options(self.policy)
        self.check_lock("writing new objects")
        ledger.update(entry, pending_keys=sorted(writes))
        for key, (data, _) in writes.items():
            self.store.put_new(key, data, options)
            crash_point("rewrite_put")
        for key, (data, rows) in writes.items():
            back = self.store.get_bytes(key)
            same = back == data
            if same and rows is not None:
                same = content_checksum(layout.parquet_table(back)) == content_checksum(rows)
            if not same:
                raise VerificationError(
                    f"table {self.table.name!r} batch {entry.batch_name}: the store returned other "
                    f"content for the new object {key}; the entry still references its old objects, "
                    "nothing was retired. Rerun to rewrite it."
                )
        crash_point("rewrite_verified")
        self.check_lock("switching the ledger to the new objects")
        ledger.update(
            entry, pending_keys=[], retiring_keys=sorted(set(entry.retiring_keys) | set(retire)), **changes
        )
        crash_point("rewrite_switched")
        self.retire(entry, ledger)

    def retire(self, entry: LedgerEntry, ledger: Ledger) -> None:
        """Remove the objects the entry no longer references (its ``retiring_keys``)."""
        if entry.retiring_keys:
            self.check_lock("retiring old objects")
            self._delete_unreferenced(entry.retiring_keys, ledger)
            ledger.update(entry, retiring_keys=[])

    def _delete_unreferenced(self, keys: list[str], ledger: Ledger) -> None:
        """Delete ``keys`` from the store, except an object that an entry whose rows may have left
        MySQL (verified or deleted) still references: that object is the entry's, whoever asks."""
        for key in keys:
            owners = ledger.referencing(self.table.name, key, ("verified", "deleted"))
            if owners:
                log.warning("archive.object.kept", table=self.table.name, key=key, referenced_by=owners)
                continue
            self.store.delete(key)
            crash_point("retire_object")

    def clear_loose(self, entry: LedgerEntry, ledger: Ledger) -> None:
        """After a kill: pending objects (never switched to) and retiring ones are removed."""
        self.own(entry, ledger)
        named = {*entry.object_keys, entry.manifest_key}
        if entry.pending_keys:
            loose = set(entry.retiring_keys) | {k for k in entry.pending_keys if k not in named}
            ledger.update(entry, pending_keys=[], retiring_keys=sorted(loose))
        self.retire(entry, ledger)

    def present_keys(self, keys: list[int], conn=None) -> set[int]:
        present: set[int] = set()
        cur = (conn or self.conn).cursor()
        for start in range(0, len(keys), 5000):
            chunk = keys[start : start + 5000]
            cur.execute(
                f"SELECT {self.pk} FROM {self.q} WHERE {self.pk} IN ({', '.join(['%s'] * len(chunk))})", chunk
            )
            present.update(r[0] for r in cur.fetchall())
        return present

    def discard(self, entry: LedgerEntry, state: str, error: str | None = None) -> None:
        """Close a batch whose rows are all still in MySQL, then remove its objects (its own: no
        other entry can have their names)."""
        self.check_lock("discarding a batch")
        own = [k for k in [*entry.object_keys, entry.manifest_key] if k]
        self.ledger.update(
            entry,
            state=state,
            error=error[:60000] if error else None,
            retiring_keys=sorted(set(entry.retiring_keys) | set(own)),
        )
        self.retire(entry, self.ledger)
