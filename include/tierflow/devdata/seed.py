"""``seed_database``: generate the tables and bulk load them, with a progress bar and a report.

Each table is written as CSV and loaded by the loader threads while the next one is generated.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from tierflow.devdata.generator import generate
from tierflow.devdata.guard import check_drop_allowed
from tierflow.devdata.loader import LOAD_ORDER, BulkLoader, IndexSchedule, TableLoad, defer_indexes, write_csv
from tierflow.devdata.scale import SCALES, seed_period
from tierflow.stores import mysql


@dataclass
class SeedReport:
    database: str
    scale: str
    start: date
    end: date
    loads: list[TableLoad] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.loads)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def render(self) -> str:
        lines = [f"seeded {self.database} ({self.scale}, {self.start} .. {self.end}):"]
        for t in self.loads:
            rate = t.rows / t.seconds if t.seconds else 0.0
            lines.append(
                f"  {t.table:22} {t.rows:>11,} rows  {t.seconds:7.2f} s load "
                f"(indexes {t.index_seconds:6.2f} s)  {rate:>11,.0f} rows/s"
            )
        lines.append(
            f"total {self.rows:,} rows in {self.seconds:.1f} s = {self.rows_per_second:,.0f} rows/s overall"
        )
        return "\n".join(lines)


class _TableProgress:
    """A rich progress bar over the tables (nothing when disabled): generated, then loaded."""

    def __init__(self, enabled: bool, console=None) -> None:
        self._prog = None
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._prog = Progress(
                TextColumn("[bold]seed[/bold] {task.description:28}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} tables"),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )
            self._prog.start()
            self._bar = self._prog.add_task("generating", total=len(LOAD_ORDER))

    def generated(self, table: str) -> None:
        if self._prog:
            self._prog.update(self._bar, description=f"generated {table}")

    def loaded(self, table: str) -> None:
        if self._prog:
            self._prog.update(self._bar, advance=1, description=f"loaded {table}")

    def stop(self) -> None:
        if self._prog:
            self._prog.stop()


def seed_database(
    url: str,
    *,
    scale: str = "small",
    years: int = 3,
    seed: int = 42,
    as_of: date | None = None,
    recreate: bool = True,
    drop_existing: str | None = None,
    progress: bool = True,
    console=None,
) -> SeedReport:
    """Fill the database in ``url`` with ``years`` of data ending on ``as_of`` (default today,
    UTC). ``recreate`` drops the database first, and is refused (DropRefusedError) for a
    database that holds archive ledger rows or is not on loopback unless ``drop_existing``
    names it."""
    start, end = seed_period(as_of, years)
    if recreate:
        check_drop_allowed(url, drop_existing)
    mysql.init_schema(url, recreate=recreate)
    tables = generate(SCALES[scale], start, end, seed)
    report = SeedReport(database=mysql.database_of(url), scale=scale, start=start, end=end)
    started = time.perf_counter()
    with mysql.connection(url) as conn:
        deferred = defer_indexes(conn, LOAD_ORDER)
    schedule = IndexSchedule(mysql.foreign_keys(url), LOAD_ORDER)
    bar = _TableProgress(progress, console)

    def indexed(load: TableLoad) -> None:
        report.loads.append(load)
        bar.loaded(load.table)

    # MariaDB loads two tables at once on two cores while the next one is generated.
    loader = BulkLoader(url, deferred, schedule, indexed, loaders=2)
    loader.start()
    try:
        _write_and_queue(tables, loader, bar)
    finally:
        bar.stop()
    if loader.errors:
        raise loader.errors[0]
    report.loads.sort(key=lambda t: LOAD_ORDER.index(t.table))
    report.seconds = time.perf_counter() - started
    return report


def _write_and_queue(tables, loader: BulkLoader, bar: _TableProgress) -> None:
    """Write each generated table as CSV and hand it to the loaders; wait for every load."""
    with tempfile.TemporaryDirectory(prefix="tierflow-seed-") as tmp:
        try:
            for name, table in tables:
                if loader.errors:
                    break
                bar.generated(name)
                path = Path(tmp) / f"{name}.csv"
                write_csv(table, path)
                # only the CSV waits for a loader: the generated table is freed once written
                loader.put(name, table.column_names, table.num_rows, path)
                del table
        finally:
            loader.close()
