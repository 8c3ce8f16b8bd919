"""The tier report: where every policy table's data sits (Redis, MySQL, archive, warehouse), and
which of it sits in the wrong tier. ``collect`` reads the tiers, ``evaluate`` turns what it read
into violations, ``render_table``/``to_json`` print it; daily reports are kept in the archive store.

Each tier has one small collector, so a tier's layout can change without touching the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tierflow.config import Settings
from tierflow.errors import ServiceUnavailable, TierflowError
from tierflow.log import get_logger
from tierflow.policy import Policy, TablePolicy, check_against_schema

log = get_logger(__name__)

GB = 1024**3
HOT_PREFIX = "tierflow:hot:"
RECONCILE_KEY = "tierflow:hot:reconcile:last"
LEDGER_TABLE = "tierflow_archive_ledger"
LEDGER_GOOD_STATES = {"verified", "deleted", "restored"}
# Batches closed with every row still in MySQL and their objects removed: the last word on a table
# until one of its batches is archived after them, then history.
LEDGER_CLOSED_STATES = {"failed", "abandoned"}
REPORTS_PREFIX = "reports"
REPORT_FILE = "tier_report.json"
# A forecast this close to a cap is a finding even while the database is below it.
CAP_FORECAST_DAYS = 30
# Exact COUNT(*) below this size; information_schema's estimate above it (marked approximate).
EXACT_COUNT_MAX_BYTES = 512 * 1024**2
REDIS_MEMORY_SAMPLE = 200

# The hot tier's layout (tierflow.hot.store): per customer c and hot table T, a hash
# ``tierflow:hot:{c}:T`` (pk -> row) and a sorted set ``tierflow:hot:{c}:T:idx`` (pk by epoch seconds,
# UTC), plus bookkeeping keys (``:ver``, ``:features``, ``reconcile:last``) that belong to no table.
HOT_BOOKKEEPING = {"ver", "features", "reconcile", "last", "dead"}


# ----------------------------------------------------------------------------------------------
# Data model


@dataclass
class TierStats:
    """One table in one tier. ``None`` means the tier does not hold this table (or is not built)."""

    rows: int | None = None
    bytes: int | None = None
    oldest: str | None = None
    newest: str | None = None
    approximate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TableReport:
    name: str
    time_column: str
    hot_window_days: int | None
    warm_window_days: int
    warm_cutoff: str
    hot_cutoff: str | None
    redis: TierStats | None = None
    mysql: TierStats | None = None
    archive: TierStats | None = None
    warehouse: TierStats | None = None
    # Months (YYYY-MM) present in each tier, for the chart.
    months: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Violation:
    kind: str
    message: str
    table: str | None = None
    severity: str = "violation"  # "violation" fails --strict; "finding" is shown but does not
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatabaseSize:
    name: str
    bytes: int
    soft_cap_bytes: int
    hard_cap_bytes: int
    growth_bytes_per_day: float | None = None
    days_until_soft_cap: float | None = None
    days_until_hard_cap: float | None = None
    history_days: int = 0


@dataclass
class Report:
    generated_at: str
    as_of: str
    policy: str
    database: DatabaseSize
    tables: list[TableReport]
    violations: list[Violation] = field(default_factory=list)
    hot: dict[str, Any] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)

    @property
    def red(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "violation"]

    @property
    def findings(self) -> list[Violation]:
        return [v for v in self.violations if v.severity != "violation"]

    @property
    def status(self) -> str:
        if self.red:
            return "red"
        return "amber" if self.findings else "green"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        def stats(d: dict | None) -> TierStats | None:
            return TierStats(**d) if d is not None else None

        tables = []
        for t in data["tables"]:
            t = dict(t)
            for tier in ("redis", "mysql", "archive", "warehouse"):
                t[tier] = stats(t.get(tier))
            tables.append(TableReport(**t))
        return cls(
            generated_at=data["generated_at"],
            as_of=data["as_of"],
            policy=data["policy"],
            database=DatabaseSize(**data["database"]),
            tables=tables,
            violations=[Violation(**v) for v in data.get("violations", [])],
            hot=data.get("hot", {}),
            unreachable=data.get("unreachable", {}),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Report:
        return cls.from_dict(json.loads(text))


# ----------------------------------------------------------------------------------------------
# Helpers


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _as_datetime(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, datetime.min.time())


def month_range(first: str | None, last: str | None) -> list[str]:
    """Every YYYY-MM from the month of ``first`` to the month of ``last`` (ISO dates/timestamps)."""
    if not first or not last:
        return []
    y, m = int(first[:4]), int(first[5:7])
    ly, lm = int(last[:4]), int(last[5:7])
    months = []
    while (y, m) <= (ly, lm) and len(months) < 1200:
        months.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def partition_value(partition: str) -> str:
    """``dt=2024-01-05`` / ``2024-01-05`` / ``dt=2024-01`` -> the date part."""
    return partition.split("=", 1)[1] if "=" in partition else partition


def human_bytes(n: int | float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


# ----------------------------------------------------------------------------------------------
# Collectors, one per tier


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
                oldest=_iso(oldest),
                newest=_iso(newest),
                approximate=approximate,
                extra={
                    "data_bytes": size["data_bytes"],
                    "index_bytes": size["index_bytes"],
                    "overdue_rows": int(overdue or 0) - held,
                    "held_by_children": held,
                    "newest_overdue": _iso(newest_overdue),
                    "overdue_before": _iso(limit),
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
            oldest=_iso(_score_time(oldest)) if oldest is not None else None,
            newest=_iso(_score_time(newest)) if newest is not None else None,
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


def collect_warehouse(url: str, policy: Policy) -> dict[str, TierStats]:
    """Rows (and oldest/newest by the policy time column) in ``raw.<table>``, once loaded."""
    from tierflow.stores import warehouse

    result: dict[str, TierStats] = {}
    with warehouse.connection(url, autocommit=True) as conn:
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
            result[table.name] = TierStats(rows=int(rows), oldest=_iso(oldest), newest=_iso(newest))
    return result


# ----------------------------------------------------------------------------------------------
# Evaluation


def growth(history: list[tuple[date, int]], today: date, current: int) -> tuple[float | None, int]:
    """Bytes per day from stored daily sizes (least-squares over the last 30 days) and today's."""
    points = {d: b for d, b in history if today - timedelta(days=30) <= d < today}
    points[today] = current
    if len(points) < 2:
        return None, len(points)
    xs = [(d - today).days for d in points]
    ys = list(points.values())
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return None, len(points)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var
    return slope, len(points)


def evaluate(report: Report, policy: Policy) -> list[Violation]:
    """Every violation and finding in a collected report (pure: no I/O)."""
    found: list[Violation] = []
    for t in report.tables:
        m = t.mysql
        if m and m.extra.get("overdue_rows"):
            found.append(
                Violation(
                    "mysql_past_window",
                    f"{t.name}: {m.extra['overdue_rows']} MySQL row(s) older than the warm window "
                    f"({t.warm_window_days} d) + grace ({policy.database.grace_days} d): "
                    f"{t.time_column} before {m.extra['overdue_before']}, oldest {m.oldest}. "
                    "Run the archive (nightly_archive) for this table.",
                    table=t.name,
                    details={"rows": m.extra["overdue_rows"], "oldest": m.oldest},
                )
            )
        if m and m.extra.get("held_by_children"):
            found.append(
                Violation(
                    "mysql_held_by_children",
                    f"{t.name}: {m.extra['held_by_children']} MySQL row(s) older than the warm window "
                    f"+ grace still have child rows in MySQL (foreign keys); they are archived after "
                    "their children.",
                    table=t.name,
                    details={"rows": m.extra["held_by_children"]},
                    severity="finding",
                )
            )
        r = t.redis
        if r and r.extra.get("stale_entries"):
            found.append(
                Violation(
                    "redis_past_window",
                    f"{t.name}: {r.extra['stale_entries']} Redis entr(ies) older than the hot window "
                    f"({t.hot_window_days} d, before {t.hot_cutoff}) + 1 d of grace, oldest {r.oldest}. "
                    "Run hot_tier_reconcile to trim them.",
                    table=t.name,
                    details={"entries": r.extra["stale_entries"], "oldest": r.oldest},
                )
            )
        if r and r.rows and not t.hot_window_days:
            found.append(
                Violation(
                    "redis_not_hot",
                    f"{t.name}: {r.rows} Redis key(s) for a table the policy keeps out of the hot tier.",
                    table=t.name,
                )
            )
        a = t.archive
        if a and a.extra.get("unledgered_partitions"):
            parts = a.extra["unledgered_partitions"]
            found.append(
                Violation(
                    "archive_partition_unledgered",
                    f"{t.name}: {len(parts)} archive partition(s) not in {LEDGER_TABLE}: "
                    f"{', '.join(parts[:5])}{' ...' if len(parts) > 5 else ''}. "
                    "An archive run wrote files it did not record; re-run or clean up.",
                    table=t.name,
                    details={"partitions": parts},
                )
            )
        if a and a.extra.get("uncataloged_partitions"):
            parts = a.extra["uncataloged_partitions"]
            found.append(
                Violation(
                    "archive_partition_uncataloged",
                    f"{t.name}: {len(parts)} archive partition(s) missing from the catalog: "
                    f"{', '.join(parts[:5])}{' ...' if len(parts) > 5 else ''}.",
                    table=t.name,
                    details={"partitions": parts},
                )
            )
        if a and a.extra.get("unverified_entries"):
            entries = a.extra["unverified_entries"]
            states = sorted({str(e["state"]) for e in entries})
            found.append(
                Violation(
                    "ledger_unverified",
                    f"{t.name}: {len(entries)} ledger entr(ies) not verified (state {', '.join(states)}). "
                    "Run the archive's verify step or re-run nightly_archive.",
                    table=t.name,
                    details={"entries": entries[:20]},
                )
            )

    db = report.database
    if db.bytes > db.hard_cap_bytes:
        found.append(Violation("database_hard_cap", _cap_message(db, "hard", db.hard_cap_bytes)))
    elif db.bytes > db.soft_cap_bytes:
        found.append(Violation("database_soft_cap", _cap_message(db, "soft", db.soft_cap_bytes)))
    elif db.days_until_soft_cap is not None and db.days_until_soft_cap <= CAP_FORECAST_DAYS:
        found.append(
            Violation(
                "database_cap_forecast",
                f"database {db.name}: {human_bytes(db.bytes)}, growing {human_bytes(db.growth_bytes_per_day)}"
                f"/day, reaches the soft cap in {db.days_until_soft_cap:.0f} days.",
                severity="finding",
            )
        )

    reconcile = report.hot.get("reconcile")
    if isinstance(reconcile, dict):
        drifted = reconcile.get("drifted_keys")
        if drifted:
            found.append(
                Violation(
                    "hot_drift",
                    f"hot tier: the last reconciliation ({reconcile.get('finished_at') or reconcile.get('at') or '?'}) "
                    f"repaired {drifted} drifted key(s): events were missed or applied late.",
                    severity="finding",
                    details={"drifted_keys": drifted},
                )
            )
        elif "error" in reconcile:
            found.append(Violation("hot_drift", f"hot tier: {reconcile['error']}", severity="finding"))

    for tier, error in report.unreachable.items():
        found.append(Violation("tier_unreachable", f"{tier}: {error}"))
    return found


def _cap_message(db: DatabaseSize, which: str, cap: int) -> str:
    trend = ""
    if db.growth_bytes_per_day is not None:
        trend = f", growing {human_bytes(db.growth_bytes_per_day)}/day"
        if db.days_until_hard_cap is not None and which == "soft":
            trend += f", {db.days_until_hard_cap:.0f} days until the hard cap"
    return (
        f"database {db.name}: {human_bytes(db.bytes)} (data + index) is over the {which} cap "
        f"{human_bytes(cap)}{trend}. Archive more (shorter warm windows) or raise the cap in the policy."
    )


def _days_until(current: int, cap: int, per_day: float | None) -> float | None:
    if per_day is None or per_day <= 0 or current >= cap:
        return None
    return (cap - current) / per_day


# ----------------------------------------------------------------------------------------------
# The whole report


def build(
    settings: Settings,
    policy: Policy,
    as_of: date | datetime | None = None,
    *,
    history: list[tuple[date, int]] | None = None,
    catalog_partitions: Callable[[str], set[str]] | None = None,
) -> Report:
    """Collect every tier and evaluate. MySQL must be reachable; another tier that is not is
    reported as unreachable (a violation), so the report still shows the rest.

    ``history`` is (day, database bytes) from earlier reports, for growth per day.
    ``catalog_partitions(table)`` returns the catalog's partition values, when a catalog exists.
    """
    moment = _as_datetime(as_of) if as_of else datetime.now().replace(microsecond=0)
    mysql_stats, db_bytes, db_name = collect_mysql(settings.mysql_url, policy, moment)
    unreachable: dict[str, str] = {}

    redis_stats: dict[str, TierStats] = {}
    hot: dict[str, Any] = {}
    try:
        redis_stats, hot = collect_redis(settings.redis_url, policy, moment)
    except ServiceUnavailable as exc:
        unreachable["redis"] = str(exc)

    archive_stats: dict[str, TierStats] = {}
    try:
        ledger = read_ledger(settings.mysql_url)
        archive_stats = collect_archive(settings, policy, db_name, ledger)
    except (ServiceUnavailable, TierflowError) as exc:
        unreachable["archive"] = str(exc)
    if catalog_partitions is not None:
        for name, stats in archive_stats.items():
            cataloged = {partition_value(p) for p in catalog_partitions(name)}
            stats.extra["uncataloged_partitions"] = [
                p for p in stats.extra.get("partitions", []) if p not in cataloged
            ]

    warehouse_stats: dict[str, TierStats] = {}
    try:
        warehouse_stats = collect_warehouse(settings.warehouse_url, policy)
    except ServiceUnavailable as exc:
        unreachable["warehouse"] = str(exc)

    today = moment.date()
    per_day, points = growth(history or [], today, db_bytes)
    soft = int(policy.database.soft_cap_gb * GB)
    hard = int(policy.database.hard_cap_gb * GB)
    database = DatabaseSize(
        name=db_name,
        bytes=db_bytes,
        soft_cap_bytes=soft,
        hard_cap_bytes=hard,
        growth_bytes_per_day=per_day,
        days_until_soft_cap=_days_until(db_bytes, soft, per_day),
        days_until_hard_cap=_days_until(db_bytes, hard, per_day),
        history_days=points,
    )
    tables = [
        _table_report(t, moment, mysql_stats, redis_stats, archive_stats, warehouse_stats)
        for t in policy.tables.values()
    ]
    report = Report(
        generated_at=datetime.now().replace(microsecond=0).isoformat(sep=" "),
        as_of=moment.isoformat(sep=" "),
        policy=policy.source,
        database=database,
        tables=tables,
        hot=hot,
        unreachable=unreachable,
    )
    report.violations = evaluate(report, policy)
    return report


def _table_report(
    t: TablePolicy,
    moment: datetime,
    mysql_stats: dict[str, TierStats],
    redis_stats: dict[str, TierStats],
    archive_stats: dict[str, TierStats],
    warehouse_stats: dict[str, TierStats],
) -> TableReport:
    hot_cutoff = t.hot_cutoff(moment)
    tr = TableReport(
        name=t.name,
        time_column=t.time_column,
        hot_window_days=t.hot_window_days,
        warm_window_days=t.warm_window_days,
        warm_cutoff=_iso(t.cutoff(moment)),
        hot_cutoff=_iso(hot_cutoff),
        redis=redis_stats.get(t.name),
        mysql=mysql_stats.get(t.name),
        archive=archive_stats.get(t.name),
        warehouse=warehouse_stats.get(t.name),
    )
    for tier in ("redis", "mysql", "warehouse"):
        stats: TierStats | None = getattr(tr, tier)
        if stats and stats.rows:
            tr.months[tier] = month_range(stats.oldest, stats.newest)
    if tr.archive and tr.archive.extra.get("partitions"):
        tr.months["archive"] = sorted({p[:7] for p in tr.archive.extra["partitions"]})
    return tr


def generate(
    settings: Settings | None = None,
    as_of: date | datetime | None = None,
    *,
    use_history: bool = True,
) -> Report:
    """The report for ``settings`` (default: from the environment), with stored history."""
    from tierflow.policy import load_policy

    settings = settings or Settings.from_env()
    policy = load_policy(settings.policy_path)
    history: list[tuple[date, int]] = []
    if use_history:
        try:
            history = [(d, r.database.bytes) for d, r in load_history(settings)]
        except (ServiceUnavailable, TierflowError) as exc:
            log.warning("tier_report.history_unavailable", error=str(exc))
    return build(settings, policy, as_of, history=history)


# ----------------------------------------------------------------------------------------------
# Storage of daily reports: <archive-uri>/reports/dt=YYYY-MM-DD/tier_report.json


def report_key(day: date) -> str:
    return f"{REPORTS_PREFIX}/dt={day.isoformat()}/{REPORT_FILE}"


def save(settings: Settings, report: Report) -> str:
    """Store the report under its as-of day (one per day; a rerun replaces it). Returns the URL."""
    from tierflow.stores.objects import store_for

    store = store_for(settings)
    key = report_key(datetime.fromisoformat(report.as_of).date())
    store.put_bytes(key, report.to_json().encode())
    return store.url(key)


def load_history(settings: Settings, days: int | None = None) -> list[tuple[date, Report]]:
    """Stored daily reports, oldest first (the last ``days`` of them when given)."""
    from tierflow.stores.objects import store_for

    store = store_for(settings)
    found: list[tuple[date, str]] = []
    for obj in store.list(f"{REPORTS_PREFIX}/"):
        if not obj.key.endswith("/" + REPORT_FILE):
            continue
        part = obj.key.split("/")[1]
        try:
            found.append((date.fromisoformat(partition_value(part)), obj.key))
        except ValueError:
            continue
    found.sort()
    if days:
        found = found[-days:]
    return [(d, Report.from_json(store.get_bytes(k))) for d, k in found]


def latest(settings: Settings) -> Report | None:
    history = load_history(settings, days=1)
    return history[-1][1] if history else None


# ----------------------------------------------------------------------------------------------
# Rendering


def _cell(stats: TierStats | None, *, bytes_too: bool = True) -> str:
    if stats is None:
        return "-"
    if stats.extra.get("missing"):
        return "missing"
    rows = f"{'~' if stats.approximate else ''}{stats.rows:,}" if stats.rows is not None else "?"
    parts = [rows]
    if bytes_too and stats.bytes is not None:
        parts.append(human_bytes(stats.bytes))
    if stats.oldest:
        parts.append(f"{stats.oldest[:10]} .. {(stats.newest or '')[:10]}")
    return "\n".join(parts)


def render_table(report: Report, console=None) -> None:
    """Print the report as a rich table plus the violation list."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    colour = {"green": "green", "amber": "yellow", "red": "red"}[report.status]
    table = Table(
        title=f"Tier report, as of {report.as_of[:10]} ([{colour}]{report.status.upper()}[/{colour}])",
        show_lines=True,
    )
    table.add_column("table", style="bold")
    table.add_column("windows\nhot / warm")
    table.add_column("Redis\nkeys, bytes, entries")
    table.add_column("MySQL\nrows, data+index, rows")
    table.add_column("archive\nrows, bytes, partitions")
    table.add_column("warehouse\nrows")
    flagged = {v.table for v in report.red if v.table}
    for t in report.tables:
        archive = _cell(t.archive)
        if t.archive is not None:
            archive = f"{t.archive.extra.get('files', 0)} files, " + archive
        table.add_row(
            f"[red]{t.name}[/red]" if t.name in flagged else t.name,
            f"{t.hot_window_days or '-'} / {t.warm_window_days} d",
            _cell(t.redis),
            _cell(t.mysql),
            archive,
            _cell(t.warehouse, bytes_too=False),
        )
    console.print(table)
    db = report.database
    line = (
        f"database {db.name}: {human_bytes(db.bytes)} of soft {human_bytes(db.soft_cap_bytes)} / "
        f"hard {human_bytes(db.hard_cap_bytes)}"
    )
    if db.growth_bytes_per_day is not None:
        line += f"; growth {human_bytes(db.growth_bytes_per_day)}/day over {db.history_days} days"
        if db.days_until_soft_cap is not None:
            line += f", {db.days_until_soft_cap:.0f} days until the soft cap"
    else:
        line += "; growth: needs two daily reports"
    console.print(line, highlight=False)
    if "used_memory" in report.hot:
        console.print(f"redis used_memory: {human_bytes(report.hot['used_memory'])}", highlight=False)
    if not report.violations:
        console.print("[green]no violations[/green]")
    for v in report.violations:
        tag = "[red]VIOLATION[/red]" if v.severity == "violation" else "[yellow]finding[/yellow]"
        console.print(f"{tag} {v.kind}: {v.message}", highlight=False)


def summary_line(report: Report) -> str:
    return (
        f"tier report {report.as_of[:10]}: {report.status}, {len(report.red)} violation(s), "
        f"{len(report.findings)} finding(s), database {human_bytes(report.database.bytes)}"
    )
