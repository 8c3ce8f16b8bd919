"""The threads and connections of one table's batch loop (``TableArchiver.run``)."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tierflow import quality
from tierflow.archive.delete import DeleteWorkers
from tierflow.archive.ledger import Ledger, LedgerEntry
from tierflow.archive.throttle import Throttle
from tierflow.stores import mysql


class Stages:
    """The threads and connections of one table's batch loop: the gate, the read-ahead select,
    the delete of the previous batch (one at a time) and its chunk workers."""

    def __init__(self, archiver) -> None:
        url = archiver.settings.mysql_url
        self.archiver = archiver
        self.throttle = Throttle(archiver.policy, archiver.conn)
        self.gate = ThreadPoolExecutor(1, thread_name_prefix="gate")
        if archiver.gate_on:  # GX's import and context are built while the first batch is read
            self.gate.submit(
                quality.warm_up, "archive", archiver.table.name, archiver.settings.expectations_dir
            )
        self.select = ThreadPoolExecutor(1, thread_name_prefix="select")
        self.delete = ThreadPoolExecutor(1, thread_name_prefix="finish-delete")
        self.workers = DeleteWorkers(url, archiver.delete_workers, archiver.session_setup())
        self.ledger = Ledger(url)
        self.conn = mysql.connect(url, autocommit=True)
        self.pending_delete: Future[Any] | None = None
        self.next_select: Future[Any] | None = None

    def hand_over(self, entry: LedgerEntry, back) -> None:
        """Start the delete of a verified batch once the previous one has finished."""
        self.wait_for_delete()
        self.pending_delete = self.delete.submit(
            self.archiver.finish_delete, entry, back, self.ledger, self.conn, self.workers
        )

    def wait_for_delete(self) -> None:
        if self.pending_delete is not None:
            pending, self.pending_delete = self.pending_delete, None
            pending.result()

    def __enter__(self) -> Stages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.shutdown(wait=True)
        self.select.shutdown(wait=True)
        self.delete.shutdown(wait=True)
        self.workers.close()
        self.ledger.close()
        self.conn.close()
