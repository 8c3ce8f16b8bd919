"""Database URLs (``mysql://``, ``postgresql://``, ``redshift://``, ``redis://``), parsed and rendered
by SQLAlchemy's URL type: a password or user name holding ``@ / # ? % :`` is percent-encoded in
the URL and decoded here, and the rendered form encodes it again."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class DbUrl:
    scheme: str
    host: str
    port: int | None
    user: str | None
    password: str | None
    database: str | None
    query: dict[str, str]

    def with_database(self, database: str) -> DbUrl:
        return DbUrl(self.scheme, self.host, self.port, self.user, self.password, database, self.query)

    def render(self) -> str:
        """The URL again, user and password percent-encoded."""
        from sqlalchemy.engine import URL

        return URL.create(
            self.scheme,
            username=self.user if self.user or not self.password else "",
            password=self.password,
            host=self.host,
            port=self.port,
            database=self.database,
            query=self.query,
        ).render_as_string(hide_password=False)


def parse(url: str) -> DbUrl:
    """A ``scheme://user:password@host:port/database?k=v`` URL, user and password decoded."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if "://" not in url:
        raise ValueError(f"not a URL (no scheme): {redact(url)!r}")
    rest = url.split("://", 1)[1]
    if rest.count("@") > 1 or ("@" in rest and any(c in rest[: rest.rindex("@")] for c in "/?#")):
        raise ValueError(
            f"the URL {redact(url)!r} holds an unencoded '@', '/', '?' or '#' in its user or "
            "password: percent-encode them (for example '@' as %40, '/' as %2F)"
        )
    try:
        u = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ValueError(f"not a URL ({type(exc).__name__}): {redact(url)!r}") from None
    query = {k: v if isinstance(v, str) else v[-1] for k, v in u.query.items()}
    return DbUrl(
        scheme=u.drivername,
        host=u.host or "127.0.0.1",
        port=u.port,
        user=u.username or None,
        password=u.password or None,
        database=u.database or None,
        query=query,
    )


# "scheme://user:" then everything up to the LAST '@': a password is masked whole even when it
# was not percent-encoded (and so would not parse)
_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:@/?#]*):.*@")


def is_redshift(url: str) -> bool:
    """Whether ``url`` names a Redshift warehouse (``redshift://``, ``redshift+<driver>://``): the one
    answer every step asks (connection, SQL dialect, dbt target, gates)."""

    return urlsplit(url).scheme.lower().startswith("redshift")


def redact(url: str) -> str:
    """``url`` with its password shown as ``***`` (also when the URL does not parse)."""
    return _USERINFO.sub(r"\g<head>:***@", url, count=1)


def secrets_of(url: str) -> list[str]:
    """The forms in which ``url``'s password could show up in a driver's message (decoded and
    encoded), for scrubbing text that a client library built from the URL."""
    from urllib.parse import quote

    try:
        password = parse(url).password
    except ValueError:
        return []
    if not password:
        return []
    return sorted({password, quote(password, safe=""), quote(password)}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` with every form of ``url``'s password replaced by ``***``."""
    for secret in secrets_of(url):
        text = text.replace(secret, "***")
    return text
