"""When things happen: timestamps over the seeded period with growth, seasonality and a weekly rhythm."""

from __future__ import annotations

from datetime import date

import numpy as np

from tierflow.devdata.arrays import US_PER_DAY


class ActivityClock:
    """Microsecond timestamps over the seeded period, with growth, seasonality and weekly rhythm."""

    def __init__(self, start: date, end: date, rng: np.random.Generator, growth_per_year: float = 0.6):
        self.start = np.datetime64(start, "D")
        self.days = (end - start).days + 1
        self.rng = rng
        d = np.arange(self.days)
        dates = self.start + d
        month = (dates.astype("datetime64[M]").astype(int) % 12) + 1
        weekday = (dates.astype(int) + 3) % 7  # 0 = Monday
        # Festive season (Navratri/Diwali: Oct-Nov) and year-end sales lift demand; monsoon dips.
        season = np.select(
            [np.isin(month, [10, 11]), month == 12, np.isin(month, [6, 7])], [1.45, 1.15, 0.9], 1.0
        )
        week = np.where(weekday >= 5, 0.8, 1.0)
        growth = np.exp(growth_per_year * d / 365.0)
        self.weights = growth * season * week
        self.cdf = np.cumsum(self.weights) / self.weights.sum()

    def day_index(self, n: int) -> np.ndarray:
        return np.searchsorted(self.cdf, self.rng.random(n))

    def times(self, n: int) -> np.ndarray:
        """``n`` sorted timestamps drawn from the activity curve (datetime64[us])."""
        day = np.sort(self.day_index(n))
        return self.at(day, self.intraday(n))

    def intraday(self, n: int) -> np.ndarray:
        # Activity peaks in the evening (IST); a beta-shaped day in microseconds.
        return (self.rng.beta(2.6, 1.8, n) * (US_PER_DAY - 1)).astype(np.int64)

    def at(self, day: np.ndarray, offset_us: np.ndarray) -> np.ndarray:
        base = (self.start + day.astype("timedelta64[D]")).astype("datetime64[us]")
        return base + offset_us.astype("timedelta64[us]")

    @property
    def end_us(self) -> np.datetime64:
        return (self.start + np.timedelta64(self.days, "D")).astype("datetime64[us]") - np.timedelta64(
            1, "us"
        )
