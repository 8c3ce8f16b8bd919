"""``tierflow tiers``: the tier report in the terminal, as JSON, and as a PNG chart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tierflow.cli import common

tiers_app = typer.Typer(
    help="Where each table's data lives, and what is in the wrong tier.", no_args_is_help=True
)


@tiers_app.command("report")
def report_cmd(
    as_json: common.JsonOption = False,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Also draw the months-by-tier chart to this PNG.")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when there is any violation.")] = False,
    as_of: common.AsOfOption = None,
    save: Annotated[
        bool, typer.Option("--save", help="Store it as the day's report (archive store, reports/dt=...).")
    ] = False,
    policy: common.PolicyOption = None,
) -> None:
    """Report every policy table's rows, bytes and age in Redis, MySQL, the archive and the warehouse."""
    from tierflow import report as tier_report

    s = common.context(policy).settings
    out = common.console()
    result = tier_report.generate(s, common.parse_as_of(as_of))
    if as_json:
        typer.echo(result.to_json())
    else:
        from tierflow.cli.render import print_report

        print_report(result, out)
    if chart:
        from tierflow.report.chart import draw

        draw(result, chart)
        if not as_json:
            out.print(f"chart written to {chart}")
    if save:
        url = tier_report.save(s, result)
        if not as_json:
            out.print(f"report stored at {url}")
    if strict and result.red:
        raise typer.Exit(1)


@tiers_app.command("history")
def history_cmd(
    days: Annotated[int, typer.Option(min=1, help="How many daily reports.")] = 30,
) -> None:
    """The stored daily reports: status, violations and database size per day."""
    from tierflow import report as tier_report
    from tierflow.cli.render import history_table

    common.console().print(history_table(tier_report.load_history(common.context().settings, days=days)))
