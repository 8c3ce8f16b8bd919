"""The tier report: where every policy table's data sits (Redis, MySQL, archive, warehouse), and
which of it sits in the wrong tier.

- ``model``: the report's data (``Report``, ``TableReport``, ``TierStats``, ``Violation``);
- ``collect``: one collector per tier;
- ``rules``: the violations and findings, one small function each;
- ``history``: daily reports kept in the archive store;
- ``render`` and ``chart``: the one-line summary for logs and the PNG chart (the terminal table
  is the CLI's, in ``tierflow.cli.render``).

``build`` collects every tier and evaluates; ``generate`` does so with the stored history.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from tierflow.config import Settings
from tierflow.errors import ServiceUnavailable, TierflowError
from tierflow.log import get_logger
from tierflow.policy import Policy, TablePolicy
from tierflow.report.collect import (
    collect_archive,
    collect_mysql,
    collect_redis,
    collect_warehouse,
)
from tierflow.report.history import REPORTS_PREFIX, latest, load_history, report_days, report_key, save
from tierflow.report.model import (
    ArchiveStats,
    DatabaseSize,
    MySQLStats,
    RedisStats,
    Report,
    TableReport,
    TierStats,
    UnverifiedEntry,
    Violation,
    as_datetime,
    human_bytes,
    iso,
    month_range,
)
from tierflow.report.render import summary_line
from tierflow.report.rules import days_until, evaluate, growth

log = get_logger(__name__)

GB = 1024**3

__all__ = [
    "REPORTS_PREFIX",
    "ArchiveStats",
    "DatabaseSize",
    "MySQLStats",
    "RedisStats",
    "Report",
    "TableReport",
    "TierStats",
    "UnverifiedEntry",
    "Violation",
    "build",
    "collect_archive",
    "collect_mysql",
    "collect_redis",
    "collect_warehouse",
    "evaluate",
    "generate",
    "growth",
    "human_bytes",
    "latest",
    "load_history",
    "month_range",
    "report_days",
    "report_key",
    "save",
    "summary_line",
]


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
    moment = as_datetime(as_of) if as_of else datetime.now().replace(microsecond=0)
    mysql_stats, db_bytes, db_name = collect_mysql(settings.mysql_url, policy, moment)
    unreachable: dict[str, str] = {}

    redis_stats: dict[str, RedisStats] = {}
    hot: dict[str, Any] = {}
    try:
        redis_stats, hot = collect_redis(settings.redis_url, policy, moment)
    except ServiceUnavailable as exc:
        unreachable["redis"] = str(exc)

    archive_stats: dict[str, ArchiveStats] = {}
    try:
        from tierflow.archive.ledger import read_entries

        ledger = read_entries(settings.mysql_url)
        archive_stats = collect_archive(settings, policy, db_name, ledger)
    except (ServiceUnavailable, TierflowError) as exc:
        unreachable["archive"] = str(exc)
    if catalog_partitions is not None:
        from tierflow.archive.layout import partition_value

        for name, stats in archive_stats.items():
            cataloged = {partition_value(p) for p in catalog_partitions(name)}
            stats.uncataloged_partitions = [p for p in stats.partitions if p not in cataloged]

    warehouse_stats: dict[str, TierStats] = {}
    try:
        warehouse_stats = collect_warehouse(settings.warehouse_url, policy, settings)
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
        days_until_soft_cap=days_until(db_bytes, soft, per_day),
        days_until_hard_cap=days_until(db_bytes, hard, per_day),
        history_days=points,
    )
    tables = [
        table_report(t, moment, mysql_stats, redis_stats, archive_stats, warehouse_stats)
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


def table_report(
    t: TablePolicy,
    moment: datetime,
    mysql_stats: dict[str, MySQLStats],
    redis_stats: dict[str, RedisStats],
    archive_stats: dict[str, ArchiveStats],
    warehouse_stats: dict[str, TierStats],
) -> TableReport:
    hot_cutoff = t.hot_cutoff(moment)
    tr = TableReport(
        name=t.name,
        time_column=t.time_column,
        hot_window_days=t.hot_window_days,
        warm_window_days=t.warm_window_days,
        warm_cutoff=iso(t.cutoff(moment)),
        hot_cutoff=iso(hot_cutoff),
        redis=redis_stats.get(t.name),
        mysql=mysql_stats.get(t.name),
        archive=archive_stats.get(t.name),
        warehouse=warehouse_stats.get(t.name),
    )
    for tier in ("redis", "mysql", "warehouse"):
        stats: TierStats | None = getattr(tr, tier)
        if stats and stats.rows:
            tr.months[tier] = month_range(stats.oldest, stats.newest)
    if tr.archive and tr.archive.partitions:
        tr.months["archive"] = sorted({p[:7] for p in tr.archive.partitions})
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
