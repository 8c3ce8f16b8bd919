"""The one time convention of tierflow: naive datetimes are UTC.

Kept apart from the tiers so that the CLI and the policy can use it without importing them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime


def utc_now() -> datetime:
    """Now, as tierflow compares times: naive, UTC, whole seconds."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def to_utc(moment: date | datetime) -> datetime:
    """A naive UTC datetime: an aware one is converted, a naive one is taken as UTC already, a
    date is its midnight."""
    if not isinstance(moment, datetime):
        return datetime.combine(moment, datetime.min.time())
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
