"""``tierflow warehouse``: load MySQL into the warehouse's raw tables, build and publish the marts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from tierflow.cli import common
from tierflow.config import Settings
from tierflow.paths import SQL_DIR

REDSHIFT_SQL_DIR = SQL_DIR / "redshift"

warehouse_app = typer.Typer(
    help="The warehouse (Redshift / local PostgreSQL): incremental load, dbt build, atomic publish.",
    no_args_is_help=True,
)

FullRefreshOption = Annotated[bool, typer.Option(help="Ignore watermarks / rebuild marts from scratch.")]
LookbackOption = Annotated[
    float, typer.Option(help="Days before the watermark re-read to catch late rows.", min=0)
]


def _print_loads(run) -> None:
    from tierflow.cli.render import load_table

    console = common.console()
    console.print(load_table(run))
    console.print(f"{run.rows:,} rows staged in {run.seconds:.1f}s; COPY {run.copy_rows_per_s:,.0f} rows/s")


def _load(settings: Settings, tables: list[str] | None, full_refresh: bool, lookback_days: float):
    from tierflow.warehouse.load import load_all

    run = load_all(settings, tables, full_refresh=full_refresh, lookback=timedelta(days=lookback_days))
    _print_loads(run)
    return run


def _build(settings: Settings, full_refresh: bool):
    from tierflow.warehouse.publish import build_and_publish

    report = build_and_publish(settings, full_refresh=full_refresh)
    common.console().print(
        f"built in {report.slot}, published {len(report.published)} marts into analytics "
        f"({', '.join(report.published)}); " + ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items())
    )
    return report


@warehouse_app.command("load")
def load_cmd(
    tables: common.TablesOption = None,
    full_refresh: FullRefreshOption = False,
    lookback_days: LookbackOption = 3.0,
) -> None:
    """Extract new/changed rows since the watermark, stage, gate, MERGE into raw."""
    _load(common.context().settings, tables, full_refresh, lookback_days)


@warehouse_app.command("build")
def build_cmd(full_refresh: FullRefreshOption = False) -> None:
    """dbt build into the idle audit slot, run dbt tests + mart GX suites, swap into analytics."""
    _build(common.context().settings, full_refresh)


@warehouse_app.command("refresh")
def refresh_cmd(full_refresh: FullRefreshOption = False, lookback_days: LookbackOption = 3.0) -> None:
    """load + build: the one command the DAGs and the demo run."""
    s = common.context().settings
    _load(s, None, full_refresh, lookback_days)
    _build(s, full_refresh)


@warehouse_app.command("parse")
def parse_cmd() -> None:
    """Write dbt/target/manifest.json (the Airflow DAG renders the dbt models from it)."""
    from tierflow.warehouse import dbt
    from tierflow.warehouse.publish import build_slot

    s = common.context().settings.as_builder()
    dbt.run_dbt(["parse"], s.warehouse_url, build_slot(s), settings=s)
    common.console().print("dbt/target/manifest.json written")


@warehouse_app.command("ddl")
def ddl_cmd(
    out: Annotated[
        Path, typer.Option("--out", help="Write 000_access.sql and 001_raw_schema.sql into this directory.")
    ] = REDSHIFT_SQL_DIR,
) -> None:
    """Write the Redshift setup SQL: identities and grants, and the raw schema from the live MySQL one."""
    from tierflow.warehouse.access import setup_sql
    from tierflow.warehouse.raw_ddl import raw_schema_sql

    ctx = common.context()
    out.mkdir(parents=True, exist_ok=True)
    (out / "000_access.sql").write_text(setup_sql())
    (out / "001_raw_schema.sql").write_text(raw_schema_sql(ctx.settings.mysql_url, ctx.policy))
    common.console().print(f"wrote {out / '000_access.sql'} and {out / '001_raw_schema.sql'}")


@warehouse_app.command("preflight")
def preflight_cmd(
    as_json: common.JsonOption = False,
    prefix: Annotated[
        str, typer.Option(help="Prefix of the warehouse's users and groups (sql/redshift/000_access.sql).")
    ] = "tierflow",
) -> None:
    """Check a live warehouse before the first deploy: each step's sign-in, schemas and grants,
    Spectrum (Redshift), the dbt target. One line per check; exit 1 when one fails."""
    from tierflow.cli.render import preflight_json, preflight_line
    from tierflow.warehouse.access import Identities
    from tierflow.warehouse.preflight import preflight

    checks = preflight(common.context().settings, ids=Identities(prefix))
    if as_json:
        typer.echo(preflight_json(checks))
    else:
        for check in checks:
            typer.echo(preflight_line(check))
    if not all(c.ok for c in checks):
        raise typer.Exit(1)
