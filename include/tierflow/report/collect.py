"""The report's collectors, one per tier: each reads its tier through that tier's own store and
returns ``TierStats`` per policy table, so a tier's layout can change without touching the rest."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from tierflow.config import Settings
from tierflow.policy import Policy, check_against_schema
from tierflow.report.model import TierStats, iso, partition_value

HOT_PREFIX = "tierflow:hot:"
RECONCILE_KEY = "tierflow:hot:reconcile:last"
LEDGER_TABLE = "tierflow_archive_ledger"
LEDGER_GOOD_STATES = {"verified", "deleted", "restored"}
# Batches closed with every row still in MySQL and their objects removed: the last word on a table
# until one of its batches is archived after them, then history.
LEDGER_CLOSED_STATES = {"failed", "abandoned"}
# Exact COUNT(*) below this size; information_schema's estimate above it (marked approximate).
EXACT_COUNT_MAX_BYTES = 512 * 1024**2
REDIS_MEMORY_SAMPLE = 200

# The hot tier's layout (tierflow.hot.store): per customer c and hot table T, a hash
# ``tierflow:hot:{c}:T`` (pk -> row) and a sorted set ``tierflow:hot:{c}:T:idx`` (pk by epoch seconds,
# UTC), plus bookkeeping keys (``:ver``, ``:features``, ``reconcile:last``) that belong to no table.
HOT_BOOKKEEPING = {"ver", "features", "reconcile", "last", "dead"}


def collect_mysql(url: str, policy: Policy, as_of: datetime) -> tuple[dict[str, TierStats], int, str]:
    """Per policy table: rows, data/index bytes, oldest/newest row, rows past warm window + grace.

    Returns ({table: stats}, database bytes (data + index of every table), database name).
    """
    from tierflow.stores import mysql

    db = mysql.database_of(url)
    # Every table and column used below is checked against the live schema first.
    check_against_schema(policy, mysql.columns_by_table(url))
    sizes = mysql.table_sizes(url)
    total = sum(s["data_bytes"] + s["index_bytes"] for s in sizes.values())
    grace = timedelta(days=policy.database.grace_days)
    fks = mysql.foreign_keys(url)
    result: dict[str, TierStats] = {}
    with mysql.connection(url) as conn:
        cur = conn.cursor()
        for table in policy.tables.values():
            size = sizes.get(table.name)
            if size is None:
                result[table.name] = TierStats(extra={"missing": True})
                continue
            t, col = mysql.quote_ident(table.name), mysql.quote_ident(table.time_column)
            cur.execute(f"SELECT MIN({col}), MAX({col}) FROM {t}")  # noqa: S608
            oldest, newest = cur.fetchone()
            nbytes = size["data_bytes"] + size["index_bytes"]
            approximate = nbytes > EXACT_COUNT_MAX_BYTES
            if approximate:
                rows = size["rows"]
            else:
                cur.execute(f"SELECT COUNT(*) FROM {t}")  # noqa: S608
                rows = int(cur.fetchone()[0])
            limit = table.cutoff(as_of) - grace
            # The time column is indexed: a range count over the (few) overdue rows is cheap.
            cur.execute(f"SELECT COUNT(*), MAX({col}) FROM {t} WHERE {col} < %s", (limit,))  # noqa: S608
            overdue, newest_overdue = cur.fetchone()
            # Parent rows that still have child rows in MySQL cannot leave before them (the
            # archive takes children first): past the window, but held, not forgotten.
            held = 0
            children = mysql.child_rows_exist(fks, table.name)
            if overdue and children:
                cur.execute(
                    f"SELECT COUNT(*) FROM {t} AS t WHERE t.{col} < %s AND ({' OR '.join(children)})",  # noqa: S608
                    (limit,),
                )
                held = int(cur.fetchone()[0])
            result[table.name] = TierStats(
                rows=rows,
                bytes=nbytes,
                oldest=iso(oldest),
                newest=iso(newest),
                approximate=approximate,
                extra={
                    "data_bytes": size["data_bytes"],
                    "index_bytes": size["index_bytes"],
                    "overdue_rows": int(overdue or 0) - held,
                    "held_by_children": held,
                    "newest_overdue": iso(newest_overdue),
                    "overdue_before": iso(limit),
                },
            )
    return result, total, db


def hot_table_of(key: str, tables: Iterable[str]) -> str | None:
    """The policy table a hot-tier key holds (a segment of the key names it); None otherwise."""
    if not key.startswith(HOT_PREFIX):
        return None
    known = set(tables)
    segments = key[len(HOT_PREFIX) :].split(":")
    if HOT_BOOKKEEPING & set(segments[-1:]):
        return None
    return next((seg for seg in segments if seg in known), None)


def _utc_epoch(moment: datetime) -> float:
    # Naive datetimes are UTC throughout (MySQL DATETIME columns and hot-tier scores hold UTC).
    return moment.replace(tzinfo=UTC).timestamp() if moment.tzinfo is None else moment.timestamp()


def _score_time(score: float) -> datetime:
    return datetime.fromtimestamp(score, UTC).replace(tzinfo=None)


# How long past its window a Redis entry may live: writes trim, reconciliation trims nightly.
HOT_GRACE = timedelta(days=1)


def collect_redis(url: str, policy: Policy, as_of: datetime) -> tuple[dict[str, TierStats], dict]:
    """Per hot table: keys (customers holding it), bytes (MEMORY USAGE of a sample, scaled up),
    entries, oldest/newest entry and entries past the hot window (from the ``:idx`` sorted sets).
    Also returns Redis memory and the last reconciliation record."""
    from tierflow.stores import redis as redis_store

    client = redis_store.client(url)
    names = list(policy.tables)
    indexes: dict[str, list[bytes]] = {}
    all_keys: dict[str, list[bytes]] = {}
    key_counts: dict[str, int] = {}
    for key, key_type in _scan_with_types(client):
        table = hot_table_of(key.decode(errors="replace"), names)
        if table is None:
            continue
        key_counts[table] = key_counts.get(table, 0) + 1
        if len(all_keys.setdefault(table, [])) < REDIS_MEMORY_SAMPLE:
            all_keys[table].append(key)
        if key_type == b"zset":
            indexes.setdefault(table, []).append(key)

    result: dict[str, TierStats] = {}
    for table in policy.tables.values():
        zsets = indexes.get(table.name, [])
        if not table.hot_window_days and not key_counts.get(table.name):
            continue
        cutoff = table.hot_cutoff(as_of)
        # any write trims a customer's table and reconciliation trims them all nightly, so an
        # entry may outlive its window by up to a day before it is a violation
        cutoff = cutoff - HOT_GRACE if cutoff else None
        below = f"({_utc_epoch(cutoff)!r}" if cutoff else "-inf"
        oldest = newest = None
        entries = stale = 0
        for start in range(0, len(zsets), 1000):
            pipe = client.pipeline(transaction=False)
            for k in zsets[start : start + 1000]:
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
        memory = None
        sample = all_keys.get(table.name, [])
        if sample:
            pipe = client.pipeline(transaction=False)
            for k in sample:
                pipe.memory_usage(k, samples=0)
            used = [int(b or 0) for b in pipe.execute()]
            memory = int(sum(used) / len(used) * key_counts[table.name])
        result[table.name] = TierStats(
            rows=len(zsets) if zsets else key_counts.get(table.name, 0),
            bytes=memory,
            oldest=iso(_score_time(oldest)) if oldest is not None else None,
            newest=iso(_score_time(newest)) if newest is not None else None,
            approximate=key_counts.get(table.name, 0) > len(sample),
            extra={"entries": entries, "stale_entries": stale, "redis_keys": key_counts.get(table.name, 0)},
        )
    hot: dict[str, Any] = {"used_memory": int(client.info("memory").get("used_memory", 0))}
    raw = client.get(RECONCILE_KEY)
    if raw:
        try:
            hot["reconcile"] = json.loads(raw)
        except ValueError:
            hot["reconcile"] = {"error": f"{RECONCILE_KEY} holds malformed JSON"}
    client.close()
    return result, hot


def _scan_with_types(client) -> Iterable[tuple[bytes, bytes]]:
    batch: list[bytes] = []
    for key in client.scan_iter(match=HOT_PREFIX + "*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            yield from _types(client, batch)
            batch = []
    if batch:
        yield from _types(client, batch)


def _types(client, keys: list[bytes]) -> Iterable[tuple[bytes, bytes]]:
    pipe = client.pipeline(transaction=False)
    for k in keys:
        pipe.type(k)
    return zip(keys, pipe.execute(), strict=True)


def read_ledger(url: str) -> list[dict[str, Any]] | None:
    """Entries of the archive ledger in MySQL, or None when the archive has not created it."""
    from tierflow.stores import mysql

    with mysql.connection(url) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (mysql.database_of(url), LEDGER_TABLE),
        )
        columns = {r[0].lower() for r in cur.fetchall()}
        if not columns:
            return None
        wanted = ["id", "table_name", "state", "row_count", "bytes", "object_keys", "partitions"]
        present = [c for c in wanted if c in columns]
        cur.execute(f"SELECT {', '.join(present)} FROM {mysql.quote_ident(LEDGER_TABLE)}")  # noqa: S608
        entries = []
        for row in cur.fetchall():
            entry = dict(zip(present, row, strict=True))
            for col in ("object_keys", "partitions"):
                value = entry.get(col)
                if isinstance(value, bytes | str):
                    try:
                        value = json.loads(value)
                    except ValueError:
                        value = [value]
                entry[col] = list(value or [])
            entries.append(entry)
        return entries


def collect_archive(
    settings: Settings, policy: Policy, database: str, ledger: list[dict[str, Any]] | None
) -> dict[str, TierStats]:
    """Per archived table: files, rows, bytes, oldest/newest partition, partitions not in the ledger.

    Layout: ``<archive-uri>/<database>/<table>/dt=YYYY-MM-DD|YYYY-MM/*.parquet``. Rows come from
    the ledger when it exists, else from the Parquet footers.
    """
    from tierflow.stores.objects import store_for

    store = store_for(settings)
    result: dict[str, TierStats] = {}
    for table in policy.archived_tables:
        prefix = f"{database}/{table.name}/"
        files = [o for o in store.list(prefix) if o.key.endswith(".parquet")]
        partitions: dict[str, list[str]] = {}
        for obj in files:
            part = next((p for p in obj.key[len(prefix) :].split("/") if p.startswith("dt=")), None)
            if part:
                partitions.setdefault(partition_value(part), []).append(obj.key)
        extra: dict[str, Any] = {"partitions": sorted(partitions)}
        if ledger is not None:
            entries = [e for e in ledger if e.get("table_name") == table.name]
            good = [e for e in entries if str(e.get("state", "")).lower() in LEDGER_GOOD_STATES]
            rows = sum(int(e.get("row_count") or 0) for e in good)
            ledgered = {partition_value(str(p)) for e in entries for p in e.get("partitions", [])}
            ledgered_keys = {str(k).split(prefix, 1)[-1] for e in entries for k in e.get("object_keys", [])}
            # File by file when the ledger names its objects, else partition by partition.
            unledgered = [
                p
                for p, keys in sorted(partitions.items())
                if (
                    any(k[len(prefix) :] not in ledgered_keys for k in keys)
                    if ledgered_keys
                    else p not in ledgered
                )
            ]
            extra["unledgered_partitions"] = unledgered
            last_good = max((int(e.get("id") or 0) for e in good), default=0)
            extra["unverified_entries"] = [
                {"state": e.get("state"), "partitions": e.get("partitions")}
                for e in entries
                if str(e.get("state", "")).lower() not in LEDGER_GOOD_STATES
                and not (
                    str(e.get("state", "")).lower() in LEDGER_CLOSED_STATES
                    and int(e.get("id") or 0) < last_good
                )
            ]
            extra["rows_from"] = "ledger"
        else:
            rows = _parquet_rows(store, [o.key for o in files])
            extra["rows_from"] = "parquet footers"
        result[table.name] = TierStats(
            rows=rows,
            bytes=sum(o.size for o in files),
            oldest=min(partitions) if partitions else None,
            newest=max(partitions) if partitions else None,
            extra={"files": len(files), **extra},
        )
    return result


def _parquet_rows(store, keys: list[str]) -> int:
    import pyarrow.parquet as pq

    total = 0
    for key in keys:
        with store.open(key) as fh:
            total += pq.ParquetFile(fh).metadata.num_rows
    return total


def collect_warehouse(url: str, policy: Policy, aws: Settings | None = None) -> dict[str, TierStats]:
    """Rows (and oldest/newest by the policy time column) in ``raw.<table>``, once loaded
    (on Redshift signed in with ``aws``'s region and keys)."""
    from tierflow.stores import warehouse

    result: dict[str, TierStats] = {}
    with warehouse.connection(url, autocommit=True, aws=aws) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'raw'"
        )
        columns: dict[str, set[str]] = {}
        for table_name, column in cur.fetchall():
            columns.setdefault(table_name, set()).add(column)
        for table in policy.warehouse_tables:
            if table.name not in columns:
                continue
            # Table names come from the validated policy and were just seen in information_schema.
            if table.time_column in columns[table.name]:
                cur.execute(
                    f'SELECT COUNT(*), MIN("{table.time_column}"), MAX("{table.time_column}") '  # noqa: S608
                    f'FROM raw."{table.name}"'
                )
                rows, oldest, newest = cur.fetchone()
            else:
                cur.execute(f'SELECT COUNT(*) FROM raw."{table.name}"')  # noqa: S608
                rows, oldest, newest = cur.fetchone()[0], None, None
            result[table.name] = TierStats(rows=int(rows), oldest=iso(oldest), newest=iso(newest))
    return result
