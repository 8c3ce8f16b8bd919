"""What an archive run did, per table and in all (the CLI draws its table: cli/render.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from tierflow.errors import TierflowError

PHASES = ("select", "gate", "write", "verify", "delete")


@dataclass
class TableSummary:
    table: str
    status: str = "ok"
    cutoff: datetime | None = None
    rows: int = 0
    deleted: int = 0
    kept_changed: int = 0
    unloaded: int = 0  # cold, but the warehouse has not loaded them at this version yet: kept
    held: int = 0  # dry run: past the cutoff but kept, a child row stays (as `archive plan` counts)
    bytes: int = 0
    files: int = 0
    batches: int = 0
    resumed: int = 0
    delete_fallbacks: int = 0
    wall_seconds: float = 0.0
    partitions: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    error: str | None = None
    # what made the table fail, for a caller that treats errors by kind (retry or not)
    failure: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status in {"ok", "dry-run", "stopped", "nothing to do"}

    @contextmanager
    def timing(self, phase: str) -> Iterator[None]:
        """Adds the time spent in the block to ``seconds[phase]`` (also when it raises)."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[phase] += time.monotonic() - started

    @property
    def stops_the_run(self) -> bool:
        """Stopped at --max-runtime or by a throttle wait that never cleared: the tables after
        it are left for the next run."""
        return self.status in {"stopped", "throttled"}

    @property
    def total_seconds(self) -> float:
        """Elapsed time of the batch loop (phases overlap: the delete runs beside the next batch)."""
        return self.wall_seconds or sum(self.seconds.values())


@dataclass
class RunSummary:
    run_id: str
    as_of: datetime
    tables: list[TableSummary] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def errors(self) -> list[str]:
        return [f"{t.table}: {t.error}" for t in self.tables if not t.ok and t.error]

    def raise_for_failures(self) -> None:
        if not self.ok:
            raise TierflowError("archive run failed:\n" + "\n".join(self.errors()))
