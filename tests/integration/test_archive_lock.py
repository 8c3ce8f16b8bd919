"""A run that loses its table lock stops without deleting, and a second run never finishes a live
run's batches.

The run under test is a forked child paused (``TIERFLOW_ARCHIVE_PAUSE_AT``) after its first batch
was verified and before it deletes; meanwhile the test ends the session that holds the run's MySQL
named lock, as a failover, a network cut or a DBA's ``KILL`` would.
"""

from __future__ import annotations

import os
import time

import pytest
from tierflow.archive import run_archive
from tierflow.archive.ledger import Ledger
from tierflow.archive.verify import verify_archive
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY
from tierflow.stores import mysql

from tests.conftest import NO_WAREHOUSE_URL
from tests.integration.test_archive_reliability import _context
from tests.integration.test_archive_run import AS_OF, assert_union_equals, make_rows, mysql_rows

pytestmark = pytest.mark.integration

TABLE = "loan_transactions"


def _paused_child(settings: Settings, pause: str, result) -> None:
    os.environ["TIERFLOW_ARCHIVE_PAUSE_AT"] = pause
    summary = run_archive(
        settings, tables=[TABLE], as_of=AS_OF, batch_rows=20, gate=False, allow_large_run=True
    )
    table = summary.tables[0]
    result.put((table.status, table.error or "", table.deleted))
    result.close()
    result.join_thread()
    os._exit(0)


def _lock_name(settings: Settings) -> str:
    return f"tierflow_archive.{mysql.database_of(settings.mysql_url)}.{TABLE}"[:64]


def _lock_holder(settings: Settings) -> int | None:
    with mysql.connection(settings.mysql_url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("SELECT IS_USED_LOCK(%s)", (_lock_name(settings),))
        return cur.fetchone()[0]


def _start_paused_run(settings: Settings, seconds: float):
    ctx = _context()
    result = ctx.Queue()
    proc = ctx.Process(target=_paused_child, args=(settings, f"verified:{seconds}", result))
    proc.start()
    deadline = time.monotonic() + 60
    while not _first_batch_verified(settings):  # the child is asleep before its first delete
        assert proc.is_alive() and time.monotonic() < deadline, "the run never verified a batch"
        time.sleep(0.05)
    assert _lock_holder(settings) is not None
    return proc, result


def _first_batch_verified(settings: Settings) -> bool:
    with mysql.connection(settings.mysql_url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("SHOW TABLES LIKE 'tierflow_archive_ledger'")
        if cur.fetchone() is None:
            return False
        cur.execute("SELECT state FROM tierflow_archive_ledger ORDER BY id LIMIT 1")
        row = cur.fetchone()
        return row is not None and row[0] == "verified"


def _end_session(settings: Settings, connection_id: int) -> None:
    with mysql.connection(settings.mysql_url, autocommit=True) as conn:
        conn.cursor().execute(f"KILL CONNECTION {int(connection_id)}")


@pytest.fixture
def lock_settings(mysql_url: str, tmp_path) -> Settings:
    make_rows(mysql_url, cold=200, warm=5, days=4)
    return Settings(
        warehouse_url=NO_WAREHOUSE_URL,
        mysql_url=mysql_url,
        archive_uri=(tmp_path / "archive").as_uri(),
        policy_path=DEFAULT_POLICY,
    )


def _deleted_so_far(settings: Settings, original: dict) -> int:
    return len(original) - len(mysql_rows(settings.mysql_url))


def test_a_run_whose_lock_session_ends_stops_before_its_delete(lock_settings: Settings) -> None:
    original = mysql_rows(lock_settings.mysql_url)
    proc, result = _start_paused_run(lock_settings, seconds=4)
    holder = _lock_holder(lock_settings)
    _end_session(lock_settings, holder)
    proc.join(120)
    assert proc.exitcode == 0
    status, error, deleted = result.get(timeout=5)

    assert status == "failed" and "no longer holds MySQL lock" in error, (status, error)
    assert deleted == 0 and _deleted_so_far(lock_settings, original) == 0
    # The next run owns the stopped batch, finishes it and the rest.
    summary = run_archive(
        lock_settings, tables=[TABLE], as_of=AS_OF, batch_rows=20, gate=False, allow_large_run=True
    )
    assert summary.ok, summary.errors()
    assert_union_equals(lock_settings, original)
    assert verify_archive(lock_settings, tables=[TABLE]).ok


def test_a_second_run_takes_over_and_the_first_never_deletes_after(lock_settings: Settings) -> None:
    original = mysql_rows(lock_settings.mysql_url)
    proc, result = _start_paused_run(lock_settings, seconds=8)
    first = _lock_holder(lock_settings)
    _end_session(lock_settings, first)

    # While the first run sleeps, a second one takes the free lock, claims the first run's batch
    # and archives the whole table.
    second = run_archive(
        lock_settings, tables=[TABLE], as_of=AS_OF, batch_rows=20, gate=False, allow_large_run=True
    )
    assert second.ok, second.errors()
    after_second = mysql_rows(lock_settings.mysql_url)
    ledger = Ledger(lock_settings.mysql_url)
    owners = {entry.owner_run for entry in ledger.entries(TABLE)}
    assert owners == {second.run_id}, owners

    proc.join(120)
    assert proc.exitcode == 0
    status, error, deleted = result.get(timeout=5)
    assert status == "failed" and "no longer holds MySQL lock" in error, (status, error)
    assert deleted == 0
    assert mysql_rows(lock_settings.mysql_url) == after_second
    assert_union_equals(lock_settings, original)
    assert verify_archive(lock_settings, tables=[TABLE]).ok
