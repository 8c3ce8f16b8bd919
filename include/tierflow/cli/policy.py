"""``tierflow policy check``: validate the tier policy (include/tiers.yaml) and print it."""

from __future__ import annotations

from typing import Annotated

import typer

from tierflow.cli import common

policy_app = typer.Typer(help="The tier policy (include/tiers.yaml).", no_args_is_help=True)


@policy_app.command("check")
def policy_check(
    policy: common.PolicyOption = None,
    offline: Annotated[bool, typer.Option(help="Skip the check against the live MySQL schema.")] = False,
) -> None:
    """Validate the tier policy (and its tables and columns against live MySQL); print it."""
    from tierflow.cli.render import policy_table
    from tierflow.policy import check_against_schema
    from tierflow.stores import mysql

    out = common.console()
    ctx = common.context(policy)
    pol = ctx.policy
    if not offline:
        check_against_schema(pol, mysql.columns_by_table(ctx.settings.mysql_url))
    out.print(policy_table(pol, ctx.settings.policy_path))
    out.print(
        f"database caps: soft {pol.database.soft_cap_gb:g} GB, hard {pol.database.hard_cap_gb:g} GB; "
        f"archive {pol.archive.format}/{pol.archive.compression}, SSE {pol.archive.sse}, "
        f"storage class {pol.archive.storage_class}"
    )
    out.print("[green]policy OK[/green]" + (" (offline)" if offline else " (checked against live schema)"))
