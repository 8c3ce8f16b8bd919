"""The archive tier: cold MySQL rows -> verified Parquet in the object store, deleted only when safe.

Public entry points: ``run_archive`` (``tierflow archive run``), ``plan_archive``, ``restore``,
``verify_archive`` and ``lifecycle_rules``. Heavy imports (pyarrow, GX, duckdb) stay inside them.
"""

from tierflow.archive.run import (
    ArchiveLockedError,
    LockLostError,
    RunSummary,
    TableSummary,
    VerificationError,
    parse_duration,
    run_archive,
)

__all__ = [
    "ArchiveLockedError",
    "LockLostError",
    "RunSummary",
    "TableSummary",
    "VerificationError",
    "parse_duration",
    "run_archive",
]
