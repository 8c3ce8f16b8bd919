"""The ``tierflow`` command: one entry point for every tier operation (``tierflow --help``).

This module only assembles the root app from the group modules (``cli/<group>.py``); the options,
the consoles, ``parse_as_of`` and the command context live in ``cli/common.py``, and the tables
printed for engine results in ``cli/render.py``. Start-up is kept cheap: the package and its group
modules import only typer and the standard library at top level. Each command imports what it uses
(rich, pyarrow, duckdb, GX, the stores...) in its body, so ``tierflow --help`` and
``tierflow hot get customer N`` pay for none of the rest (tests/unit/test_cli_imports.py keeps it
so; ``make bench-cli`` times it).
"""

from __future__ import annotations

import typer

from tierflow.cli import advise, archive, common, config, devices, hot, policy, source, tiers, warehouse
from tierflow.errors import TierflowError

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
app.command("query")(archive.query_cmd)
app.command("seed")(source.seed_cmd)
app.command("config")(config.config_cmd)
app.add_typer(source.db_app, name="db")
app.add_typer(policy.policy_app, name="policy")
app.add_typer(tiers.tiers_app, name="tiers")
app.add_typer(hot.hot_app, name="hot")
app.add_typer(hot.events_app, name="events")
app.add_typer(archive.archive_app, name="archive")
app.add_typer(warehouse.warehouse_app, name="warehouse")
app.add_typer(advise.advise_app, name="advise")
app.add_typer(devices.devices_app, name="devices")


@app.callback()
def main_callback() -> None:
    """Runs before every command (not for --help): the CLI is the host that owns logging."""
    from tierflow import log

    log.configure()


def main() -> None:
    from tierflow.log import configure

    # the one place that sets up logging: the library only logs, and inside Airflow Airflow does
    configure()
    try:
        app()
    except TierflowError as exc:
        common.fail(str(exc), code=2)


__all__ = ["app", "main"]
