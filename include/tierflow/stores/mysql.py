"""MySQL (Aurora MySQL in production, MariaDB locally): connections, schema and introspection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tierflow.errors import ServiceUnavailable, TierflowError
from tierflow.paths import MYSQL_DDL_DIR
from tierflow.stores import ident
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
    return ident.mysql(name)


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


@dataclass(frozen=True)
class MySQLColumn:
    """One column as MySQL's information_schema describes it: the one reader of column metadata
    (the archive's Parquet schema and the warehouse's types are both built from it)."""

    name: str
    data_type: str  # lower case: bigint, decimal, datetime, enum, json, ...
    column_type: str  # lower case: "bigint unsigned", "decimal(14,2)", "tinyint(1)", ...
    nullable: bool
    precision: int | None = None
    scale: int | None = None
    char_length: int | None = None

    @property
    def unsigned(self) -> bool:
        return "unsigned" in self.column_type


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _read_columns(url: str, table: str | None) -> list[tuple[str, MySQLColumn]]:
    with connection(url) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT table_name, column_name, data_type, column_type, is_nullable, numeric_precision, "
            "numeric_scale, character_maximum_length FROM information_schema.columns "
            "WHERE table_schema = %s AND (%s IS NULL OR table_name = %s) "
            "ORDER BY table_name, ordinal_position",
            (database_of(url), table, table),
        )
        rows = cur.fetchall()
    return [
        (
            str(t),
            MySQLColumn(
                name=str(name),
                data_type=str(data_type).lower(),
                column_type=str(column_type).lower(),
                nullable=nullable == "YES",
                precision=_int(precision),
                scale=_int(scale),
                char_length=_int(length),
            ),
        )
        for t, name, data_type, column_type, nullable, precision, scale, length in rows
    ]


def table_columns(url: str, table: str) -> list[MySQLColumn]:
    """The columns of ``table`` in ordinal order; TierflowError naming the database when the
    table does not exist."""
    columns = [c for _, c in _read_columns(url, table)]
    if not columns:
        raise TierflowError(
            f"table {table!r} does not exist in MySQL database {database_of(url)!r}; "
            "run `tierflow db init` or fix the tier policy"
        )
    return columns


def columns_by_table(url: str) -> dict[str, dict[str, str]]:
    """{table: {column: data_type}} for the database in ``url``, in ordinal order."""
    result: dict[str, dict[str, str]] = {}
    for table, col in _read_columns(url, None):
        result.setdefault(table, {})[col.name] = col.data_type
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
