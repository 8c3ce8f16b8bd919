"""What the generators share: the scale, the seeded random generator, the clock, and earlier draws.

Tables are drawn in a fixed order from one random stream; a later table reads what an earlier one
drew (a loan's customer, an instalment's due date) from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from tierflow.devdata.activity import ActivityClock
from tierflow.devdata.scale import Scale


@dataclass
class Customers:
    created: np.ndarray
    verified: np.ndarray
    risk: np.ndarray  # each customer's risk: most pay on time, a tail is chronically late or defaults


@dataclass
class Loans:
    customer: np.ndarray
    principal: np.ndarray
    rate: np.ndarray
    tenure: np.ndarray
    disbursed: np.ndarray  # disbursed when drawn, before repayment closes or writes off some
    disbursed_at: np.ndarray
    risk: np.ndarray
    product: np.ndarray
    # Statuses that depend on repayment (closed / written off) are settled after EMIs.
    status: np.ndarray
    applied: np.ndarray
    approved_at: np.ndarray
    closed_at: np.ndarray

    @property
    def count(self) -> int:
        return len(self.customer)


@dataclass
class Schedule:
    """The EMI schedule's arrays that the payments ledger is drawn from."""

    loan: np.ndarray
    inst: np.ndarray
    due: np.ndarray
    emi: np.ndarray
    pays: np.ndarray
    paid_at: np.ndarray
    paid_amount: np.ndarray
    status: np.ndarray
    is_due: np.ndarray


@dataclass
class Sends:
    """Each communication's send time, status and channel, for its engagement events."""

    created: np.ndarray
    status: np.ndarray
    channel: np.ndarray


class SeedContext:
    customers: Customers
    loans: Loans
    sends: Sends

    def __init__(self, scale: Scale, start: date, end: date, seed: int) -> None:
        self.scale = scale
        self.rng = np.random.default_rng(seed)
        self.clock = ActivityClock(start, end, self.rng)
        self.end_us = self.clock.end_us
        self.schedule: Schedule | None = None
        self.captures: tuple[np.ndarray, np.ndarray] | None = None

    def take_schedule(self) -> Schedule:
        """The EMI schedule, released here: the payments ledger is its last reader."""
        schedule, self.schedule = self.schedule, None
        if schedule is None:
            raise RuntimeError("the EMI schedule is drawn before the payments ledger")
        return schedule
