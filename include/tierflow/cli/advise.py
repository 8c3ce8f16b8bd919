"""``tierflow advise``: the query advisor's ranked report, and ``advise apply`` to write a candidate's
dbt model and rewrite for review (docs/advisor.md)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from tierflow.cli import common

SinceOption = Annotated[str, typer.Option("--since", help="History window: 7d, 12h, 30m.")]
MinCallsOption = Annotated[int, typer.Option("--min-calls", min=1, help="Only shapes run at least N times.")]
TopOption = Annotated[int, typer.Option("--top", min=1, help="At most K shapes, by total time.")]
WorkgroupOption = Annotated[
    str | None,
    typer.Option(
        "--athena-workgroup",
        help="Also read this Athena workgroup (default: the settings' athena_workgroup, TIERFLOW_ATHENA_WORKGROUP).",
    ),
]


def _report(since: str, min_calls: int, top: int, workgroup: str | None) -> list[Any]:
    from datetime import UTC, datetime

    from tierflow.advisor.advise import since_of
    from tierflow.advisor.collect import run

    now = datetime.now(UTC)
    try:
        start = since_of(since, now)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    settings = common.context().settings
    return run(settings, start, now, min_calls=min_calls, top=top or None, athena_workgroup=workgroup)


def _seconds(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:,.2f}"


def _print(candidates: list[Any]) -> None:
    from rich.table import Table

    table = Table(title=f"query advisor: {len(candidates)} shape(s) by total time")
    for col in (
        "fingerprint",
        "calls",
        "total s",
        "mean ms",
        "tables",
        "promotable / why not",
        "proof",
        "saving s",
    ):
        table.add_column(col)
    for c in candidates:
        if c.promotable:
            verdict = ("existing " if c.existing_model else "new ") + str(c.model_name)
            proof = f"{c.literal_sets} sets equal, {c.original_ms:,.1f} -> {c.rewrite_ms:,.1f} ms"
        else:
            verdict, proof = f"no: {c.reason}", "-"
        table.add_row(
            c.fingerprint,
            str(c.calls),
            _seconds(c.total_ms),
            f"{c.mean_ms:,.1f}",
            ", ".join(c.tables),
            verdict,
            proof,
            _seconds(c.saving_ms),
        )
    common.console().print(table)


advise_app = typer.Typer(
    help="Find frequent, expensive queries and promote them to proven pre-aggregates.",
    invoke_without_command=True,
)


@advise_app.callback()
def advise_cmd(
    ctx: typer.Context,
    since: SinceOption = "7d",
    min_calls: MinCallsOption = 3,
    top: TopOption = 20,
    as_json: common.JsonOption = False,
    workgroup: WorkgroupOption = None,
) -> None:
    """Rank the query shapes of the history window and prove each promotable one. Changes nothing."""
    if ctx.invoked_subcommand is not None:
        return
    candidates = _report(since, min_calls, top, workgroup)
    if as_json:
        typer.echo(json.dumps([c.as_dict() for c in candidates], default=str, indent=2))
    else:
        _print(candidates)


@advise_app.command("apply")
def apply_cmd(
    fingerprint: Annotated[str, typer.Argument(help="A promotable fingerprint from `tierflow advise`.")],
    since: SinceOption = "7d",
    min_calls: MinCallsOption = 1,
    workgroup: WorkgroupOption = None,
) -> None:
    """Write the candidate's dbt model (dbt/models/marts/promoted/) and rewrite (sql/promoted/);
    the next `tierflow warehouse build` builds, tests and publishes the model."""
    from tierflow.advisor.advise import apply

    candidates = _report(since, min_calls, 0, workgroup)
    found = next((c for c in candidates if c.fingerprint == fingerprint), None)
    if found is None:
        common.fail(f"no query shape {fingerprint} in the history window", code=2)
    if not found.promotable:
        common.fail(f"{fingerprint} is not promotable: {found.reason}")
    for path in apply(found):
        typer.echo(f"wrote {path}")
