"""The delete protocol: rows leave MySQL in chunks, each in one transaction that first checks the
run still owns its lock and entry, then compares every row's digest with its archived copy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from tierflow.archive.digest import DIGEST_COLUMN, digest_sql, with_digests
from tierflow.archive.faults import crash_point
from tierflow.archive.ledger import LEDGER_TABLE, Ledger, LedgerEntry
from tierflow.archive.schema import (
    SourceColumn,
    row_hash_expression,
)
from tierflow.errors import TierflowError
from tierflow.log import get_logger
from tierflow.policy import TablePolicy
from tierflow.stores import mysql

if TYPE_CHECKING:
    import threading

    from tierflow.archive.summary import TableSummary
    from tierflow.config import Settings

log = get_logger("tierflow.archive")

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


class DeleteProtocol:
    """The delete of a verified batch, compared with MySQL on the whole row (a mixin of
    ``TableArchiver``: it uses the archiver's table, connections, lock and ledger)."""

    # the archiver's state and methods this mixin uses (set and defined by TableArchiver)
    settings: Settings
    table: TablePolicy
    ledger: Ledger
    run_id: str
    lock_name: str
    lock_id: int | None
    columns: list[SourceColumn]
    nullable: set[str]
    digest_sql: str
    delete_rows: int
    summary: TableSummary
    _summary_lock: threading.Lock
    q: str
    pk: str
    check_lock: Callable[[str], None]
    session_setup: Callable[[], list[tuple[str, tuple]]]
    reconcile: Callable[..., int]
    _lock_lost: Callable[[str], Exception]
    _cutoff_sql: Callable[[], str]

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
            results = workers.map(partial(self._delete_chunk, entry_id=entry.number), chunks)
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
