"""The archive tier: cold MySQL rows -> verified Parquet in the object store, deleted only when safe.

Public entry points: ``run_archive`` (``tierflow archive run``), ``plan_archive``, ``restore``,
``verify_archive``, ``lifecycle_rules`` and ``check_as_of`` (refuses a future as_of, for the DAG's
params too). Heavy imports (pyarrow, GX, duckdb) stay inside them.
"""

from tierflow.archive.errors import ArchiveLockedError, LockLostError, ThrottledError, VerificationError
from tierflow.archive.guards import FutureAsOfError, LargeRunError, check_as_of
from tierflow.archive.run import parse_duration, run_archive
from tierflow.archive.summary import RunSummary, TableSummary
from tierflow.clock import utc_now

__all__ = [
    "ArchiveLockedError",
    "LockLostError",
    "FutureAsOfError",
    "LargeRunError",
    "ThrottledError",
    "check_as_of",
    "utc_now",
    "RunSummary",
    "TableSummary",
    "VerificationError",
    "parse_duration",
    "run_archive",
]
