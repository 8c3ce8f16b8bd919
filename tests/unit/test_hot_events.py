"""Event envelope: encoding, versions, and every reason an event is dead-lettered."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from tierflow.hot.events import EventError, event_from_row, hot_tables, parse_event
from tierflow.hot.store import customer_keys
from tierflow.hot.synthetic import synthetic_events
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy, parse_policy

POLICY = load_policy(DEFAULT_POLICY)
TXN = {
    "id": 5,
    "customer_id": 9,
    "loan_id": 3,
    "txn_type": "emi_payment",
    "amount": Decimal("1200.50"),
    "status": "success",
    "created_at": datetime(2026, 6, 1, 10, 0, 0, 123456),
    "updated_at": datetime(2026, 6, 1, 10, 5),
}


def test_event_from_row_versions_by_change_column_and_round_trips() -> None:
    event = event_from_row(POLICY.table("loan_transactions"), TXN, customer_id=9)
    assert event.id == f"loan_transactions:5:{event.version}"
    assert event.version == int(datetime(2026, 6, 1, 10, 5, tzinfo=UTC).timestamp() * 1_000_000)
    back = parse_event(event.to_json(), POLICY)
    assert (back.table, back.pk, back.customer_id, back.version) == ("loan_transactions", 5, 9, event.version)
    assert back.row["amount"] == "1200.50"  # decimals travel as exact strings
    assert back.ts == pytest.approx(datetime(2026, 6, 1, 10, 0, 0, 123456, tzinfo=UTC).timestamp())


def test_table_without_change_column_versions_by_time_column() -> None:
    row = {"id": 1, "customer_id": 2, "category": "gaming", "created_at": datetime(2026, 6, 2)}
    event = event_from_row(POLICY.table("user_device_apps"), row, customer_id=2)
    assert event.version == int(datetime(2026, 6, 2, tzinfo=UTC).timestamp() * 1_000_000)


def _doc(**changes):
    event = event_from_row(POLICY.table("loan_transactions"), TXN, customer_id=9)
    doc = json.loads(event.to_json())
    for key, value in changes.items():
        if key.startswith("row_"):
            doc["row"][key[4:]] = value
        elif value is ...:
            del doc[key]
        else:
            doc[key] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "bad JSON"),
        (b"[1, 2]", "bad envelope"),
        (_doc(table="user_device_sms"), "unknown table"),
        (_doc(table="payments"), "unknown table"),
        (_doc(table=...), "missing key 'table'"),
        (_doc(pk=...), "missing key 'pk'"),
        (_doc(customer_id=...), "missing key 'customer_id'"),
        (_doc(pk="5"), "wrong type: pk"),
        (_doc(version=1.5), "wrong type: version"),
        (_doc(op="merge"), "wrong type: op"),
        (_doc(row=[1]), "wrong type: row"),
        (_doc(row_created_at="yesterday"), "row.created_at"),
        (_doc(row_amount="12 rupees"), "not a number"),
        (_doc(row_status=7), "wrong type: row.status"),
        (_doc(row_txn_type=None), "wrong type: row.txn_type"),
    ],
)
def test_malformed_events_are_rejected_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(EventError, match=reason.replace("(", r"\(")):
        parse_event(payload, POLICY)


def _compact(**changes) -> bytes:
    return json.dumps(json.loads(_doc(**changes)), separators=(",", ":")).encode()


FUTURE = int(datetime(2099, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
REFUSED = [
    # refused before decoding: not even valid JSON, yet the reason is its size
    (b"{" + b" " * POLICY.hot.max_event_bytes, "too large: 65,537 bytes, over hot.max_event_bytes"),
    (b'{"table":"loans\xff"}', "bad encoding: not UTF-8"),
    (_compact(row_meta="X").replace(b'"X"', b'{"a":' * 5_000 + b"1" + b"}" * 5_000), "nested too deeply"),
    (_doc(row_meta={"status": "success"}), "nested value: row.meta is a JSON object"),
    (_doc(row_tags=["a"]), "nested value: row.tags is a JSON array"),
    (_doc(id={"a": 1}), "nested value: id"),
    (_compact(row_other="failed").replace(b'"other":', b'"status":'), "duplicate key 'status'"),
    (_compact().replace(b'"version":', b'"version":1,"version":'), "duplicate key 'version'"),
    (_compact(row_note="x").replace(b'"note":', b'"a\\"status":'), "bad column name"),
    (_doc(row_id=6), "wrong key: row.id is 6 but the event's pk is 5"),
    (_doc(pk=2**63), "wrong type: pk"),
    (_doc(row_amount="nan"), "not a number"),
    (_doc(row_amount="1e5"), "not a number"),
    (_doc(row_amount=1e20), "not a number"),
    (_compact(row_amount=1).replace(b'"amount":1', b'"amount":NaN'), "bad JSON: NaN"),
    (_doc(row_status='suc"cess'), "wrong value: row.status"),
    (_doc(row_status="succès"), "wrong value: row.status"),
    (_doc(row_txn_type="x" * 65), "wrong value: row.txn_type"),
    (_doc(version=FUTURE), "version in the future"),
    (_doc(row_created_at="2099-01-01T00:00:00"), "row.created_at in the future"),
]


@pytest.mark.parametrize(("payload", "reason"), REFUSED)
def test_what_could_hurt_the_consumer_is_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(EventError, match=re.escape(reason)):
        parse_event(payload, POLICY)


def test_the_skew_is_measured_from_the_given_clock() -> None:
    version = json.loads(_doc())["version"]
    now = version / 1_000_000 - POLICY.hot.max_future_skew_s - 1  # 1 s further ahead than allowed
    with pytest.raises(EventError, match="version in the future: .* 301 s ahead"):
        parse_event(_doc(), POLICY, now=now)
    assert parse_event(_doc(), POLICY, now=now + 2).version == version


def test_missing_row_field_is_named() -> None:
    doc = json.loads(_doc())
    del doc["row"]["amount"]
    with pytest.raises(EventError, match=r"missing key row.amount"):
        parse_event(json.dumps(doc), POLICY)


def test_hot_tables_follow_the_policy_and_reject_unknown_layouts() -> None:
    assert [t.name for t in hot_tables(POLICY)] == [
        "loan_transactions",
        "communication_events",
        "communications",
        "user_device_apps",
        "loans",
    ]
    with pytest.raises(EventError, match="not hot tables: customers"):
        hot_tables(POLICY, ["customers"])
    odd = parse_policy(
        "tables:\n  user_device_sms: {primary_key: id, time_column: created_at, hot_window_days: 3,"
        " warm_window_days: 90}\n"
    )
    with pytest.raises(EventError, match="no layout"):
        hot_tables(odd)


def test_customer_keys_share_one_cluster_slot() -> None:
    keys = customer_keys(42, ["loans"])
    assert keys == [
        "tierflow:hot:{42}:ver",
        "tierflow:hot:{42}:features",
        "tierflow:hot:{42}:loans",
        "tierflow:hot:{42}:loans:idx",
    ]


def test_synthetic_events_all_parse() -> None:
    events = list(synthetic_events(20, 10, datetime(2026, 6, 30), seed=3))
    assert len(events) > 200
    for e in events:
        assert parse_event(e.to_json(), POLICY).id == e.id


def test_the_stored_row_is_the_decoded_row_written_anew_whatever_the_payload_looks_like() -> None:
    """Features are read from the stored row: it is encoded from the decoded, checked fields, so
    spacing, key order or escapes in the payload never reach it."""
    from tierflow.hot.events import FastDecoder
    from tierflow.hot.store import HotStore

    decoder = FastDecoder(POLICY, HotStore(None, POLICY).table_numbers())
    event = event_from_row(POLICY.table("loan_transactions"), TXN, customer_id=9)
    doc = json.loads(event.to_json())
    reordered = json.dumps({"row": doc["row"], **{k: v for k, v in doc.items() if k != "row"}})
    for payload in (event.to_json(), json.dumps(doc).encode(), reordered.encode()):
        fast = decoder.decode(payload)
        assert fast is not None and fast[-1] == json.dumps(doc["row"], separators=(",", ":")).encode()
    quoted = dict(TXN, failure_reason='said "no", twice')
    payload = event_from_row(POLICY.table("loan_transactions"), quoted, 9).to_json()
    assert decoder.decode(payload) is None  # an escape: left to parse_event
    assert parse_event(payload, POLICY).row["failure_reason"] == 'said "no", twice'


MALFORMED = [
    b"{not json",
    b"[1, 2]",
    _doc(table="user_device_sms"),
    _doc(table=...),
    _doc(pk=...),
    _doc(pk="5"),
    _doc(pk=-1),
    _doc(pk=True),
    _doc(version=1.5),
    _doc(op="merge"),
    _doc(row=[1]),
    _doc(row_created_at="yesterday"),
    _doc(row_created_at=5),
    _doc(row_amount="12 rupees"),
    _doc(row_amount=True),
    _doc(row_status=7),
    _doc(row_txn_type=None),
    _doc(op="delete", row_status=7),  # a delete's row needs only its time column
    _doc(row_amount=12),
    _doc(row_amount=12.5),
    _doc(row_created_at="2026-06-01T10:00:00+05:30"),
    _doc(row_failure_reason="a: b, \\ c"),
    json.dumps(json.loads(_doc()), indent=1).encode(),
    *(payload for payload, _ in REFUSED),
]


@pytest.mark.parametrize(
    "payload", MALFORMED + [e.to_json() for e in synthetic_events(8, 6, datetime(2026, 6, 30))]
)
def test_fast_decoder_agrees_with_parse_event(payload: bytes) -> None:
    """The consumer's fast path accepts only what parse_event accepts, and yields the same op."""
    from tierflow.hot.events import FastDecoder, row_json
    from tierflow.hot.store import HotStore

    numbers = HotStore(None, POLICY).table_numbers()
    fast = FastDecoder(POLICY, numbers).decode(payload)
    try:
        event = parse_event(payload, POLICY)
    except EventError:
        assert fast is None
        return
    if fast is None:  # left to the full parser: allowed, but the usual events must take the fast path
        assert b"\n" in payload or b": " in payload
        return
    customer, table_no, op, pk, version, ts, row = fast
    assert (customer, table_no, op, pk, version, ts) == (
        event.customer_id,
        numbers[event.table],
        event.op,
        str(event.pk),
        str(event.version),
        f"{event.ts:.6f}",
    )
    assert json.loads(row) == event.row
    assert b": " not in row and b"\\" not in row or row.decode() == row_json(event.row)
