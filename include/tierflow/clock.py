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


def as_of_moment(value: str | date | datetime | None, *, now: datetime | None = None) -> datetime:
    """The one meaning of an ``as_of`` given by a person (the CLI's ``--as-of``, a DAG's ``as_of``
    param, a library caller), as a naive UTC datetime:

    - ``None`` or empty: now;
    - a day (``YYYY-MM-DD``, ``YYYYMMDD`` or a ``date``): the end of that day, UTC, so the whole
      day is in view; while the day is today its end has not come yet, so it is now. A later day
      is its end, which callers that refuse a future moment (the archive) refuse;
    - a timestamp (ISO text or a ``datetime``): that moment, an offset converted to UTC.

    Raises ValueError for text that is neither."""
    now = to_utc(now) if now else utc_now()
    if value is None or value == "":
        return now
    if isinstance(value, str):
        text = value.strip()
        value = date.fromisoformat(text) if len(text) <= 10 else datetime.fromisoformat(text)
    if isinstance(value, datetime):
        return to_utc(value)
    return now if value == now.date() else datetime.combine(value, datetime.max.time())
