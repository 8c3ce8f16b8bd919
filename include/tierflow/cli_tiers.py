"""``tierflow tiers``: the tier report in the terminal, as JSON, and as a PNG chart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

tiers_app = typer.Typer(
    help="Where each table's data lives, and what is in the wrong tier.", no_args_is_help=True
)


@tiers_app.command("report")
def report_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Also draw the months-by-tier chart to this PNG.")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when there is any violation.")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Judge windows as of this day (YYYY-MM-DD); default now.")
    ] = None,
    save: Annotated[
        bool, typer.Option("--save", help="Store it as the day's report (archive store, reports/dt=...).")
    ] = False,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Tier policy file [env TIERFLOW_POLICY].")
    ] = None,
) -> None:
    """Report every policy table's rows, bytes and age in Redis, MySQL, the archive and the warehouse."""
    from tierflow import report as tier_report
    from tierflow.cli import console, parse_as_of, settings

    s = settings(policy)
    result = tier_report.generate(s, parse_as_of(as_of) if as_of else None)
    if as_json:
        typer.echo(result.to_json())
    else:
        tier_report.render_table(result, console)
    if chart:
        from tierflow.report.chart import draw

        draw(result, chart)
        if not as_json:
            console.print(f"chart written to {chart}")
    if save:
        url = tier_report.save(s, result)
        if not as_json:
            console.print(f"report stored at {url}")
    if strict and result.red:
        raise typer.Exit(1)


@tiers_app.command("history")
def history_cmd(
    days: Annotated[int, typer.Option(min=1, help="How many daily reports.")] = 30,
) -> None:
    """The stored daily reports: status, violations and database size per day."""
    from rich.table import Table

    from tierflow import report as tier_report
    from tierflow.cli import console, settings

    table = Table(title="Stored tier reports")
    for col in ("day", "status", "violations", "findings", "database"):
        table.add_column(col)
    for day, r in tier_report.load_history(settings(), days=days):
        table.add_row(
            day.isoformat(),
            r.status,
            str(len(r.red)),
            str(len(r.findings)),
            tier_report.human_bytes(r.database.bytes),
        )
    console.print(table)
