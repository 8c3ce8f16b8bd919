"""The report's rules: small pure functions, each turning what the collectors read into
violations (fail ``--strict``) or findings (shown, not failing). ``evaluate`` runs them all.

A table rule sees one ``TableReport``; a report rule sees the whole ``Report``. A new rule is one
function added to ``TABLE_RULES`` or ``REPORT_RULES``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import date, timedelta

from tierflow.policy import Policy
from tierflow.report.model import DatabaseSize, Report, TableReport, Violation, human_bytes
from tierflow.stores.mysql import LEDGER_TABLE

# A forecast this close to a cap is a finding even while the database is below it.
CAP_FORECAST_DAYS = 30

TableRule = Callable[[TableReport, Policy], Iterable[Violation]]
ReportRule = Callable[[Report, Policy], Iterable[Violation]]


def _listed(parts: list[str]) -> str:
    return f"{', '.join(parts[:5])}{' ...' if len(parts) > 5 else ''}"


def mysql_past_window(t: TableReport, policy: Policy) -> Iterable[Violation]:
    m = t.mysql
    if m and m.overdue_rows:
        yield Violation(
            "mysql_past_window",
            f"{t.name}: {m.overdue_rows} MySQL row(s) older than the warm window "
            f"({t.warm_window_days} d) + grace ({policy.database.grace_days} d): "
            f"{t.time_column} before {m.overdue_before}, oldest {m.oldest}. "
            "Run the archive (nightly_archive) for this table.",
            table=t.name,
            details={"rows": m.overdue_rows, "oldest": m.oldest},
        )


def mysql_held_by_children(t: TableReport, policy: Policy) -> Iterable[Violation]:
    m = t.mysql
    if m and m.held_by_children:
        yield Violation(
            "mysql_held_by_children",
            f"{t.name}: {m.held_by_children} MySQL row(s) older than the warm window "
            f"+ grace still have child rows in MySQL (foreign keys); they are archived after "
            "their children.",
            table=t.name,
            details={"rows": m.held_by_children},
            severity="finding",
        )


def redis_past_window(t: TableReport, policy: Policy) -> Iterable[Violation]:
    r = t.redis
    if r and r.stale_entries:
        yield Violation(
            "redis_past_window",
            f"{t.name}: {r.stale_entries} Redis entr(ies) older than the hot window "
            f"({t.hot_window_days} d, before {t.hot_cutoff}) + 1 d of grace, oldest {r.oldest}. "
            "Run hot_tier_reconcile to trim them.",
            table=t.name,
            details={"entries": r.stale_entries, "oldest": r.oldest},
        )


def redis_not_hot(t: TableReport, policy: Policy) -> Iterable[Violation]:
    r = t.redis
    if r and r.rows and not t.hot_window_days:
        yield Violation(
            "redis_not_hot",
            f"{t.name}: {r.rows} Redis key(s) for a table the policy keeps out of the hot tier.",
            table=t.name,
        )


def archive_partition_unledgered(t: TableReport, policy: Policy) -> Iterable[Violation]:
    a = t.archive
    if a and a.unledgered_partitions:
        parts = a.unledgered_partitions
        yield Violation(
            "archive_partition_unledgered",
            f"{t.name}: {len(parts)} archive partition(s) not in {LEDGER_TABLE}: {_listed(parts)}. "
            "An archive run wrote files it did not record; re-run or clean up.",
            table=t.name,
            details={"partitions": parts},
        )


def archive_partition_uncataloged(t: TableReport, policy: Policy) -> Iterable[Violation]:
    a = t.archive
    if a and a.uncataloged_partitions:
        parts = a.uncataloged_partitions
        yield Violation(
            "archive_partition_uncataloged",
            f"{t.name}: {len(parts)} archive partition(s) missing from the catalog: {_listed(parts)}.",
            table=t.name,
            details={"partitions": parts},
        )


def ledger_unverified(t: TableReport, policy: Policy) -> Iterable[Violation]:
    a = t.archive
    if a and a.unverified_entries:
        entries = a.unverified_entries
        states = sorted({str(e.state) for e in entries})
        yield Violation(
            "ledger_unverified",
            f"{t.name}: {len(entries)} ledger entr(ies) not verified (state {', '.join(states)}). "
            "Run the archive's verify step or re-run nightly_archive.",
            table=t.name,
            details={"entries": [asdict(e) for e in entries[:20]]},
        )


def database_caps(report: Report, policy: Policy) -> Iterable[Violation]:
    db = report.database
    if db.bytes > db.hard_cap_bytes:
        yield Violation("database_hard_cap", cap_message(db, "hard", db.hard_cap_bytes))
    elif db.bytes > db.soft_cap_bytes:
        yield Violation("database_soft_cap", cap_message(db, "soft", db.soft_cap_bytes))
    elif db.days_until_soft_cap is not None and db.days_until_soft_cap <= CAP_FORECAST_DAYS:
        yield Violation(
            "database_cap_forecast",
            f"database {db.name}: {human_bytes(db.bytes)}, growing {human_bytes(db.growth_bytes_per_day)}"
            f"/day, reaches the soft cap in {db.days_until_soft_cap:.0f} days.",
            severity="finding",
        )


def hot_drift(report: Report, policy: Policy) -> Iterable[Violation]:
    reconcile = report.hot.get("reconcile")
    if not isinstance(reconcile, dict):
        return
    drifted = reconcile.get("drifted_keys")
    if drifted:
        when = reconcile.get("finished_at") or reconcile.get("at") or "?"
        yield Violation(
            "hot_drift",
            f"hot tier: the last reconciliation ({when}) repaired {drifted} drifted key(s): events "
            "were missed or applied late.",
            severity="finding",
            details={"drifted_keys": drifted},
        )
    elif "error" in reconcile:
        yield Violation("hot_drift", f"hot tier: {reconcile['error']}", severity="finding")


def tier_unreachable(report: Report, policy: Policy) -> Iterable[Violation]:
    for tier, error in report.unreachable.items():
        yield Violation("tier_unreachable", f"{tier}: {error}")


TABLE_RULES: list[TableRule] = [
    mysql_past_window,
    mysql_held_by_children,
    redis_past_window,
    redis_not_hot,
    archive_partition_unledgered,
    archive_partition_uncataloged,
    ledger_unverified,
]
REPORT_RULES: list[ReportRule] = [database_caps, hot_drift, tier_unreachable]


def evaluate(report: Report, policy: Policy) -> list[Violation]:
    """Every violation and finding in a collected report (pure: no I/O), table by table first."""
    found = [v for t in report.tables for rule in TABLE_RULES for v in rule(t, policy)]
    found.extend(v for rule in REPORT_RULES for v in rule(report, policy))
    return found


def cap_message(db: DatabaseSize, which: str, cap: int) -> str:
    trend = ""
    if db.growth_bytes_per_day is not None:
        trend = f", growing {human_bytes(db.growth_bytes_per_day)}/day"
        if db.days_until_hard_cap is not None and which == "soft":
            trend += f", {db.days_until_hard_cap:.0f} days until the hard cap"
    return (
        f"database {db.name}: {human_bytes(db.bytes)} (data + index) is over the {which} cap "
        f"{human_bytes(cap)}{trend}. Archive more (shorter warm windows) or raise the cap in the policy."
    )


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


def days_until(current: int, cap: int, per_day: float | None) -> float | None:
    if per_day is None or per_day <= 0 or current >= cap:
        return None
    return (cap - current) / per_day
