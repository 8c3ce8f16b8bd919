"""The seed's drop guard: it replaces a database only when that loses nothing, or when it is named.

A database holding archive ledger rows, or one on another machine, is dropped only on request.
"""

from __future__ import annotations

from tierflow.errors import TierflowError
from tierflow.stores import mysql


class DropRefusedError(TierflowError):
    """The seed would drop a database that may hold rows nobody can bring back."""


LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def check_drop_allowed(url: str, drop_existing: str | None = None) -> None:
    """Raise DropRefusedError unless dropping the database in ``url`` is harmless or named.

    Harmless: the database is on a loopback host and does not exist or holds no archive ledger
    rows (rows in the ledger live only in the archive now). Anything else must be named by
    ``drop_existing``; a remote host is refused before any connection is made.
    """
    from tierflow.urls import parse, redact

    name = mysql.database_of(url)
    if drop_existing is not None and drop_existing != name:
        raise DropRefusedError(
            f"--drop-existing names {drop_existing!r}, but the seed's database is {name!r} "
            f"({redact(url)}); nothing was dropped"
        )
    if drop_existing == name:
        return
    advice = (
        f"Nothing was dropped. To replace it anyway, pass --drop-existing {name} "
        f"(library: drop_existing={name!r}); to keep it, pass --no-recreate."
    )
    host = (parse(url).host or "localhost").strip("[]").lower()
    if host not in LOOPBACK_HOSTS:
        raise DropRefusedError(
            f"the seed would drop database {name!r} on {host} ({redact(url)}), which is not this "
            f"machine. {advice}"
        )
    with mysql.connection(url, database=False) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (name, mysql.LEDGER_TABLE),
        )
        if not cur.fetchone()[0]:
            return
        cur.execute(f"SELECT COUNT(*) FROM {mysql.quote_ident(name)}.{mysql.LEDGER_TABLE}")  # noqa: S608 - quoted name
        entries = int(cur.fetchone()[0])
    if entries:
        raise DropRefusedError(
            f"the seed would drop database {name!r} ({redact(url)}), but it holds {entries:,} "
            f"archive ledger entries: the rows they describe live only in the archive now. {advice}"
        )
