"""How much data a seed makes: the named scales, and the period a seed covers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class Scale:
    customers: int
    api_logs_per_customer: float
    campaigns_per_month: int
    campaign_reach: float


# `medium` is sized for about 3M loan_transactions over 3 years.
SCALES: dict[str, Scale] = {
    "tiny": Scale(customers=400, api_logs_per_customer=20, campaigns_per_month=2, campaign_reach=0.3),
    "small": Scale(customers=8_000, api_logs_per_customer=20, campaigns_per_month=3, campaign_reach=0.2),
    "medium": Scale(customers=155_000, api_logs_per_customer=15, campaigns_per_month=3, campaign_reach=0.08),
    "large": Scale(customers=620_000, api_logs_per_customer=15, campaigns_per_month=3, campaign_reach=0.03),
}


def datetime_bounds(as_of: date, years: int) -> tuple[datetime, datetime]:
    """The seeded period for ``as_of`` and ``years``, as datetimes (start inclusive, end exclusive)."""
    start = as_of - timedelta(days=365 * years)
    return datetime.combine(start, datetime.min.time()), datetime.combine(
        as_of + timedelta(days=1), datetime.min.time()
    )


def seed_period(as_of: date | None, years: int) -> tuple[date, date]:
    """The first and last day a seed covers: ``years`` of 365 days ending on ``as_of`` (default today, UTC)."""
    from datetime import UTC

    end = as_of or datetime.now(UTC).date()
    return end - timedelta(days=365 * years), end
