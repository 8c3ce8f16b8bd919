"""How a MySQL column becomes a warehouse column: the PostgreSQL type, the Redshift type and the
Arrow type of the staging Parquet. Read from MySQL's information_schema, never from guesses.
"""

from __future__ import annotations

from dataclasses import dataclass

from tierflow.errors import TierflowError
from tierflow.stores import ident, mysql
from tierflow.stores.mysql import MySQLColumn

REDSHIFT_MAX_VARCHAR = 65535


@dataclass(frozen=True)
class Column(MySQLColumn):
    """A MySQL column (``stores.mysql.MySQLColumn``) with its warehouse and Arrow types."""

    @property
    def kind(self) -> str:
        """One of: smallint, integer, bigint, numeric, double, timestamp, date, string."""
        t = self.data_type
        if t == "tinyint":
            return "smallint"
        if t == "smallint":
            return "integer" if self.unsigned else "smallint"
        if t in {"mediumint", "int", "integer"}:
            return "bigint" if self.unsigned else "integer"
        if t == "bigint":
            # Ids never reach 2^63; bigint joins faster than numeric(20,0) on both engines.
            return "bigint"
        if t in {"decimal", "numeric"}:
            return "numeric"
        if t in {"float", "double", "real"}:
            return "double"
        if t in {"datetime", "timestamp"}:
            return "timestamp"
        if t == "date":
            return "date"
        if t in {"char", "varchar", "enum", "set", "json", "text", "tinytext", "mediumtext", "longtext"}:
            return "string"
        raise TierflowError(
            f"column {self.name!r}: MySQL type {self.column_type!r} has no warehouse mapping; "
            "add one to tierflow/warehouse/columns.py"
        )

    def postgres_type(self) -> str:
        kind = self.kind
        if kind == "numeric":
            return f"numeric({self.precision},{self.scale})"
        return {"double": "double precision", "string": "varchar"}.get(kind, kind)

    def redshift_type(self) -> str:
        kind = self.kind
        if kind == "numeric":
            return f"numeric({self.precision},{self.scale})"
        if kind == "double":
            return "double precision"
        if kind == "string":
            if self.data_type in {"char", "varchar", "enum"} and self.char_length:
                # Redshift counts bytes; utf8mb4 needs up to 4 per character (an enum's length is
                # its longest label's).
                return f"varchar({min(self.char_length * 4, REDSHIFT_MAX_VARCHAR)})"
            return f"varchar({REDSHIFT_MAX_VARCHAR})"
        return kind

    def arrow_type(self):
        import pyarrow as pa

        kind = self.kind
        return {
            "smallint": pa.int16(),
            "integer": pa.int32(),
            "bigint": pa.int64(),
            "double": pa.float64(),
            "timestamp": pa.timestamp("us"),
            "date": pa.date32(),
            "string": pa.string(),
        }.get(kind) or pa.decimal128(self.precision or 38, self.scale or 0)


def source_columns(mysql_url: str, table: str) -> list[Column]:
    """The columns of ``table`` in ordinal order, as MySQL's information_schema describes them."""
    return [Column(**vars(c)) for c in mysql.table_columns(mysql_url, table)]


def arrow_schema(columns: list[Column]):
    import pyarrow as pa

    return pa.schema([pa.field(c.name, c.arrow_type(), nullable=c.nullable) for c in columns])


def quote(name: str) -> str:
    """Double-quote an identifier read from information_schema or the validated policy."""
    return ident.ansi(name)
