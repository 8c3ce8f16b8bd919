"""What an event must be before the hot tier applies it: its size, its shape, its fields, its clock.

Shared by ``parse_event`` and the consumer's fast decoder, so both refuse the same events with the
same reasons. The apply script reads features from the stored row's top-level fields; these checks
make that text hold exactly the decoded values: a row is flat (scalar columns only), its keys are
unique column names, and the fields that features read are plain text or decimals.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from tierflow.errors import TierflowError
from tierflow.policy import IDENTIFIER

MAX_ID = 2**63 - 1  # MySQL BIGINT
MAX_TEXT = 64
_DECIMAL = re.compile(r"-?\d{1,18}(\.\d{1,6})?")
_COLUMN = re.compile(IDENTIFIER)
_SCALARS = (str, int, float, bool, type(None))
_NUMERIC = ("amount", "principal")
# Column sets already checked (rows of one table repeat them): spares a pattern match per key.
_known_columns: set[tuple[str, ...]] = set()


class EventError(TierflowError):
    """An event that cannot be applied; the consumer dead-letters it with this message as reason."""


def check_size(payload: bytes | str, limit: int) -> None:
    if len(payload) > limit:
        raise EventError(
            f"too large: {len(payload):,} bytes, over hot.max_event_bytes ({limit:,}); refused before decoding"
        )


def decode_json(payload: bytes | str) -> Any:
    """Strict JSON: UTF-8 only, no key named twice in an object, no NaN or Infinity."""
    if isinstance(payload, bytes | bytearray | memoryview):
        try:
            payload = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EventError(f"bad encoding: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(payload, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except EventError:
        raise
    except RecursionError:
        raise EventError("nested too deeply: more levels than a decoder follows (a row is flat)") from None
    except ValueError as exc:
        raise EventError(f"bad JSON: {exc}") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise EventError(f"duplicate key {key!r}: an object names it twice")
            seen.add(key)
    return doc


def _no_constant(name: str) -> Any:
    raise EventError(f"bad JSON: {name} is not a JSON number")


def check_count(key: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise EventError(f"wrong type: {key} is {value!r}, expected a non-negative integer below 2^63")
    return value


def check_row(
    table: Any,
    fields: tuple[tuple[str, Any], ...],
    op: str,
    pk: int,
    row: dict[str, Any],
    *,
    scalars_checked: bool = False,
) -> datetime:
    """Check a decoded row of hot table ``table`` (a TablePolicy); return its time column's value.
    ``scalars_checked``: the decoder already refused values that are not finite scalars."""
    _check_columns(table.name, row, scalars_checked)
    key = row.get(table.primary_key)
    if key != pk or isinstance(key, bool):
        raise EventError(f"wrong key: row.{table.primary_key} is {key!r} but the event's pk is {pk}")
    moment = _as_datetime(row.get(table.time_column))
    if moment is None:
        raise EventError(
            f"missing key or wrong type: row.{table.time_column} is {row.get(table.time_column)!r}, "
            "expected an ISO timestamp"
        )
    if op == "upsert":
        _check_fields(table.name, fields, row)
    return moment


def _check_columns(table: str, row: dict[str, Any], scalars_checked: bool) -> None:
    """Every row key a column name, every value a finite scalar (unless the decoder checked)."""
    columns = tuple(row)
    if columns not in _known_columns:
        for name in columns:
            if not isinstance(name, str) or not _COLUMN.match(name):
                raise EventError(f"bad column name: row key {name!r} in {table} is not a column name")
        if len(_known_columns) < 1_024:
            _known_columns.add(columns)
    for name, value in () if scalars_checked else row.items():
        if not isinstance(value, _SCALARS):
            raise EventError(
                f"nested value: row.{name} is a JSON {'array' if isinstance(value, list) else 'object'} "
                f"in {table}; a row holds its columns' scalar values only"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise EventError(f"wrong type: row.{name} is {value!r} in {table}")


def _check_fields(table: str, fields: tuple[tuple[str, Any], ...], row: dict[str, Any]) -> None:
    """The fields that features read: present, of their types, decimals or plain text."""
    for name, kinds in fields:
        if name not in row:
            raise EventError(f"missing key row.{name} for {table}")
        value = row[name]
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise EventError(f"wrong type: row.{name} is {value!r} in {table}")
        if name in _NUMERIC:
            if not _DECIMAL.fullmatch(value if isinstance(value, str) else repr(value)):
                raise EventError(
                    f"wrong type: row.{name} is {value!r}, not a number (a plain decimal, as MySQL writes it)"
                )
        elif isinstance(value, str) and not _plain_text(value):
            raise EventError(
                f"wrong value: row.{name} is {value[:80]!r} in {table}; expected at most "
                f"{MAX_TEXT} printable ASCII characters without quotes or backslashes"
            )


def _plain_text(value: str) -> bool:
    return (
        len(value) <= MAX_TEXT
        and value.isascii()
        and value.isprintable()
        and '"' not in value
        and "\\" not in value
    )


def check_clock(version: int, ts: float, now: float, skew: float, time_column: str) -> None:
    """Refuse a version or row time more than ``skew`` seconds ahead of ``now`` (epoch seconds): a
    far-future version would make every later true change of the row look old."""
    if version > (now + skew) * 1_000_000:
        ahead = version / 1_000_000 - now
        raise EventError(
            f"version in the future: {version} is {ahead:,.0f} s ahead of the consumer's clock "
            f"(hot.max_future_skew_s is {skew:g})"
        )
    if ts > now + skew:
        raise EventError(
            f"row.{time_column} in the future: {ts - now:,.0f} s ahead of the consumer's clock "
            f"(hot.max_future_skew_s is {skew:g})"
        )


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def epoch_seconds(moment: datetime) -> float:
    """Naive datetimes are UTC (MySQL DATETIME columns hold UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
