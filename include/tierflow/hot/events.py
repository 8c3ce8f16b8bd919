"""Row-change events for the hot tables: the envelope, its validation, and publishing from MySQL.

An event says "this row of this hot table now looks like this" (or is gone). Its ``version`` is the
row's change column (else its time column) in microseconds, so applying an event twice, or an older
one after a newer one, changes nothing: that is what makes the at-least-once consumer exact.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Union

from tierflow.hot.checks import (
    MAX_ID,
    EventError,
    _as_datetime,
    check_clock,
    check_count,
    check_row,
    check_size,
    decode_json,
    epoch_seconds,
)
from tierflow.log import get_logger
from tierflow.policy import Policy, TablePolicy

log = get_logger(__name__)

OPS = ("upsert", "delete")


@dataclass(frozen=True)
class HotTableSpec:
    """What the hot tier needs from a table: how to find the customer and which fields it reads."""

    customer_sql: str  # SQL expression giving the customer id, alias ``t`` for the table
    join_sql: str = ""  # extra join needed to reach the customer
    fields: tuple[tuple[str, type | tuple[type, ...]], ...] = ()


# The hot tables the hot tier knows how to keep; the policy decides their windows.
HOT_TABLE_SPECS: dict[str, HotTableSpec] = {
    "loan_transactions": HotTableSpec(
        "t.customer_id", fields=(("amount", (str, int, float)), ("status", str), ("txn_type", str))
    ),
    "loans": HotTableSpec("t.customer_id", fields=(("status", str), ("principal", (str, int, float)))),
    "communications": HotTableSpec("t.customer_id", fields=(("status", str), ("channel", str))),
    "communication_events": HotTableSpec(
        "c.customer_id",
        join_sql="JOIN `communications` c ON c.id = t.communication_id",
        fields=(("event_type", str), ("communication_id", int)),
    ),
    "user_device_apps": HotTableSpec("t.customer_id", fields=(("category", str),)),
}


@dataclass(frozen=True)
class Event:
    """One row change. ``ts`` is the row's time column (epoch seconds): it places it in the window."""

    table: str
    op: str
    pk: int
    customer_id: int
    version: int
    ts: float
    row: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.table}:{self.pk}:{self.version}"

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "id": self.id,
                "table": self.table,
                "op": self.op,
                "pk": self.pk,
                "customer_id": self.customer_id,
                "version": self.version,
                "row": self.row,
            },
            default=_json_default,
            separators=(",", ":"),
        ).encode()


def row_json(row: dict[str, Any]) -> str:
    """A row as stored in the hot tier: the same text whether it came from MySQL or from an event."""
    return json.dumps(row, default=_json_default, separators=(",", ":"))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot encode {type(value).__name__} in an event")


def epoch_micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def event_from_row(table: TablePolicy, row: dict[str, Any], customer_id: int, op: str = "upsert") -> Event:
    """The event for one MySQL row of a hot table (``row`` as read with column names)."""
    moment = _as_datetime(row[table.time_column])
    if moment is None:
        raise EventError(
            f"{table.name}.{table.time_column} of row {row.get(table.primary_key)} is not a datetime"
        )
    changed = _as_datetime(row.get(table.change_column)) if table.change_column else None
    return Event(
        table=table.name,
        op=op,
        pk=int(row[table.primary_key]),
        customer_id=int(customer_id),
        version=epoch_micros(changed or moment),
        ts=epoch_seconds(moment),
        row={k: v for k, v in row.items() if k != "_customer_id"},
    )


def _event_table(doc: dict[str, Any], policy: Policy) -> tuple[str, Any]:
    """The event's hot table: its name and its TablePolicy, or the dead-letter reason."""
    if "table" not in doc:
        raise EventError("missing key 'table'")
    table_name = doc["table"]
    if not isinstance(table_name, str) or table_name not in HOT_TABLE_SPECS:
        raise EventError(f"unknown table {table_name!r}; hot tables: {', '.join(HOT_TABLE_SPECS)}")
    table = policy.tables.get(table_name)
    if table is None or not table.hot_window_days:
        raise EventError(f"unknown table {table_name!r}: it has no hot window in the policy")
    return table_name, table


def parse_event(payload: bytes | str, policy: Policy, *, now: float | None = None) -> Event:
    """Decode and validate one event; raise EventError naming what is wrong (the dead-letter reason).

    ``now`` (epoch seconds, default the wall clock) is what a version or row time may not be more
    than the policy's ``hot.max_future_skew_s`` ahead of."""
    check_size(payload, policy.hot.max_event_bytes)
    doc = decode_json(payload)
    if not isinstance(doc, dict):
        raise EventError(f"bad envelope: expected a JSON object, got {type(doc).__name__}")
    table_name, table = _event_table(doc, policy)
    for key in ("op", "pk", "customer_id", "version", "row"):
        if key not in doc:
            raise EventError(f"missing key {key!r}")
    if doc["op"] not in OPS:
        raise EventError(f"wrong type: op is {doc['op']!r}, expected one of {', '.join(OPS)}")
    for key in ("pk", "customer_id", "version"):
        check_count(key, doc[key])
    row = doc["row"]
    if not isinstance(row, dict):
        raise EventError(f"wrong type: row is {type(row).__name__}, expected an object")
    for key, value in doc.items():
        if key != "row" and isinstance(value, dict | list):
            raise EventError(f"nested value: {key} is a JSON {type(value).__name__}; only row is an object")
    moment = check_row(table, HOT_TABLE_SPECS[table_name].fields, doc["op"], doc["pk"], row)
    ts = epoch_seconds(moment)
    check_clock(
        doc["version"],
        ts,
        time.time() if now is None else now,
        policy.hot.max_future_skew_s,
        table.time_column,
    )
    return Event(
        table=table_name,
        op=doc["op"],
        pk=doc["pk"],
        customer_id=doc["customer_id"],
        version=doc["version"],
        ts=ts,
        row=row,
    )


_EPOCH_NAIVE = datetime(1970, 1, 1)


class FastDecoder:
    """The consumer's decode path: JSON decoded and the row encoded again in C (msgspec), with no
    Event built. What is stored is the decoded, checked row written anew, never the payload's bytes.

    Accepts only what ``parse_event`` accepts, checked by the same functions; anything it cannot
    vouch for returns None, and the caller asks ``parse_event`` (which either accepts it or names
    the dead-letter reason). A unit test checks the two agree.
    """

    def __init__(self, policy: Policy, table_numbers: dict[str, int]) -> None:
        import msgspec

        count = Annotated[int, msgspec.Meta(ge=0, le=MAX_ID)]
        self._envelope = msgspec.json.Decoder(
            msgspec.defstruct(
                "Envelope",
                [
                    ("table", str),
                    ("op", str),
                    ("pk", count),
                    ("customer_id", count),
                    ("version", count),
                    ("row", msgspec.Raw),
                    ("id", Union[str, None], None),  # noqa: UP007
                ],
                forbid_unknown_fields=True,
            )
        )
        self._row = msgspec.json.Decoder(dict[str, Union[str, int, float, bool, None]])  # noqa: UP007
        self._encode = msgspec.json.Encoder().encode
        self._error = (msgspec.ValidationError, msgspec.DecodeError, RecursionError, ValueError)
        self._max_bytes = policy.hot.max_event_bytes
        self._skew = policy.hot.max_future_skew_s
        self._tables: dict[str, tuple] = {}
        for table in hot_tables(policy):
            if table.name in table_numbers:
                fields = HOT_TABLE_SPECS[table.name].fields
                numeric = tuple(n for n, _ in fields if n in ("amount", "principal"))
                self._tables[table.name] = (table_numbers[table.name], table, fields, numeric)

    def decode(
        self, payload: bytes, now: float | None = None
    ) -> tuple[int, int, str, str, str, str, bytes] | None:
        """(customer_id, table no, op, pk, version, ts, row JSON) ready for the apply script, or None."""
        # An escape could hide a quote in a key or a value: such payloads take the full parser.
        if len(payload) > self._max_bytes or b"\\" in payload:
            return None
        try:
            doc: Any = self._envelope.decode(payload)  # a msgspec Struct made at run time
            raw = bytes(doc.row)
            row = self._row.decode(raw)
        except self._error:
            return None
        spec = self._tables.get(doc.table)
        if spec is None or doc.op not in OPS:
            return None
        # Without escapes, every '":' ends a key: fewer keys decoded than that means one was named
        # twice (the decoder keeps the last).
        if payload.count(b'":') != 6 + (doc.id is not None) + len(row):
            return None
        for name in spec[3]:
            if isinstance(row.get(name), float):
                return None  # its text may be an exponent form: stored re-encoded, by parse_event
        try:
            # typed decoding has refused nested and non-finite values
            moment = check_row(spec[1], spec[2], doc.op, doc.pk, row, scalars_checked=True)
            if moment.tzinfo is None:
                ts = (moment - _EPOCH_NAIVE).total_seconds()  # what epoch_seconds gives, cheaper
            else:
                ts = moment.timestamp()
            check_clock(doc.version, ts, time.time() if now is None else now, self._skew, "")
        except EventError:
            return None
        return (
            doc.customer_id,
            spec[0],
            doc.op,
            str(doc.pk),
            str(doc.version),
            f"{ts:.6f}",
            self._encode(row),
        )


def hot_tables(policy: Policy, names: Iterable[str] | None = None) -> list[TablePolicy]:
    """The policy's hot tables (optionally only ``names``) that the hot tier knows how to keep."""
    wanted = set(names or [])
    tables = []
    for table in policy.hot_tables:
        if table.name not in HOT_TABLE_SPECS:
            raise EventError(
                f"{policy.source or 'policy'}: table {table.name!r} has a hot window but the hot tier "
                f"has no layout for it; known: {', '.join(HOT_TABLE_SPECS)}"
            )
        if not wanted or table.name in wanted:
            tables.append(table)
    unknown = wanted - {t.name for t in policy.hot_tables}
    if unknown:
        raise EventError(
            f"not hot tables: {', '.join(sorted(unknown))}; hot tables: "
            f"{', '.join(t.name for t in policy.hot_tables)}"
        )
    return tables


def read_hot_rows(
    mysql_url: str,
    table: TablePolicy,
    since: datetime,
    *,
    by_change: bool = False,
    chunk_rows: int = 5_000,
) -> Iterator[Event]:
    """Events for the rows of ``table`` whose time column (or change column) is at or after ``since``.

    Streams with a server-side cursor in chunks, never the whole table at once.
    """
    import MySQLdb.cursors

    from tierflow.stores import mysql

    spec = HOT_TABLE_SPECS[table.name]
    column = table.change_column if by_change and table.change_column else table.time_column
    sql = (
        f"SELECT t.*, {spec.customer_sql} AS _customer_id FROM {mysql.quote_ident(table.name)} t "
        f"{spec.join_sql} WHERE t.{mysql.quote_ident(column)} >= %s"
    )
    with mysql.connection(mysql_url, cursorclass=MySQLdb.cursors.SSDictCursor) as conn:
        cur = conn.cursor()
        cur.execute(sql, (since,))
        while rows := cur.fetchmany(chunk_rows):
            for row in rows:
                yield event_from_row(table, row, row["_customer_id"])


def replay(
    mysql_url: str,
    stream: Any,
    policy: Policy,
    *,
    as_of: datetime | None = None,
    since: datetime | None = None,
    tables: Iterable[str] | None = None,
    batch: int = 1_000,
) -> dict[str, int]:
    """Publish the rows of the hot tables to ``stream``: those in the hot window, or changed since.
    Rows whose version or time is further ahead of this host's clock than ``hot.max_future_skew_s``
    are left out (the consumer would refuse them), and counted in the log.

    Returns {table: events published}.
    """
    moment = as_of or utc_now()
    published: dict[str, int] = {}
    for table in hot_tables(policy, tables):
        start = since if since is not None else table.hot_start(moment)
        pending: list[Event] = []
        count = future = 0
        limit = time.time() + policy.hot.max_future_skew_s
        for event in read_hot_rows(mysql_url, table, start, by_change=since is not None):
            if not_yet(event, limit):
                future += 1
                continue
            pending.append(event)
            if len(pending) >= batch:
                stream.publish([e.to_json() for e in pending], [str(e.customer_id) for e in pending])
                count += len(pending)
                pending = []
        if pending:
            stream.publish([e.to_json() for e in pending], [str(e.customer_id) for e in pending])
            count += len(pending)
        published[table.name] = count
        log.info("events_replayed", table=table.name, since=start.isoformat(), events=count, future=future)
    return published


def not_yet(event: Event, limit: float) -> bool:
    """Whether the row's version or time is after ``limit`` (epoch seconds)."""
    return event.version > limit * 1_000_000 or event.ts > limit


def publish_hot_window(mysql_url: str, stream: Any, policy: Policy, as_of: date | datetime) -> dict[str, int]:
    """Publish every row in the hot window as of ``as_of``: what the seed generator calls. A day
    means its end, or now (UTC, the consumer's clock) for today: the consumer judges windows by its
    clock, so a window taken at the day's end would leave out the rows that are still inside it
    now, between now and the end of the day one window earlier. ``stream`` is a Stream, or a
    redis:// URL for the policy's events stream. Returns {table: events published}."""
    if isinstance(stream, str):
        from tierflow.hot.stream import RedisStream
        from tierflow.stores import redis as redis_store

        stream = RedisStream(redis_store.client(stream), policy.hot.events_stream)
    moment = (
        as_of if isinstance(as_of, datetime) else min(datetime.combine(as_of, datetime.max.time()), utc_now())
    )
    from tierflow.stores import mysql

    mysql.check_policy(policy, mysql_url)
    return replay(mysql_url, stream, policy, as_of=moment)
