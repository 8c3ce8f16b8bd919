"""What the warehouse holds of a table: each loaded row's version, for the archive to check against.

The archive deletes a row of a table loaded into the warehouse only once ``raw.<table>`` holds it
at its current version (its change column, or its time column for tables without one), so an
update made just before the night's archive still reaches the marts.
"""

from __future__ import annotations

from typing import Any

from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.log import get_logger
from tierflow.policy import TablePolicy
from tierflow.urls import parse, redact
from tierflow.warehouse import RAW_SCHEMA
from tierflow.warehouse.columns import quote
from tierflow.warehouse.sql import qualified

log = get_logger("tierflow.warehouse.loaded")


class LoadedVersions:
    """A read-only view of ``raw.<table>`` on the warehouse at ``url``; use as a context.

    ``present`` is False when the warehouse database does not exist (a deployment without a
    warehouse): nothing can be checked and the caller decides. A warehouse that exists but has
    never loaded the table holds no versions, so none of its rows counts as loaded.
    """

    def __init__(self, url: str, table: TablePolicy, aws: Settings | None = None) -> None:
        self.url = url
        self.aws = aws  # the settings Redshift's IAM sign-in takes its region and keys from
        self.table = table
        self.column = table.change_column or table.time_column
        self.conn: Any = None
        self.present = False
        self.loaded_table = False

    def __enter__(self) -> LoadedVersions:
        from tierflow.stores import warehouse

        if not warehouse.is_redshift(self.url) and not self._database_exists():
            log.warning("warehouse.loaded.absent", table=self.table.name, warehouse=redact(self.url))
            return self
        self.present = True
        self.conn = warehouse.connect(self.url, autocommit=True, aws=self.aws)
        found = self.conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (RAW_SCHEMA, self.table.name),
        ).fetchone()
        self.loaded_table = bool(found)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()

    def _database_exists(self) -> bool:
        from tierflow.stores import warehouse

        name = parse(self.url).database
        if not name:
            raise TierflowError(f"the warehouse URL {redact(self.url)} names no database")
        with warehouse.connection(self.url, database="postgres", autocommit=True) as conn:
            return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone())

    def versions(self, lo: int, hi: int) -> dict[int, Any]:
        """{primary key: loaded version} of the loaded rows with ``lo <= key <= hi``."""
        if not self.loaded_table:
            return {}
        pk, col = quote(self.table.primary_key), quote(self.column)
        rows = self.conn.execute(
            f"SELECT {pk}, {col} FROM {qualified(RAW_SCHEMA, self.table.name)} "  # noqa: S608 - quoted names, bound keys
            f"WHERE {pk} BETWEEN %s AND %s",
            (lo, hi),
        ).fetchall()
        return {int(k): v for k, v in rows}
