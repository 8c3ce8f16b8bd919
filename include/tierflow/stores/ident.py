"""Identifier quoting, the one place for it: MySQL's backticks, and the double quotes of
PostgreSQL, Redshift and DuckDB. Names come from the validated policy or a live schema; a name
that could close its quotes is refused, never escaped."""

from __future__ import annotations


def _checked(name: str, quote: str) -> str:
    if not name or quote in name or "\x00" in name:
        raise ValueError(f"refusing to quote suspicious identifier {name!r}")
    return name


def mysql(name: str) -> str:
    """```name``` for MySQL."""
    return f"`{_checked(name, '`')}`"


def ansi(name: str) -> str:
    """``"name"`` for PostgreSQL, Redshift and DuckDB."""
    return f'"{_checked(name, chr(34))}"'
