"""The per-table pipeline: lock, resume, select, gate, write, verify, delete, in batches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tierflow import memory, quality
from tierflow.archive import layout
from tierflow.archive.delete import _NOT_LOADED, DeleteProtocol, identity_number_sql
from tierflow.archive.digest import digest_sql, nullable_columns, salt_statement, with_digests
from tierflow.archive.errors import ArchiveLockedError, LockLostError, VerificationError
from tierflow.archive.faults import crash_point
from tierflow.archive.ledger import Ledger, LedgerEntry, LedgerOwnershipError
from tierflow.archive.rewrite import ObjectRewrites
from tierflow.archive.schema import (
    ROW_HASH_COLUMN,
    SourceColumn,
    archived_schema,
    check_drift,
    content_checksum,
    fingerprint,
    row_hash_expression,
    schema_columns,
    select_expression,
    shape,
    source_columns,
)
from tierflow.archive.stages import Stages
from tierflow.archive.summary import TableSummary
from tierflow.config import ENV_VARS, Settings
from tierflow.errors import TierflowError
from tierflow.log import get_logger
from tierflow.policy import Policy, TablePolicy
from tierflow.stores import mysql
from tierflow.stores.objects import ObjectStore
from tierflow.urls import redact
from tierflow.warehouse import loaded_versions

if TYPE_CHECKING:
    from tierflow.warehouse import LoadedVersions

log = get_logger("tierflow.archive")

UPLOAD_THREADS = 8


@dataclass
class _Selection:
    rows: Any  # the Arrow rows to archive (rows the warehouse has not loaded are left out)
    scanned: int  # rows the keyset page read: a short page is the last one
    last_key: int  # where the next page starts


@dataclass
class _Batch:
    entry: LedgerEntry
    rows: Any  # the shaped Arrow table
    parts: dict[str, Any]


class TableArchiver(DeleteProtocol, ObjectRewrites):
    """Archives one table under its MySQL named lock. Build with ``open``; use as a context."""

    def __init__(
        self,
        settings: Settings,
        policy: Policy,
        table: TablePolicy,
        *,
        run_id: str,
        as_of: datetime,
        store: ObjectStore,
        batch_rows: int | None = None,
        lock_wait: float = 0,
        gate: bool = True,
        progress: Callable[[str, int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.table = table
        self.run_id = run_id
        self.as_of = as_of
        self.cutoff = table.cutoff(as_of)
        self.store = store
        self.batch_rows = batch_rows or policy.archive.batch_rows
        self.delete_rows = policy.archive.delete_batch_rows
        self.delete_workers = policy.archive.delete_workers
        self._summary_lock = threading.Lock()
        self.lock_wait = lock_wait
        self.gate_on = gate
        self.progress = progress
        self.database = mysql.database_of(settings.mysql_url)
        self.summary = TableSummary(table.name, cutoff=self.cutoff)
        self.q = mysql.quote_ident(table.name)
        self.pk = mysql.quote_ident(table.primary_key)
        self.conn = mysql.connect(settings.mysql_url, autocommit=True)
        # the session that holds the table lock does nothing else, so that any stage's thread can
        # ask it whether the lock is still held
        self.lock_conn = mysql.connect(settings.mysql_url, autocommit=True)
        self._lock_mutex = threading.Lock()
        self.lock_id: int | None = None
        self.lock_name = f"tierflow_archive.{self.database}.{table.name}"[:64]
        self.loaded: LoadedVersions | None = None  # the warehouse's rows, for warehouse tables

    # lock -------------------------------------------------------------------------------------
    def __enter__(self) -> TableArchiver:
        cur = self.lock_conn.cursor()
        cur.execute("SELECT GET_LOCK(%s, %s), CONNECTION_ID()", (self.lock_name, self.lock_wait))
        got, self.lock_id = cur.fetchone()
        if got != 1:
            self.conn.close()
            self.lock_conn.close()
            raise ArchiveLockedError(
                f"table {self.table.name!r} is being archived by another run (MySQL lock "
                f"{self.lock_name!r} is held); this run leaves it alone. Wait for the other run "
                "or pass a longer --lock-wait."
            )
        self.ledger = Ledger(self.settings.mysql_url)
        return self

    def __exit__(self, *exc: object) -> None:
        import MySQLdb

        try:
            self.lock_conn.cursor().execute("DO RELEASE_LOCK(%s)", (self.lock_name,))
        except MySQLdb.Error:  # the lock's session is gone, and the lock with it
            pass
        finally:
            self.lock_conn.close()
            self.conn.close()
            self.ledger.close()  # set by __enter__, which ran: __exit__ runs only after it
            if self.loaded:
                self.loaded.__exit__()

    def _lock_lost(self, step: str) -> LockLostError:
        return LockLostError(
            f"table {self.table.name!r}: run {self.run_id} no longer holds MySQL lock "
            f"{self.lock_name!r} (its session ended, or another run took the table over), so it "
            f"stopped before {step}. Nothing more was deleted; the next run resumes from the ledger."
        )

    def check_lock(self, step: str) -> None:
        """Raise LockLostError unless this run's session still holds the table lock."""
        import MySQLdb

        with self._lock_mutex:
            try:
                cur = self.lock_conn.cursor()
                cur.execute("SELECT IS_USED_LOCK(%s)", (self.lock_name,))
                holder = cur.fetchone()[0]
            except MySQLdb.Error:
                holder = None
        if holder is None or holder != self.lock_id:
            raise self._lock_lost(step)

    def own(self, entry: LedgerEntry, ledger: Ledger | None = None) -> LedgerEntry:
        """Take over ``entry`` (an unfinished batch of a run that stopped, or a finished one
        whose objects change) before acting on it."""
        if entry.owner_run != self.run_id:
            previous = entry.owner_run
            (ledger or self.ledger).claim(entry, self.run_id)
            log.info("archive.entry.claimed", table=self.table.name, entry=entry.id, previous_owner=previous)
        return entry

    # schema -----------------------------------------------------------------------------------
    def prepare(self) -> None:
        hashed = [c for c, how in self.table.archive.pii.items() if how.value == "hash"]
        real_aws = self.settings.archive_uri.startswith("s3://") and not self.settings.aws_endpoint_url
        if hashed and real_aws and not self.settings.pii_key:
            # phone numbers and PANs are small spaces: hashed with the public default salt they
            # can be reversed by brute force
            raise TierflowError(
                f"table {self.table.name!r} hashes {', '.join(hashed)} into an S3 archive, but "
                f"{ENV_VARS['pii_key']} is not set: set it to a long secret (the same one the warehouse "
                "uses) before archiving PII to AWS"
            )
        self.columns: list[SourceColumn] = source_columns(self.settings.mysql_url, self.table.name)
        self.schema = archived_schema(self.columns, self.table)
        check_drift(self.table, self.schema, self.ledger.last_schema_columns(self.table.name))
        self.fingerprint = fingerprint(self.schema)
        fks = mysql.foreign_keys(self.settings.mysql_url)
        self.child_guards = ["NOT " + guard for guard in mysql.child_rows_exist(fks, self.table.name)]
        exprs = [select_expression(c) for c in self.columns if c.name in self.schema.names]
        if not self.table.change_column:
            exprs.append(f"{row_hash_expression(self.columns, 't')} AS {ROW_HASH_COLUMN}")
        self.select_list = ", ".join(exprs)
        identity_number_sql(self.table, self.columns)  # a change column must be a time or a version
        self.nullable = nullable_columns(self.settings.mysql_url, self.table.name)
        self.digest_sql = digest_sql(self.columns, self.table, self.nullable)
        if self.table.warehouse and self.loaded is None:
            self.loaded = self._open_warehouse()

    def _open_warehouse(self) -> LoadedVersions | None:
        """The warehouse's view of this table; None when there is no warehouse database (a
        deployment without a warehouse: rows are archived unchecked, and the log says so). A
        warehouse that cannot be reached fails the table here, before anything is written."""
        loaded = loaded_versions(self.settings.warehouse_url, self.table, aws=self.settings).__enter__()
        if loaded.present:
            return loaded
        log.warning(
            "archive.warehouse.unchecked",
            table=self.table.name,
            warehouse=redact(self.settings.warehouse_url),
            reason="the warehouse database does not exist",
        )
        return None

    def session_setup(self) -> list[tuple[str, tuple]]:
        """Statements a delete connection runs first: the PII salt, when the digest hashes."""
        hashed = any(how.value == "hash" for how in self.table.archive.pii.values())
        return [salt_statement(self.settings.pii_hash_key)] if hashed else []

    def _cutoff_sql(self) -> str:
        return f"'{self.cutoff:%Y-%m-%d %H:%M:%S.%f}'"

    def cold_range(self) -> tuple[int, int | None, int | None]:
        cur = self.conn.cursor()
        tc = mysql.quote_ident(self.table.time_column)
        cur.execute(
            f"SELECT COUNT(*), MIN({self.pk}), MAX({self.pk}) FROM {self.q} WHERE {tc} < {self._cutoff_sql()}"
        )
        n, lo, hi = cur.fetchone()
        return int(n), lo, hi

    # select -----------------------------------------------------------------------------------
    def select_batch(self, after: int, upto: int) -> _Selection:
        """The next keyset page of cold rows after key ``after``. For a table loaded into the
        warehouse only rows ``raw.<table>`` holds at their current version are kept; pages
        whose every row is held back are passed over."""
        import pyarrow.compute as pc

        tc = mysql.quote_ident(self.table.time_column)
        while True:
            where = [
                f"t.{self.pk} > {int(after)}",
                f"t.{self.pk} <= {int(upto)}",
                f"t.{tc} < {self._cutoff_sql()}",
                *self.child_guards,
            ]
            sql = (
                f"SELECT {self.select_list} FROM {self.q} AS t WHERE {' AND '.join(where)} "
                f"ORDER BY t.{self.pk} LIMIT {int(self.batch_rows)}"
            )
            raw = mysql.read_arrow(self.settings.mysql_url, sql)
            if not raw.num_rows:
                return _Selection(raw, 0, after)
            last = int(pc.max(raw.column(self.table.primary_key)).as_py())
            if self.loaded is None:
                return _Selection(raw, raw.num_rows, last)
            kept = self._loaded_only(raw)
            if kept.num_rows or raw.num_rows < self.batch_rows:
                return _Selection(kept, raw.num_rows, last)
            after = last

    def _loaded_only(self, raw):
        """The rows of ``raw`` that the warehouse holds at the version MySQL has now."""
        import pyarrow as pa

        keys = raw.column(self.table.primary_key).to_pylist()
        versions = self.loaded.versions(min(keys), max(keys))
        current = raw.column(self.loaded.column).to_pylist()
        mask = pa.array([versions.get(k, _NOT_LOADED) == v for k, v in zip(keys, current, strict=True)])
        kept = raw.filter(mask)
        if kept.num_rows < raw.num_rows:
            with self._summary_lock:
                self.summary.unloaded += raw.num_rows - kept.num_rows
        return kept

    # one batch --------------------------------------------------------------------------------
    def extract(self, raw) -> _Batch:
        rows = shape(raw, self.columns, self.table, self.schema, pii_key=self.settings.pii_hash_key)
        keys = rows.column(self.table.primary_key)
        import pyarrow.compute as pc

        kmin, kmax = int(pc.min(keys).as_py()), int(pc.max(keys).as_py())
        name = layout.batch_name(kmin, kmax)
        parts = layout.split_by_partition(rows, self.table)
        count, checksum = content_checksum(rows)
        # object names need the entry's id: they are recorded before the upload writes them
        entry = LedgerEntry(
            table_name=self.table.name,
            batch_name=name,
            state="extracted",
            run_id=self.run_id,
            owner_run=self.run_id,
            cutoff=self.cutoff,
            row_count=count,
            key_min=kmin,
            key_max=kmax,
            checksum=checksum,
            partitions=list(parts),
            schema_fingerprint=self.fingerprint,
            schema_columns=schema_columns(self.schema),
        )
        self.ledger.insert(entry)
        crash_point("extracted")
        return _Batch(entry, rows, parts)

    def upload(self, batch: _Batch) -> None:
        """Encode, record the objects' names in the ledger, then create them (never replace)."""
        entry = batch.entry
        options = layout.put_options(self.policy)
        with ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="put") as pool:
            datas = list(
                pool.map(lambda p: layout.parquet_bytes(p, self.policy, self.table), batch.parts.values())
            )
            keys = [
                layout.object_key(self.database, self.table.name, partition, entry.number, data)
                for partition, data in zip(batch.parts, datas, strict=True)
            ]
            total = sum(len(d) for d in datas)
            # the manifest beside the data describes the upload it completes
            manifest = layout.manifest(
                {**entry.as_dict(), "object_keys": keys, "bytes": total, "state": "uploaded"}
            )
            manifest_key = layout.manifest_key(self.database, self.table.name, entry.number, manifest)
            # named in the ledger before they exist: a kill leaves no object that no entry names
            self.ledger.update(entry, object_keys=keys, manifest_key=manifest_key, bytes=total)

            def put(item: tuple[str, bytes]) -> None:
                self.store.put_new(*item, options)
                crash_point("object_put")

            # uploads are I/O bound (one object per partition): overlap them
            list(pool.map(put, [*zip(keys, datas, strict=True), (manifest_key, manifest)]))
        try:
            self.ledger.update(entry, state="uploaded")
        except LedgerOwnershipError:
            # another run took the entry over (and may have discarded it) while this one wrote:
            # the objects just written belong to no live entry
            self._delete_unreferenced([*keys, manifest_key], self.ledger)
            raise
        crash_point("uploaded")

    def verify(self, entry: LedgerEntry):
        """Read every object back from the store; compare count + checksum with the ledger."""
        back = layout.read_objects(self.store, entry.object_keys)
        count, checksum = content_checksum(back) if back is not None else (0, "0")
        if (count, checksum) != (entry.row_count, entry.checksum):
            raise VerificationError(
                f"table {self.table.name!r} batch {entry.batch_name}: the store returned {count} "
                f"rows with checksum {checksum}, but {entry.row_count} rows with checksum "
                f"{entry.checksum} were extracted. No row of this batch is deleted; rerun to "
                "rewrite it."
            )
        self.ledger.update(entry, state="verified")
        crash_point("verified")
        return back

    # resume -----------------------------------------------------------------------------------
    def resume(self) -> None:
        for entry in self.ledger.with_loose_objects(self.table.name):
            self.clear_loose(entry, self.ledger)
        for entry in self.ledger.entries(self.table.name, ("extracted", "uploaded", "verified", "restoring")):
            self.own(entry)
            self.summary.resumed += 1
            if entry.state == "restoring":  # a restore was killed after (some) inserts
                touched = set(entry.object_keys)
                for done in self.ledger.entries(self.table.name, ("deleted",)):
                    if touched & set(done.object_keys):
                        self.reconcile(done)
                self.ledger.update(entry, state="restored", error="completed by a later archive run")
                continue
            log.info("archive.resume", table=self.table.name, batch=entry.batch_name, state=entry.state)
            if entry.state == "extracted":
                self.discard(entry, "abandoned", "run stopped before upload finished; re-extracted")
                continue
            if entry.state == "uploaded":
                try:
                    rows = self.verify(entry)
                except VerificationError as exc:
                    self.discard(entry, "abandoned", str(exc))
                    continue
            else:
                # an object can be gone only because a killed reconcile emptied it (every row of
                # it had stayed in MySQL): the rest of the batch is finished from what remains
                present = [k for k in entry.object_keys if self.store.exists(k)]
                rows = layout.read_objects(self.store, present) if present else None
                if rows is None:
                    self.reconcile(entry)
                    self.ledger.update(entry, state="deleted", deleted_rows=entry.row_count)
                    continue
            self.finish_delete(entry, rows)

    # the loop ---------------------------------------------------------------------------------
    def run(self, deadline: float | None = None) -> TableSummary:
        """Archive the table's cold rows batch by batch, stages overlapping.

        While batch N is written, gated and verified, batch N+1 is being read from MySQL and
        batch N-1 deleted (its chunks on ``delete_workers`` connections). Each batch is
        'verified' in the ledger before its delete starts, and at most one batch is being
        deleted, so a kill anywhere resumes from the ledger.
        """
        s = self.summary
        self.prepare()
        self.resume()
        with s.timing("select"):
            n, lo, hi = self.cold_range()
        if not n or lo is None or hi is None:
            s.status = "nothing to do" if not s.resumed else "ok"
            return s
        started = time.monotonic()
        with Stages(self) as stages:
            try:
                self._batches(stages, int(lo) - 1, hi, deadline)
            finally:
                s.wall_seconds += time.monotonic() - started
        return s

    def _batches(self, stages: Stages, after: int, hi: int, deadline: float | None) -> None:
        """The batch loop: select (one ahead), write + gate, verify, hand over to the delete."""
        s = self.summary
        raw: _Selection | None
        batch: _Batch | None
        stages.throttle.wait(deadline)
        with s.timing("select"):
            raw = self.select_batch(after, hi)
        while raw is not None and raw.rows.num_rows:
            self.check_lock("the next batch")
            if deadline and time.monotonic() > deadline:
                s.status = "stopped"
                s.error = "stopped at --max-runtime; the next run continues"
                log.info("archive.max_runtime", table=self.table.name, rows=s.rows)
                break
            with s.timing("write"):
                batch = self.extract(raw.rows)
                selected = raw.scanned
                # a short batch is the last one: no row after it passes the cold filter
                if selected >= self.batch_rows:
                    stages.throttle.wait(deadline)
                    stages.next_select = stages.select.submit(self.select_batch, raw.last_key, hi)
                raw = None
                gate_job = stages.gate.submit(self._gate, batch.rows) if self.gate_on else None
                self.upload(batch)
            back = self._checked(batch, gate_job)
            stages.hand_over(batch.entry, back)
            self._record(batch.entry, selected)
            batch = back = None
            memory.release()
            if stages.next_select is None:
                break
            with s.timing("select"):
                raw, stages.next_select = stages.next_select.result(), None
        stages.wait_for_delete()

    def _checked(self, batch: _Batch, gate_job):
        """The batch's gate result, then its objects read back and verified: the keys and
        digests of the copy read back (all the delete needs). A failure discards the batch."""
        with self.summary.timing("gate"):
            try:
                if gate_job is not None:
                    gate_job.result()
            except quality.QualityGateError as exc:
                self.discard(batch.entry, "failed", str(exc))
                raise
        with self.summary.timing("verify"):
            try:
                return with_digests(self.verify(batch.entry), self.columns, self.table)
            except VerificationError as exc:
                self.discard(batch.entry, "failed", str(exc))
                raise

    def _record(self, entry: LedgerEntry, selected: int) -> None:
        s = self.summary
        s.rows += entry.row_count
        s.bytes += entry.bytes
        s.files += len(entry.object_keys)
        s.batches += 1
        s.partitions = sorted(set(s.partitions) | set(entry.partitions))
        if self.progress:
            self.progress(self.table.name, selected)
        log.info(
            "archive.batch",
            table=self.table.name,
            batch=entry.batch_name,
            rows=entry.row_count,
            bytes=entry.bytes,
        )

    def _gate(self, rows) -> None:
        quality.gate(
            "archive",
            self.table.name,
            rows,
            key_column=self.table.primary_key,
            root=self.settings.expectations_dir,
        )
