"""The ``tierflow`` command: one entry point for every tier operation (``tierflow --help``).

Start-up is kept cheap: this module and the ``cli_*`` groups import only typer and the standard
library at top level. Each command imports what it uses (rich, pyarrow, duckdb, GX, the stores...)
in its body, so ``tierflow --help`` and ``tierflow hot get customer N`` pay for none of the rest
(tests/unit/test_cli_imports.py keeps it so; ``make bench-cli`` times it).
"""

from __future__ import annotations

import functools
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tierflow import cli_advise
from tierflow.cli_archive import archive_app, query_cmd
from tierflow.cli_hot import events_app, hot_app
from tierflow.cli_tiers import tiers_app
from tierflow.cli_warehouse import warehouse_app
from tierflow.config import Settings
from tierflow.errors import TierflowError

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(
    name="tierflow",
    help="Tiered storage for the lending database: hot (Redis), warm (MySQL), archive (Parquet on S3), "
    "warehouse (Redshift/dbt).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help: typer's rich help formatter imports rich's markdown, syntax and traceback
    # renderers, which costs more than the rest of `tierflow --help` together.
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)
db_app = typer.Typer(help="The MySQL source database.", no_args_is_help=True)
policy_app = typer.Typer(help="The tier policy (include/tiers.yaml).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")
app.add_typer(tiers_app, name="tiers")
app.add_typer(hot_app, name="hot")
app.add_typer(events_app, name="events")
app.add_typer(archive_app, name="archive")
app.command("query")(query_cmd)
app.add_typer(warehouse_app, name="warehouse")
cli_advise.register(app)


@app.callback()
def main_callback() -> None:
    """Runs before every command (not for --help): the CLI is the host that owns logging."""
    from tierflow import log

    log.configure()


@functools.cache
def _console(stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr)


def __getattr__(name: str) -> Any:
    """``console`` and ``err_console`` are made on first use, so commands that print none import no rich."""
    if name == "console":
        return _console(stderr=False)
    if name == "err_console":
        return _console(stderr=True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


PolicyOption = Annotated[
    Path | None,
    typer.Option("--policy", help="Tier policy file [env TIERFLOW_POLICY, default include/tiers.yaml]."),
]


def settings(policy: Path | None = None) -> Settings:
    s = Settings.from_env()
    return s.with_(policy_path=policy) if policy else s


def parse_as_of(value: str | None) -> datetime:
    """``--as-of`` accepts YYYY-MM-DD or an ISO timestamp; default: now. Naive UTC: a value with
    an offset (``2026-06-30T05:30+05:30``) is converted to UTC, never cut off."""
    from tierflow.clock import to_utc, utc_now

    if value is None:
        return utc_now()
    try:
        return to_utc(datetime.fromisoformat(value))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or ISO timestamp") from None


@db_app.command("init")
def db_init(
    recreate: Annotated[bool, typer.Option(help="Drop and recreate the database first.")] = False,
) -> None:
    """Create the source database (TIERFLOW_MYSQL_URL) and apply sql/mysql/*.sql."""
    from tierflow.stores import mysql

    s = settings()
    tables = mysql.init_schema(s.mysql_url, recreate=recreate)
    console = _console(stderr=False)
    console.print(f"schema applied to {mysql.database_of(s.mysql_url)}: {len(tables)} tables")


@policy_app.command("check")
def policy_check(
    policy: PolicyOption = None,
    offline: Annotated[bool, typer.Option(help="Skip the check against the live MySQL schema.")] = False,
) -> None:
    """Validate the tier policy (and its tables and columns against live MySQL); print it."""
    from tierflow.policy import check_against_schema, load_policy
    from tierflow.stores import mysql

    console = _console(stderr=False)
    s = settings(policy)
    pol = load_policy(s.policy_path)
    if not offline:
        check_against_schema(pol, mysql.columns_by_table(s.mysql_url))
    from rich.table import Table

    table = Table(title=f"Tier policy {s.policy_path}", show_lines=False)
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
    console.print(table)
    console.print(
        f"database caps: soft {pol.database.soft_cap_gb:g} GB, hard {pol.database.hard_cap_gb:g} GB; "
        f"archive {pol.archive.format}/{pol.archive.compression}, SSE {pol.archive.sse}, "
        f"storage class {pol.archive.storage_class}"
    )
    console.print(
        "[green]policy OK[/green]" + (" (offline)" if offline else " (checked against live schema)")
    )


@app.command("seed")
def seed_cmd(
    scale: Annotated[str, typer.Option(help="tiny | small | medium | large")] = "small",
    years: Annotated[int, typer.Option(min=1, max=10, help="Years of history.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same data.")] = 42,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Last day of data (YYYY-MM-DD).")] = None,
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
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    publish_events: Annotated[
        bool, typer.Option(help="Publish the hot window's rows as events for `tierflow hot consume`.")
    ] = False,
) -> None:
    """Fill the source database with a deterministic, realistic multi-year lending dataset."""
    from tierflow.devdata import SCALES, seed_database

    if scale not in SCALES:
        raise typer.BadParameter(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    console = _console(stderr=False)
    end = parse_as_of(as_of).date()  # default: today, UTC
    report = seed_database(
        settings().mysql_url,
        scale=scale,
        years=years,
        seed=seed,
        as_of=end,
        recreate=recreate,
        drop_existing=drop_existing,
        progress=progress,
        console=console,
    )
    console.print(report.render())
    if publish_events:
        from tierflow.events import publish_hot_window
        from tierflow.policy import load_policy

        s = settings()
        published = publish_hot_window(s.mysql_url, s.redis_url, load_policy(s.policy_path), end)
        console.print(
            "published hot-window events: "
            + ", ".join(f"{table} {count:,}" for table, count in published.items())
        )


@app.command("config")
def config_cmd() -> None:
    """Print the effective settings (passwords masked)."""
    console = _console(stderr=False)
    for key, value in settings().redacted().items():
        console.print(f"{key:18} {value}")


def main() -> None:
    from tierflow.log import configure

    # the one place that sets up logging: the library only logs, and inside Airflow Airflow does
    configure()
    try:
        app()
    except TierflowError as exc:
        _console(stderr=True).print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
