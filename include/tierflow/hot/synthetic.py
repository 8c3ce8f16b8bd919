"""Synthetic row-change events for the hot tables, for the benchmark and the reliability tests.

Deterministic for a seed. Includes what makes consumers wrong: later versions of the same row
(a payment going initiated -> success), exact duplicates, old versions after new ones, and rows
already outside the hot window.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from tierflow.hot.events import Event, epoch_micros, epoch_seconds

CATEGORIES = ("finance", "gaming", "social", "shopping", "entertainment", "productivity", "other")


def synthetic_events(
    customers: int, per_customer: int, as_of: datetime, *, seed: int = 1, first_pk: int = 1
) -> Iterator[Event]:
    rng = random.Random(seed)
    pk = first_pk
    for n in range(per_customer):
        for customer in range(1, customers + 1):
            pk += 1
            kind = (n + customer) % 5
            created = as_of - timedelta(days=rng.uniform(0, 33), seconds=rng.randint(0, 86_399))
            yield from _row_events(rng, kind, pk, customer, created)


def _row_events(rng: random.Random, kind: int, pk: int, customer: int, created: datetime) -> Iterator[Event]:
    """The events of one row of the kind's table (two kinds in five are payments)."""
    by_kind = (_payment_events, _payment_events, _communication_events, _app_events, _loan_events)
    return by_kind[kind](rng, pk, customer, created)


def _payment_events(rng: random.Random, pk: int, customer: int, created: datetime) -> Iterator[Event]:
    """A payment initiated, then settled: new before old half of the time, now and then twice."""
    ts = created.isoformat(sep=" ")
    row = {
        "id": pk,
        "loan_id": customer * 10,
        "customer_id": customer,
        "txn_type": rng.choice(("emi_payment", "emi_payment", "prepayment", "penalty")),
        "amount": f"{rng.randint(500, 20_000)}.{rng.randint(0, 99):02d}",
        "currency": "INR",
        "gateway": "upi_autopay",
        "gateway_ref": f"g{pk}",
        "status": "initiated",
        "failure_reason": None,
        "created_at": ts,
        "updated_at": ts,
    }
    first = _event("loan_transactions", pk, customer, created, created, row)
    later = created + timedelta(seconds=rng.randint(1, 600))
    outcome = "failed" if rng.random() < 0.2 else "success"
    final = dict(
        row,
        status=outcome,
        updated_at=later.isoformat(sep=" "),
        failure_reason="insufficient_funds" if outcome == "failed" else None,
    )
    second = _event("loan_transactions", pk, customer, created, later, final)
    # new before old half of the time, and a duplicate now and then
    yield from ((second, first) if rng.random() < 0.5 else (first, second))
    if rng.random() < 0.1:
        yield second


def _communication_events(rng: random.Random, pk: int, customer: int, created: datetime) -> Iterator[Event]:
    """A message sent, with one delivery event half of the time."""
    ts = created.isoformat(sep=" ")
    row = {
        "id": pk,
        "customer_id": customer,
        "campaign_code": "emi_reminder",
        "channel": "sms",
        "template_code": "t1",
        "status": rng.choice(("sent", "sent", "bounced", "failed")),
        "created_at": ts,
        "updated_at": ts,
    }
    yield _event("communications", pk, customer, created, created, row)
    if rng.random() < 0.5:
        ev = {
            "id": pk,
            "communication_id": pk,
            "metadata": None,
            "created_at": ts,
            "event_type": rng.choice(("delivered", "opened", "bounced")),
        }
        yield _event("communication_events", pk, customer, created, created, ev)


def _app_events(rng: random.Random, pk: int, customer: int, created: datetime) -> Iterator[Event]:
    """A device app seen installed."""
    ts = created.isoformat(sep=" ")
    row = {
        "id": pk,
        "customer_id": customer,
        "package_name": f"app.{pk}",
        "app_name": f"App {pk}",
        "category": rng.choice(CATEGORIES),
        "installed_at": None,
        "created_at": ts,
    }
    yield _event("user_device_apps", pk, customer, created, created, row)


def _loan_events(rng: random.Random, pk: int, customer: int, created: datetime) -> Iterator[Event]:
    """A loan approved, then disbursed within two days."""
    ts = created.isoformat(sep=" ")
    row = {
        "id": pk,
        "customer_id": customer,
        "product": "personal_loan",
        "principal": f"{rng.randint(5, 200) * 1000}.00",
        "interest_rate_pct": "24.00",
        "tenure_months": 12,
        "status": "approved",
        "applied_at": ts,
        "created_at": ts,
        "updated_at": ts,
    }
    yield _event("loans", pk, customer, created, created, row)
    later = created + timedelta(hours=rng.randint(1, 48))
    yield _event(
        "loans",
        pk,
        customer,
        created,
        later,
        dict(row, status="disbursed", updated_at=later.isoformat(sep=" ")),
    )


def _event(table: str, pk: int, customer: int, created: datetime, changed: datetime, row: dict) -> Event:
    return Event(table, "upsert", pk, customer, epoch_micros(changed), epoch_seconds(created), row)
