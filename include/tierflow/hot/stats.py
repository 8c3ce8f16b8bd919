"""What the hot tier holds, per table: customers, entries, memory, oldest and newest entry, entries
past the window; and the last reconciliation's record. The tier report reads the hot tier here.

Read from the layout of ``tierflow.hot.store``: per customer c and hot table T, a hash
``tierflow:hot:{c}:T`` (pk -> row) and a sorted set ``tierflow:hot:{c}:T:idx`` (pk by epoch seconds,
UTC), plus bookkeeping keys (``:ver``, ``:features``, ``reconcile:last``) that belong to no table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tierflow.hot.events import epoch_seconds
from tierflow.hot.store import PREFIX, RECONCILE_KEY
from tierflow.policy import Policy, TablePolicy

# Last segments of the keys that hold no table's entries.
BOOKKEEPING = {"ver", "features", "reconcile", "last", "dead"}
# How long past its window a Redis entry may live: writes trim, reconciliation trims nightly.
GRACE = timedelta(days=1)
# Keys per table whose MEMORY USAGE is read; the table's bytes are scaled up from them.
MEMORY_SAMPLE = 200
_CHUNK = 1000


@dataclass(frozen=True)
class HotTableStats:
    """One table in the hot tier. Times are naive UTC."""

    customers: int  # customers holding the table (its ``:idx`` sorted sets)
    redis_keys: int  # every key of the table (row hashes and indexes)
    entries: int
    stale_entries: int  # entries older than the window by more than GRACE
    oldest: datetime | None
    newest: datetime | None
    memory_bytes: int | None  # MEMORY USAGE of up to MEMORY_SAMPLE keys, scaled up to all of them
    sampled: bool  # memory_bytes is an estimate from a sample


@dataclass(frozen=True)
class HotTierStats:
    tables: dict[str, HotTableStats]
    used_memory: int
    # the last reconciliation's record; {"error": ...} when it cannot be read; None before the first
    reconcile: dict[str, Any] | None = None


def table_of_key(key: str, tables: Iterable[str]) -> str | None:
    """The policy table a hot-tier key holds (a segment of the key names it); None otherwise."""
    if not key.startswith(PREFIX):
        return None
    known = set(tables)
    segments = key[len(PREFIX) :].split(":")
    if BOOKKEEPING & set(segments[-1:]):
        return None
    return next((seg for seg in segments if seg in known), None)


def hot_tier_stats(client: Any, policy: Policy, as_of: datetime) -> HotTierStats:
    """Per policy table with a hot window or keys in Redis: its ``HotTableStats`` as of ``as_of``
    (SCAN over the hot tier's keys); with Redis memory and the last reconciliation's record."""
    names = list(policy.tables)
    indexes: dict[str, list[bytes]] = {}
    samples: dict[str, list[bytes]] = {}
    key_counts: dict[str, int] = {}
    for key, key_type in _scan_with_types(client):
        table = table_of_key(key.decode(errors="replace"), names)
        if table is None:
            continue
        key_counts[table] = key_counts.get(table, 0) + 1
        if len(samples.setdefault(table, [])) < MEMORY_SAMPLE:
            samples[table].append(key)
        if key_type == b"zset":
            indexes.setdefault(table, []).append(key)
    tables = {
        table.name: _table_stats(
            client, table, as_of, indexes.get(table.name, []), samples.get(table.name, []), key_counts
        )
        for table in policy.tables.values()
        if table.hot_window_days or key_counts.get(table.name)
    }
    used = int(client.info("memory").get("used_memory", 0))
    return HotTierStats(tables=tables, used_memory=used, reconcile=last_reconcile(client))


def last_reconcile(client: Any) -> dict[str, Any] | None:
    """The record the last reconciliation left, {"error": ...} if it is not JSON, None if none."""
    raw = client.get(RECONCILE_KEY)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return {"error": f"{RECONCILE_KEY} holds malformed JSON"}


def _table_stats(
    client: Any,
    table: TablePolicy,
    as_of: datetime,
    zsets: list[bytes],
    sample: list[bytes],
    key_counts: dict[str, int],
) -> HotTableStats:
    cutoff = table.hot_cutoff(as_of)
    # any write trims a customer's table and reconciliation trims them all nightly, so an entry
    # may outlive its window by up to a day before it is a violation
    cutoff = cutoff - GRACE if cutoff else None
    entries, stale, oldest, newest = _index_figures(client, zsets, cutoff)
    memory = None
    if sample:
        pipe = client.pipeline(transaction=False)
        for k in sample:
            pipe.memory_usage(k, samples=0)
        used = [int(b or 0) for b in pipe.execute()]
        memory = int(sum(used) / len(used) * key_counts[table.name])
    keys = key_counts.get(table.name, 0)
    return HotTableStats(
        customers=len(zsets),
        redis_keys=keys,
        entries=entries,
        stale_entries=stale,
        oldest=_score_time(oldest) if oldest is not None else None,
        newest=_score_time(newest) if newest is not None else None,
        memory_bytes=memory,
        sampled=keys > len(sample),
    )


def _index_figures(
    client: Any, zsets: list[bytes], cutoff: datetime | None
) -> tuple[int, int, float | None, float | None]:
    """(entries, entries before ``cutoff``, oldest score, newest score) over the ``:idx`` sets."""
    below = f"({epoch_seconds(cutoff)!r}" if cutoff else "-inf"
    oldest = newest = None
    entries = stale = 0
    for start in range(0, len(zsets), _CHUNK):
        pipe = client.pipeline(transaction=False)
        for k in zsets[start : start + _CHUNK]:
            pipe.zcard(k)
            pipe.zrange(k, 0, 0, withscores=True)
            pipe.zrange(k, -1, -1, withscores=True)
            pipe.zcount(k, "-inf", below)
        replies = pipe.execute()
        for i in range(0, len(replies), 4):
            card, first, last, old = replies[i : i + 4]
            entries += int(card)
            if first:
                lo = first[0][1]
                oldest = lo if oldest is None else min(oldest, lo)
            if last:
                hi = last[0][1]
                newest = hi if newest is None else max(newest, hi)
            stale += int(old) if cutoff else 0
    return entries, stale, oldest, newest


def _score_time(score: float) -> datetime:
    return datetime.fromtimestamp(score, UTC).replace(tzinfo=None)


def _scan_with_types(client: Any) -> Iterable[tuple[bytes, bytes]]:
    batch: list[bytes] = []
    for key in client.scan_iter(match=PREFIX + "*", count=_CHUNK):
        batch.append(key)
        if len(batch) >= _CHUNK:
            yield from _types(client, batch)
            batch = []
    if batch:
        yield from _types(client, batch)


def _types(client: Any, keys: list[bytes]) -> Iterable[tuple[bytes, bytes]]:
    pipe = client.pipeline(transaction=False)
    for k in keys:
        pipe.type(k)
    return zip(keys, pipe.execute(), strict=True)
