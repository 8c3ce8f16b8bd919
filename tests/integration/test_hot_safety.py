"""No single message stops the hot tier: bad events are dead-lettered with their reasons, on Redis
Streams and on Kinesis (moto), and the events behind them are applied."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import redis
from tierflow.hot.consumer import HotConsumer, dead_letters
from tierflow.hot.events import Event, epoch_micros, epoch_seconds
from tierflow.hot.store import HotStore
from tierflow.hot.stream import KinesisStream, RedisStream
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy

pytestmark = pytest.mark.integration

AS_OF = datetime(2026, 6, 30, 12)
POLICY = load_policy(DEFAULT_POLICY)
STREAM = POLICY.hot.events_stream
CUSTOMER = 42


@pytest.fixture
def client(redis_url: str):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def txn(pk: int, status: str, amount: str = "1000.00", *, customer: int = CUSTOMER, **extra) -> dict:
    created = AS_OF - timedelta(days=1, minutes=pk)
    return {
        "id": pk,
        "loan_id": 7,
        "customer_id": customer,
        "txn_type": "emi_payment",
        "amount": amount,
        "status": status,
        **extra,
        "created_at": created.isoformat(sep=" "),
        "updated_at": created.isoformat(sep=" "),
    }


def envelope(row: dict, *, version: int | None = None, customer: int = CUSTOMER) -> dict:
    created = datetime.fromisoformat(row["created_at"])
    return {
        "table": "loan_transactions",
        "op": "upsert",
        "pk": row["id"],
        "customer_id": customer,
        "version": epoch_micros(created) if version is None else version,
        "row": row,
    }


def payload(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def bad_and_good_events() -> tuple[dict[str, bytes], bytes]:
    """{reason: payload} for a nested, an oversized, a far-future and a duplicate-key event of one
    customer, each of which would move its features if applied, and one valid event."""
    nested = payload(envelope(txn(1, "success", meta="X"))).replace(
        b'"meta":"X"', b'"meta":' + b'{"status":' * 5_000 + b'"success"' + b"}" * 5_000
    )
    oversized = payload(envelope(txn(2, "success", note="x" * POLICY.hot.max_event_bytes)))
    far_future = payload(envelope(txn(3, "success"), version=epoch_micros(datetime(2099, 1, 1))))
    # named twice: JSON decoders keep the last, text patterns find the first
    duplicate = payload(envelope(txn(4, "failed", status_first="success"))).replace(
        b'"status_first":', b'"status":'
    )
    bad = {
        "nested too deeply": nested,
        "too large": oversized,
        "version in the future": far_future,
        "duplicate key 'status'": duplicate,
    }
    return bad, payload(envelope(txn(5, "success", "250.50")))


def recount(store: HotStore, view: dict) -> dict:
    """The features of exactly the rows in a customer's view, counted here from the rows."""
    days = {t.name: f"{t.hot_window_days}d" for t in store.tables}
    features: dict = {}
    rows = view["loan_transactions"]
    d = days["loan_transactions"]
    paid = sum(
        Decimal(r["amount"])
        for r in rows
        if r["status"] == "success" and r["txn_type"] in ("emi_payment", "prepayment")
    )
    if any(view[t] for t in store.table_names):
        features[f"amount_paid_{d}"] = float(paid)
        features[f"failed_payments_{d}"] = sum(r["status"] == "failed" for r in rows)
        d = days["user_device_apps"]
        for r in view["user_device_apps"]:
            key = f"apps_{r['category']}_{d}"
            features[key] = features.get(key, 0) + 1
        features[f"apps_total_{d}"] = len(view["user_device_apps"])
        features[f"open_loans_{days['loans']}"] = sum(
            r["status"] in ("approved", "disbursed") for r in view["loans"]
        )
        bounced = {r["id"] for r in view["communications"] if r["status"] == "bounced"}
        bounced |= {
            r["communication_id"] for r in view["communication_events"] if r["event_type"] == "bounced"
        }
        features[f"bounced_communications_{days['communications']}"] = len(bounced)
    return features


def kinesis_stream(moto_server, client, name: str, consumer: str = "consumer-1") -> KinesisStream:
    return KinesisStream(
        name,
        checkpoints=client,
        endpoint_url=moto_server.endpoint,
        region="ap-south-1",
        poll_interval_s=0.05,
        consumer=consumer,
    )


@pytest.fixture(params=["redis", "kinesis"])
def stream_kind(request) -> str:
    return request.param


def open_test_stream(kind: str, client, request, name: str = "tierflow-events-safety", consumer: str = "c1"):
    if kind == "redis":
        return RedisStream(client, STREAM, consumer=consumer)
    moto_server = request.getfixturevalue("moto_server")
    stream = kinesis_stream(moto_server, client, name, consumer)
    stream.create(shards=1)
    return stream


def test_bad_events_are_dead_lettered_with_reasons_and_the_good_one_is_applied(
    stream_kind: str, client, request
) -> None:
    bad, good = bad_and_good_events()
    stream = open_test_stream(stream_kind, client, request, name=f"tierflow-safety-{time.time_ns()}")
    stream.publish([*bad.values(), good], [str(CUSTOMER)] * (len(bad) + 1))
    store = HotStore(client, POLICY, clock=lambda: AS_OF)

    stats = HotConsumer(store, stream, block_ms=300).run(until_idle=True)

    assert stats.stopped_by == "idle"  # it kept running to the end of the stream
    assert stats.events == len(bad) + 1 and stats.dead_lettered == len(bad) and stats.applied == 1
    letters = list(reversed(dead_letters(client, STREAM + ":dead")))
    assert [letter["reason"].split(":")[0] for letter in letters] == [r.split(":")[0] for r in bad]
    for letter, (reason, body) in zip(letters, bad.items(), strict=True):
        assert letter["reason"].startswith(reason), letter["reason"]
        assert int(letter["payload_bytes"]) == len(body)
        assert letter["payload"].encode() == body[: POLICY.hot.max_event_bytes]
    view = store.get_customer(CUSTOMER)
    assert [r["id"] for r in view["loan_transactions"]] == [5]
    assert view["features"] == recount(store, view)
    assert view["features"]["amount_paid_28d"] == 250.5 and view["features"]["failed_payments_28d"] == 0


def test_a_status_nested_in_another_field_never_moves_a_feature(client) -> None:
    """A row is flat: a nested object is refused, and a "status" inside a text column is text."""
    stream = RedisStream(client, STREAM)
    nested = envelope(txn(11, "failed", meta={"status": "success", "amount": "9999.00"}))
    nested["row"] = {"meta": nested["row"].pop("meta"), **nested["row"]}  # the nested one first
    quoted = envelope(txn(12, "failed", failure_reason='{"status":"success","amount":"9999.00"}'))
    quoted["row"] = {"failure_reason": quoted["row"].pop("failure_reason"), **quoted["row"]}
    stream.publish([payload(nested), payload(quoted)])
    store = HotStore(client, POLICY, clock=lambda: AS_OF)

    stats = HotConsumer(store, stream, block_ms=50).run(until_idle=True)

    assert stats.dead_lettered == 1 and stats.applied == 1
    (letter,) = dead_letters(client, STREAM + ":dead")
    assert letter["reason"].startswith("nested value: row.meta is a JSON object")
    view = store.get_customer(CUSTOMER)
    assert [r["id"] for r in view["loan_transactions"]] == [12]
    assert view["features"] == recount(store, view)
    assert view["features"]["amount_paid_28d"] == 0 and view["features"]["failed_payments_28d"] == 1


def test_a_failing_apply_dead_letters_that_customers_events_only(client) -> None:
    """A customer whose key has the wrong type makes the apply script fail for it alone."""
    stream = RedisStream(client, STREAM)
    client.set(f"tierflow:hot:{{{CUSTOMER}}}:features", "not a hash")
    other = 43
    stream.publish(
        [
            payload(envelope(txn(21, "success"))),
            payload(envelope(txn(22, "success", customer=other), customer=other)),
        ]
    )
    store = HotStore(client, POLICY, clock=lambda: AS_OF)

    stats = HotConsumer(store, stream, block_ms=50).run(until_idle=True)

    assert stats.dead_lettered == 1 and stats.applied == 1 and stream.pending() == 0
    (letter,) = dead_letters(client, STREAM + ":dead")
    assert letter["reason"].startswith("apply failed: WRONGTYPE"), letter["reason"]
    assert json.loads(letter["payload"])["pk"] == 21
    assert [r["id"] for r in store.get_customer(other)["loan_transactions"]] == [22]


def test_a_redis_entry_that_keeps_failing_is_dead_lettered_after_max_deliveries(client) -> None:
    """Consumers that die while holding an entry leave it pending; each new one claims it again.
    Past hot.max_deliveries it is dead-lettered, and the entry read with it is still applied."""
    limit = POLICY.hot.max_deliveries
    poison, behind = payload(envelope(txn(31, "success"))), payload(envelope(txn(32, "failed")))
    RedisStream(client, STREAM).publish([poison, behind])
    RedisStream(client, STREAM, consumer="dead-0").read(10, 0)  # delivery 1 of both; it died
    for n in range(1, limit):
        # each consumer that took over died on the first entry (delivery n + 1 of it)
        claimed = RedisStream(client, STREAM, consumer=f"dead-{n}").reclaim(0, 10)
        assert [m.deliveries for m in claimed] == ([2, 2] if n == 1 else [n + 1])
    store = HotStore(client, POLICY, clock=lambda: AS_OF)
    stream = RedisStream(client, STREAM, consumer="survivor")

    stats = HotConsumer(store, stream, block_ms=50, reclaim_idle_ms=0).run(until_idle=True)

    (letter,) = dead_letters(client, STREAM + ":dead")
    assert letter["reason"] == (
        f"delivered {limit + 1} times without being applied (hot.max_deliveries is {limit})"
    )
    assert json.loads(letter["payload"])["pk"] == 31 and letter["deliveries"] == str(limit + 1)
    assert stats.dead_lettered == 1 and stats.applied == 1 and stream.pending() == 0
    assert [r["id"] for r in store.get_customer(CUSTOMER)["loan_transactions"]] == [32]


def test_a_kinesis_record_that_keeps_failing_is_dead_lettered_after_max_deliveries(
    moto_server, client
) -> None:
    """Kinesis keeps no pending list: attempts are recorded per sequence number when a consumer
    starts applying. Records read again after a failure go one at a time, so only the record
    that keeps failing collects attempts; past hot.max_deliveries it is dead-lettered."""
    limit = POLICY.hot.max_deliveries
    name = f"tierflow-poison-{time.time_ns()}"
    stream = kinesis_stream(moto_server, client, name)
    stream.create(shards=1)
    poison, behind = payload(envelope(txn(41, "success"))), payload(envelope(txn(42, "failed")))
    stream.publish([poison, behind], [str(CUSTOMER)] * 2)
    first = kinesis_stream(moto_server, client, name, consumer="dead-0")
    batch = first.read(10, 2_000)
    first.begin(batch)  # started applying both, then died
    first.release()
    for n in range(1, limit):
        again = kinesis_stream(moto_server, client, name, consumer=f"dead-{n}")
        batch = again.read(10, 2_000)
        assert [m.deliveries for m in batch] == [n + 1, 2]
        again.begin(batch[:1])  # one at a time now: died on the first
        again.release()
    store = HotStore(client, POLICY, clock=lambda: AS_OF)
    survivor = kinesis_stream(moto_server, client, name, consumer="survivor")

    stats = HotConsumer(store, survivor, block_ms=300).run(until_idle=True)

    (letter,) = dead_letters(client, STREAM + ":dead")
    assert letter["reason"].startswith(f"delivered {limit + 1} times without being applied")
    assert json.loads(letter["payload"])["pk"] == 41
    assert stats.dead_lettered == 1 and stats.applied == 1
    assert [r["id"] for r in store.get_customer(CUSTOMER)["loan_transactions"]] == [42]
    assert not client.hlen(survivor.attempts_key)  # acked: nothing left to count
    assert kinesis_stream(moto_server, client, name, consumer="late").read(10, 300) == []


def test_a_row_time_in_the_future_is_dead_lettered_beside_a_valid_one(client) -> None:
    """The version may be plausible while the row's time column is far ahead of the clock."""
    stream = RedisStream(client, STREAM)
    row = txn(51, "success")
    row["created_at"] = "2099-01-01 00:00:00"
    stream.publish(
        [payload(envelope(row, version=epoch_micros(AS_OF))), payload(envelope(txn(52, "success")))]
    )
    store = HotStore(client, POLICY, clock=lambda: AS_OF)

    stats = HotConsumer(store, stream, block_ms=50, now=lambda: epoch_seconds(AS_OF)).run(until_idle=True)

    (letter,) = dead_letters(client, STREAM + ":dead")
    assert letter["reason"].startswith("row.created_at in the future"), letter["reason"]
    assert stats.applied == 1 and [r["id"] for r in store.get_customer(CUSTOMER)["loan_transactions"]] == [52]


def test_the_skew_is_judged_by_the_consumers_clock(client) -> None:
    """An event a minute ahead is within the skew; one an hour ahead is not."""
    stream = RedisStream(client, STREAM)
    now = epoch_seconds(AS_OF)
    soon = envelope(txn(61, "success"), version=int((now + 60) * 1_000_000))
    later = envelope(txn(62, "success"), version=int((now + 3_600) * 1_000_000))
    stream.publish([payload(soon), payload(later)])
    store = HotStore(client, POLICY, clock=lambda: AS_OF)

    stats = HotConsumer(store, stream, block_ms=50, now=lambda: now).run(until_idle=True)

    assert stats.applied == 1 and stats.dead_lettered == 1
    (letter,) = dead_letters(client, STREAM + ":dead")
    assert letter["reason"].startswith("version in the future: ") and "3,600 s ahead" in letter["reason"]
    assert [r["id"] for r in store.get_customer(CUSTOMER)["loan_transactions"]] == [61]


def test_events_made_by_the_library_pass_every_check(client) -> None:
    """What the library itself publishes (Event.to_json) is never refused by its own consumer."""
    stream = RedisStream(client, STREAM)
    created = AS_OF - timedelta(hours=2)
    row = {"id": 71, "customer_id": CUSTOMER, "category": "finance", "created_at": created}
    stream.publish(
        [
            Event(
                "user_device_apps", "upsert", 71, CUSTOMER, epoch_micros(created), epoch_seconds(created), row
            ).to_json()
        ]
    )
    store = HotStore(client, POLICY, clock=lambda: AS_OF)
    stats = HotConsumer(store, stream, block_ms=50).run(until_idle=True)
    assert stats.applied == 1 and stats.dead_lettered == 0
