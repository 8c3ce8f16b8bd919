"""The consumer as a real process: kill -9 mid-batch and restart, SIGTERM, dead letters, latency."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
import redis
from tierflow.hot.consumer import HotConsumer, dead_letters
from tierflow.hot.events import Event, epoch_micros, epoch_seconds
from tierflow.hot.store import HotStore
from tierflow.hot.stream import RedisStream
from tierflow.hot.synthetic import synthetic_events
from tierflow.paths import DEFAULT_POLICY, PROJECT_ROOT
from tierflow.policy import load_policy

AS_OF = datetime(2026, 6, 30, 12)
POLICY = load_policy(DEFAULT_POLICY)
STREAM = POLICY.hot.events_stream


def consumer_process(redis_url: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, TIERFLOW_REDIS_URL=redis_url, TIERFLOW_LOG_LEVEL="WARNING")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tierflow.cli",
            "hot",
            "consume",
            "--as-of",
            AS_OF.isoformat(),
            "--no-memory-budget",
            *args,
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_reading(client, consumer: str, timeout: float = 60) -> None:
    """Until the consumer process has joined the group and blocks in XREADGROUP."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            joined = any(_text(c["name"]) == consumer for c in client.xinfo_consumers(STREAM, "hot-tier"))
        except redis.ResponseError:
            joined = False
        blocked = any("b" in c["flags"] and c["cmd"] == "xreadgroup" for c in client.client_list())
        if joined and blocked:
            return
        time.sleep(0.05)
    raise AssertionError(f"consumer {consumer} never started reading")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.fixture
def client(redis_url: str):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def ground_truth(client, events: list[Event]) -> HotStore:
    """The same events applied once each, in order, straight into Redis db 1."""
    kw = client.connection_pool.connection_kwargs
    truth = redis.Redis(host=kw["host"], port=kw["port"], db=1)
    store = HotStore(truth, POLICY, clock=lambda: AS_OF)
    for start in range(0, len(events), 2_000):
        store.apply(events[start : start + 2_000])
    return store


def test_kill_minus_9_mid_batch_then_restart_applies_every_event_exactly_once(client, redis_url) -> None:
    customers = 200
    events = list(synthetic_events(customers, 25, AS_OF, seed=11))
    stream = RedisStream(client, STREAM)
    stream.ensure_group()
    for start in range(0, len(events), 5_000):
        stream.publish([e.to_json() for e in events[start : start + 5_000]])
    assert client.xlen(STREAM) == len(events)

    first = consumer_process(redis_url, "--batch", "200", "--consumer", "doomed")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        acked = len(events) - client.xinfo_groups(STREAM)[0]["lag"] - stream.pending()
        if acked >= 600 and stream.pending() > 0:
            break
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    in_flight = stream.pending()
    assert in_flight > 0, "the consumer was not killed mid-batch"
    assert client.xinfo_groups(STREAM)[0]["lag"] > 0, "the consumer had already finished"

    second = consumer_process(
        redis_url,
        "--batch",
        "500",
        "--consumer",
        "survivor",
        "--reclaim-idle-ms",
        "0",
        "--until-idle",
        "--block",
        "300",
    )
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["reclaimed"] == in_flight
    assert stream.pending() == 0 and client.xinfo_groups(STREAM)[0]["lag"] == 0

    consumed = HotStore(client, POLICY, clock=lambda: AS_OF)
    truth = ground_truth(client, events)
    for cid in range(1, customers + 1):
        assert consumed.get_customer(cid) == truth.get_customer(cid), cid
    # features are recomputed, never incremented: spot-check one against the rows themselves
    view = consumed.get_customer(5)
    paid = sum(
        float(t["amount"])
        for t in view["loan_transactions"]
        if t["status"] == "success" and t["txn_type"] in ("emi_payment", "prepayment")
    )
    assert view["features"]["amount_paid_28d"] == pytest.approx(paid)
    truth.client.flushdb()


def test_sigterm_finishes_the_batch_and_exits_cleanly(client, redis_url) -> None:
    stream = RedisStream(client, STREAM)
    stream.ensure_group()
    proc = consumer_process(redis_url, "--block", "200", "--consumer", "polite")
    wait_until_reading(client, "polite")
    events = list(synthetic_events(50, 4, AS_OF, seed=2))
    stream.publish([e.to_json() for e in events])
    deadline = time.monotonic() + 20
    while client.xinfo_groups(STREAM)[0]["lag"] or stream.pending():
        assert time.monotonic() < deadline, "the running consumer did not apply the events"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["stopped_by"] == "signal" and stats["events"] == len(events)


def test_malformed_events_are_dead_lettered_and_the_consumer_keeps_going(client) -> None:
    stream = RedisStream(client, STREAM)
    good = list(synthetic_events(3, 2, AS_OF, seed=5))
    valid = json.loads(good[0].to_json())
    bad = {
        "bad JSON": b'{"table": "loans",',
        "unknown table": json.dumps({**valid, "table": "payments"}).encode(),
        "missing key 'customer_id'": json.dumps(
            {k: v for k, v in valid.items() if k != "customer_id"}
        ).encode(),
        "wrong type: pk": json.dumps({**valid, "pk": "seven"}).encode(),
    }
    stream.publish([good[0].to_json(), *bad.values(), *(e.to_json() for e in good[1:])])
    store = HotStore(client, POLICY, clock=lambda: AS_OF)
    stats = HotConsumer(store, stream, block_ms=50).run(until_idle=True)
    assert stats.dead_lettered == len(bad)
    assert stats.events == len(good) + len(bad)
    letters = dead_letters(client, STREAM + ":dead")
    assert len(letters) == len(bad)
    for item, (reason, payload) in zip(reversed(letters), bad.items(), strict=True):
        assert item["reason"].startswith(reason), item
        assert item["payload"].encode() == payload
        assert item["source_id"]
    assert stream.pending() == 0
    assert store.get_customer(good[-1].customer_id)["features"]


def test_an_event_is_visible_within_a_second_of_publishing(client, redis_url) -> None:
    stream = RedisStream(client, STREAM)
    stream.ensure_group()
    proc = consumer_process(redis_url, "--block", "1000", "--consumer", "live")
    try:
        wait_until_reading(client, "live")
        store = HotStore(client, POLICY, clock=lambda: AS_OF)
        created = AS_OF - timedelta(hours=1)
        row = {"id": 1, "customer_id": 77, "category": "finance", "created_at": created.isoformat()}
        event = Event("user_device_apps", "upsert", 1, 77, epoch_micros(created), epoch_seconds(created), row)
        start = time.monotonic()
        stream.publish([event.to_json()])
        # pushed, not polled: the blocked XREADGROUP returns at once (`make bench-hot` measures p99)
        while not store.get_customer(77)["user_device_apps"]:
            assert time.monotonic() - start < 5, "event not applied while the consumer was blocked"
            time.sleep(0.001)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)


def test_an_event_nested_5000_levels_deep_does_not_stop_the_consumer_process(client, redis_url) -> None:
    """`tierflow hot consume` used to exit with a RecursionError here, the good event behind unapplied."""
    stream = RedisStream(client, STREAM)
    stream.ensure_group()
    good = list(synthetic_events(1, 1, AS_OF, seed=3))[-1]
    doc = json.loads(good.to_json())
    nested = json.dumps({**doc, "row": {**doc["row"], "meta": "X"}}, separators=(",", ":")).encode()
    nested = nested.replace(b'"X"', b"[" * 5_000 + b"]" * 5_000)
    stream.publish([nested, good.to_json()])

    proc = consumer_process(redis_url, "--until-idle", "--block", "300", "--consumer", "deep")
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 0, err
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["dead_lettered"] == 1 and stats["applied"] == 1 and stats["stopped_by"] == "idle"
    (letter,) = dead_letters(client, STREAM + ":dead")
    assert letter["reason"].startswith("nested too deeply"), letter["reason"]
    store = HotStore(client, POLICY, clock=lambda: AS_OF)
    assert store.get_customer(good.customer_id)[good.table]
