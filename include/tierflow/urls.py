"""Parsing of database URLs (``mysql://``, ``postgresql://``, ``redshift://``, ``redis://``)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit


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
        auth = ""
        if self.user:
            auth = self.user + (f":{self.password}" if self.password else "") + "@"
        netloc = f"{auth}{self.host}" + (f":{self.port}" if self.port else "")
        query = "&".join(f"{k}={v}" for k, v in self.query.items())
        return urlunsplit((self.scheme, netloc, "/" + (self.database or ""), query, ""))


def parse(url: str) -> DbUrl:
    parts = urlsplit(url)
    if not parts.scheme:
        raise ValueError(f"not a URL (no scheme): {redact(url)!r}")
    database = unquote(parts.path.lstrip("/")) or None
    return DbUrl(
        scheme=parts.scheme,
        host=parts.hostname or "127.0.0.1",
        port=parts.port,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        database=database,
        query=dict(parse_qsl(parts.query)),
    )


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
