"""The tier report's data: one ``TierStats`` per table and tier (``MySQLStats``, ``RedisStats``,
``ArchiveStats``: each tier's own figures, typed), the ``Report`` that holds them,
and the small value helpers every part of the report shares."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from typing import Any, Literal, Self, overload

# The figures every tier has; a tier's own figures are kept under ``extra`` in the JSON.
FIGURES = ("rows", "bytes", "oldest", "newest", "approximate")


@dataclass
class TierStats:
    """One table in one tier. ``None`` means the tier does not hold this table (or is not built);
    ``missing`` that the policy names a table the tier's database does not have."""

    rows: int | None = None
    bytes: int | None = None
    oldest: str | None = None
    newest: str | None = None
    approximate: bool = False
    missing: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: the shared figures, and the tier's own under ``extra`` (a missing
        table has none but ``missing``)."""
        data: dict[str, Any] = {name: getattr(self, name) for name in FIGURES}
        data["extra"] = {"missing": True} if self.missing else self._extra()
        return data

    def _extra(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The inverse of ``to_dict``; keys under ``extra`` this tier does not know are dropped."""
        own = {f.name for f in fields(cls)} - set(FIGURES)
        extra = {k: v for k, v in (data.get("extra") or {}).items() if k in own}
        return cls(**{k: data[k] for k in FIGURES if k in data}, **cls._typed(extra))

    @classmethod
    def _typed(cls, extra: dict[str, Any]) -> dict[str, Any]:
        return extra


@dataclass
class MySQLStats(TierStats):
    """A table in MySQL: its data and index bytes, and the rows past the warm window + grace
    (``overdue_before``), less those still held by child rows (``held_by_children``)."""

    data_bytes: int = 0
    index_bytes: int = 0
    overdue_rows: int = 0
    held_by_children: int = 0
    newest_overdue: str | None = None
    overdue_before: str | None = None

    def _extra(self) -> dict[str, Any]:
        return {
            "data_bytes": self.data_bytes,
            "index_bytes": self.index_bytes,
            "overdue_rows": self.overdue_rows,
            "held_by_children": self.held_by_children,
            "newest_overdue": self.newest_overdue,
            "overdue_before": self.overdue_before,
        }


@dataclass
class RedisStats(TierStats):
    """A table in the hot tier: its entries, those past the hot window + grace, and its keys
    (``rows`` counts the customers holding it)."""

    entries: int = 0
    stale_entries: int = 0
    redis_keys: int = 0

    def _extra(self) -> dict[str, Any]:
        return {"entries": self.entries, "stale_entries": self.stale_entries, "redis_keys": self.redis_keys}


@dataclass
class UnverifiedEntry:
    """A ledger entry the archive has not verified (and no later verified run closed)."""

    state: str | None
    partitions: list[str] | None


@dataclass
class ArchiveStats(TierStats):
    """A table in the archive: its files and ``dt=`` partitions, where its rows were counted, and
    what the ledger and the catalog do not vouch for (``None``: that check did not run)."""

    files: int = 0
    partitions: list[str] = field(default_factory=list)
    rows_from: Literal["ledger", "parquet footers"] | None = None
    unledgered_partitions: list[str] | None = None
    unverified_entries: list[UnverifiedEntry] | None = None
    uncataloged_partitions: list[str] | None = None

    def _extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"files": self.files, "partitions": self.partitions}
        if self.unledgered_partitions is not None:
            extra["unledgered_partitions"] = self.unledgered_partitions
        if self.unverified_entries is not None:
            extra["unverified_entries"] = [asdict(e) for e in self.unverified_entries]
        if self.rows_from is not None:
            extra["rows_from"] = self.rows_from
        if self.uncataloged_partitions is not None:
            extra["uncataloged_partitions"] = self.uncataloged_partitions
        return extra

    @classmethod
    def _typed(cls, extra: dict[str, Any]) -> dict[str, Any]:
        if extra.get("unverified_entries") is not None:
            extra = {
                **extra,
                "unverified_entries": [UnverifiedEntry(**e) for e in extra["unverified_entries"]],
            }
        return extra


@dataclass
class TableReport:
    name: str
    time_column: str
    hot_window_days: int | None
    warm_window_days: int
    warm_cutoff: str
    hot_cutoff: str | None
    redis: RedisStats | None = None
    mysql: MySQLStats | None = None
    archive: ArchiveStats | None = None
    warehouse: TierStats | None = None
    # Months (YYYY-MM) present in each tier, for the chart.
    months: dict[str, list[str]] = field(default_factory=dict)


# Each tier's slot in ``TableReport`` and the stats it holds.
TIERS: dict[str, type[TierStats]] = {
    "redis": RedisStats,
    "mysql": MySQLStats,
    "archive": ArchiveStats,
    "warehouse": TierStats,
}


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
        for table, out in zip(self.tables, data["tables"], strict=True):
            for tier in TIERS:
                stats: TierStats | None = getattr(table, tier)
                out[tier] = stats.to_dict() if stats is not None else None
        data["status"] = self.status
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        tables = []
        for t in data["tables"]:
            t = dict(t)
            for tier, kind in TIERS.items():
                t[tier] = kind.from_dict(t[tier]) if t.get(tier) is not None else None
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
