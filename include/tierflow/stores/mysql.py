"""MySQL (Aurora MySQL in production, MariaDB locally): connections, schema and introspection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tierflow.errors import ServiceUnavailable
from tierflow.paths import MYSQL_DDL_DIR
from tierflow.urls import DbUrl, parse, redact, scrub

# tierflow's own table in the source database: the archive's ledger (``tierflow.archive.ledger``
# owns its rows). The seed's drop guard and the tier report look for it by this name.
LEDGER_TABLE = "tierflow_archive_ledger"


def connect(url: str, *, database: bool = True, autocommit: bool = False, **kwargs: Any):
    """A MySQLdb connection for ``mysql://user:pass@host:port/db``."""
    import MySQLdb

    u = parse(url)
    params: dict[str, Any] = {
        "host": u.host,
        "port": u.port or 3306,
        "user": u.user or "root",
        "charset": "utf8mb4",
        "autocommit": autocommit,
    }
    if u.password:
        params["password"] = u.password
    if database and u.database:
        params["database"] = u.database
    params.update(kwargs)
    try:
        return MySQLdb.connect(**params)
    except MySQLdb.OperationalError as exc:
        raise ServiceUnavailable(
            f"MySQL at {redact(url)} is not reachable ({exc.args[-1]}). "
            "Start it (`make services`) or set TIERFLOW_MYSQL_URL."
        ) from None


@contextmanager
def connection(url: str, **kwargs: Any) -> Iterator[Any]:
    conn = connect(url, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


def database_of(url: str) -> str:
    name = parse(url).database
    if not name:
        raise ValueError(f"the MySQL URL {redact(url)} names no database")
    return name


def connectorx_url(url: str) -> str:
    """The URL connectorx reads MySQL with: user, password, host, port and database only, the
    user and password percent-encoded (connectorx decodes them)."""
    u = parse(url)
    return DbUrl("mysql", u.host, u.port or 3306, u.user or "root", u.password, u.database, {}).render()


def read_arrow(url: str, sql: str):
    """The result of ``sql`` as an Arrow table, straight from MySQL with connectorx (no Python row
    objects). A failure's message never carries the password."""
    import connectorx as cx

    try:
        return cx.read_sql(connectorx_url(url), sql, return_type="arrow")
    except RuntimeError as exc:
        message = scrub(str(exc), url)
        if "waiting for connection" in message:
            raise ServiceUnavailable(
                f"MySQL at {redact(url)} is not reachable from connectorx ({message})"
            ) from None
        raise RuntimeError(message) from None


def quote_ident(name: str) -> str:
    """Backtick-quote an identifier that was already checked against the live schema."""
    if not name or "`" in name or "\x00" in name:
        raise ValueError(f"refusing to quote suspicious identifier {name!r}")
    return f"`{name}`"


def ddl_files(directory: Path = MYSQL_DDL_DIR) -> list[Path]:
    return sorted(directory.glob("*.sql"))


def split_statements(sql: str) -> list[str]:
    """Split a DDL file on semicolons at line ends (the DDL files contain no procedures)."""
    statements, current = [], []
    for line in sql.splitlines():
        stripped = line.strip()
        if stripped.startswith("--") or not stripped:
            continue
        current.append(line)
        if stripped.endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        statements.append("\n".join(current))
    return statements


def init_schema(url: str, *, recreate: bool = False) -> list[str]:
    """Create the database named in ``url`` if missing and apply ``sql/mysql/*.sql``.

    Returns the tables present afterwards. ``recreate`` drops the database first.
    """
    name = database_of(url)
    with connection(url, database=False, autocommit=True) as conn:
        cur = conn.cursor()
        if recreate:
            cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
        cur.execute(
            f"CREATE DATABASE IF NOT EXISTS {quote_ident(name)} "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        cur.execute(f"USE {quote_ident(name)}")
        for path in ddl_files():
            for statement in split_statements(path.read_text()):
                cur.execute(statement)
    return list(columns_by_table(url))


def columns_by_table(url: str) -> dict[str, dict[str, str]]:
    """{table: {column: data_type}} for the database in ``url``, in ordinal order."""
    with connection(url) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s ORDER BY table_name, ordinal_position",
            (database_of(url),),
        )
        result: dict[str, dict[str, str]] = {}
        for table, column, data_type in cur.fetchall():
            result.setdefault(table, {})[column] = data_type.lower()
        return result


def check_policy(policy, url: str) -> None:
    """The policy's tables and columns against the live schema (PolicyError naming each
    mismatch), before any SQL is built from them or anything is written."""
    from tierflow.policy import check_against_schema

    check_against_schema(policy, columns_by_table(url))


def foreign_keys(url: str) -> list[tuple[str, str, str, str]]:
    """(child_table, child_column, parent_table, parent_column) for every foreign key."""
    with connection(url) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT table_name, column_name, referenced_table_name, referenced_column_name "
            "FROM information_schema.key_column_usage "
            "WHERE table_schema = %s AND referenced_table_name IS NOT NULL "
            "ORDER BY table_name, column_name",
            (database_of(url),),
        )
        return [tuple(r) for r in cur.fetchall()]


def child_rows_exist(fks: list[tuple[str, str, str, str]], parent: str, alias: str = "t") -> list[str]:
    """One ``EXISTS (...)`` per foreign key into ``parent``: true when the row ``alias`` of the
    parent still has a child row in that table. Names come from ``foreign_keys`` (the schema)."""
    return [
        f"EXISTS (SELECT 1 FROM {quote_ident(c)} AS ch "  # noqa: S608 - quoted schema names
        f"WHERE ch.{quote_ident(cc)} = {alias}.{quote_ident(pc)})"
        for c, cc, p, pc in fks
        if p == parent and c != p
    ]


def table_sizes(url: str) -> dict[str, dict[str, int]]:
    """{table: {rows (estimate), data_bytes, index_bytes}} from information_schema."""
    with connection(url) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT table_name, table_rows, data_length, index_length FROM information_schema.tables "
            "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            (database_of(url),),
        )
        return {
            t: {"rows": int(r or 0), "data_bytes": int(d or 0), "index_bytes": int(i or 0)}
            for t, r, d, i in cur.fetchall()
        }


def db_url_with_database(url: str, database: str) -> str:
    u: DbUrl = parse(url)
    return u.with_database(database).render()
