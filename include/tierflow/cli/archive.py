"""``tierflow archive ...`` (plan, run, restore, verify, lifecycle, migrate, ddl) and ``tierflow query``."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from tierflow.cli import common

archive_app = typer.Typer(
    help="The archive tier: cold MySQL rows to verified Parquet on S3, restore on demand.",
    no_args_is_help=True,
)


def _ctx(policy: Path | None):
    ctx = common.context(policy)
    return ctx.settings, ctx.policy


@archive_app.command("plan")
def plan_cmd(
    tables: common.TablesOption = None, as_of: common.AsOfOption = None, policy: common.PolicyOption = None
) -> None:
    """Preview per table: cutoff, rows that would move, rows held back by child rows that stay,
    bytes, partitions and estimated time. Changes nothing. A future --as-of is refused."""
    from tierflow.archive.plan import plan_archive
    from tierflow.cli.render import archive_plan_table

    s, pol = _ctx(policy)
    plans = plan_archive(s, tables=tables, as_of=common.parse_as_of(as_of), policy=pol)
    common.console().print(archive_plan_table(plans))


@archive_app.command("run")
def run_cmd(
    tables: common.TablesOption = None,
    as_of: common.AsOfOption = None,
    max_runtime: Annotated[
        str | None, typer.Option(help="Stop cleanly after this long (90s, 15m, 2h).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would move; change nothing.")
    ] = False,
    allow_large_run: Annotated[
        bool,
        typer.Option(
            "--allow-large-run",
            help="Let the run move more than archive.max_run_fraction of a table (default 0.5).",
        ),
    ] = False,
    batch_rows: Annotated[int | None, typer.Option(min=1, help="Rows per batch (default: policy).")] = None,
    lock_wait: Annotated[float, typer.Option(help="Seconds to wait for another run's table lock.")] = 0,
    progress: common.ProgressOption = True,
    gate: Annotated[bool, typer.Option(help="Validate each batch with its GX suite.")] = True,
    policy: common.PolicyOption = None,
) -> None:
    """Archive cold rows: select, gate, write, verify, then delete (children before parents).
    A future --as-of is refused: it would make rows still in use look cold."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from tierflow.archive import parse_duration, run_archive
    from tierflow.cli.render import archive_run_table

    s, pol = _ctx(policy)
    bar = Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>10} rows/s"),
        TimeElapsedColumn(),
        console=common.err_console(),
        disable=not progress or dry_run,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def on_start(table: str, total: int) -> None:
        tasks[table] = bar.add_task(table, total=max(total, 1), rate="-")

    def on_rows(table: str, n: int) -> None:
        task_id = tasks[table]
        bar.advance(task_id, n)
        task = bar.tasks[task_id]
        rate = task.completed / task.elapsed if task.elapsed else 0
        bar.update(task_id, rate=f"{rate:,.0f}")

    with bar:
        summary = run_archive(
            s,
            tables=tables,
            as_of=common.parse_as_of(as_of),
            policy=pol,
            max_runtime=parse_duration(max_runtime),
            dry_run=dry_run,
            allow_large_run=allow_large_run,
            batch_rows=batch_rows,
            lock_wait=lock_wait,
            gate=gate,
            progress=on_rows,
            on_table_start=on_start,
        )
    common.console().print(archive_run_table(summary))
    if not summary.ok:
        common.fail(summary.errors())


@archive_app.command("restore")
def restore_cmd(
    table: Annotated[str, typer.Option("--table", "-t", help="Table to restore into MySQL.")],
    start: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD), inclusive.")],
    end: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD), inclusive.")],
    policy: common.PolicyOption = None,
) -> None:
    """Copy archived rows back into MySQL (existing primary keys are skipped); recorded in the ledger.
    A row MySQL refuses or stores differently stays in the archive and is named; exit 1."""
    from tierflow.archive.restore import RestoreError, restore

    s, pol = _ctx(policy)
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        r = restore(s, table=table, start=first, end=last, policy=pol)
    except RestoreError as exc:
        common.fail(str(exc))
    common.console().print(
        f"restored {table} {first}..{last}: {r.rows_inserted:,} rows inserted, "
        f"{r.rows_skipped:,} already present, from {r.objects} object(s) in {r.seconds:.1f}s"
    )


@archive_app.command("verify")
def verify_cmd(tables: common.TablesOption = None, policy: common.PolicyOption = None) -> None:
    """Re-check every ledger entry against the store and MySQL; exit 1 on any problem."""
    from tierflow.archive.verify import verify_archive

    console = common.console()
    s, pol = _ctx(policy)
    report = verify_archive(s, tables=tables, policy=pol)
    console.print(f"checked {report.entries} ledger entries, {report.objects} objects, {report.rows:,} rows")
    for line in report.pending:
        console.print(f"[yellow]pending[/yellow] {line}", highlight=False)
    for line in report.expired:
        console.print(f"[dim]expired[/dim] {line}", highlight=False)
    if not report.ok:
        common.fail(report.problems, tag="problem")
    console.print("[green]archive verified[/green]")


@archive_app.command("lifecycle")
def lifecycle_cmd(
    apply: Annotated[bool, typer.Option("--apply", help="Put the rules on the bucket.")] = False,
    policy: common.PolicyOption = None,
) -> None:
    """Print (or apply) S3 lifecycle rules from the policy's retention."""
    import json

    from tierflow.archive.lifecycle import apply_lifecycle, lifecycle_rules

    console = common.console()
    s, pol = _ctx(policy)
    rules = apply_lifecycle(s, pol) if apply else lifecycle_rules(s, pol)
    console.print_json(json.dumps(rules))
    if apply:
        console.print(f"[green]{len(rules)} lifecycle rule(s) applied to {s.archive_uri}[/green]")


@archive_app.command("migrate")
def migrate_cmd(
    tables: common.TablesOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count the old objects.")] = False,
    as_json: common.JsonOption = False,
    policy: common.PolicyOption = None,
) -> None:
    """Rewrite objects of an older encoding (unsigned ids, INT64 timestamps) in today's, so that
    Athena, Spectrum and Spark read them through the catalog. Same rows; verified before the old
    objects go."""
    import json

    from tierflow.archive.migrate import migrate_encoding

    s, pol = _ctx(policy)
    report = migrate_encoding(s, tables=tables, policy=pol, dry_run=dry_run)
    if as_json:
        print(json.dumps(report.as_dict()))
        return
    verb = "would rewrite" if dry_run else "rewrote"
    done = len(report.old_objects) if dry_run else report.rewritten
    common.console().print(
        f"checked {report.entries} ledger entries, {report.objects} objects: {verb} {done} "
        "object(s) of an older encoding"
    )


@archive_app.command("ddl")
def ddl_cmd(
    tables: common.TablesOption = None,
    policy: common.PolicyOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Directory for the <table>.sql files; default sql/athena/.")
    ] = None,
) -> None:
    """Write Athena/Glue DDL for each archived table into sql/athena/ (or --out DIR)."""
    from tierflow.catalog import ATHENA_DIR, write_ddl

    s, pol = _ctx(policy)
    for path in write_ddl(s, pol, tables=tables, out_dir=out or ATHENA_DIR):
        common.console().print(f"wrote {path}")


def query_cmd(
    sql: Annotated[str, typer.Argument(help='SQL over the archive, e.g. "SELECT count(*) FROM loans".')],
    output: Annotated[str, typer.Option(help="table | csv | json")] = "table",
    limit: Annotated[int, typer.Option(help="Rows to print at most.")] = 50,
) -> None:
    """Run SQL over the archived Parquet with DuckDB (the local Athena stand-in)."""
    from tierflow.query import run_query

    result = run_query(sql, common.context().settings)
    if output == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(result.slice(0, limit), sys.stdout.buffer)
        return
    rows = result.slice(0, limit).to_pylist()
    if output == "json":
        import json

        print(json.dumps(rows, default=str))
        return
    from tierflow.cli.render import query_table

    common.console().print(query_table(result.num_rows, rows, result.column_names))
