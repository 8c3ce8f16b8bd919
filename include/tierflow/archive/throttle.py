"""The archive's throttle: between batches, wait while MySQL is busy or a replica is behind, for a
bounded time.
"""

from __future__ import annotations

import time

from tierflow.archive.errors import ThrottledError
from tierflow.errors import ServiceUnavailable
from tierflow.log import get_logger
from tierflow.policy import Policy
from tierflow.stores import mysql
from tierflow.urls import redact

log = get_logger("tierflow.archive")


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
