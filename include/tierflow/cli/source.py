"""``tierflow db init`` and ``tierflow seed``: the MySQL source database, its schema and its data."""

from __future__ import annotations

from typing import Annotated

import typer

from tierflow.cli import common

db_app = typer.Typer(help="The MySQL source database.", no_args_is_help=True)


@db_app.command("init")
def db_init(
    recreate: Annotated[bool, typer.Option(help="Drop and recreate the database first.")] = False,
) -> None:
    """Create the source database (TIERFLOW_MYSQL_URL) and apply sql/mysql/*.sql."""
    from tierflow.stores import mysql

    s = common.context().settings
    tables = mysql.init_schema(s.mysql_url, recreate=recreate)
    common.console().print(f"schema applied to {mysql.database_of(s.mysql_url)}: {len(tables)} tables")


def seed_cmd(
    scale: Annotated[str, typer.Option(help="tiny | small | medium | large")] = "small",
    years: Annotated[int, typer.Option(min=1, max=10, help="Years of history.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same data.")] = 42,
    as_of: common.AsOfOption = None,
    recreate: Annotated[bool, typer.Option(help="Drop and recreate the database first.")] = True,
    drop_existing: Annotated[
        str | None,
        typer.Option(
            "--drop-existing",
            metavar="DATABASE",
            help="Name the database to let the seed drop it although it holds an archive ledger "
            "or is not on this machine.",
        ),
    ] = None,
    progress: common.ProgressOption = True,
    publish_events: Annotated[
        bool, typer.Option(help="Publish the hot window's rows as events for `tierflow hot consume`.")
    ] = False,
) -> None:
    """Fill the source database with a deterministic, realistic multi-year lending dataset.
    The data ends on the --as-of day (default today, UTC)."""
    from tierflow.devdata import SCALES, seed_database

    if scale not in SCALES:
        raise typer.BadParameter(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    out = common.console()
    ctx = common.context()
    end = common.parse_as_of(as_of).date()
    report = seed_database(
        ctx.settings.mysql_url,
        scale=scale,
        years=years,
        seed=seed,
        as_of=end,
        recreate=recreate,
        drop_existing=drop_existing,
        progress=progress,
        console=out,
    )
    out.print(report.render())
    if publish_events:
        from tierflow.hot.events import publish_hot_window

        s = ctx.settings
        published = publish_hot_window(s.mysql_url, s.redis_url, ctx.policy, end)
        out.print(
            "published hot-window events: "
            + ", ".join(f"{table} {count:,}" for table, count in published.items())
        )
