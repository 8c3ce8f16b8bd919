"""Which tierflow failures Airflow retries: transient ones only; the rest fail the task at once.

A retry helps when a service was briefly away (connection lost, throttled, a lock held by another
run). It cannot fix bad params, a policy error, a refused ``as_of``, a failed quality gate or a
verification mismatch: those raise ``AirflowFailException`` so the run goes red without three
retries over ten minutes first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk.exceptions import AirflowException, AirflowFailException
from tierflow.archive.errors import ArchiveLockedError
from tierflow.errors import ServiceUnavailable
from tierflow.log import get_logger

log = get_logger(__name__)

# MySQL client/server codes a reconnect or a later try gets past: gone away, lost connection,
# cannot connect, lock wait timeout, deadlock, too many connections.
TRANSIENT_MYSQL_CODES = {1040, 1205, 1213, 2002, 2003, 2006, 2013}
THROTTLING_CODES = {"Throttling", "ThrottlingException", "SlowDown", "RequestLimitExceeded", "RequestTimeout"}


def _lost_connection(exc: BaseException) -> bool:
    """A connection to PostgreSQL/Redshift or Redis refused, lost or timed out mid-task (the
    stores turn a refused first connection into ServiceUnavailable; a later loss comes raw)."""
    import psycopg
    import redis

    return isinstance(exc, (psycopg.OperationalError, redis.ConnectionError, redis.TimeoutError))


def is_transient(exc: BaseException) -> bool:
    """Whether trying again later can succeed where this attempt failed."""
    if isinstance(exc, (ServiceUnavailable, ArchiveLockedError, ConnectionError, TimeoutError)):
        return True
    if _lost_connection(exc):
        return True
    code = exc.args[0] if exc.args else None
    if type(exc).__module__.startswith(("MySQLdb", "pymysql")) and code in TRANSIENT_MYSQL_CODES:
        return True
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        return response.get("Error", {}).get("Code") in THROTTLING_CODES
    return type(exc).__name__ in {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"}


def for_airflow(exc: BaseException) -> BaseException:
    """``exc`` itself when a retry may help, else an ``AirflowFailException`` with its message."""
    if isinstance(exc, AirflowException) or is_transient(exc):
        return exc
    return AirflowFailException(f"{exc} [{type(exc).__name__}: not retried, a retry cannot fix it]")


@contextmanager
def retry_only_transient() -> Iterator[None]:
    """Run a task body so that only transient errors leave the task up for retry."""
    try:
        yield
    except Exception as exc:
        mapped = for_airflow(exc)
        if mapped is exc:
            raise
        log.error("airflow.task.failed_fast", error=type(exc).__name__, retried=False)
        raise mapped from exc
