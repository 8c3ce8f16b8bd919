"""The report for a terminal: a rich table of every table's tiers, then the violations."""

from __future__ import annotations

from tierflow.report.model import Report, TierStats, human_bytes


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
