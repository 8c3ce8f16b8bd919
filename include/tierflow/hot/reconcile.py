"""Nightly reconciliation: MySQL is the truth; make the hot tier match it and count the drift.

Entries missing or stale in Redis are written, entries MySQL no longer has in the window are
evicted, old entries trimmed, features recomputed. All through the store's idempotent Lua apply, so
it is safe to run while the consumer runs. The result is kept in ``tierflow:hot:reconcile:last``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tierflow.events import Event, read_hot_rows, row_json, utc_now
from tierflow.hot.store import RECONCILE_KEY, HotStore, customer_keys, summarise
from tierflow.log import get_logger

log = get_logger(__name__)


def _expected(mysql_url: str, store: HotStore, as_of: datetime) -> dict[int, dict[str, Event]]:
    """{customer: {"table:pk": event}} for every MySQL row in its table's hot window."""
    expected: dict[int, dict[str, Event]] = {}
    for table in store.tables:
        for event in read_hot_rows(mysql_url, table, table.hot_cutoff(as_of)):
            expected.setdefault(event.customer_id, {})[f"{event.table}:{event.pk}"] = event
    return expected


def reconcile(
    mysql_url: str,
    store: HotStore,
    *,
    as_of: datetime | None = None,
    chunk_customers: int = 500,
) -> dict[str, Any]:
    """Repair the hot tier from MySQL; returns {at, as_of, customers, drifted_keys, repaired, ...}."""
    moment = as_of or store.clock()
    expected = _expected(mysql_url, store, moment)
    customers = sorted(set(expected) | set(store.customers()))
    totals = {"applied": 0, "skipped": 0, "changed_keys": 0, "features_changed": 0}
    drifted_customers = 0
    entries_written = entries_evicted = 0
    for start in range(0, len(customers), chunk_customers):
        chunk = customers[start : start + chunk_customers]
        pipe = store.client.pipeline(transaction=False)
        for cid in chunk:
            pipe.hgetall(customer_keys(cid, [])[0])
        versions = [{k.decode(): int(v) for k, v in h.items()} for h in pipe.execute()]
        plans: list[tuple[int, list[tuple]]] = []
        for cid, have in zip(chunk, versions, strict=True):
            want = expected.get(cid, {})
            ops: list[tuple] = []
            for key, event in want.items():
                if have.get(key, -1) < event.version:
                    row = row_json(event.row)
                    ops.append((event.table, "upsert", event.pk, event.version, event.ts, row))
            written = len(ops)
            for key, version in have.items():
                table, _, pk = key.partition(":")
                if key not in want and table in store.table_names:
                    ops.append((table, "evict", int(pk), version, 0.0, ""))
            entries_written += written
            entries_evicted += len(ops) - written
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
