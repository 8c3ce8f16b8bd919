"""nightly_archive's task bodies: what a run may do (params, run type, run window), one table's
archive, and the run's summary, which fails the run when any table failed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from tierflow.clock import as_of_moment, to_utc
from tierflow.errors import TierflowError
from tierflow.log import get_logger
from tierflow.policy import Policy

log = get_logger("tierflow.airflow.archive")


class RunParamsError(TierflowError):
    """A trigger's params cannot be run as given."""


def deployed_policy() -> Policy:
    """The policy this Airflow deploys (``Settings.policy_path`` from the environment), for the
    trigger form and the DAG's docs. Read from the local file when the DAG file is parsed: no
    database, no Connection, no Variable."""
    from tierflow.config import Settings
    from tierflow.policy import load_policy

    return load_policy(Settings.from_env().policy_path)


def run_window_doc(policy: Policy) -> str:
    """The policy's archive run window, as the DAG's docs show it."""
    window = policy.archive.run_window
    if window is None:
        return "**Run window of this deployment:** none in the policy: archive runs may delete at any hour."
    return f"**Run window of this deployment:** {window.describe()} (`archive.run_window`)."


def parse_as_of(value: str | None, now: datetime) -> str | None:
    """``as_of`` from the form: None for now, else the ISO date, which the run reads with the one
    meaning of an ``as_of`` (``tierflow.clock.as_of_moment``: the end of that day, or now while
    the day is today, UTC). A day whose end is later than now is refused before anything runs."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise RunParamsError(
            f"param as_of {value!r} is not a date (YYYY-MM-DD); leave it empty for now"
        ) from None
    if as_of_moment(day, now=now) > to_utc(now):
        raise RunParamsError(
            f"param as_of {value} is in the future (days are UTC; today is "
            f"{to_utc(now):%Y-%m-%d} UTC): an archive as of a future date would move rows "
            "that are not cold yet; leave it empty for now or give a past date"
        )
    return day.isoformat()


def run_type_name(run_type: str | Enum) -> str:
    """The run type's value (``manual``, ``scheduled``...). The Task SDK hands a task its run's
    type as an enum whose ``str()`` is ``DagRunType.MANUAL``, not ``manual``."""
    return str(run_type.value if isinstance(run_type, Enum) else run_type)


def plan_run(params: dict[str, Any], run_type: str | Enum, policy: Policy, now: datetime) -> dict[str, Any]:
    """What this run does. A manual run does what its form says (a dry run unless unticked); any
    other run (scheduled, the one Airflow starts on unpause, asset-triggered) archives every table
    as of now, as the policy says. A run that would delete outside the policy's run window does
    nothing: ``skipped`` says why."""
    run_type = run_type_name(run_type)
    manual = run_type == "manual"
    tables = list(params.get("tables") or []) if manual else []
    unknown = sorted(set(tables) - set(policy.tables))
    if unknown:
        raise RunParamsError(
            f"param tables: {', '.join(unknown)} not in the policy {policy.source}; "
            f"choose from {', '.join(policy.tables)} (empty: all)"
        )
    plan = {
        "run_type": run_type,
        "tables": tables,
        "as_of": parse_as_of(params.get("as_of"), now) if manual else None,
        "dry_run": bool(params.get("dry_run", True)) if manual else False,
        "allow_large_run": bool(params.get("allow_large_run")) if manual else False,
        "skipped": None,
    }
    window = policy.archive.run_window
    if not plan["dry_run"] and window is not None and not window.contains(now):
        plan["skipped"] = (
            f"outside the run window {window.describe()} (now {now.astimezone(UTC):%H:%M} UTC): "
            "nothing archived; trigger a dry run, or a real one inside the window"
        )
        log.warning("archive.run.outside_window", window=window.describe(), run_type=run_type)
    log.info("archive.run.planned", **plan)
    return plan


def archive_one_table(table: str, plan: dict[str, Any], settings) -> dict[str, Any]:
    """Archive ``table`` as ``plan`` says; the table's summary, and its failure (not raised yet)."""
    from tierflow.archive.run import run_archive
    from tierflow.stores import mysql

    as_of = plan.get("as_of") or None  # the ISO day; run_archive reads it as every as_of is read
    summary = run_archive(
        settings,
        tables=[table],
        as_of=as_of,
        dry_run=bool(plan["dry_run"]),
        allow_large_run=bool(plan.get("allow_large_run")),
    )
    t = summary.tables[0]
    log.info(
        "archive.task.done",
        table=table,
        status=t.status,
        rows=t.rows,
        deleted=t.deleted,
        bytes=t.bytes,
        files=t.files,
        **{f"{p}_s": round(v, 3) for p, v in t.seconds.items()},
    )
    root = settings.archive_uri.rstrip("/")
    result = {
        "table": table,
        "status": t.status,
        "rows": t.rows,
        "deleted": t.deleted,
        "partitions": t.partitions,
        "run_id": summary.run_id,
        "error": t.error,
        "asset_uri": f"{root}/{mysql.database_of(settings.mysql_url)}/{table}",
    }
    failure = None if t.ok else (t.failure or TierflowError(f"{table}: {t.error}"))
    return {"result": result, "failure": failure}


def summarise_run(plan: dict[str, Any], tables: list[str], results: list[dict | None]) -> dict[str, Any]:
    """Every table's outcome; ``failed`` lists the tables that did not finish ok (a table whose task
    left no result, killed or timed out, counts as failed)."""
    by_table = {r["table"]: r for r in results if r}
    outcome = {
        t: by_table.get(t, {"status": "failed", "error": "no result: the task did not finish"})
        for t in tables
    }
    failed = sorted(t for t, r in outcome.items() if r["status"] not in {"ok", "dry-run", "nothing to do"})
    summary = {
        "skipped": plan.get("skipped"),
        "dry_run": plan.get("dry_run"),
        "tables": {
            t: {k: r.get(k) for k in ("status", "rows", "deleted", "error")} for t, r in outcome.items()
        },
        "rows": sum(r.get("rows") or 0 for r in outcome.values()),
        "deleted": sum(r.get("deleted") or 0 for r in outcome.values()),
        "failed": failed,
    }
    if plan.get("skipped"):
        log.warning("archive.run.skipped", reason=plan["skipped"])
    log.info("archive.run.summary", **summary)
    if failed:
        # the alert: one ERROR line naming every failed table and why, in the run's last task log
        log.error(
            "archive.run.failed",
            failed=failed,
            errors={t: outcome[t].get("error") for t in failed},
        )
    return summary
