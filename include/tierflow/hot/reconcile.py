"""Nightly reconciliation: MySQL is the truth; make the hot tier match it and count the drift.

Entries missing or stale in Redis are written (also where the version is recorded but the row or
its index entry is gone, as after a maxmemory eviction, and where the stored row's content differs
from MySQL's whatever version it carries, as after an event with a wrong version), entries MySQL
no longer has in the window are evicted, features recomputed. Entries that merely aged out of their window are trimmed first
and counted apart (``trimmed_keys``): the window moving on is not drift. All through the store's
idempotent Lua apply; an entry written after the MySQL snapshot was taken is never evicted, so it
is safe to run while the consumer runs. The result is kept in ``tierflow:hot:reconcile:last``.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from tierflow.hot.events import Event, epoch_micros, not_yet, read_hot_rows, row_json, utc_now
from tierflow.hot.store import RECONCILE_KEY, HotStore, customer_keys, summarise
from tierflow.log import get_logger
from tierflow.stores import mysql

log = get_logger(__name__)


def _expected(
    mysql_url: str, store: HotStore, as_of: datetime
) -> tuple[dict[int, dict[str, Event]], int, int]:
    """{customer: {"table:pk": event}} for every MySQL row in its table's hot window, the version
    (MySQL's clock, microseconds) before which every change is in that snapshot, and how many rows
    were left out for a version or time beyond that clock's skew (the consumer refuses those too)."""
    with mysql.connection(mysql_url) as conn:
        cur = conn.cursor()
        cur.execute("SELECT NOW(6)")
        snapshot = epoch_micros(cur.fetchone()[0])
    limit = snapshot / 1_000_000 + store.policy.hot.max_future_skew_s
    expected: dict[int, dict[str, Event]] = {}
    future = 0
    for table in store.tables:
        for event in read_hot_rows(mysql_url, table, table.hot_cutoff(as_of)):
            if not_yet(event, limit):
                future += 1
                continue
            expected.setdefault(event.customer_id, {})[f"{event.table}:{event.pk}"] = event
    return expected, snapshot, future


def reconcile(
    mysql_url: str,
    store: HotStore,
    *,
    as_of: datetime | None = None,
    chunk_customers: int = 500,
) -> dict[str, Any]:
    """Repair the hot tier from MySQL; returns {at, as_of, customers, drifted_keys, repaired,
    trimmed_keys, ...}. Keys changed only because entries aged out of their window count as
    trimmed, not drifted."""
    moment = as_of or store.clock()
    mysql.check_policy(store.policy, mysql_url)
    expected, snapshot, future_rows = _expected(mysql_url, store, moment)
    skew = store.policy.hot.max_future_skew_s

    def fresh(version: int) -> bool:
        """Written after the snapshot by the consumer (the snapshot could not see it), not a
        version from beyond the clock (judged now: a long reconcile sees writes made during it)."""
        return snapshot <= version <= (time.time() + skew) * 1_000_000

    customers = sorted(set(expected) | set(store.customers()))
    totals = {"applied": 0, "skipped": 0, "changed_keys": 0, "features_changed": 0}
    drifted_customers = trimmed_keys = 0
    entries_written = entries_evicted = 0
    for start in range(0, len(customers), chunk_customers):
        chunk = customers[start : start + chunk_customers]
        # Entries that aged out of their window since the customer's last write are housekeeping,
        # not drift: trim them first, so what follows compares only what MySQL and Redis disagree on.
        with _clock(store, moment):
            trimmed = summarise(store.run(lambda p, chunk=chunk: store.queue_trim(p, chunk)))
        trimmed_keys += trimmed["changed_keys"] + trimmed["features_changed"]
        pipe = store.client.pipeline(transaction=False)
        for cid in chunk:
            keys = customer_keys(cid, store.table_names)
            pipe.hgetall(keys[0])
            for i in range(2, len(keys), 2):
                pipe.hgetall(keys[i])
                pipe.zrange(keys[i + 1], 0, -1)
        replies = pipe.execute()
        per = 1 + 2 * len(store.table_names)
        plans: list[tuple[int, list[tuple]]] = []
        for n, cid in enumerate(chunk):
            reply = replies[n * per : (n + 1) * per]
            # versions by "table:pk" ("~" fields are the store's TTL days)
            have = {k.decode(): int(v) for k, v in reply[0].items() if not k.startswith(b"~")}
            # an entry is stored only if both its row and its index entry are there
            stored: dict[str, bytes] = {}
            for name, rows, idx in zip(store.table_names, reply[1::2], reply[2::2], strict=True):
                stored.update((f"{name}:{pk.decode()}", rows[pk]) for pk in set(rows) & set(idx))
            want = expected.get(cid, {})
            ops: list[tuple] = []
            written = evicted = 0
            for key, event in want.items():
                version = have.get(key, -1)
                text = row_json(event.row)
                if version >= event.version and (
                    key not in stored or (not fresh(version) and json.loads(stored[key]) != json.loads(text))
                ):
                    # the entry is gone though its version is recorded, or its row differs from
                    # MySQL's whatever version it carries: clear it, then write MySQL's
                    ops.append((event.table, "evict", event.pk, version, 0.0, ""))
                    version = -1
                if version < event.version:
                    ops.append((event.table, "upsert", event.pk, event.version, event.ts, text))
                    written += 1
            for key, version in have.items():
                table, _, pk = key.partition(":")
                # not in MySQL's window, and written before the snapshot (a newer write may be a
                # row the snapshot could not see yet: the consumer put it there)
                if key not in want and table in store.table_names and version < snapshot:
                    ops.append((table, "evict", int(pk), version, 0.0, ""))
                    evicted += key in stored
            entries_written += written
            entries_evicted += evicted
            plans.append((cid, ops))
        with _clock(store, moment):
            results = store.run(lambda p, plans=plans: store.queue_customers(p, plans, full=True))
        part = summarise(results)
        drifted_customers += part["customers_changed"]
        for k in totals:
            totals[k] += part[k]
    drifted_keys = totals["changed_keys"] + totals["features_changed"]
    report = {
        "at": utc_now().isoformat(timespec="seconds") + "Z",
        "as_of": moment.isoformat(),
        "customers": len(customers),
        "drifted_keys": drifted_keys,
        "drifted_customers": drifted_customers,
        "repaired": drifted_keys,
        "entries_written": entries_written,
        "entries_evicted": entries_evicted,
        "trimmed_keys": trimmed_keys,
        "future_rows": future_rows,
    }
    store.client.set(RECONCILE_KEY, json.dumps(report))
    log.info("hot_tier_reconciled", **report)
    return report


class _clock:
    """Run the store's writes as of ``moment`` (the window is relative to the reconcile date)."""

    def __init__(self, store: HotStore, moment: datetime) -> None:
        self.store, self.moment = store, moment

    def __enter__(self) -> None:
        self.saved = self.store.clock
        self.store.clock = lambda: self.moment

    def __exit__(self, *_: object) -> None:
        self.store.clock = self.saved
