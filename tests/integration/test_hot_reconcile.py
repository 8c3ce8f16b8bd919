"""Seeded MySQL -> events -> consumer -> hot tier; reconciliation repairs drift and an empty Redis."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import redis
from tierflow.hot.consumer import HotConsumer
from tierflow.hot.events import Event, epoch_micros, epoch_seconds, publish_hot_window, replay
from tierflow.hot.reconcile import reconcile
from tierflow.hot.stats import hot_tier_stats
from tierflow.hot.store import RECONCILE_KEY, HotStore
from tierflow.hot.stream import RedisStream
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy
from tierflow.stores import mysql

AS_OF = datetime(2026, 6, 30, 23, 59, 59)
POLICY = load_policy(DEFAULT_POLICY)


def _customers_in_window(url: str) -> list[int]:
    with mysql.connection(url) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT DISTINCT customer_id FROM loan_transactions WHERE created_at >= %s ORDER BY 1",
            (AS_OF - timedelta(days=28),),
        )
        return [r[0] for r in cur.fetchall()]


def _views(store: HotStore, ids: list[int]) -> dict[int, dict]:
    return {cid: store.get_customer(cid) for cid in ids}


@pytest.fixture
def tier_report_settings(seeded_mysql_url, redis_url, warehouse_url, file_archive_uri):
    from tierflow.config import Settings

    return Settings(
        mysql_url=seeded_mysql_url,
        redis_url=redis_url,
        warehouse_url=warehouse_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
    )


@pytest.fixture
def client(redis_url: str):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def test_events_fill_the_hot_tier_and_reconcile_repairs_drift(
    seeded_mysql_url: str, client, redis_server, redis_url: str
) -> None:
    store = HotStore(client, POLICY, clock=lambda: AS_OF)
    stream = RedisStream(client, POLICY.hot.events_stream)
    # what `tierflow seed --publish-events` calls: a redis:// URL means the policy's events stream
    published = publish_hot_window(seeded_mysql_url, redis_url, POLICY, AS_OF.date())
    assert published["loan_transactions"] > 0 and set(published) == {t.name for t in POLICY.hot_tables}
    stats = HotConsumer(store, stream, block_ms=50).run(until_idle=True)
    assert stats.events == sum(published.values()) and stats.dead_lettered == 0

    # The consumer's result is what MySQL says: reconciliation finds nothing to repair.
    first = reconcile(seeded_mysql_url, store)
    assert first["drifted_keys"] == 0, first
    assert first["customers"] > 0
    assert json.loads(client.get(RECONCILE_KEY))["drifted_keys"] == 0

    ids = _customers_in_window(seeded_mysql_url)
    assert ids
    with mysql.connection(seeded_mysql_url) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) "
            "FROM loan_transactions WHERE customer_id = %s AND created_at >= %s",
            (ids[0], AS_OF - timedelta(days=28)),
        )
        count, failed = cur.fetchone()
    view = store.get_customer(ids[0])
    assert len(view["loan_transactions"]) == count
    assert view["features"]["failed_payments_28d"] == failed
    healthy = _views(store, ids)

    # Plant drift: a lost entry, a stale extra entry, corrupted features.
    cid = ids[0]
    lost = view["loan_transactions"][0]["id"]
    client.hdel(f"tierflow:hot:{{{cid}}}:loan_transactions", lost)
    client.zrem(f"tierflow:hot:{{{cid}}}:loan_transactions:idx", lost)
    client.hdel(f"tierflow:hot:{{{cid}}}:ver", f"loan_transactions:{lost}")
    client.hset(f"tierflow:hot:{{{cid}}}:user_device_apps", "999999999", json.dumps({"category": "x"}))
    client.zadd(f"tierflow:hot:{{{cid}}}:user_device_apps:idx", {"999999999": AS_OF.timestamp() - 60})
    client.hset(f"tierflow:hot:{{{cid}}}:ver", "user_device_apps:999999999", 1)
    other = ids[-1]
    client.hset(f"tierflow:hot:{{{other}}}:features", "amount_paid_28d", "123456789.00")
    second = reconcile(seeded_mysql_url, store)
    assert second["drifted_customers"] == 2
    # txn hash and apps hash of cid (its features hash was left intact), features of other
    assert second["drifted_keys"] == 3
    assert second["entries_written"] == 1 and second["entries_evicted"] == 1
    assert _views(store, ids) == healthy

    # Redis restarted empty: reconciliation alone rebuilds it.
    redis_server.restart()
    empty = redis.Redis.from_url(redis_server.url)
    assert empty.dbsize() == 0
    rebuilt_store = HotStore(empty, POLICY, clock=lambda: AS_OF)
    rebuilt = reconcile(seeded_mysql_url, rebuilt_store)
    assert rebuilt["drifted_keys"] > len(ids)
    assert _views(rebuilt_store, ids) == healthy
    assert reconcile(seeded_mysql_url, rebuilt_store)["drifted_keys"] == 0
    empty.close()


def test_a_seed_of_today_published_and_consumed_leaves_no_drift(
    mysql_url: str, client, redis_url: str
) -> None:
    """`make demo`: seed up to today, publish its hot window, consume on the real clock, reconcile
    on the real clock. Every row inside the window now must have been published: no drift."""
    from tierflow.devdata import seed_database
    from tierflow.hot.events import utc_now

    today = utc_now().date()
    seed_database(mysql_url, scale="tiny", years=1, seed=7, as_of=today, recreate=False, progress=False)
    store = HotStore(client, POLICY)
    published = publish_hot_window(mysql_url, redis_url, POLICY, today)
    assert published["loan_transactions"] > 0
    stats = HotConsumer(store, RedisStream(client, POLICY.hot.events_stream), block_ms=50).run(
        until_idle=True
    )
    assert stats.dead_lettered == 0
    result = reconcile(mysql_url, store)
    assert result["drifted_keys"] == 0 and result["entries_written"] == 0, result


def test_replay_since_and_single_table(seeded_mysql_url: str, client) -> None:
    stream = RedisStream(client, "tierflow:events:test")
    counts = replay(seeded_mysql_url, stream, POLICY, as_of=AS_OF, tables=["loans"])
    assert list(counts) == ["loans"] and client.xlen("tierflow:events:test") == counts["loans"]
    recent = replay(seeded_mysql_url, stream, POLICY, since=AS_OF - timedelta(days=1), tables=["loans"])
    assert recent["loans"] <= counts["loans"]


def test_reconcile_trims_entries_past_the_window(seeded_mysql_url: str, client) -> None:
    store = HotStore(client, POLICY, clock=lambda: AS_OF)
    reconcile(seeded_mysql_url, store)
    later = AS_OF + timedelta(days=20)
    moved = reconcile(seeded_mysql_url, store, as_of=later)
    # the window moved on: entries left and features changed, but Redis still agrees with MySQL
    assert moved["trimmed_keys"] > 0
    assert moved["drifted_keys"] == 0 and moved["entries_evicted"] == 0, moved
    oldest = hot_tier_stats(client, POLICY, later).tables["loan_transactions"].oldest
    assert oldest is None or oldest >= later - timedelta(days=28)


def test_reconcile_rewrites_evicted_rows_and_spares_rows_newer_than_its_snapshot(
    seeded_mysql_url: str, client, tier_report_settings
) -> None:
    from tierflow import report as tier_report
    from tierflow.hot.events import Event, epoch_micros, epoch_seconds

    store = HotStore(client, POLICY, clock=lambda: AS_OF)
    reconcile(seeded_mysql_url, store)
    ids = _customers_in_window(seeded_mysql_url)
    healthy = _views(store, ids[:5])
    cid = ids[0]
    # maxmemory evicted the row hash (every entry of it) but the versions are still recorded
    client.delete(f"tierflow:hot:{{{cid}}}:loan_transactions")
    # the consumer applied a row MySQL committed after reconciliation's snapshot was read
    created = AS_OF - timedelta(days=1)
    fresh = Event(
        "user_device_apps",
        "upsert",
        888888888,
        cid,
        epoch_micros(datetime.now() + timedelta(days=1)),
        epoch_seconds(created),
        {"id": 888888888, "customer_id": cid, "category": "finance", "created_at": created.isoformat()},
    )
    store.apply([fresh])
    result = reconcile(seeded_mysql_url, store)
    assert result["entries_written"] == len(healthy[cid]["loan_transactions"])
    view = store.get_customer(cid)
    assert view["loan_transactions"] == healthy[cid]["loan_transactions"]
    assert 888888888 in [a["id"] for a in view["user_device_apps"]]  # not evicted
    # and the tier report shows the hot tier healthy: nothing past its window, no drift left
    assert reconcile(seeded_mysql_url, store)["drifted_keys"] == 0
    r = tier_report.build(tier_report_settings, POLICY, AS_OF)
    assert not [v for v in r.violations if v.kind.startswith(("redis", "hot"))], r.violations


def test_reconcile_repairs_a_row_that_differs_from_mysql_whatever_its_version(
    seeded_mysql_url: str, client
) -> None:
    """A stored version is no proof of content: a far-future version (which no check stopped) or
    a row changed behind its version is replaced by MySQL's row."""
    store = HotStore(client, POLICY, clock=lambda: AS_OF)
    reconcile(seeded_mysql_url, store)  # an empty hot tier filled from MySQL
    a, b = _customers_in_window(seeded_mysql_url)[:2]
    healthy = _views(store, [a, b])

    row = healthy[a]["loan_transactions"][0]
    forged = dict(row, status="success" if row["status"] == "failed" else "failed")
    created = datetime.fromisoformat(row["created_at"])
    far = epoch_micros(datetime(2099, 1, 1))
    store.apply([Event("loan_transactions", "upsert", row["id"], a, far, epoch_seconds(created), forged)])
    row = healthy[b]["loan_transactions"][0]
    client.hset(
        f"tierflow:hot:{{{b}}}:loan_transactions",
        str(row["id"]),
        json.dumps(dict(row, amount="1.00"), separators=(",", ":")),
    )
    assert _views(store, [a, b]) != healthy

    report = reconcile(seeded_mysql_url, store)

    assert report["entries_written"] == 2, report
    assert _views(store, [a, b]) == healthy
    assert reconcile(seeded_mysql_url, store)["drifted_keys"] == 0


def test_reconcile_leaves_alone_a_row_written_after_its_snapshot(seeded_mysql_url: str, client) -> None:
    """A consumer write newer than MySQL's snapshot (within the clock skew) is a change the
    snapshot could not see yet: its different content is not drift."""
    from tierflow.hot.events import utc_now

    store = HotStore(client, POLICY, clock=lambda: AS_OF)
    reconcile(seeded_mysql_url, store)
    cid = _customers_in_window(seeded_mysql_url)[0]
    row = store.get_customer(cid)["loan_transactions"][0]
    newer = dict(row, status="success" if row["status"] == "failed" else "failed")
    created = datetime.fromisoformat(row["created_at"])
    version = epoch_micros(utc_now() + timedelta(seconds=60))
    store.apply(
        [Event("loan_transactions", "upsert", row["id"], cid, version, epoch_seconds(created), newer)]
    )

    report = reconcile(seeded_mysql_url, store)

    assert report["entries_written"] == 0, report
    assert newer in store.get_customer(cid)["loan_transactions"]
