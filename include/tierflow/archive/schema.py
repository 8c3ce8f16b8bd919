"""The archived shape of a MySQL table: exact Arrow types, PII treatment, fingerprint and checksum.

Types come from information_schema, never from the driver's guess: DECIMAL(p,s) stays
decimal128(p,s), DATETIME(6) stays timestamp(us), JSON/ENUM are strings. Every integer is written
signed, as the catalog declares it (Athena, Spectrum and Spark have no unsigned types, and Spark
refuses a Parquet UINT_64 column declared bigint): unsigned TINYINT/SMALLINT/INT widen one step,
unsigned BIGINT is int64 and a value above 2^63-1 is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from tierflow.config import DEFAULT_PII_KEY
from tierflow.errors import TierflowError
from tierflow.policy import PiiTreatment, TablePolicy
from tierflow.stores import mysql

ROW_HASH_COLUMN = "_tf_row_hash"


INT64_MAX = (1 << 63) - 1


class SchemaDriftError(TierflowError):
    """A column archived before is gone from MySQL and the policy does not map it."""


class UnsignedRangeError(TierflowError):
    """An unsigned BIGINT value does not fit the archive's signed 64-bit integer."""


@dataclass(frozen=True)
class SourceColumn:
    name: str
    data_type: str
    column_type: str
    precision: int | None
    scale: int | None

    @property
    def unsigned(self) -> bool:
        return "unsigned" in self.column_type


def source_columns(url: str, table: str) -> list[SourceColumn]:
    """The columns of ``table`` as the archive types them (``stores.mysql.table_columns``)."""
    return [
        SourceColumn(c.name, c.data_type, c.column_type, c.precision, c.scale)
        for c in mysql.table_columns(url, table)
    ]


_INTS = {"tinyint": 8, "smallint": 16, "mediumint": 32, "int": 32, "integer": 32, "bigint": 64}
# unsigned widen to the next signed width that holds every value; BIGINT has none, so it stays
# 64-bit and its values are range-checked in ``shape``
_UNSIGNED_BITS = {8: 16, 16: 32, 32: 64, 64: 64}
_STRINGS = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json", "time"}
_BINARY = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit"}


def arrow_type(col: SourceColumn):
    import pyarrow as pa

    t = col.data_type
    if t in _INTS:
        bits = _UNSIGNED_BITS[_INTS[t]] if col.unsigned else _INTS[t]
        return getattr(pa, f"int{bits}")()
    if t == "decimal":
        return pa.decimal128(int(col.precision or 10), int(col.scale or 0))
    if t == "float":
        return pa.float32()
    if t == "double":
        return pa.float64()
    if t in {"datetime", "timestamp"}:
        return pa.timestamp("us")
    if t == "date":
        return pa.date32()
    if t == "year":
        return pa.int16()
    if t in _STRINGS:
        return pa.string()
    if t in _BINARY:
        return pa.binary()
    raise TierflowError(f"column {col.name!r}: MySQL type {col.column_type!r} has no archive mapping")


def select_expression(col: SourceColumn, alias: str = "t") -> str:
    """How a column is selected so the driver returns it losslessly."""
    q = mysql.quote_ident(col.name)
    if col.data_type in {"enum", "set", "json", "time"}:
        return f"CAST({alias}.{q} AS CHAR) AS {q}"
    return f"{alias}.{q}"


def row_hash_expression(columns: list[SourceColumn], alias: str | None = None) -> str:
    """A 64-bit hash of the whole row computed by MySQL, for tables without a change column.

    The first 64 bits of the MD5 read as a signed BIGINT (two's complement, as ``CAST(... AS
    SIGNED)`` wraps), so the archive stores it as the catalog's bigint."""
    prefix = f"{alias}." if alias else ""
    parts = ", ".join(f"IFNULL(CAST({prefix}{mysql.quote_ident(c.name)} AS CHAR), '\\\\N')" for c in columns)
    return f"CAST(CAST(CONV(LEFT(MD5(CONCAT_WS(0x1f, {parts})), 16), 16, 10) AS UNSIGNED) AS SIGNED)"


def archived_schema(columns: list[SourceColumn], table: TablePolicy):
    """The Arrow schema written to Parquet: PII 'drop' columns removed, 'hash' columns strings."""
    import pyarrow as pa

    fields = []
    for col in columns:
        treatment = table.archive.pii.get(col.name, PiiTreatment.KEEP)
        if treatment == PiiTreatment.DROP:
            continue
        typ = pa.string() if treatment == PiiTreatment.HASH else arrow_type(col)
        fields.append(pa.field(col.name, typ))
    if not table.change_column:
        fields.append(pa.field(ROW_HASH_COLUMN, pa.int64()))
    return pa.schema(fields)


def fingerprint(schema) -> str:
    text = json.dumps([[f.name, str(f.type)] for f in schema])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def schema_columns(schema) -> list[list[str]]:
    return [[f.name, str(f.type)] for f in schema]


def _hash_values(values, salt: bytes):
    import pyarrow as pa

    out = [
        None if v is None else hashlib.sha256(salt + str(v).encode()).hexdigest() for v in values.to_pylist()
    ]
    return pa.array(out, pa.string())


def shape(raw, columns: list[SourceColumn], table: TablePolicy, schema, *, pii_key: str = DEFAULT_PII_KEY):
    """Cast the driver's Arrow table to the archived schema and apply PII treatment, hashing
    with ``pii_key`` (``Settings.pii_hash_key``)."""
    import pyarrow as pa

    salt = pii_key.encode()
    arrays = []
    for field_ in schema:
        col = raw.column(field_.name)
        treatment = table.archive.pii.get(field_.name, PiiTreatment.KEEP)
        if treatment == PiiTreatment.HASH:
            col = _hash_values(col, salt)
        elif col.type != field_.type:
            if pa.types.is_null(col.type):
                col = pa.nulls(len(col), field_.type)
            else:
                if pa.types.is_unsigned_integer(col.type) and pa.types.is_signed_integer(field_.type):
                    check_signed_range(col, table.name, field_.name)
                # safe cast: fails rather than rounds a DECIMAL or wraps an unsigned value
                col = col.cast(field_.type, safe=True)
        arrays.append(col)
    return pa.Table.from_arrays(arrays, schema=schema)


def check_signed_range(values, table: str, column: str) -> None:
    """Refuse an unsigned column whose largest value is above 2^63-1, naming the value."""
    import pyarrow.compute as pc

    top = pc.max(values).as_py()
    if top is not None and top > INT64_MAX:
        raise UnsignedRangeError(
            f"table {table!r} column {column!r}: value {top} is above 2^63-1 ({INT64_MAX}), the "
            "largest the archive's bigint holds (Athena, Redshift Spectrum and Spark have no "
            "unsigned 64-bit type). Nothing of this batch was written. Keep such rows out of the "
            "archive (a smaller warm window or key range) or store the key in a signed column."
        )


def current_encoding(table):
    """An archived object read back, in the encoding written today.

    Objects written before every integer was signed hold unsigned columns (UINT_8..UINT_64).
    Their values are mapped to the signed types the catalog declares: widened, or for 64 bits
    checked against 2^63-1; ``_tf_row_hash`` is reinterpreted bit for bit as MySQL's signed
    hash. The content checksum is unchanged (see ``content_checksum``), so old ledger entries
    still verify, and an object rewritten from this table is in the current encoding."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not any(pa.types.is_unsigned_integer(f.type) for f in table.schema):
        return table
    for i, field_ in enumerate(table.schema):
        if not pa.types.is_unsigned_integer(field_.type):
            continue
        bits = _UNSIGNED_BITS[field_.type.bit_width]
        col = table.column(i)
        if field_.name == ROW_HASH_COLUMN:
            col = pc.cast(col, pa.int64(), safe=False)  # two's complement, as MySQL's CAST AS SIGNED
        else:
            if bits == 64:
                check_signed_range(col, "(archived object)", field_.name)
            col = col.cast(getattr(pa, f"int{bits}")(), safe=True)
        table = table.set_column(i, pa.field(field_.name, col.type), col)
    return table


def content_checksum(table) -> tuple[int, str]:
    """(row count, order-independent hash over every column of every row).

    Computed by DuckDB over Arrow, so the same rows give the same value wherever they are split
    into files; used to compare what was extracted with what the store gives back.
    """
    import duckdb

    if table.num_rows == 0:
        return 0, "0"
    table = _row_hash_unsigned(table)
    con = duckdb.connect()
    try:
        con.register("rows_", table)
        cols = ", ".join('"' + c.replace('"', '""') + '"' for c in table.column_names)
        # an aggregate without GROUP BY returns exactly one row
        count, total = con.execute(f"SELECT count(*), sum(hash({cols})::HUGEINT) FROM rows_").fetchone() or (
            0,
            None,
        )
    finally:
        con.close()
    return int(count), format(int(total) % (1 << 128), "x")


def _row_hash_unsigned(table):
    """``_tf_row_hash`` as its unsigned bits, the form the checksum hashes: DuckDB's ``hash()``
    depends on the integer value, not its type, so every other column hashes the same signed or
    unsigned, and this keeps the checksums of objects written with an unsigned row hash valid."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if ROW_HASH_COLUMN not in table.column_names:
        return table
    i = table.column_names.index(ROW_HASH_COLUMN)
    col = table.column(i)
    if pa.types.is_signed_integer(col.type):
        col = pc.cast(col, pa.uint64(), safe=False)
    return table.set_column(i, pa.field(ROW_HASH_COLUMN, col.type), col)


def check_drift(table: TablePolicy, schema, previous_columns: list[list[str]] | None) -> None:
    """Raise SchemaDriftError if a column archived before has vanished and the policy has no map."""
    if not previous_columns:
        return
    now = set(schema.names)
    missing = [name for name, _ in previous_columns if name not in now]
    unmapped = [c for c in missing if c not in table.archive.column_map]
    if unmapped:
        raise SchemaDriftError(
            f"table {table.name!r}: column(s) {', '.join(unmapped)} were archived before but are "
            "no longer in MySQL (dropped or renamed). Archiving stops so the archive stays readable. "
            f"Map them in the policy: tables.{table.name}.archive.column_map: "
            "{old_name: new_name} (or null for a dropped column)."
        )
    for old in missing:
        new = table.archive.column_map.get(old)
        if new is not None and new not in now:
            raise SchemaDriftError(
                f"table {table.name!r}: column_map maps {old!r} to {new!r}, which is not in MySQL"
            )


def renamed_columns(column_map: dict[str, str | None], present: set[str]) -> dict[str, list[str]]:
    """{current name: [old names]} for the policy's renames whose old and new columns are both in
    the archived files (a dropped column, mapped to null, stays as it is)."""
    renames: dict[str, list[str]] = {}
    for old, new in column_map.items():
        if new and old in present and new in present:
            renames.setdefault(new, []).append(old)
    return renames
