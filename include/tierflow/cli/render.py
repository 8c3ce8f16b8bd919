"""The rich tables the commands print: engines return data (plans, summaries, reports, loads), and
their look for a terminal is decided here. Imported by the commands that print one, never at start-up."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from tierflow.archive.plan import TablePlan
    from tierflow.archive.summary import RunSummary
    from tierflow.policy import Policy
    from tierflow.report.model import Report, TierStats
    from tierflow.warehouse.load import LoadRun
    from tierflow.warehouse.preflight import Check


def policy_table(pol: Policy, path: Path) -> Table:
    """One row per policy table: its time column, windows, archive layout, retention, PII, warehouse."""
    table = Table(title=f"Tier policy {path}", show_lines=False)
    for col in (
        "table",
        "time column",
        "hot (days)",
        "warm (days)",
        "archive",
        "retention",
        "PII",
        "warehouse",
    ):
        table.add_column(col)
    for t in pol.tables.values():
        table.add_row(
            t.name,
            t.time_column,
            str(t.hot_window_days or "-"),
            str(t.warm_window_days),
            f"{t.archive.partition_by}/{t.archive.compression or pol.archive.compression}"
            if t.archive.enabled
            else "off",
            f"{t.archive.retention_years:g}y",
            ", ".join(f"{c}:{v.value}" for c, v in t.archive.pii.items()) or "-",
            "yes" if t.warehouse else "no",
        )
    return table


def archive_plan_table(plans: Iterable[TablePlan]) -> Table:
    """``archive plan``: per table, the cutoff and what would move."""
    out = Table(title="archive plan")
    for col in ("table", "cutoff", "rows", "held", "est. bytes", "partitions", "first", "last", "est. s"):
        out.add_column(col, justify="right" if col not in {"table", "cutoff"} else "left")
    for p in plans:
        out.add_row(
            p.table,
            f"{p.cutoff:%Y-%m-%d %H:%M}",
            f"{p.rows:,}",
            f"{p.held:,}",
            f"{p.bytes:,}",
            str(p.partitions),
            p.first or "-",
            p.last or "-",
            f"{p.est_seconds:.1f}",
        )
    return out


def archive_run_table(summary: RunSummary) -> Table:
    """``archive run``: per table, its status, rows, bytes and the seconds of each phase."""
    from tierflow.archive.summary import PHASES

    table = Table(title=f"archive run {summary.run_id[:8]} as of {summary.as_of:%Y-%m-%d %H:%M}")
    for col in (
        "table",
        "status",
        "rows",
        "held",
        "unloaded",
        "deleted",
        "kept",
        "bytes",
        "files",
        *(f"{p} s" for p in PHASES),
        "rows/s",
    ):
        table.add_column(col, justify="left" if col in {"table", "status"} else "right")
    for t in summary.tables:
        rate = t.rows / t.total_seconds if t.total_seconds else 0
        table.add_row(
            t.table,
            t.status,
            f"{t.rows:,}",
            f"{t.held:,}",
            f"{t.unloaded:,}",
            f"{t.deleted:,}",
            f"{t.kept_changed:,}",
            f"{t.bytes:,}",
            str(t.files),
            *(f"{t.seconds[p]:.2f}" for p in PHASES),
            f"{rate:,.0f}",
        )
    return table


def query_table(total: int, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Table:
    """``query``: the first rows of a result, and how many it has in all."""
    out = Table(title=f"{total:,} row(s)")
    for name in columns:
        out.add_column(name)
    for row in rows:
        out.add_row(*("" if v is None else str(v) for v in row.values()))
    return out


def _cell(stats: TierStats | None, *, bytes_too: bool = True) -> str:
    from tierflow.report.model import human_bytes

    if stats is None:
        return "-"
    if stats.missing:
        return "missing"
    rows = f"{'~' if stats.approximate else ''}{stats.rows:,}" if stats.rows is not None else "?"
    parts = [rows]
    if bytes_too and stats.bytes is not None:
        parts.append(human_bytes(stats.bytes))
    if stats.oldest:
        parts.append(f"{stats.oldest[:10]} .. {(stats.newest or '')[:10]}")
    return "\n".join(parts)


def print_report(report: Report, console: Console) -> None:
    """``tiers report``: every table's tiers, the database size and growth, then the violations."""
    from tierflow.report.model import human_bytes

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
            archive = f"{t.archive.files} files, " + archive
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


def history_table(history: Iterable[tuple[date, Report]]) -> Table:
    """``tiers history``: one stored daily report a row."""
    from tierflow.report.model import human_bytes

    table = Table(title="Stored tier reports")
    for col in ("day", "status", "violations", "findings", "database"):
        table.add_column(col)
    for day, r in history:
        table.add_row(
            day.isoformat(), r.status, str(len(r.red)), str(len(r.findings)), human_bytes(r.database.bytes)
        )
    return table


def load_table(run: LoadRun) -> Table:
    """``warehouse load``: per table, rows staged, inserted and updated, the watermark, COPY speed."""
    table = Table(title="warehouse load")
    for col in ("table", "staged", "inserted", "updated", "watermark", "copy rows/s", "seconds"):
        table.add_column(col)
    for r in run.reports:
        table.add_row(
            r.table,
            str(r.rows_staged),
            str(r.inserted),
            str(r.updated),
            str(r.watermark or "-"),
            f"{r.copy_rows_per_s:,.0f}",
            f"{r.seconds.get('total', 0):.1f}",
        )
    return table


def preflight_line(check: Check) -> str:
    """``warehouse preflight``: one check a line, and the fix of one that failed."""
    head = f"{'PASS' if check.ok else 'FAIL'}  {check.name}: {check.detail}"
    return head if check.ok else f"{head}  -> fix: {check.fix}"


def preflight_json(checks: list[Check]) -> str:
    """``warehouse preflight --json``: whether every check passed, and each check."""
    import json
    from dataclasses import asdict

    return json.dumps({"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}, indent=2)
