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
from tierflow.policy import Policy, load_policy
from tierflow.stores import mysql
from tierflow.stores.mysql_graph import ordered_tables
from tierflow.stores.objects import store_for

log = get_logger("tierflow.archive")

<<<<<<< HEAD
=======
UPLOAD_THREADS = 8
PHASES = ("select", "gate", "write", "verify", "delete")
CRASH_ENV = "TIERFLOW_ARCHIVE_CRASH_AT"
PAUSE_ENV = "TIERFLOW_ARCHIVE_PAUSE_AT"  # test hook: phase:seconds
_crash_hits: dict[str, int] = {}


class ArchiveLockedError(TierflowError):
    """Another archive run holds this table's named lock."""


class LockLostError(TierflowError):
    """The run no longer holds its table lock (or another run owns the entry): it stops."""


class ThrottledError(TierflowError):
    """MySQL stayed busy (or a replica stayed behind) for longer than the throttle waits."""


class VerificationError(TierflowError):
    """What the store gives back differs from what was extracted: nothing is deleted."""


def crash_point(name: str) -> None:
    """Test hook: ``TIERFLOW_ARCHIVE_CRASH_AT=phase[:n]`` kills the process (SIGKILL) there."""
    pause = os.environ.get(PAUSE_ENV, "")
    if pause.partition(":")[0] == name:
        time.sleep(float(pause.partition(":")[2] or 1))
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    phase, _, nth = spec.partition(":")
    if phase != name:
        return
    _crash_hits[name] = _crash_hits.get(name, 0) + 1
    if _crash_hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class TableSummary:
    table: str
    status: str = "ok"
    cutoff: datetime | None = None
    rows: int = 0
    deleted: int = 0
    kept_changed: int = 0
    unloaded: int = 0  # cold, but the warehouse has not loaded them at this version yet: kept
    held: int = 0  # dry run: past the cutoff but kept, a child row stays (as `archive plan` counts)
    bytes: int = 0
    files: int = 0
    batches: int = 0
    resumed: int = 0
    delete_fallbacks: int = 0
    wall_seconds: float = 0.0
    partitions: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    error: str | None = None
    # what made the table fail, for a caller that treats errors by kind (retry or not)
    failure: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status in {"ok", "dry-run", "stopped", "nothing to do"}

    @property
    def stops_the_run(self) -> bool:
        """Stopped at --max-runtime or by a throttle wait that never cleared: the tables after
        it are left for the next run."""
        return self.status in {"stopped", "throttled"}

    @property
    def total_seconds(self) -> float:
        """Elapsed time of the batch loop (phases overlap: the delete runs beside the next batch)."""
        return self.wall_seconds or sum(self.seconds.values())


@dataclass
class RunSummary:
    run_id: str
    as_of: datetime
    tables: list[TableSummary] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def render(self):
        from rich.table import Table

        table = Table(title=f"archive run {self.run_id[:8]} as of {self.as_of:%Y-%m-%d %H:%M}")
        for col in (
            "table",
            "status",
            "rows",
            "held",
            "unloaded",
            "deleted",
            "kept",
            "bytes",
            "files",
            *(f"{p} s" for p in PHASES),
            "rows/s",
        ):
            table.add_column(col, justify="left" if col in {"table", "status"} else "right")
        for t in self.tables:
            rate = t.rows / t.total_seconds if t.total_seconds else 0
            table.add_row(
                t.table,
                t.status,
                f"{t.rows:,}",
                f"{t.held:,}",
                f"{t.unloaded:,}",
                f"{t.deleted:,}",
                f"{t.kept_changed:,}",
                f"{t.bytes:,}",
                str(t.files),
                *(f"{t.seconds[p]:.2f}" for p in PHASES),
                f"{rate:,.0f}",
            )
        return table

    def errors(self) -> list[str]:
        return [f"{t.table}: {t.error}" for t in self.tables if not t.ok and t.error]

    def raise_for_failures(self) -> None:
        if not self.ok:
            raise TierflowError("archive run failed:\n" + "\n".join(self.errors()))


def archived_children(tables: list[TablePolicy], fks: list[tuple[str, str, str, str]]) -> dict[str, set[str]]:
    """For each of ``tables``, the names of its child tables among them (foreign keys)."""
    chosen = {t.name for t in tables}
    return {t.name: {c for c, _, p, _ in fks if p == t.name and c != p and c in chosen} for t in tables}


def ordered_tables(
    policy: Policy, names: list[str] | None, fks: list[tuple[str, str, str, str]]
) -> list[TablePolicy]:
    """Archived tables, children before parents (from MySQL's foreign keys), else policy order."""
    selected = [t for t in policy.select(names) if t.archive.enabled]
    children = archived_children(selected, fks)
    ordered: list[TablePolicy] = []
    pending = list(selected)
    while pending:
        done = {t.name for t in ordered}
        ready = [t for t in pending if children[t.name] <= done]
        if not ready:  # a cycle: fall back to policy order for what is left
            ready = pending[:1]
        ordered.append(ready[0])
        pending.remove(ready[0])
    return ordered


def fk_waves(
    policy: Policy, names: list[str] | None, fks: list[tuple[str, str, str, str]], waves: int
) -> list[list[str]]:
    """Archived tables in ``waves`` groups by foreign-key depth: tables without archived children
    first, then their parents, and so on; a table deeper than the last wave joins it. Tables of
    one wave are independent of each other, so a wave may run them in any order."""
    ordered = ordered_tables(policy, names, fks)
    children = archived_children(ordered, fks)
    depth: dict[str, int] = {}
    for t in ordered:  # children come first, so their depth is known
        depth[t.name] = 1 + max((depth.get(k, 0) for k in children[t.name]), default=-1)
    out: list[list[str]] = [[] for _ in range(waves)]
    for t in ordered:
        out[min(depth[t.name], waves - 1)].append(t.name)
    return out


def replica_lag(url: str) -> float | None:
    """Seconds the replica at ``url`` is behind its source: ``inf`` when it is not applying (the
    lag is NULL), None when the server reports no replication status. SHOW REPLICA STATUS
    (MySQL 8.0.22+, MariaDB 10.5+), else SHOW SLAVE STATUS (older servers)."""
    import MySQLdb

    with mysql.connection(url, database=False, connect_timeout=5) as conn:
        cur = conn.cursor()
        try:
            cur.execute("SHOW REPLICA STATUS")
        except MySQLdb.ProgrammingError:
            cur.execute("SHOW SLAVE STATUS")
        row = cur.fetchone()
        if not row:
            return None
        status = dict(zip([d[0] for d in cur.description], row, strict=False))
    lag = status.get("Seconds_Behind_Source", status.get("Seconds_Behind_Master"))
    return float("inf") if lag is None else float(lag)


class Throttle:
    """Pauses while MySQL is busy (Threads_running) or replicas lag, per the policy's limits."""

    def __init__(self, policy: Policy, conn) -> None:
        self.limits = policy.database.throttle
        self.conn = conn
        self.batches = 0
        self.paused_seconds = 0.0
        self._not_replicas: set[str] = set()

    def _threads_running(self) -> int:
        cur = self.conn.cursor()
        cur.execute("SHOW GLOBAL STATUS LIKE 'Threads_running'")
        row = cur.fetchone()
        return int(row[1]) if row else 0

    def _replica_lag(self) -> float:
        """The worst lag (seconds) of the configured replicas. A replica that cannot be reached or
        is not applying (the lag is NULL: its SQL or IO thread stopped) counts as lagging without
        end, so the run waits for it; one that reports no replication status is not a replica
        (an Aurora reader's lag shows on the writer, not here) and is logged and ignored."""
        import MySQLdb

        worst = 0.0
        for url in self.limits.replica_urls:
            try:
                lag = replica_lag(url)
            except (MySQLdb.Error, ServiceUnavailable) as exc:
                log.warning("throttle.replica_unreachable", replica=redact(url), error=str(exc))
                lag = float("inf")
            if lag is None:
                if url not in self._not_replicas:
                    self._not_replicas.add(url)
                    log.warning("throttle.not_a_replica", replica=redact(url))
                continue
            worst = max(worst, lag)
        return worst

    def wait(self, deadline: float | None) -> None:
        """Return once MySQL and the replicas are within the limits, or ``deadline`` passed;
        raise ThrottledError after ``max_wait_seconds`` of waiting in one go."""
        self.batches += 1
        if self.batches % self.limits.check_every_batches:
            return
        waited = 0.0
        while True:
            running, lag = self._threads_running(), self._replica_lag()
            if running <= self.limits.max_threads_running and lag <= self.limits.max_replica_lag_seconds:
                return
            if deadline and time.monotonic() > deadline:
                return
            if waited >= self.limits.max_wait_seconds:
                log.warning(
                    "throttle.wait.exhausted", threads_running=running, replica_lag=lag, seconds=waited
                )
                raise ThrottledError(
                    f"MySQL stayed over the throttle limits for {waited:g}s (Threads_running "
                    f"{running} > {self.limits.max_threads_running} or replica lag {lag:g}s > "
                    f"{self.limits.max_replica_lag_seconds:g}s): the run stopped between batches "
                    "with every finished batch deleted and nothing half done; the next run "
                    "continues. Raise database.throttle.max_wait_seconds to wait longer."
                )
            log.info(
                "throttle.pause", threads_running=running, replica_lag=lag, seconds=self.limits.pause_seconds
            )
            time.sleep(self.limits.pause_seconds)
            self.paused_seconds += self.limits.pause_seconds
            waited += self.limits.pause_seconds


_NOT_LOADED = object()  # no version equals it: a key the warehouse does not hold


def identity_number_sql(table: TablePolicy, columns: list[SourceColumn]) -> str:
    """SQL for a row's identity as an integer: the change column in microseconds (date/time
    types) or as is (integer versions), else the whole-row hash. Never NULL (NULL is -1)."""
    if not table.change_column:
        return row_hash_expression(columns)
    col = next((c for c in columns if c.name == table.change_column), None)
    if col is None:
        raise TierflowError(f"table {table.name!r}: change column {table.change_column!r} is not in MySQL")
    q = mysql.quote_ident(col.name)
    if col.data_type in {"datetime", "timestamp", "date"}:
        return f"IFNULL(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {q}), -1)"
    if col.data_type in {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}:
        return f"IFNULL({q}, -1)"
    raise TierflowError(
        f"table {table.name!r}: change column {col.name!r} is {col.column_type}; use a DATETIME, "
        "TIMESTAMP, DATE or integer version column, or remove change_column to compare whole rows"
    )


class DeleteWorkers:
    """``n`` MySQL connections (autocommit off) and a thread each: a batch's delete chunks run on
    them side by side. Chunks are independent transactions, so their order does not matter."""

    def __init__(self, url: str, n: int, setup: list[tuple[str, tuple]] | None = None) -> None:
        import queue

        self.n = max(1, n)
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._conns = [mysql.connect(url, autocommit=False) for _ in range(self.n)]
        for conn in self._conns:
            # No gap locks: neighbouring chunks on other connections do not wait on each other.
            # Safe because a range delete must remove exactly the rows the locking read counted
            # (a row inserted into the range in between makes the counts differ: rollback).
            conn.cursor().execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            for statement, params in setup or []:  # e.g. the PII salt the digest hashes with
                conn.cursor().execute(statement, params)
            self._idle.put(conn)
        self._pool = ThreadPoolExecutor(self.n, thread_name_prefix="delete") if self.n > 1 else None

    def _on_a_connection(self, fn: Callable, item: Any) -> Any:
        conn = self._idle.get()
        try:
            return fn(conn, item)
        finally:
            self._idle.put(conn)

    def map(self, fn: Callable, items: list) -> list:
        """``fn(conn, item)`` for every item; every item is finished before an error is raised."""
        if self._pool is None:
            return [self._on_a_connection(fn, item) for item in items]
        futures = [self._pool.submit(self._on_a_connection, fn, item) for item in items]
        results, error = [], None
        for future in futures:
            try:
                results.append(future.result())
            except BaseException as exc:  # noqa: BLE001 - re-raised once all chunks are done
                error = error or exc
        if error is not None:
            raise error
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for conn in self._conns:
            conn.close()


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


class TableArchiver:
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
        self.ledger: Ledger | None = None
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
            if self.ledger:
                self.ledger.close()
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

    def _fence(self, cur, entry_id: int) -> None:
        """Inside a delete transaction: the run holds the lock and owns the entry. The shared
        lock on the entry's ledger row makes a takeover (``Ledger.claim``) wait for this
        transaction, and every later one of this run see the new owner and stop."""
        cur.execute(
            f"SELECT owner_run, IS_USED_LOCK(%s) FROM {LEDGER_TABLE} WHERE id = %s LOCK IN SHARE MODE",
            (self.lock_name, entry_id),
        )
        row = cur.fetchone()
        if row is None or row[0] != self.run_id or row[1] != self.lock_id:
            raise self._lock_lost("a delete")

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
        if hashed and real_aws and not os.environ.get(PII_SALT_ENV):
            # phone numbers and PANs are small spaces: hashed with the public default salt they
            # can be reversed by brute force
            raise TierflowError(
                f"table {self.table.name!r} hashes {', '.join(hashed)} into an S3 archive, but "
                f"{PII_SALT_ENV} is not set: set it to a long secret (the same one the warehouse "
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
        loaded = LoadedVersions(self.settings.warehouse_url, self.table).__enter__()
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
        return [salt_statement()] if hashed else []

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
            raw = _read_arrow(self.settings.mysql_url, sql)
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
        rows = shape(raw, self.columns, self.table, self.schema)
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
                layout.object_key(self.database, self.table.name, partition, entry.id, data)
                for partition, data in zip(batch.parts, datas, strict=True)
            ]
            total = sum(len(d) for d in datas)
            # the manifest beside the data describes the upload it completes
            manifest = layout.manifest(
                {**entry.as_dict(), "object_keys": keys, "bytes": total, "state": "uploaded"}
            )
            manifest_key = layout.manifest_key(self.database, self.table.name, entry.id, manifest)
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

    def delete(self, entry: LedgerEntry, rows, workers: DeleteWorkers | None = None) -> tuple[int, list[int]]:
        """Delete rows still identical to the archived copy, in small transactions by PK.

        ``rows`` is the batch as read back from the store (or already reduced by
        ``with_digests``): each row's digest covers every archived column (``archive.digest``),
        computed here from the Parquet and by MySQL from the live row. The batch's archived keys
        (ascending) are cut into chunks of <= ``delete_batch_rows``, each deleted in its own
        transaction, on ``delete_workers`` connections side by side. Per chunk: lock the chunk's
        cold PK range (``... FOR UPDATE``, one range scan) and read back, computed by MySQL in
        exact decimal arithmetic, the count, sum of keys and sum of digests of the locked rows.
        When these equal the archived chunk's, one range ``DELETE`` with the same predicate
        removes the rows and must report exactly that many, else it is rolled back. Any
        difference (a row changed or differing from its copy in any column, added or gone, a new
        child row) takes the exact per-key path, which compares each row's digest and keeps the
        rows that differ: they stay in MySQL and the next run archives them again.
        """
        import pyarrow.compute as pc

        sql = self.digest_sql
        if DIGEST_COLUMN not in rows.column_names:
            # a batch resumed from an older schema is compared on the columns its copy has
            present = [c for c in self.columns if c.name in rows.column_names]
            if len(present) < len(self.columns):
                sql = digest_sql(present, self.table, self.nullable)
            rows = with_digests(rows, present, self.table)
        order = pc.sort_indices(rows.column(self.table.primary_key))
        keys = pc.take(rows.column(self.table.primary_key), order).to_pylist()
        digests = pc.take(rows.column(DIGEST_COLUMN), order).to_pylist()
        step = self.delete_rows
        chunks = [(keys[i : i + step], digests[i : i + step], sql) for i in range(0, len(keys), step)]
        own = workers is None
        workers = workers or DeleteWorkers(self.settings.mysql_url, 1, self.session_setup())
        try:
            self.check_lock("the delete")
            results = workers.map(partial(self._delete_chunk, entry_id=entry.id), chunks)
        finally:
            if own:
                workers.close()
        deleted, changed = 0, []
        for n, kept in results:
            deleted += n
            changed.extend(kept)
        return deleted, changed

    def _delete_chunk(
        self, conn, chunk: tuple[list[int], list[int], str], entry_id: int
    ) -> tuple[int, list[int]]:
        """One chunk in one transaction, tried again (up to 3 times) when MySQL picks it as a
        deadlock victim or its lock wait times out: (rows deleted, keys kept because changed)."""
        import MySQLdb

        for attempt in range(1, 4):
            try:
                return self._delete_chunk_once(conn, chunk, entry_id)
            except MySQLdb.OperationalError as exc:
                if exc.args[0] not in (1205, 1213) or attempt == 3:
                    raise
                log.warning("archive.delete.retry", table=self.table.name, error=str(exc), attempt=attempt)
                time.sleep(0.2 * attempt)
        raise AssertionError("unreachable")

    def _delete_chunk_once(
        self, conn, chunk: tuple[list[int], list[int], str], entry_id: int
    ) -> tuple[int, list[int]]:
        keys, digests, digest = chunk
        cur = conn.cursor()
        try:
            self._fence(cur, entry_id)
            n = self._delete_range(cur, keys, digests, digest)
            if n is not None:
                conn.commit()
                crash_point("delete_chunk")
                return n, []
            conn.rollback()
            with self._summary_lock:
                self.summary.delete_fallbacks += 1
            expected = dict(zip(keys, digests, strict=True))
            marks = ", ".join(["%s"] * len(keys))
            cur.execute(
                f"SELECT {self.pk}, {digest} FROM {self.q} WHERE {self.pk} IN ({marks}) FOR UPDATE",
                keys,
            )
            current = {int(k): int(v) for k, v in cur.fetchall()}
            same = [k for k, v in current.items() if expected.get(k) == v]
            changed = [k for k, v in current.items() if expected.get(k) != v]
            n = self._delete_keys(cur, same, changed) if same else 0
            conn.commit()
            crash_point("delete_chunk")
            return n, changed
        except BaseException:
            conn.rollback()
            raise

    def _delete_range(self, cur, keys: list[int], digests: list[int], digest: str) -> int | None:
        """The fast path: rows deleted, or None when the range is not exactly the archived rows.
        The digest includes the key, so (count, sum of keys, sum of digests) ties each row's
        content to its key; computing it in this locked read adds no statement to the chunk."""
        import MySQLdb

        in_range = (
            f"{self.pk} BETWEEN %s AND %s AND {mysql.quote_ident(self.table.time_column)} < "
            f"{self._cutoff_sql()}"
        )
        bounds = (keys[0], keys[-1])
        cur.execute(
            f"SELECT COUNT(*), SUM({self.pk}), SUM({digest}) FROM {self.q} WHERE {in_range} FOR UPDATE",
            bounds,
        )
        locked = tuple(int(v or 0) for v in cur.fetchone())
        if locked != (len(keys), sum(keys), sum(digests)):
            return None
        try:
            n = cur.execute(f"DELETE FROM {self.q} WHERE {in_range}", bounds)
        except MySQLdb.IntegrityError:  # a child row arrived after the parent was selected
            return None
        return n if n == len(keys) else None

    def _delete_keys(self, cur, keys: list[int], kept: list[int]) -> int:
        import MySQLdb

        try:
            return cur.execute(
                f"DELETE FROM {self.q} WHERE {self.pk} IN ({', '.join(['%s'] * len(keys))})", keys
            )
        except MySQLdb.IntegrityError:
            # a child row arrived after the parent was selected: keep that parent, delete the rest
            n = 0
            for k in keys:
                try:
                    n += cur.execute(f"DELETE FROM {self.q} WHERE {self.pk} = %s", (k,))
                except MySQLdb.IntegrityError:
                    kept.append(k)
            return n

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
                        self.database, self.table.name, layout.partition_of(key), entry.id, data
                    )
                    writes[key] = (data, part)
            if part.num_rows:
                keep.append(key)
                tables.append(part)
        if len(keep) == len(entry.object_keys) and not retire:
            return 0
        rows = pa.concat_tables(tables, promote_options="default") if tables else None
        count, checksum = content_checksum(rows) if rows is not None else (0, "0")
        changes: dict[str, Any] = {
            "object_keys": keep,
            "row_count": count,
            "checksum": checksum,
            "bytes": sum(len(writes[k][0]) if k in writes else self.store.size(k) or 0 for k in keep),
            "partitions": [layout.partition_of(k) for k in keep],
        }
        manifest = layout.manifest({**entry.as_dict(), **changes})
        changes["manifest_key"] = layout.manifest_key(self.database, self.table.name, entry.id, manifest)
        writes[changes["manifest_key"]] = (manifest, None)
        if entry.manifest_key:
            retire.append(entry.manifest_key)
        self.replace_objects(entry, ledger, writes, retire, **changes)
        return removed

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

    def finish_delete(
        self,
        entry: LedgerEntry,
        rows,
        ledger: Ledger | None = None,
        conn=None,
        workers: DeleteWorkers | None = None,
    ) -> None:
        """Delete, reconcile, mark ``deleted``. ``ledger``/``conn``/``workers``: the delete
        stage's own (it runs beside the next batch)."""
        ledger = ledger or self.ledger
        t = time.monotonic()
        deleted, changed = self.delete(entry, rows, workers)
        crash_point("deleted_rows")
        # rows gone before this pass (deleted by an earlier, killed attempt) count as deleted too
        if changed or deleted + len(changed) < entry.row_count:
            self.reconcile(entry, ledger, conn)
        ledger.update(entry, state="deleted", deleted_rows=entry.row_count)
        crash_point("deleted")
        with self._summary_lock:
            self.summary.deleted += deleted
            self.summary.kept_changed += len(changed)
            self.summary.seconds["delete"] += time.monotonic() - t

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
        t = time.monotonic()
        n, lo, hi = self.cold_range()
        s.seconds["select"] += time.monotonic() - t
        if not n:
            s.status = "nothing to do" if not s.resumed else "ok"
            return s
        url = self.settings.mysql_url
        throttle = Throttle(self.policy, self.conn)
        gate_pool = ThreadPoolExecutor(1, thread_name_prefix="gate")
        if self.gate_on:  # GX's import and context are built while the first batch is read
            gate_pool.submit(quality.warm_up, "archive", self.table.name)
        select_pool = ThreadPoolExecutor(1, thread_name_prefix="select")
        delete_pool = ThreadPoolExecutor(1, thread_name_prefix="finish-delete")
        delete_workers = DeleteWorkers(url, self.delete_workers, self.session_setup())
        delete_ledger = Ledger(url)
        delete_conn = mysql.connect(url, autocommit=True)
        pending_delete = None
        next_select = None
        started = time.monotonic()
        try:
            throttle.wait(deadline)
            t = time.monotonic()
            raw = self.select_batch(int(lo) - 1, hi)
            s.seconds["select"] += time.monotonic() - t
            while raw is not None and raw.rows.num_rows:
                self.check_lock("the next batch")
                if deadline and time.monotonic() > deadline:
                    s.status = "stopped"
                    s.error = "stopped at --max-runtime; the next run continues"
                    log.info("archive.max_runtime", table=self.table.name, rows=s.rows)
                    break
                t = time.monotonic()
                batch = self.extract(raw.rows)
                selected = raw.scanned
                # a short batch is the last one: no row after it passes the cold filter
                if selected >= self.batch_rows:
                    throttle.wait(deadline)
                    next_select = select_pool.submit(self.select_batch, raw.last_key, hi)
                raw = None
                gate_job = gate_pool.submit(self._gate, batch.rows) if self.gate_on else None
                self.upload(batch)
                s.seconds["write"] += time.monotonic() - t
                t = time.monotonic()
                try:
                    if gate_job is not None:
                        gate_job.result()
                except quality.QualityGateError as exc:
                    s.seconds["gate"] += time.monotonic() - t
                    self.discard(batch.entry, "failed", str(exc))
                    raise
                s.seconds["gate"] += time.monotonic() - t
                t = time.monotonic()
                try:
                    # only the key and the digest of the copy read back travel to the delete stage
                    back = with_digests(self.verify(batch.entry), self.columns, self.table)
                except VerificationError as exc:
                    self.discard(batch.entry, "failed", str(exc))
                    raise
                s.seconds["verify"] += time.monotonic() - t
                if pending_delete is not None:
                    pending_delete.result()
                pending_delete = delete_pool.submit(
                    self.finish_delete,
                    batch.entry,
                    back,
                    delete_ledger,
                    delete_conn,
                    delete_workers,
                )
                s.rows += batch.entry.row_count
                s.bytes += batch.entry.bytes
                s.files += len(batch.entry.object_keys)
                s.batches += 1
                s.partitions = sorted(set(s.partitions) | set(batch.entry.partitions))
                if self.progress:
                    self.progress(self.table.name, selected)
                log.info(
                    "archive.batch",
                    table=self.table.name,
                    batch=batch.entry.batch_name,
                    rows=batch.entry.row_count,
                    bytes=batch.entry.bytes,
                )
                batch = back = None
                memory.release()
                if next_select is None:
                    break
                t = time.monotonic()
                raw, next_select = next_select.result(), None
                s.seconds["select"] += time.monotonic() - t
            if pending_delete is not None:
                pending_delete.result()
        finally:
            gate_pool.shutdown(wait=True)
            select_pool.shutdown(wait=True)
            delete_pool.shutdown(wait=True)
            delete_workers.close()
            delete_ledger.close()
            delete_conn.close()
            s.wall_seconds += time.monotonic() - started
        return s

    def _gate(self, rows) -> None:
        quality.gate("archive", self.table.name, rows, key_column=self.table.primary_key)


def _read_arrow(url: str, sql: str):
    """Arrow straight from MySQL with connectorx (no Python row objects); MySQLdb as fallback."""
    try:
        import connectorx  # noqa: F401
    except ImportError:
        import pyarrow as pa

        with mysql.connection(url) as conn:
            cur = conn.cursor()
            cur.execute(sql)
            names = [d[0] for d in cur.description]
            return pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in cur.fetchall()])
    return mysql.read_arrow(url, sql)


def describe_failure(exc: BaseException) -> str:
    """A failure as a person reads it: tierflow's own errors say what to do; anything else (a
    driver, S3 or MySQL error) is named with its type, and nothing of the batch in hand was
    deleted, as every delete follows a verified ledger entry."""
    if isinstance(exc, TierflowError):
        return str(exc)
    return (
        f"{type(exc).__module__}.{type(exc).__name__}: {exc}. The batch in hand was not deleted; "
        "the next run resumes from the ledger."
    )

>>>>>>> s3-wh

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
    from tierflow.archive.ops import plan_tables

    settings = settings or Settings.from_env()
    policy = policy or load_policy(settings.policy_path)
    as_of = check_as_of(as_of)
    mysql.check_policy(policy, settings.mysql_url)
    run_id = uuid.uuid4().hex
    summary = RunSummary(run_id=run_id, as_of=as_of)
    started = time.monotonic()
    if dry_run:
        for plan in plan_tables(settings, policy, tables, as_of):
            summary.tables.append(
                TableSummary(plan.table, status="dry-run", cutoff=plan.cutoff, rows=plan.rows, held=plan.held)
            )
        summary.wall_seconds = time.monotonic() - started
        return summary
    counts = [(p.table, p.rows, p.total) for p in plan_tables(settings, policy, tables, as_of, detail=False)]
    check_run_sizes(
        counts, policy.archive.max_run_fraction, allowed=allow_large_run, source=policy.source or "the policy"
    )
    memory.bound_arenas()
    deadline = started + max_runtime if max_runtime else None
    store = store_for(settings)
    fks = mysql.foreign_keys(settings.mysql_url)
    for table in ordered_tables(policy, tables, fks):
        log.info("archive.table.start", table=table.name, run_id=run_id, as_of=str(as_of))
        archiver: TableArchiver | None = None
        try:
            archiver = TableArchiver(
                settings,
                policy,
                table,
                run_id=run_id,
                as_of=as_of,
                store=store,
                batch_rows=batch_rows,
                lock_wait=lock_wait,
                gate=gate,
                progress=progress,
            )
            with archiver:
                if on_table_start:
                    archiver.prepare()
                    on_table_start(table.name, archiver.cold_range()[0])
                result = archiver.run(deadline)
        except Exception as exc:  # noqa: BLE001 - one table's failure must not stop the others
            result = archiver.summary if archiver else TableSummary(table.name)
            result.status = {ArchiveLockedError: "locked", ThrottledError: "throttled"}.get(
                type(exc), "failed"
            )
            result.error = describe_failure(exc)
            result.failure = exc
            log.error("archive.table.failed", table=table.name, error=result.error)
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
