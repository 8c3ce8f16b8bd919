"""What keeping a promoted aggregate fresh costs, from the warehouse's build history.

Every dbt invocation records each built model's time in ``<schema>._tierflow_model_runs``
(``dbt/macros/model_runs.sql``). From it:

- the incremental share: for each incremental model with both kinds of build on record, the
  median time of its incremental builds over the median of its full ones (a full build being one
  run with ``--full-refresh`` or the model's first in that schema); the share is the median over
  those models;
- the builds in the window: the dbt invocations that built a model since the window's start.

A new model's refresh cost over the window is then its measured full build time x the share x the
builds. Without history (no table, or no incremental model built both ways) the estimate falls
back to one full build a day, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any

from tierflow.clock import to_utc

RUNS_TABLE = "_tierflow_model_runs"


@dataclass(frozen=True)
class RefreshBasis:
    share: float | None  # incremental build time / full build time; None without history
    builds: int  # dbt builds in the window
    models: int  # incremental models the share was measured on
    window_days: float

    def cost_ms(self, full_build_ms: float, default_builds_per_day: float) -> float:
        if self.share is None:
            return full_build_ms * default_builds_per_day * self.window_days
        return full_build_ms * self.share * self.builds

    def describe(self, default_builds_per_day: float) -> str:
        if self.share is None:
            return f"no incremental build history: {default_builds_per_day:g} full build(s) a day assumed"
        return (
            f"{self.builds} build(s) in the window; an incremental build takes {self.share:.2f} of a full one "
            f"(median over {self.models} incremental model(s))"
        )


def _history_schemas(conn: Any) -> list[str]:
    rows = conn.execute(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = %s ORDER BY 1", (RUNS_TABLE,)
    ).fetchall()
    return [r[0] for r in rows]


def _runs(conn: Any, schema: str) -> list[tuple]:
    quoted = '"' + schema.replace('"', '""') + '"'
    return conn.execute(
        "SELECT invocation_id, model, materialized, full_refresh, seconds, run_at "  # noqa: S608 -- a schema read from the catalog, quoted
        f"FROM {quoted}.{RUNS_TABLE} ORDER BY run_at"
    ).fetchall()


def incremental_share(runs: list[tuple]) -> tuple[float | None, int]:
    """(median incremental/full time ratio, models measured) of one schema's runs, oldest first."""
    full: dict[str, list[float]] = {}
    incremental: dict[str, list[float]] = {}
    for _, model, materialized, full_refresh, seconds, _ in runs:
        if materialized != "incremental":
            continue
        first = model not in full and model not in incremental
        (full if full_refresh or first else incremental).setdefault(model, []).append(float(seconds))
    ratios = [
        median(incremental[m]) / median(full[m]) for m in incremental if m in full and median(full[m]) > 0
    ]
    return (median(ratios) if ratios else None), len(ratios)


def refresh_basis(conn: Any | None, since: datetime, window_days: float) -> RefreshBasis:
    """The build history's estimate (see the module); an empty basis when ``conn`` is None."""
    if conn is None:
        return RefreshBasis(None, 0, 0, window_days)
    shares: list[float] = []
    models = 0
    builds: set[str] = set()
    start = to_utc(since)  # run_at is UTC
    for schema in _history_schemas(conn):
        runs = _runs(conn, schema)
        share, measured = incremental_share(runs)
        if share is not None:
            shares.append(share)
            models += measured
        builds |= {r[0] for r in runs if r[5] >= start}
    return RefreshBasis(median(shares) if shares else None, len(builds), models, window_days)
