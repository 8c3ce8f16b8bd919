"""The tier report's data: one ``TierStats`` per table and tier, the ``Report`` that holds them,
and the small value helpers every part of the report shares."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, overload


@dataclass
class TierStats:
    """One table in one tier. ``None`` means the tier does not hold this table (or is not built)."""

    rows: int | None = None
    bytes: int | None = None
    oldest: str | None = None
    newest: str | None = None
    approximate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TableReport:
    name: str
    time_column: str
    hot_window_days: int | None
    warm_window_days: int
    warm_cutoff: str
    hot_cutoff: str | None
    redis: TierStats | None = None
    mysql: TierStats | None = None
    archive: TierStats | None = None
    warehouse: TierStats | None = None
    # Months (YYYY-MM) present in each tier, for the chart.
    months: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Violation:
    kind: str
    message: str
    table: str | None = None
    severity: str = "violation"  # "violation" fails --strict; "finding" is shown but does not
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatabaseSize:
    name: str
    bytes: int
    soft_cap_bytes: int
    hard_cap_bytes: int
    growth_bytes_per_day: float | None = None
    days_until_soft_cap: float | None = None
    days_until_hard_cap: float | None = None
    history_days: int = 0


@dataclass
class Report:
    generated_at: str
    as_of: str
    policy: str
    database: DatabaseSize
    tables: list[TableReport]
    violations: list[Violation] = field(default_factory=list)
    hot: dict[str, Any] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)

    @property
    def red(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "violation"]

    @property
    def findings(self) -> list[Violation]:
        return [v for v in self.violations if v.severity != "violation"]

    @property
    def status(self) -> str:
        if self.red:
            return "red"
        return "amber" if self.findings else "green"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        def stats(d: dict | None) -> TierStats | None:
            return TierStats(**d) if d is not None else None

        tables = []
        for t in data["tables"]:
            t = dict(t)
            for tier in ("redis", "mysql", "archive", "warehouse"):
                t[tier] = stats(t.get(tier))
            tables.append(TableReport(**t))
        return cls(
            generated_at=data["generated_at"],
            as_of=data["as_of"],
            policy=data["policy"],
            database=DatabaseSize(**data["database"]),
            tables=tables,
            violations=[Violation(**v) for v in data.get("violations", [])],
            hot=data.get("hot", {}),
            unreachable=data.get("unreachable", {}),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Report:
        return cls.from_dict(json.loads(text))


@overload
def iso(value: datetime) -> str: ...
@overload
def iso(value: Any) -> str | None: ...
def iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def as_datetime(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, datetime.min.time())


def month_range(first: str | None, last: str | None) -> list[str]:
    """Every YYYY-MM from the month of ``first`` to the month of ``last`` (ISO dates/timestamps)."""
    if not first or not last:
        return []
    y, m = int(first[:4]), int(first[5:7])
    ly, lm = int(last[:4]), int(last[5:7])
    months: list[str] = []
    while (y, m) <= (ly, lm) and len(months) < 1200:
        months.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def human_bytes(n: int | float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
