"""What an archive run must refuse before it deletes anything: a future ``as_of``, a run that would
move too large a share of a table, and the one time convention (naive datetimes are UTC).

``check_as_of`` is public so that every caller (CLI, DAG params, library) refuses the same way.
"""

from __future__ import annotations

from datetime import date, datetime

from tierflow.clock import as_of_moment, to_utc, utc_now
from tierflow.errors import TierflowError

ALLOW_LARGE_RUN_FLAG = "--allow-large-run"


class FutureAsOfError(TierflowError):
    """``as_of`` is later than now: every row would look cold."""


class LargeRunError(TierflowError):
    """A run would move more of a table than ``archive.max_run_fraction`` allows."""


def check_as_of(as_of: datetime | date | str | None, *, now: datetime | None = None) -> datetime:
    """``as_of`` as a naive UTC datetime (default: now), refused when it is later than now.

    ``as_of`` means what ``tierflow.clock.as_of_moment`` says, as everywhere: a datetime is that
    moment (aware ones converted to UTC, naive ones are UTC); a day (a date or ``YYYY-MM-DD``) is
    the end of that day, or now while the day is today.
    A future ``as_of`` would make rows that are still in use look cold, and a run would archive
    and delete them (``2099-01-01`` takes every table whole), so it is an error, not a warning.
    """
    now = to_utc(now) if now else utc_now()
    text = as_of if isinstance(as_of, str) else None
    try:
        moment = as_of_moment(as_of, now=now)
    except ValueError:
        raise TierflowError(
            f"as_of {text!r} is not a date (YYYY-MM-DD) or an ISO timestamp (YYYY-MM-DDTHH:MM[:SS][+HH:MM])"
        ) from None
    if moment > now:
        shown = text or str(as_of)
        raise FutureAsOfError(
            f"as_of {shown} ({moment:%Y-%m-%d %H:%M:%S} UTC) is later than now "
            f"({now:%Y-%m-%d %H:%M:%S} UTC): a future as_of makes rows that are still in use look "
            "cold and the run would archive and delete them. Nothing was changed. Pass a moment up "
            "to now (times are UTC), or leave as_of empty for now."
        )
    return moment


def check_run_sizes(
    counts: list[tuple[str, int, int]], max_fraction: float, *, allowed: bool, source: str = "policy"
) -> None:
    """Raise LargeRunError naming every ``(table, moving, total)`` whose moving share is over
    ``max_fraction``, unless ``allowed``. Checked before the first batch of the run, so nothing
    has been written or deleted."""
    if allowed:
        return
    over = [(t, moving, total) for t, moving, total in counts if total and moving > max_fraction * total]
    if not over:
        return
    lines = "; ".join(
        f"table {t!r} would move {moving:,} of its {total:,} rows ({moving / total:.0%})"
        for t, moving, total in over
    )
    raise LargeRunError(
        f"{lines}: more than archive.max_run_fraction ({max_fraction:g}) of {source}. Nothing was "
        "written or deleted. Check the cutoff with `tierflow archive plan`; if that share is meant "
        f"to go, run again with {ALLOW_LARGE_RUN_FLAG} (library: allow_large_run=True)."
    )
