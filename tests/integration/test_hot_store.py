"""The hot tier's Redis layout against a real redis-server: apply, read, trim, features, TTLs."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import redis
from tierflow.hot.events import Event, epoch_micros, epoch_seconds
from tierflow.hot.stats import hot_tier_stats
from tierflow.hot.store import HotStore, customer_keys
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy

AS_OF = datetime(2026, 6, 30, 12)
POLICY = load_policy(DEFAULT_POLICY)


@pytest.fixture
def client(redis_url: str):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def store(client) -> HotStore:
    return HotStore(client, POLICY, clock=lambda: AS_OF)


def txn(
    pk: int,
    customer: int,
    amount: str,
    status: str,
    days_ago: float,
    *,
    changed_min: int = 0,
    txn_type: str = "emi_payment",
) -> Event:
    created = AS_OF - timedelta(days=days_ago)
    changed = created + timedelta(minutes=changed_min)
    row = {
        "id": pk,
        "customer_id": customer,
        "amount": amount,
        "status": status,
        "txn_type": txn_type,
        "created_at": created.isoformat(),
        "updated_at": changed.isoformat(),
    }
    return Event(
        "loan_transactions", "upsert", pk, customer, epoch_micros(changed), epoch_seconds(created), row
    )


def simple(table: str, pk: int, customer: int, days_ago: float, **row) -> Event:
    created = AS_OF - timedelta(days=days_ago)
    row = {"id": pk, "customer_id": customer, "created_at": created.isoformat(), **row}
    return Event(table, "upsert", pk, customer, epoch_micros(created), epoch_seconds(created), row)


def test_customer_view_and_features_in_one_round_trip(store: HotStore, client) -> None:
    store.apply(
        [
            txn(1, 7, "1000.25", "success", 1),
            txn(2, 7, "500.00", "failed", 2),
            txn(3, 7, "200.00", "success", 3, txn_type="penalty"),  # a penalty is not a payment
            txn(4, 7, "300.00", "success", 4, txn_type="prepayment"),
            simple("communications", 10, 7, 1, status="bounced", channel="sms"),
            simple("communications", 11, 7, 2, status="sent", channel="email"),
            simple("communication_events", 12, 7, 2, event_type="bounced", communication_id=11),
            simple("communication_events", 13, 7, 1, event_type="bounced", communication_id=10),
            simple("user_device_apps", 20, 7, 5, category="gaming"),
            simple("user_device_apps", 21, 7, 6, category="gaming"),
            simple("user_device_apps", 22, 7, 7, category="finance"),
            simple("loans", 30, 7, 10, status="disbursed", principal="50000.00"),
            txn(99, 8, "1.00", "success", 1),  # someone else
        ]
    )
    store.get_customer(1)  # loads the read script
    client.config_resetstat()
    view = store.get_customer(7)
    # one command from the client (the read script); the rest runs inside Redis
    sent = {k: v["calls"] for k, v in client.info("commandstats").items() if "config" not in k}
    assert sent.pop("cmdstat_evalsha") == 1
    assert set(sent) <= {"cmdstat_hgetall", "cmdstat_zrevrangebyscore", "cmdstat_hmget", "cmdstat_zcount"}
    assert sent["cmdstat_zrevrangebyscore"] == 5  # issued by the script, one per hot table
    assert [t["id"] for t in view["loan_transactions"]] == [1, 2, 3, 4]  # newest first
    assert view["features"] == {
        "amount_paid_28d": 1300.25,
        "failed_payments_28d": 1,
        "bounced_communications_14d": 2,
        "apps_gaming_28d": 2,
        "apps_finance_28d": 1,
        "apps_total_28d": 3,
        "open_loans_28d": 1,
    }
    assert [c["id"] for c in view["communications"]] == [10, 11]
    assert view["loans"][0]["status"] == "disbursed"
    assert store.get_customer(12345) == {
        "customer_id": 12345,
        "features": {},
        "loan_transactions": [],
        "communication_events": [],
        "communications": [],
        "user_device_apps": [],
        "loans": [],
    }


def test_versions_make_application_idempotent_and_order_free(store: HotStore) -> None:
    initiated = txn(1, 7, "1000.00", "initiated", 1)
    success = txn(1, 7, "1000.00", "success", 1, changed_min=5)
    assert store.apply([success])["applied"] == 1
    again = store.apply([initiated, success, success])  # older version and duplicates after
    assert again == {
        "applied": 0,
        "skipped": 3,
        "changed_keys": 0,
        "features_changed": 0,
        "customers_changed": 0,
    }
    view = store.get_customer(7)
    assert view["loan_transactions"][0]["status"] == "success"
    assert view["features"]["amount_paid_28d"] == 1000.0


def test_window_trim_ttl_and_delete(store: HotStore, client) -> None:
    store.apply([txn(1, 7, "10.00", "success", 27), txn(2, 7, "20.00", "success", 40)])
    assert [t["id"] for t in store.get_customer(7)["loan_transactions"]] == [1]  # 40 days: ignored
    later = HotStore(client, POLICY, clock=lambda: AS_OF + timedelta(days=2))
    later.apply([txn(3, 7, "5.00", "success", 0)])  # any write trims what left the window
    view = later.get_customer(7)
    assert [t["id"] for t in view["loan_transactions"]] == [3]
    assert view["features"]["amount_paid_28d"] == 5.0
    assert not client.hexists(customer_keys(7, [])[0], "loan_transactions:1")
    ttl = client.ttl("tierflow:hot:{7}:loan_transactions")
    assert 28 * 86_400 < ttl <= 29 * 86_400
    gone = Event("loan_transactions", "delete", 3, 7, epoch_micros(AS_OF + timedelta(days=3)), 0.0, {})
    later.apply([gone])
    assert later.get_customer(7)["loan_transactions"] == []
    assert later.get_customer(7)["features"] == {}
    assert later.apply([txn(3, 7, "5.00", "success", 0)])["applied"] == 0  # no resurrection


def test_every_hot_key_keeps_a_ttl_when_ttls_are_refreshed_once_a_day(client) -> None:
    """TTLs are set once a day per key, not on every write: a key emptied and written again the
    same day, a new table or a features hash created again still get theirs, and a key written
    a day later gets a fresh one."""
    clock = {"now": AS_OF}
    store = HotStore(client, POLICY, clock=lambda: clock["now"])

    def assert_every_key_expires() -> None:
        keys = client.keys("tierflow:hot:{7}:*")
        assert keys
        for key in keys:
            assert client.ttl(key) > 28 * 86_400, key

    store.apply([txn(1, 7, "10.00", "success", 1)])
    assert_every_key_expires()
    client.persist("tierflow:hot:{7}:loan_transactions")  # refreshed today: no second EXPIRE
    store.apply([txn(2, 7, "20.00", "success", 1)])
    assert client.ttl("tierflow:hot:{7}:loan_transactions") == -1
    client.expire("tierflow:hot:{7}:loan_transactions", 30 * 86_400)
    # its rows deleted (the keys go), then written again the same day
    for pk in (1, 2):
        store.apply([Event("loan_transactions", "delete", pk, 7, epoch_micros(AS_OF), 0.0, {})])
    assert not client.exists("tierflow:hot:{7}:loan_transactions", "tierflow:hot:{7}:features")
    store.apply([txn(3, 7, "5.00", "success", 1), simple("user_device_apps", 4, 7, 1, category="finance")])
    assert_every_key_expires()
    assert store.get_customer(7)["features"]["amount_paid_28d"] == 5.0

    clock["now"] = AS_OF + timedelta(days=1)
    client.persist("tierflow:hot:{7}:loan_transactions")
    store.apply([txn(5, 7, "1.00", "success", 0)])
    assert_every_key_expires()


def test_memory_budget_from_policy(store: HotStore, client) -> None:
    assert store.apply_memory_budget() is True
    assert client.config_get("maxmemory")["maxmemory"] == str(512 * 1024 * 1024)
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "volatile-ttl"
    assert store.memory()["budget_bytes"] == 512 * 1024 * 1024
    client.config_set("maxmemory", "0")


def test_script_reloaded_after_script_flush(store: HotStore, client) -> None:
    store.apply([txn(1, 7, "10.00", "success", 1)])
    client.script_flush()
    assert store.apply([txn(2, 7, "10.00", "success", 1)])["applied"] == 1


def test_hot_tier_stats(store: HotStore, client) -> None:
    store.apply([txn(1, 7, "10.00", "success", 1), txn(2, 8, "10.00", "success", 3)])
    store.apply([txn(3, 8, "10.00", "success", 2)])
    tier = hot_tier_stats(client, POLICY, AS_OF)
    stats = tier.tables["loan_transactions"]
    # a row hash and an index per customer; the bookkeeping keys belong to no table
    assert (stats.customers, stats.redis_keys, stats.entries) == (2, 4, 3)
    assert (stats.oldest, stats.newest) == (AS_OF - timedelta(days=3), AS_OF - timedelta(days=1))
    assert stats.stale_entries == 0 and not stats.sampled
    assert stats.memory_bytes is not None and stats.memory_bytes > 0
    assert tier.tables["loans"].entries == 0 and tier.used_memory > 0 and tier.reconcile is None
    # the same entries seen 40 days later: every one is past the 28-day window and its day of grace
    later = hot_tier_stats(client, POLICY, AS_OF + timedelta(days=40)).tables["loan_transactions"]
    assert later.stale_entries == 3


def test_versions_one_microsecond_apart_are_told_apart(store: HotStore, client) -> None:
    first = txn(1, 7, "10.00", "initiated", 1)
    second = Event(
        first.table, "upsert", 1, 7, first.version + 1, first.ts, dict(first.row, status="success")
    )
    store.apply([second])
    assert store.apply([first])["skipped"] == 1
    assert client.hget("tierflow:hot:{7}:ver", "loan_transactions:1") == str(second.version).encode()
    assert store.get_customer(7)["loan_transactions"][0]["status"] == "success"


def expected_features(view: dict) -> dict:
    """The features recounted in Python from the stored rows of a customer's view."""
    if not any(
        view[t]
        for t in ("loan_transactions", "communications", "communication_events", "user_device_apps", "loans")
    ):
        return {}
    paid = sum(
        round(float(r["amount"]) * 100)
        for r in view["loan_transactions"]
        if r["status"] == "success" and r["txn_type"] in ("emi_payment", "prepayment")
    )
    apps: dict[str, int] = {}
    for r in view["user_device_apps"]:
        apps[f"apps_{r['category']}_28d"] = apps.get(f"apps_{r['category']}_28d", 0) + 1
    bounced = {r["id"] for r in view["communications"] if r["status"] == "bounced"} | {
        r["communication_id"] for r in view["communication_events"] if r["event_type"] == "bounced"
    }
    return {
        "amount_paid_28d": paid / 100,
        "failed_payments_28d": sum(r["status"] == "failed" for r in view["loan_transactions"]),
        "apps_total_28d": len(view["user_device_apps"]),
        **apps,
        "open_loans_28d": sum(r["status"] in ("approved", "disbursed") for r in view["loans"]),
        "bounced_communications_14d": len(bounced),
    }


def stored(client, customer: int) -> dict:
    """A customer's features and every stored row, read straight from Redis (no window filter and
    no trim on read), so the figures the writes' deltas keep are checked on their own."""
    import json

    keys = customer_keys(
        customer, ("loan_transactions", "communications", "communication_events", "user_device_apps", "loans")
    )
    raw = client.hgetall(keys[1])
    view: dict = {"features": {k.decode(): float(v) for k, v in raw.items()}}
    for i, name in enumerate(
        ("loan_transactions", "communications", "communication_events", "user_device_apps", "loans")
    ):
        view[name] = [json.loads(v) for v in client.hvals(keys[2 + 2 * i])]
    return view


def _changed(rng, table: str, row: dict) -> dict:
    """``row`` with a status, category or amount changed, as the app changes them."""
    new = dict(row)
    if table == "loan_transactions":
        new["status"] = rng.choice(("initiated", "success", "failed"))
        new["amount"] = f"{rng.randint(1, 5000)}.{rng.randint(0, 99):02d}"
    elif table == "user_device_apps":
        new["category"] = rng.choice(("finance", "gaming", "social"))
    elif table == "loans":
        new["status"] = rng.choice(("approved", "disbursed", "closed"))
    elif table == "communications":
        new["status"] = rng.choice(("sent", "bounced"))
    else:
        new["event_type"] = rng.choice(("delivered", "bounced"))
    return new


def _new_row(rng, table: str, pk: int, customer: int, created: datetime) -> dict:
    """A new row of ``table`` for ``customer``, with the columns the features count."""
    row = {"id": pk, "customer_id": customer, "created_at": created.isoformat()}
    if table == "loan_transactions":
        row.update(
            status=rng.choice(("initiated", "success", "failed")),
            txn_type=rng.choice(("emi_payment", "prepayment", "penalty")),
            amount=f"{rng.randint(1, 5000)}.{rng.randint(0, 99):02d}",
        )
    elif table == "user_device_apps":
        row.update(category=rng.choice(("finance", "gaming", "social")))
    elif table == "loans":
        row.update(status=rng.choice(("approved", "disbursed", "closed")))
    elif table == "communications":
        row.update(status=rng.choice(("sent", "bounced")))
    else:
        row.update(event_type=rng.choice(("delivered", "bounced")), communication_id=rng.randint(1, pk))
    return row


def test_features_moved_by_each_write_equal_a_recount(client) -> None:
    """Random upserts, status changes, duplicates, stale versions, deletes and window trims, applied
    batch by batch as the clock moves: the features kept by deltas always equal a recount of the
    stored rows, as does reconciliation's full recompute; a read trims rows that aged out since the
    last write, so what it returns and the features it returns agree too."""
    import random

    rng = random.Random(2024)
    customers = [1, 2, 3]
    rows: dict[tuple[str, int], dict] = {}
    version: dict[tuple[str, int], int] = {}
    pk = 0
    for step in range(40):
        now = AS_OF + timedelta(hours=12 * step)
        store = HotStore(client, POLICY, clock=lambda now=now: now)
        batch = []
        for _ in range(rng.randint(1, 12)):
            customer = rng.choice(customers)
            if rows and rng.random() < 0.45:  # change, repeat, delete or replay an old version
                (table, key) = rng.choice(sorted(rows))
                row, ver = rows[(table, key)], version[(table, key)]
                created = datetime.fromisoformat(row["created_at"])
                roll = rng.random()
                if roll < 0.15:
                    batch.append(Event(table, "delete", key, row["customer_id"], ver + 1, 0.0, {}))
                    version[(table, key)] = ver + 1
                    del rows[(table, key)]
                    continue
                if roll < 0.3:  # exact duplicate or a stale version: must change nothing
                    batch.append(
                        Event(
                            table,
                            "upsert",
                            key,
                            row["customer_id"],
                            ver - rng.randint(0, 1),
                            epoch_seconds(created),
                            row,
                        )
                    )
                    continue
                new = _changed(rng, table, row)
                rows[(table, key)], version[(table, key)] = new, ver + 1
                batch.append(
                    Event(table, "upsert", key, new["customer_id"], ver + 1, epoch_seconds(created), new)
                )
                continue
            pk += 1
            table = rng.choice(
                ("loan_transactions", "user_device_apps", "loans", "communications", "communication_events")
            )
            created = now - timedelta(days=rng.uniform(0, 30))
            row = _new_row(rng, table, pk, customer, created)
            rows[(table, pk)], version[(table, pk)] = row, epoch_micros(created)
            batch.append(
                Event(table, "upsert", pk, customer, epoch_micros(created), epoch_seconds(created), row)
            )
        store.apply(batch)
        for customer in customers:
            kept = stored(client, customer)
            assert kept["features"] == pytest.approx(expected_features(kept)), (step, customer)
            # a read returns only rows inside their windows, with features that count exactly those
            view = store.get_customer(customer)
            assert view["features"] == pytest.approx(expected_features(view)), (step, customer)
    # reconciliation's mode: trim every table (an untouched table keeps rows that aged out until a
    # write touches it) and recompute every feature from what is left; again equal to a recount
    pipe = client.pipeline(transaction=False)
    store.queue_customers(pipe, [(c, []) for c in customers], full=True)
    pipe.execute()
    for customer in customers:
        view = store.get_customer(customer)
        assert view["features"] == pytest.approx(expected_features(view)), customer
