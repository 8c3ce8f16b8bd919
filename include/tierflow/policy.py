"""The tier policy: one YAML file that says which table lives in which tier, and for how long.

Loaded and validated with pydantic (unknown keys are errors), then checked against the live MySQL
schema so that no SQL is ever built from a table or column name that was not verified.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tierflow.clock import to_utc
from tierflow.errors import PolicyError

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
Identifier = Annotated[str, Field(pattern=IDENTIFIER)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PiiTreatment(StrEnum):
    KEEP = "keep"
    HASH = "hash"
    DROP = "drop"


class Throttle(_Strict):
    max_threads_running: int = Field(24, gt=0)
    max_replica_lag_seconds: float = Field(10, gt=0)
    check_every_batches: int = Field(4, gt=0)
    pause_seconds: float = Field(2, gt=0)
    # Longest wait in one go before the run stops (it never waits without end on a busy server).
    max_wait_seconds: float = Field(600, ge=0)
    replica_urls: list[str] = Field(default_factory=list)


class DatabasePolicy(_Strict):
    soft_cap_gb: float = Field(8, gt=0)
    hard_cap_gb: float = Field(16, gt=0)
    grace_days: int = Field(7, ge=0)
    throttle: Throttle = Throttle()

    @model_validator(mode="after")
    def _caps_ordered(self) -> DatabasePolicy:
        if self.soft_cap_gb > self.hard_cap_gb:
            raise ValueError(f"soft_cap_gb ({self.soft_cap_gb}) is above hard_cap_gb ({self.hard_cap_gb})")
        return self


HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class RunWindow(_Strict):
    """The hours in which an archive run may delete rows: outside them a run does nothing. An end
    before the start spans midnight (22:00 to 04:00)."""

    start: Annotated[str, Field(pattern=HHMM)]
    end: Annotated[str, Field(pattern=HHMM)]
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _known_timezone(self) -> RunWindow:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"run_window.timezone {self.timezone!r} is not an IANA time zone such as Asia/Kolkata"
            ) from None
        if self.start == self.end:
            raise ValueError(f"run_window is empty: start and end are both {self.start}")
        return self

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` (timezone-aware) falls in the window, in the window's timezone."""
        from zoneinfo import ZoneInfo

        hhmm = moment.astimezone(ZoneInfo(self.timezone)).strftime("%H:%M")
        if self.start < self.end:
            return self.start <= hhmm < self.end
        return hhmm >= self.start or hhmm < self.end

    def describe(self) -> str:
        return f"{self.start}-{self.end} {self.timezone}"


class ArchiveDefaults(_Strict):
    format: Literal["parquet"] = "parquet"
    compression: Literal["zstd", "snappy", "gzip", "lz4", "none"] = "zstd"
    compression_level: int | None = Field(3, ge=1, le=22)
    row_group_rows: int = Field(250_000, gt=0)
    batch_rows: int = Field(100_000, gt=0)
    delete_batch_rows: int = Field(5_000, gt=0, le=50_000)
    # Connections deleting one batch's chunks side by side (each chunk its own transaction).
    delete_workers: int = Field(2, ge=1, le=16)
    # A run that would move more than this share of a table's rows stops before its first batch
    # (a mistyped as_of or window); --allow-large-run lets it through.
    max_run_fraction: float = Field(0.5, gt=0, le=1)
    storage_class: Literal["STANDARD", "STANDARD_IA", "INTELLIGENT_TIERING", "ONEZONE_IA", "GLACIER_IR"] = (
        "STANDARD_IA"
    )
    sse: Literal["AES256", "aws:kms"] = "AES256"
    kms_key_id: str | None = None
    glacier_ir_after_days: int | None = Field(90, gt=0)
    # None: archive runs may delete at any hour
    run_window: RunWindow | None = None

    @model_validator(mode="after")
    def _kms_key_with_kms(self) -> ArchiveDefaults:
        if self.kms_key_id and self.sse != "aws:kms":
            raise ValueError("kms_key_id is set but sse is not 'aws:kms'")
        return self


class TableArchive(_Strict):
    enabled: bool = True
    partition_by: Literal["day", "month"] = "day"
    retention_years: float = Field(7, gt=0)
    compression: Literal["zstd", "snappy", "gzip", "lz4", "none"] | None = None
    pii: dict[Identifier, PiiTreatment] = Field(default_factory=dict)
    # A column renamed or dropped in MySQL after archiving began: old name -> new name (or null).
    column_map: dict[Identifier, Identifier | None] = Field(default_factory=dict)


class HotPolicy(_Strict):
    max_memory_mb: int = Field(512, gt=0)
    events_stream: str = "tierflow:events"
    # The consumer dead-letters, with the reason, an event larger than this (checked before it is
    # decoded), one whose version or time is further than the skew ahead of its clock, and one
    # delivered more than max_deliveries times without being applied.
    max_event_bytes: int = Field(65_536, gt=0)
    max_future_skew_s: float = Field(300, ge=0)
    max_deliveries: int = Field(5, gt=0)


class TablePolicy(_Strict):
    name: Identifier = ""
    primary_key: Identifier
    time_column: Identifier
    change_column: Identifier | None = None
    hot_window_days: int | None = Field(None, gt=0)
    warm_window_days: int = Field(gt=0)
    archive: TableArchive = TableArchive()
    warehouse: bool = False

    @model_validator(mode="after")
    def _hot_inside_warm(self) -> TablePolicy:
        if self.hot_window_days is not None and self.hot_window_days > self.warm_window_days:
            raise ValueError(
                f"hot_window_days ({self.hot_window_days}) is longer than warm_window_days "
                f"({self.warm_window_days}); the hot tier holds a subset of the warm tier"
            )
        return self

    def cutoff(self, as_of: date | datetime) -> datetime:
        """Rows whose time column is strictly before this moment belong to the archive (naive
        UTC: an aware ``as_of`` is converted, never cut off)."""
        return to_utc(as_of) - timedelta(days=self.warm_window_days)

    def hot_cutoff(self, as_of: date | datetime) -> datetime | None:
        if self.hot_window_days is None:
            return None
        return to_utc(as_of) - timedelta(days=self.hot_window_days)

    @property
    def hot_days(self) -> int:
        """The hot window of a hot table (``Policy.hot_tables``); a table without one is an error."""
        if self.hot_window_days is None:
            raise PolicyError(f"table {self.name!r} has no hot_window_days: it is not a hot table")
        return self.hot_window_days

    def hot_start(self, as_of: date | datetime) -> datetime:
        """The oldest moment a hot table keeps as of ``as_of`` (UTC)."""
        return to_utc(as_of) - timedelta(days=self.hot_days)

    @property
    def referenced_columns(self) -> list[str]:
        cols = [self.primary_key, self.time_column]
        if self.change_column:
            cols.append(self.change_column)
        cols.extend(self.archive.pii)
        return cols


class Policy(_Strict):
    version: Literal[1] = 1
    database: DatabasePolicy = DatabasePolicy()
    archive: ArchiveDefaults = ArchiveDefaults()
    hot: HotPolicy = HotPolicy()
    tables: dict[Identifier, TablePolicy]
    source: str = ""

    @model_validator(mode="before")
    @classmethod
    def _name_tables(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("tables"), dict):
            data = dict(data)
            data["tables"] = {
                name: ({**spec, "name": name} if isinstance(spec, dict) else spec)
                for name, spec in data["tables"].items()
            }
        return data

    def table(self, name: str) -> TablePolicy:
        try:
            return self.tables[name]
        except KeyError:
            raise PolicyError(
                f"{self.source or 'policy'}: table {name!r} is not in the policy; "
                f"known tables: {', '.join(self.tables)}"
            ) from None

    def select(self, names: Iterable[str] | None) -> list[TablePolicy]:
        """The named tables in policy order (all of them when ``names`` is empty)."""
        wanted = list(names or [])
        for name in wanted:
            self.table(name)
        return [t for n, t in self.tables.items() if not wanted or n in wanted]

    @property
    def archived_tables(self) -> list[TablePolicy]:
        return [t for t in self.tables.values() if t.archive.enabled]

    @property
    def warehouse_tables(self) -> list[TablePolicy]:
        return [t for t in self.tables.values() if t.warehouse]

    @property
    def hot_tables(self) -> list[TablePolicy]:
        return [t for t in self.tables.values() if t.hot_window_days]


def _format_validation_error(source: str, err: ValidationError) -> str:
    lines = [f"{source}: {err.error_count()} problem(s) in the tier policy"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if p != "__root__") or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not part of the policy schema; check its spelling)"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{source}: malformed YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: the policy must be a YAML mapping with a 'tables' key")
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(_format_validation_error(source, exc)) from None
    return policy.model_copy(update={"source": source})


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the tier policy: {exc.strerror}") from None
    return parse_policy(text, source=str(path))


def check_against_schema(policy: Policy, columns_by_table: dict[str, dict[str, str]]) -> None:
    """Raise PolicyError unless every table and column the policy names exists.

    ``columns_by_table`` maps table -> {column: data_type}, as read from information_schema.
    """
    problems: list[str] = []
    for name, table in policy.tables.items():
        columns = columns_by_table.get(name)
        if columns is None:
            problems.append(f"tables.{name}: unknown table (not in the MySQL database)")
            continue
        for field_name, col in _named_columns(table):
            if col not in columns:
                problems.append(
                    f"tables.{name}.{field_name}: unknown column {col!r}; {name} has: {', '.join(columns)}"
                )
        time_type = columns.get(table.time_column, "")
        if time_type and time_type not in {"date", "datetime", "timestamp"}:
            problems.append(
                f"tables.{name}.time_column: {table.time_column!r} is {time_type}, not a date/time"
            )
    if problems:
        raise PolicyError(
            f"{policy.source or 'policy'}: does not match the live schema\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def _named_columns(table: TablePolicy) -> list[tuple[str, str]]:
    named = [("primary_key", table.primary_key), ("time_column", table.time_column)]
    if table.change_column:
        named.append(("change_column", table.change_column))
    named.extend((f"archive.pii.{c}", c) for c in table.archive.pii)
    return named
