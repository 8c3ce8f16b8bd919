"""KinesisStream (the production stream) against moto's Kinesis: same consumer, same guarantees."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
import redis
from tierflow.hot.consumer import HotConsumer
from tierflow.hot.store import HotStore
from tierflow.hot.stream import KinesisStream
from tierflow.hot.synthetic import synthetic_events
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy

AS_OF = datetime(2026, 6, 30, 12)
POLICY = load_policy(DEFAULT_POLICY)


@pytest.fixture
def client(redis_url: str):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def kinesis(name: str, moto_server, client, **kw) -> KinesisStream:
    return KinesisStream(
        name,
        checkpoints=client,
        endpoint_url=moto_server.endpoint,
        region="ap-south-1",
        poll_interval_s=0.05,
        **kw,
    )


def assert_views_as_if_applied(store: HotStore, client, events: list, customers: int) -> None:
    """Every customer's view in ``store`` equals the view of the events applied straight to an
    empty store (another db of the same Redis)."""
    kw = client.connection_pool.connection_kwargs
    truth_client = redis.Redis(host=kw["host"], port=kw["port"], db=2)
    try:
        truth = HotStore(truth_client, POLICY, clock=lambda: AS_OF)
        truth.apply(events)
        for cid in range(1, customers + 1):
            assert store.get_customer(cid) == truth.get_customer(cid)
    finally:
        truth_client.flushdb()
        truth_client.close()


def test_kinesis_stream_feeds_the_consumer_and_resumes_after_its_checkpoint(moto_server, client) -> None:
    stream = kinesis("tierflow-events-test", moto_server, client)
    stream.create(shards=2)
    events = list(synthetic_events(30, 6, AS_OF, seed=4))
    ids = stream.publish([e.to_json() for e in events], [str(e.customer_id) for e in events])
    assert len(ids) == len(events) and len({i.split("/")[0] for i in ids}) == 2  # both shards used

    store = HotStore(client, POLICY, clock=lambda: AS_OF)
    first = stream.read(count=40, block_ms=2_000)
    assert first
    # a consumer that read but crashed before acking: a new one starts from the checkpoint again
    resumed = kinesis("tierflow-events-test", moto_server, client)
    stats = HotConsumer(store, resumed, block_ms=300).run(until_idle=True)
    assert stats.events == len(events) and stats.dead_lettered == 0
    checkpoint = {k.decode(): v.decode() for k, v in client.hgetall(resumed.checkpoint_key).items()}
    assert len(checkpoint) == 2

    # the same events applied straight to a store give the same views
    assert_views_as_if_applied(store, client, events, customers=30)

    # after a restart it resumes after the checkpoint: only new records arrive
    more = list(synthetic_events(5, 1, AS_OF, seed=9, first_pk=10_000))
    stream.publish([e.to_json() for e in more], [str(e.customer_id) for e in more])
    again = kinesis("tierflow-events-test", moto_server, client)
    stats = HotConsumer(store, again, block_ms=300).run(until_idle=True)
    assert stats.events == len(more)


def test_consumers_of_a_group_share_the_shards_and_take_over_from_one_that_died(moto_server, client) -> None:
    name = "tierflow-events-shared"
    a = kinesis(name, moto_server, client, consumer="a", lease_ms=600)
    a.create(shards=4)
    shards = set(a.owned_shards(force=True))
    assert len(shards) == 4  # alone in the group: every shard
    b = kinesis(name, moto_server, client, consumer="b", lease_ms=600)
    assert b.owned_shards(force=True) == []  # all leased to a
    kept = a.owned_shards(force=True)  # a sees two members: keeps its fair share, releases the rest
    taken = b.owned_shards(force=True)
    assert len(kept) == len(taken) == 2 and set(kept) | set(taken) == shards
    # a dies without a word: once its leases run out, b holds every shard
    time.sleep(0.7)
    assert set(b.owned_shards(force=True)) == shards
    b.release()
    assert not client.keys(f"tierflow:kinesis:lease:{name}:*")


def test_two_consumers_apply_every_event_once_in_effect(moto_server, client) -> None:
    """Each consumer reads only its leased shards; together they apply every event, and the hot
    tier equals the events applied straight to a store. A late ack never moves a checkpoint back."""
    name = "tierflow-events-pair"
    a = kinesis(name, moto_server, client, consumer="a", lease_ms=5_000)
    a.create(shards=4)
    events = list(synthetic_events(40, 5, AS_OF, seed=11))
    a.publish([e.to_json() for e in events], [str(e.customer_id) for e in events])
    b = kinesis(name, moto_server, client, consumer="b", lease_ms=5_000)
    a.owned_shards(force=True)
    b.owned_shards(force=True)
    a.owned_shards(force=True)  # a gives b its share
    assert len(a.owned_shards()) == len(b.owned_shards(force=True)) == 2

    store = HotStore(client, POLICY, clock=lambda: AS_OF)
    first = HotConsumer(store, a, block_ms=300).run(until_idle=True)
    second = HotConsumer(store, b, block_ms=300).run(until_idle=True)
    assert first.events > 0 and second.events > 0
    assert first.events + second.events == len(events)

    assert_views_as_if_applied(store, client, events, customers=40)

    checkpoint = {k.decode(): v.decode() for k, v in client.hgetall(a.checkpoint_key).items()}
    assert len(checkpoint) == 4
    shard, seq = next(iter(checkpoint.items()))
    a.ack([f"{shard}/1"])  # an old holder acking an early record late
    assert client.hget(a.checkpoint_key, shard).decode() == seq
