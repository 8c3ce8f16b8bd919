"""Errors a person reads: each names the thing, what was wrong and what to do."""


class TierflowError(Exception):
    """Base of every error the CLI prints without a traceback."""


class PolicyError(TierflowError):
    """The tier policy file is malformed or does not match the live schema."""


class ServiceUnavailable(TierflowError):
    """A service (MySQL, PostgreSQL, Redis, S3) cannot be reached."""
