"""``archive plan``: what a run would move per table, read from MySQL only (``--dry-run`` shares it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tierflow.archive.guards import check_as_of
from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.log import get_logger
from tierflow.policy import Policy, load_policy
from tierflow.stores import mysql

log = get_logger("tierflow.archive")
PLAN_ROWS_PER_SECOND = 35_000  # bench/bench_archive.py on 2 cores, gate + verify on; only for the estimate


@dataclass
class TablePlan:
    table: str
    cutoff: datetime
    rows: int
    bytes: int
    partitions: int
    first: str | None
    last: str | None
    held: int = 0  # past the cutoff, but kept: a child row stays in MySQL
    total: int = 0  # rows in the table now

    @property
    def est_seconds(self) -> float:
        return self.rows / PLAN_ROWS_PER_SECOND


def plan_archive(
    settings: Settings | None = None,
    *,
    tables: list[str] | None = None,
    as_of: datetime | None = None,
    policy: Policy | None = None,
) -> list[TablePlan]:
    """What a run would move, per table. Read-only: changes nothing, creates nothing.

    A parent row moves only once none of its child rows is left in MySQL, and the run takes
    children first: a cold parent row is counted as held when some child row stays, i.e. is warm,
    belongs to a table this run does not archive, or is itself held by a child of its own.
    ``archive run --dry-run`` reports these same numbers (it calls ``plan_tables``).
    """
    settings = settings or Settings.from_env()
    policy = policy or load_policy(settings.policy_path)
    as_of = check_as_of(as_of)
    mysql.check_policy(policy, settings.mysql_url)
    return plan_tables(settings, policy, tables, as_of)


def plan_tables(
    settings: Settings, policy: Policy, tables: list[str] | None, as_of: datetime, *, detail: bool = True
) -> list[TablePlan]:
    """The plan of ``tables`` (children first) for a checked policy and ``as_of``: the one count
    behind ``archive plan``, ``archive run --dry-run`` and the run's size limit. Without
    ``detail`` only rows, held and total are counted (no partitions, bytes or first/last)."""
    from tierflow.stores.mysql_graph import ordered_tables

    sizes = mysql.table_sizes(settings.mysql_url) if detail else {}
    plans = []
    fks = mysql.foreign_keys(settings.mysql_url)
    ordered = ordered_tables(policy, tables, fks)
    moving = {t.name: t for t in ordered}
    with mysql.connection(settings.mysql_url) as conn:
        cur = conn.cursor()
        for t in ordered:
            cutoff = t.cutoff(as_of)
            fmt = "%%Y-%%m-%%d" if t.archive.partition_by == "day" else "%%Y-%%m"
            held_sql, held_params = held_by_children(t.name, "t", moving, fks, as_of)
            tc = mysql.quote_ident(t.time_column)
            q = mysql.quote_ident(t.name)
            # one pass over the cold rows: each is either held (a child row stays) or moves
            described = (
                f"COUNT(DISTINCT IF(held, NULL, DATE_FORMAT(cold_at, '{fmt}'))), "
                f"DATE_FORMAT(MIN(IF(held, NULL, cold_at)), '{fmt}'), "
                f"DATE_FORMAT(MAX(IF(held, NULL, cold_at)), '{fmt}')"
                if detail
                else "0, NULL, NULL"
            )
            cur.execute(
                f"SELECT COALESCE(SUM(NOT held), 0), COALESCE(SUM(held), 0), {described} "
                f"FROM (SELECT t.{tc} AS cold_at, ({held_sql or 'FALSE'}) AS held "
                f"FROM {q} AS t WHERE t.{tc} < %s) AS cold",
                [*held_params, cutoff],
            )
            moved, held, parts, first, last = cur.fetchone()
            cur.execute(f"SELECT COUNT(*) FROM {q}")
            total = int(cur.fetchone()[0])
            rows = int(moved)  # SUM gives a DECIMAL
            size = sizes.get(t.name, {})
            avg = size.get("data_bytes", 0) / size["rows"] if size.get("rows") else 0
            plans.append(
                TablePlan(t.name, cutoff, rows, int(rows * avg), int(parts), first, last, int(held), total)
            )
    return plans


def held_by_children(
    table: str,
    alias: str,
    moving: dict[str, Any],
    fks: list[tuple[str, str, str, str]],
    as_of: datetime,
    depth: int = 0,
) -> tuple[str, list[Any]]:
    """SQL true when row ``alias`` of ``table`` keeps a child row in MySQL after a run that
    archives the ``moving`` tables (children first), and its parameters in order. A child row
    stays when its table is not moving, when it is newer than its table's cutoff, or when it is
    itself held by a child of its own. Names come from the policy and the schema's foreign keys."""
    if depth > 8:
        raise TierflowError(f"foreign keys into {table!r} nest deeper than 8 tables: cannot plan")
    parts: list[str] = []
    params: list[Any] = []
    for n, (child, child_col, parent, parent_col) in enumerate(fks):
        if parent != table or child == parent:
            continue
        a = f"c{depth}_{n}"
        link = f"{a}.{mysql.quote_ident(child_col)} = {alias}.{mysql.quote_ident(parent_col)}"
        spec = moving.get(child)
        if spec is None:
            parts.append(f"EXISTS (SELECT 1 FROM {mysql.quote_ident(child)} AS {a} WHERE {link})")
            continue
        stays = f"{a}.{mysql.quote_ident(spec.time_column)} >= %s"
        stays_params: list[Any] = [spec.cutoff(as_of)]
        deeper, deeper_params = held_by_children(child, a, moving, fks, as_of, depth + 1)
        if deeper:
            stays = f"{stays} OR {deeper}"
            stays_params.extend(deeper_params)
        parts.append(f"EXISTS (SELECT 1 FROM {mysql.quote_ident(child)} AS {a} WHERE {link} AND ({stays}))")
        params.extend(stays_params)
    return " OR ".join(parts), params
