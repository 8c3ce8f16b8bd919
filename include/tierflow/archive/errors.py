"""The archive's errors, by what a caller does about them."""

from __future__ import annotations

from tierflow.errors import TierflowError


class ArchiveLockedError(TierflowError):
    """Another archive run holds this table's named lock."""


class LockLostError(TierflowError):
    """The run no longer holds its table lock (or another run owns the entry): it stops."""


class ThrottledError(TierflowError):
    """MySQL stayed busy (or a replica stayed behind) for longer than the throttle waits."""


class VerificationError(TierflowError):
    """What the store gives back differs from what was extracted: nothing is deleted."""


def describe_failure(exc: BaseException) -> str:
    """A failure as a person reads it: tierflow's own errors say what to do; anything else (a
    driver, S3 or MySQL error) is named with its type, and nothing of the batch in hand was
    deleted, as every delete follows a verified ledger entry."""
    if isinstance(exc, TierflowError):
        return str(exc)
    return (
        f"{type(exc).__module__}.{type(exc).__name__}: {exc}. The batch in hand was not deleted; "
        "the next run resumes from the ledger."
    )
