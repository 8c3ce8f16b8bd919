"""The bulk loader: generated tables go to MariaDB as CSV through ``LOAD DATA LOCAL INFILE``.

Secondary indexes are dropped before the load and built afterwards by sort, on loader threads
that run while the next table is being generated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from queue import Queue

import pyarrow as pa
import pyarrow.csv as pacsv

from tierflow.stores import mysql

LOAD_ORDER = [
    "customers",
    "loans",
    "emi_schedules",
    "loan_transactions",
    "user_device_apps",
    "user_device_sms",
    "communications",
    "communication_events",
    "api_request_logs",
]


@dataclass
class TableLoad:
    table: str
    rows: int
    seconds: float
    index_seconds: float = 0.0  # of ``seconds``: building the deferred secondary indexes


def write_csv(table: pa.Table, path: Path) -> None:
    options = pacsv.WriteOptions(include_header=False, null_string="NULL", batch_size=65536)
    pacsv.write_csv(table, str(path), options)


def _load(conn, table: str, columns: list[str], path: Path) -> None:
    cols = ", ".join(mysql.quote_ident(c) for c in columns)
    cur = conn.cursor()
    cur.execute(
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {mysql.quote_ident(table)} CHARACTER SET utf8mb4 "
        "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
        f"LINES TERMINATED BY '\\n' ({cols})",
        (str(path),),
    )
    warnings = conn.show_warnings() if cur.rowcount >= 0 else ()
    if warnings:
        raise RuntimeError(f"loading {table}: {warnings[:3]}")
    conn.commit()


def _secondary_indexes(conn, table: str) -> list[str]:
    """The table's plain (non-unique) secondary index definitions, as in SHOW CREATE TABLE."""
    cur = conn.cursor()
    cur.execute(f"SHOW CREATE TABLE {mysql.quote_ident(table)}")
    ddl = cur.fetchone()[1]
    return [line.strip().rstrip(",") for line in ddl.splitlines() if line.strip().startswith("KEY `")]


def defer_indexes(conn, tables: list[str]) -> dict[str, list[str]]:
    """Drop secondary indexes before a bulk load; building them afterwards by sort is much faster.

    Indexes that back a foreign key cannot be dropped and stay in place.
    """
    import MySQLdb

    deferred: dict[str, list[str]] = {}
    cur = conn.cursor()
    for table in tables:
        for definition in _secondary_indexes(conn, table):
            name = definition.split("`")[1]
            try:
                cur.execute(f"ALTER TABLE {mysql.quote_ident(table)} DROP INDEX {mysql.quote_ident(name)}")
            except MySQLdb.OperationalError:
                continue  # needed by a foreign key
            deferred.setdefault(table, []).append(definition)
    return deferred


def restore_indexes(conn, table: str, definitions: list[str]) -> None:
    if definitions:
        adds = ", ".join(f"ADD {d}" for d in definitions)
        conn.cursor().execute(f"ALTER TABLE {mysql.quote_ident(table)} {adds}")


class IndexSchedule:
    """When a table's deferred indexes may be built: once it and every child table are loaded.

    A load into a child table holds a metadata lock on its foreign-key parents, which an ALTER
    of the parent would wait for: a parent's indexes are built once its last child is loaded.
    """

    def __init__(self, foreign_keys: Iterable[tuple], tables: list[str]) -> None:
        self.parents: dict[str, set[str]] = {}
        self.unloaded_children: dict[str, set[str]] = {name: set() for name in tables}
        for child, _, parent, _ in foreign_keys:
            if child != parent and child in self.unloaded_children and parent in self.unloaded_children:
                self.parents.setdefault(child, set()).add(parent)
                self.unloaded_children[parent].add(child)
        self.loaded: dict[str, TableLoad] = {}
        self._lock = threading.Lock()

    def loaded_now(self, load: TableLoad) -> list[str]:
        """Record ``load``; the tables whose indexes can be built now."""
        name = load.table
        with self._lock:
            self.loaded[name] = load
            ready = [name] if not self.unloaded_children[name] else []
            for parent in self.parents.get(name, ()):
                self.unloaded_children[parent].discard(name)
                if not self.unloaded_children[parent] and parent in self.loaded:
                    ready.append(parent)
        return ready


class BulkLoader:
    """Loader threads, each on its own connection, fed CSV files through a short queue.

    ``on_indexed`` is called (on a loader thread) with each table's load once its indexes are
    built. The first error stops further loads and is kept in ``errors``.
    """

    def __init__(
        self,
        url: str,
        deferred: dict[str, list[str]],
        schedule: IndexSchedule,
        on_indexed: Callable[[TableLoad], None],
        *,
        loaders: int = 2,
    ) -> None:
        self.url = url
        self.deferred = deferred
        self.schedule = schedule
        self.on_indexed = on_indexed
        self.errors: list[BaseException] = []
        self._queue: Queue = Queue(maxsize=2)
        self._threads = [
            threading.Thread(target=self._run, name=f"seed-loader-{i}", daemon=True) for i in range(loaders)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def put(self, name: str, columns: list[str], rows: int, path: Path) -> None:
        """Queue ``path`` for loading into ``name``; the file is deleted once loaded."""
        self._queue.put((name, columns, rows, path))

    def close(self) -> None:
        """Let every queued file be loaded, then stop the threads."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        conn = mysql.connect(self.url, local_infile=1)
        try:
            cur = conn.cursor()
            cur.execute("SET SESSION foreign_key_checks = 0")
            cur.execute("SET SESSION unique_checks = 0")
            while (item := self._queue.get()) is not None:
                self._load_one(conn, *item)
        finally:
            conn.close()

    def _load_one(self, conn, name: str, columns: list[str], rows: int, path: Path) -> None:
        try:
            if not self.errors:
                t0 = time.perf_counter()
                _load(conn, name, columns, path)
                for ready in self.schedule.loaded_now(TableLoad(name, rows, time.perf_counter() - t0)):
                    self._build_indexes(conn, ready)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the main thread
            self.errors.append(exc)
        finally:
            path.unlink(missing_ok=True)

    def _build_indexes(self, conn, table: str) -> None:
        t1 = time.perf_counter()
        restore_indexes(conn, table, self.deferred.get(table, []))
        done = self.schedule.loaded[table]
        done.index_seconds = time.perf_counter() - t1
        done.seconds += done.index_seconds
        self.on_indexed(done)
