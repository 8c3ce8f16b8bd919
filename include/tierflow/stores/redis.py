"""Redis, the hot tier: one client factory so every caller gets the same timeouts."""

from __future__ import annotations

from tierflow.errors import ServiceUnavailable
from tierflow.urls import redact


def client(url: str, **kwargs):
    import redis

    conn = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=10, **kwargs)
    try:
        conn.ping()
    except redis.ConnectionError as exc:
        raise ServiceUnavailable(
            f"Redis at {redact(url)} is not reachable ({exc}). "
            "Start it (`make services`) or set TIERFLOW_REDIS_URL."
        ) from None
    return conn
