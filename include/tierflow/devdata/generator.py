"""The order the tables are drawn in: one random stream, so this order is part of the data.

Loans are written after their EMI schedules, which settle how each loan ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pyarrow as pa

from tierflow.devdata.api_logs import api_request_logs
from tierflow.devdata.comms import communication_events, communications
from tierflow.devdata.context import SeedContext
from tierflow.devdata.customers import customers
from tierflow.devdata.device import user_device_apps, user_device_sms
from tierflow.devdata.loans import draw_loans, emi_schedules, loans_table
from tierflow.devdata.scale import Scale
from tierflow.devdata.transactions import loan_transactions


def generate(scale: Scale, start: date, end: date, seed: int) -> Iterator[tuple[str, pa.Table]]:
    """Every seeded table as (name, table), in load order; each is generated when asked for."""
    ctx = SeedContext(scale, start, end, seed)
    yield "customers", customers(ctx)
    draw_loans(ctx)
    emi = emi_schedules(ctx)  # settles loan statuses, so loans are written after it
    yield "loans", loans_table(ctx)
    yield "emi_schedules", emi
    emi = None  # written out: free it before the transactions are generated
    yield "loan_transactions", loan_transactions(ctx)
    yield "user_device_apps", user_device_apps(ctx)
    yield "user_device_sms", user_device_sms(ctx)
    yield "communications", communications(ctx)
    yield "communication_events", communication_events(ctx)
    yield "api_request_logs", api_request_logs(ctx)
