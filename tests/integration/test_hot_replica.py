"""Reading the hot tier from a Redis read replica (an ElastiCache reader endpoint).

A real redis-server replicating the test Redis. A read of a customer whose entries aged out trims it
on the primary; the replica cannot write, so it must answer without writing, with the same view.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import redis
from tierflow.hot.store import HotStore
from tierflow.hot.synthetic import synthetic_events
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy

from tests.conftest import RedisServer

AS_OF = datetime(2026, 6, 30, 12)
POLICY = load_policy(DEFAULT_POLICY)


@pytest.fixture
def replica(redis_server, tmp_path) -> Iterator[redis.Redis]:
    server = RedisServer("--dir", str(tmp_path), "--replicaof", "127.0.0.1", str(redis_server.port))
    server.start()
    client = redis.Redis.from_url(server.url)
    deadline = time.monotonic() + 20
    while client.info("replication").get("master_link_status") != "up":
        assert time.monotonic() < deadline, "the replica never linked to the primary"
        time.sleep(0.1)
    yield client
    client.close()
    server.stop()


def test_a_replica_answers_a_read_that_would_trim_without_writing(redis_url, replica) -> None:
    primary = redis.Redis.from_url(redis_url)
    HotStore(primary, POLICY, clock=lambda: AS_OF).apply(synthetic_events(25, 6, AS_OF, seed=5))
    assert primary.wait(1, 5_000) == 1  # the replica has every write

    later = AS_OF + timedelta(days=10)  # a part of every customer's entries is now out of its window
    on_replica = HotStore(replica, POLICY, clock=lambda: later)
    keys_before = replica.dbsize()
    views = {cid: on_replica.get_customer(cid) for cid in range(1, 26)}
    assert on_replica._replica  # it found out on the first read that would have trimmed
    assert primary.dbsize() == keys_before  # nothing was trimmed on the primary by those reads

    # the primary, reading as of the same moment, trims and stores: the same views
    on_primary = HotStore(primary, POLICY, clock=lambda: later)
    aged = 0
    for cid in range(1, 26):
        before = primary.zcard(f"tierflow:hot:{{{cid}}}:loan_transactions:idx")
        assert on_primary.get_customer(cid) == views[cid]
        aged += before - primary.zcard(f"tierflow:hot:{{{cid}}}:loan_transactions:idx")
    assert aged > 0  # there were aged entries to leave out
    assert any(v["loan_transactions"] for v in views.values())
    primary.close()
