"""The report's collectors, one per tier: each reads its tier through that tier's own store and
returns ``TierStats`` per policy table, so a tier's layout can change without touching the rest."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tierflow.config import Settings
from tierflow.policy import Policy, TablePolicy, check_against_schema
from tierflow.report.model import ArchiveStats, MySQLStats, RedisStats, TierStats, UnverifiedEntry, iso

# Exact COUNT(*) below this size; information_schema's estimate above it (marked approximate).
EXACT_COUNT_MAX_BYTES = 512 * 1024**2


def collect_mysql(url: str, policy: Policy, as_of: datetime) -> tuple[dict[str, MySQLStats], int, str]:
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
    result: dict[str, MySQLStats] = {}
    with mysql.connection(url) as conn:
        cur = conn.cursor()
        for table in policy.tables.values():
            size = sizes.get(table.name)
            if size is None:
                result[table.name] = MySQLStats(missing=True)
                continue
            children = mysql.child_rows_exist(fks, table.name)
            result[table.name] = _mysql_table(cur, table, size, table.cutoff(as_of) - grace, children)
    return result, total, db


def _mysql_table(
    cur: Any, table: TablePolicy, size: dict[str, int], limit: datetime, children: list[str]
) -> MySQLStats:
    """One table's stats; ``limit`` is the warm cutoff less the grace, ``children`` the conditions
    that a row still has child rows in MySQL."""
    from tierflow.stores import mysql

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
    # The time column is indexed: a range count over the (few) overdue rows is cheap.
    cur.execute(f"SELECT COUNT(*), MAX({col}) FROM {t} WHERE {col} < %s", (limit,))  # noqa: S608
    overdue, newest_overdue = cur.fetchone()
    # Parent rows that still have child rows in MySQL cannot leave before them (the archive takes
    # children first): past the window, but held, not forgotten.
    held = 0
    if overdue and children:
        cur.execute(
            f"SELECT COUNT(*) FROM {t} AS t WHERE t.{col} < %s AND ({' OR '.join(children)})",  # noqa: S608
            (limit,),
        )
        held = int(cur.fetchone()[0])
    return MySQLStats(
        rows=rows,
        bytes=nbytes,
        oldest=iso(oldest),
        newest=iso(newest),
        approximate=approximate,
        data_bytes=size["data_bytes"],
        index_bytes=size["index_bytes"],
        overdue_rows=int(overdue or 0) - held,
        held_by_children=held,
        newest_overdue=iso(newest_overdue),
        overdue_before=iso(limit),
    )


def collect_redis(url: str, policy: Policy, as_of: datetime) -> tuple[dict[str, RedisStats], dict]:
    """Per hot table: keys (customers holding it), bytes (MEMORY USAGE of a sample, scaled up),
    entries, oldest/newest entry and entries past the hot window, as the hot tier counts them
    (``tierflow.hot.stats``). Also returns Redis memory and the last reconciliation record."""
    from tierflow.hot import hot_tier_stats
    from tierflow.stores import redis as redis_store

    client = redis_store.client(url)
    stats = hot_tier_stats(client, policy, as_of)
    client.close()
    result = {
        name: RedisStats(
            rows=s.customers or s.redis_keys,
            bytes=s.memory_bytes,
            oldest=iso(s.oldest),
            newest=iso(s.newest),
            approximate=s.sampled,
            entries=s.entries,
            stale_entries=s.stale_entries,
            redis_keys=s.redis_keys,
        )
        for name, s in stats.tables.items()
    }
    hot: dict[str, Any] = {"used_memory": stats.used_memory}
    if stats.reconcile is not None:
        hot["reconcile"] = stats.reconcile
    return result, hot


def collect_archive(
    settings: Settings, policy: Policy, database: str, ledger: list[dict[str, Any]] | None
) -> dict[str, ArchiveStats]:
    """Per archived table: files, rows, bytes, oldest/newest partition, partitions not in the ledger.

    ``ledger`` is ``tierflow.archive.ledger.read_entries``; rows come from it when it exists, else
    from the Parquet footers. The objects are listed by ``tierflow.archive.layout.archived_files``.
    """
    from tierflow.archive.layout import archived_files, parquet_rows
    from tierflow.stores.objects import store_for

    store = store_for(settings)
    result: dict[str, ArchiveStats] = {}
    for table in policy.archived_tables:
        files, partitions = archived_files(store, database, table.name)
        stats = ArchiveStats(
            bytes=sum(o.size for o in files),
            oldest=min(partitions) if partitions else None,
            newest=max(partitions) if partitions else None,
            files=len(files),
            partitions=sorted(partitions),
        )
        if ledger is not None:
            entries = [e for e in ledger if e.get("table_name") == table.name]
            _ledger_figures(entries, partitions, f"{database}/{table.name}/", stats)
        else:
            stats.rows = parquet_rows(store, [o.key for o in files])
            stats.rows_from = "parquet footers"
        result[table.name] = stats
    return result


def _ledger_figures(
    entries: list[dict[str, Any]], partitions: dict[str, list[str]], prefix: str, stats: ArchiveStats
) -> None:
    """A table's archived rows by its ledger ``entries``, and the partitions and entries the ledger
    does not vouch for, into ``stats``."""
    from tierflow.archive.layout import partition_value
    from tierflow.archive.ledger import ARCHIVED_STATES, CLOSED_STATES

    good = [e for e in entries if str(e.get("state", "")).lower() in ARCHIVED_STATES]
    rows = sum(int(e.get("row_count") or 0) for e in good)
    ledgered = {partition_value(str(p)) for e in entries for p in e.get("partitions", [])}
    ledgered_keys = {str(k).split(prefix, 1)[-1] for e in entries for k in e.get("object_keys", [])}
    # File by file when the ledger names its objects, else partition by partition.
    stats.unledgered_partitions = [
        p
        for p, keys in sorted(partitions.items())
        if (any(k[len(prefix) :] not in ledgered_keys for k in keys) if ledgered_keys else p not in ledgered)
    ]
    last_good = max((int(e.get("id") or 0) for e in good), default=0)
    stats.unverified_entries = [
        UnverifiedEntry(state=e.get("state"), partitions=e.get("partitions"))
        for e in entries
        if str(e.get("state", "")).lower() not in ARCHIVED_STATES
        and not (str(e.get("state", "")).lower() in CLOSED_STATES and int(e.get("id") or 0) < last_good)
    ]
    stats.rows = rows
    stats.rows_from = "ledger"


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
