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
from collections.abc import Callable
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
        for event in read_hot_rows(mysql_url, table, table.hot_start(as_of)):
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
    tally = dict.fromkeys(_TALLY, 0)
    for start in range(0, len(customers), chunk_customers):
        chunk = customers[start : start + chunk_customers]
        _reconcile_chunk(store, chunk, expected, snapshot, fresh, moment, tally)
    drifted_keys = tally["changed_keys"] + tally["features_changed"]
    report = {
        "at": utc_now().isoformat(timespec="seconds") + "Z",
        "as_of": moment.isoformat(),
        "customers": len(customers),
        "drifted_keys": drifted_keys,
        "drifted_customers": tally["customers_changed"],
        "repaired": drifted_keys,
        "entries_written": tally["entries_written"],
        "entries_evicted": tally["entries_evicted"],
        "trimmed_keys": tally["trimmed_keys"],
        "future_rows": future_rows,
    }
    store.client.set(RECONCILE_KEY, json.dumps(report))
    log.info("hot_tier_reconciled", **report)
    return report


# What reconcile counts over its chunks: the apply script's summary of the repairing writes, the
# entries written and evicted, and the keys the trim changed before them.
_TALLY = (
    "changed_keys",
    "features_changed",
    "customers_changed",
    "entries_written",
    "entries_evicted",
    "trimmed_keys",
)


def _reconcile_chunk(
    store: HotStore,
    chunk: list[int],
    expected: dict[int, dict[str, Event]],
    snapshot: int,
    fresh: Callable[[int], bool],
    moment: datetime,
    tally: dict[str, int],
) -> None:
    """Trim, compare and repair one chunk of customers; add what it did to ``tally``."""
    # Entries that aged out of their window since the customer's last write are housekeeping,
    # not drift: trim them first, so what follows compares only what MySQL and Redis disagree on.
    with _clock(store, moment):
        trimmed = summarise(store.run(lambda p: store.queue_trim(p, chunk)))
    tally["trimmed_keys"] += trimmed["changed_keys"] + trimmed["features_changed"]
    plans: list[tuple[int, list[tuple]]] = []
    for cid, (have, stored) in zip(chunk, _stored_entries(store, chunk), strict=True):
        ops, written, evicted = _repairs(
            store.table_names, expected.get(cid, {}), have, stored, snapshot, fresh
        )
        tally["entries_written"] += written
        tally["entries_evicted"] += evicted
        plans.append((cid, ops))
    with _clock(store, moment):
        part = summarise(store.run(lambda p: store.queue_customers(p, plans, full=True)))
    for k in ("changed_keys", "features_changed", "customers_changed"):
        tally[k] += part[k]


def _stored_entries(store: HotStore, chunk: list[int]) -> list[tuple[dict[str, int], dict[str, bytes]]]:
    """Per customer of ``chunk`` (one round trip): its applied versions by "table:pk", and its
    stored rows by "table:pk" (an entry is stored only if both its row and its index entry are)."""
    pipe = store.client.pipeline(transaction=False)
    for cid in chunk:
        keys = customer_keys(cid, store.table_names)
        pipe.hgetall(keys[0])
        for i in range(2, len(keys), 2):
            pipe.hgetall(keys[i])
            pipe.zrange(keys[i + 1], 0, -1)
    replies = pipe.execute()
    per = 1 + 2 * len(store.table_names)
    found = []
    for n in range(len(chunk)):
        reply = replies[n * per : (n + 1) * per]
        # "~" fields are the store's TTL days
        have = {k.decode(): int(v) for k, v in reply[0].items() if not k.startswith(b"~")}
        stored: dict[str, bytes] = {}
        for name, rows, idx in zip(store.table_names, reply[1::2], reply[2::2], strict=True):
            stored.update((f"{name}:{pk.decode()}", rows[pk]) for pk in set(rows) & set(idx))
        found.append((have, stored))
    return found


def _repairs(
    table_names: list[str],
    want: dict[str, Event],
    have: dict[str, int],
    stored: dict[str, bytes],
    snapshot: int,
    fresh: Callable[[int], bool],
) -> tuple[list[tuple], int, int]:
    """One customer's repairing ops (as ``HotStore.queue_customers`` takes them), with the entries
    they write and the stored entries they evict."""
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
        if key not in want and table in table_names and version < snapshot:
            ops.append((table, "evict", int(pk), version, 0.0, ""))
            evicted += key in stored
    return ops, written, evicted


class _clock:
    """Run the store's writes as of ``moment`` (the window is relative to the reconcile date)."""

    def __init__(self, store: HotStore, moment: datetime) -> None:
        self.store, self.moment = store, moment

    def __enter__(self) -> None:
        self.saved = self.store.clock
        self.store.clock = lambda: self.moment

    def __exit__(self, *_: object) -> None:
        self.store.clock = self.saved
