"""The warehouse: Redshift in production, PostgreSQL locally, behind one connection helper."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tierflow.errors import ServiceUnavailable, TierflowError
from tierflow.urls import is_redshift, parse, redact

if TYPE_CHECKING:
    from tierflow.config import Settings


class DbApiConnection:
    """A DB-API connection (redshift_connector) with psycopg 3's ``conn.execute(sql, params)``
    returning a cursor, so the warehouse code is one code path for both engines."""

    def __init__(self, conn: Any) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Any = None) -> Any:
        cur = self.raw.cursor()
        cur.execute(sql, params)
        return cur

    def cursor(self) -> Any:
        return self.raw.cursor()

    def commit(self) -> None:
        self.raw.commit()

    def rollback(self) -> None:
        self.raw.rollback()

    def close(self) -> None:
        self.raw.close()


def redshift_connect_kwargs(
    url: str, *, database: str | None = None, aws: Settings | None = None
) -> dict[str, Any]:
    """``redshift_connector.connect`` arguments for a ``redshift://`` URL: always IAM, as the URL's
    user, with temporary credentials (GetClusterCredentials for ``?cluster=<id>``, Serverless
    GetCredentials for ``?workgroup=<name>``) signed by ``aws``'s credentials when it carries
    explicit ones (``Settings.aws_credentials()``, the ``aws_default`` Connection), else by the
    AWS credential chain. Every step (load, gates, dbt, publish, preflight) signs in this way;
    dbt's profile gets the same values from ``tierflow.warehouse.dbt.dbt_env``."""
    u = parse(url)
    if u.password:
        raise TierflowError(
            f"the Redshift warehouse URL {redact(url)} carries a password; tierflow signs in with "
            "IAM only: drop the password and grant the IAM identity redshift:GetClusterCredentials "
            "(docs/warehouse.md, First deploy on Redshift)"
        )
    if not u.user or not (u.query.get("cluster") or u.query.get("workgroup")):
        raise TierflowError(
            f"the Redshift warehouse URL {redact(url)} needs the database user and ?cluster=<id> "
            "(provisioned) or ?workgroup=<name> (Serverless): "
            "redshift://tierflow_loader@<endpoint>:5439/<db>?cluster=<id>"
        )
    kwargs: dict[str, Any] = {
        "iam": True,
        "host": u.host,
        "port": u.port or 5439,
        "database": database or u.database or "dev",
        "db_user": u.user,
        "auto_create": False,
        "ssl": True,
        "region": u.query.get("region"),
    }
    if aws is not None:
        creds = aws.aws_credentials()
        kwargs["region"] = kwargs["region"] or aws.aws_region
        if creds:
            kwargs.update(
                access_key_id=creds["aws_access_key_id"],
                secret_access_key=creds["aws_secret_access_key"],
                session_token=creds.get("aws_session_token"),
            )
    if u.query.get("workgroup"):
        kwargs.update(is_serverless=True, serverless_work_group=u.query["workgroup"])
    else:
        kwargs["cluster_identifier"] = u.query["cluster"]
    return kwargs


def connect(
    url: str, *, database: str | None = None, autocommit: bool = False, aws: Settings | None = None
) -> Any:
    """psycopg 3 for ``postgresql://``; redshift_connector (wrapped alike) for ``redshift://``,
    signed in with ``aws``'s region and credentials (``redshift_connect_kwargs``)."""
    u = parse(url)
    dbname = database or u.database or "dev"
    if is_redshift(url):
        import redshift_connector

        conn = redshift_connector.connect(**redshift_connect_kwargs(url, database=database, aws=aws))
        conn.autocommit = autocommit
        return DbApiConnection(conn)
    import psycopg

    try:
        return psycopg.connect(
            host=u.host,
            port=u.port or 5432,
            dbname=dbname,
            user=u.user or "postgres",
            password=u.password,
            autocommit=autocommit,
            connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(
            f"warehouse at {redact(url)} is not reachable ({str(exc).strip()}). "
            "Start PostgreSQL (`make services`) or set TIERFLOW_WAREHOUSE_URL."
        ) from None


def server_now(conn: Any, url: str) -> datetime:
    """The warehouse's own clock (UTC, naive): every stamp that is compared with another one comes
    from here, so the clocks of the machines that load and build never meet. Redshift's now() is
    leader-node only and its getdate() is whole seconds: SYSDATE, the transaction's start."""
    sql = "SELECT SYSDATE" if is_redshift(url) else "SELECT clock_timestamp() AT TIME ZONE 'UTC'"
    value = conn.execute(sql).fetchone()[0]
    return value.replace(tzinfo=None)


@contextmanager
def connection(url: str, **kwargs: Any) -> Iterator[Any]:
    conn = connect(url, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


def ensure_database(url: str) -> None:
    """Create the local warehouse database if missing (PostgreSQL only; Redshift is provisioned)."""
    if is_redshift(url):
        return
    name = parse(url).database
    if not name:
        raise ValueError(f"the warehouse URL {redact(url)} names no database")
    with connection(url, database="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
