"""The archive's replica-lag throttle against real MariaDB replication.

Two private MariaDB servers on free loopback ports (a source with a binary log and a replica of it)
are started for this module. Lag is made the way it happens in production: the replica's SQL
thread waits on a lock while the source keeps writing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tierflow.archive.throttle import Throttle, replica_lag
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import Throttle as Limits
from tierflow.policy import load_policy
from tierflow.stores import mysql

from tests.conftest import free_port, wait_for_port


def _binary(name: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if not found:
        raise RuntimeError(f"{name} is not installed: `make setup` installs mariadb-server")
    return found


class MariaDB:
    """A throwaway mariadbd with its own data directory on a free loopback port."""

    def __init__(self, root: Path, server_id: int, *, binlog: bool) -> None:
        self.dir = root / f"server{server_id}"
        self.port = free_port()
        self.url = f"mysql://root@127.0.0.1:{self.port}"
        subprocess.run(
            [
                _binary("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={self.dir}",
                "--auth-root-authentication-method=normal",
                *(["--user=root"] if os.geteuid() == 0 else []),
            ],
            check=True,
            capture_output=True,
        )
        args = [
            _binary("mariadbd"),
            "--no-defaults",
            f"--datadir={self.dir}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.dir}/mysqld.sock",
            f"--pid-file={self.dir}/mysqld.pid",
            f"--server-id={server_id}",
            "--innodb-buffer-pool-size=32M",
            "--skip-name-resolve",
            *([f"--log-bin={self.dir}/binlog"] if binlog else []),
            *(["--user=root"] if os.geteuid() == 0 else []),
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, timeout=30)

    def sql(self, statement: str) -> None:
        with mysql.connection(self.url, database=False, autocommit=True) as conn:
            conn.cursor().execute(statement)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


@pytest.fixture(scope="module")
def replication(tmp_path_factory) -> Iterator[tuple[MariaDB, MariaDB]]:
    root = tmp_path_factory.mktemp("replication")
    source = MariaDB(root, 1, binlog=True)
    replica = MariaDB(root, 2, binlog=False)
    try:
        replica.sql(
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={source.port}, MASTER_USER='root', "
            "MASTER_PASSWORD='', MASTER_USE_GTID=no, MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=4"
        )
        replica.sql("START REPLICA")
        source.sql("CREATE DATABASE lending")
        source.sql("CREATE TABLE lending.payments (id INT PRIMARY KEY) ENGINE=InnoDB")
        wait_caught_up(replica)
        yield source, replica
    finally:
        replica.stop()
        source.stop()


def wait_caught_up(replica: MariaDB, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with mysql.connection(replica.url, database=False) as conn:
            cur = conn.cursor()
            cur.execute("SHOW TABLES FROM lending LIKE 'payments'")
            if cur.fetchone() and replica_lag(replica.url) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("the replica did not catch up")


def throttle_for(replica: MariaDB, source: MariaDB) -> tuple[Throttle, object]:
    policy = load_policy(DEFAULT_POLICY)
    limits = Limits(
        max_threads_running=1000,  # only the replica's lag throttles here
        max_replica_lag_seconds=1,
        pause_seconds=0.2,
        check_every_batches=1,
        replica_urls=[replica.url],
    )
    policy = policy.model_copy(update={"database": policy.database.model_copy(update={"throttle": limits})})
    conn = mysql.connect(source.url, database=False)
    return Throttle(policy, conn), conn


def test_a_replica_that_keeps_up_does_not_pause_the_run(replication) -> None:
    source, replica = replication
    throttle, conn = throttle_for(replica, source)
    try:
        t0 = time.monotonic()
        throttle.wait(None)
        assert time.monotonic() - t0 < 1 and throttle.paused_seconds == 0
    finally:
        conn.close()


def test_the_run_waits_while_the_replica_lags_and_goes_on_when_it_catches_up(replication) -> None:
    """The replica's SQL thread waits 4 s on a table lock while the source writes: its lag climbs
    past the limit, the throttle pauses, and it lets the run go once the replica has caught up."""
    source, replica = replication
    locked = threading.Event()

    def hold_lock() -> None:
        with mysql.connection(replica.url, database=False, autocommit=True) as conn:
            cur = conn.cursor()
            cur.execute("LOCK TABLES lending.payments WRITE")
            locked.set()
            cur.execute("SELECT SLEEP(4)")
            cur.execute("UNLOCK TABLES")

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(10)
    source.sql("INSERT INTO lending.payments VALUES (1)")
    deadline = time.monotonic() + 10
    while replica_lag(replica.url) < 2:
        assert time.monotonic() < deadline, "the replica never fell behind"
        time.sleep(0.1)

    throttle, conn = throttle_for(replica, source)
    try:
        t0 = time.monotonic()
        throttle.wait(None)
        waited = time.monotonic() - t0
    finally:
        conn.close()
        holder.join()
    assert throttle.paused_seconds > 0 and waited >= 0.5
    assert replica_lag(replica.url) <= 1  # it let go only once the lag was back under the limit
    with mysql.connection(replica.url, database=False) as conn:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM lending.payments WHERE id = 1")
        assert cur.fetchone()[0] == 1


def test_a_replica_that_stopped_applying_holds_the_run_until_its_deadline(replication) -> None:
    """Its lag is NULL (not applying): unknown counts as too far behind; the deadline still ends
    the wait, as `--max-runtime` does for a run."""
    source, replica = replication
    replica.sql("STOP REPLICA SQL_THREAD")
    try:
        assert replica_lag(replica.url) == float("inf")
        throttle, conn = throttle_for(replica, source)
        try:
            t0 = time.monotonic()
            throttle.wait(time.monotonic() + 0.6)
            waited = time.monotonic() - t0
        finally:
            conn.close()
        assert throttle.paused_seconds > 0 and 0.6 <= waited < 3
    finally:
        replica.sql("START REPLICA SQL_THREAD")
    wait_caught_up(replica)


def test_a_server_that_is_not_a_replica_is_ignored(replication) -> None:
    source, _ = replication
    assert replica_lag(source.url) is None
    throttle, conn = throttle_for(source, source)
    try:
        throttle.wait(None)
        assert throttle.paused_seconds == 0
    finally:
        conn.close()
