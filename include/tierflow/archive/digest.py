"""The content digest that ties a MySQL row to its archived copy before the row is deleted.

A row's digest is CRC-32 of its archived columns as text, joined by 0x1f, NULL as ``\\N``: MySQL
computes it over the live row (in the same locked read that counts the delete chunk), and Python
computes it over the Parquet read back from the store. Both render each value as MySQL's implicit
conversion to text does: integers and DECIMAL as digits (scale kept), DATETIME(fsp) with fsp
fraction digits, DATE as YYYY-MM-DD, strings, ENUM, SET, JSON and TIME as text, binary as upper
hex; a PII ``hash`` column as the salted SHA-256 the archive holds. Columns the policy drops, and
FLOAT/DOUBLE (no exact text form shared by both sides), are not part of it.
"""

from __future__ import annotations

import re
import zlib

from tierflow.archive.schema import SourceColumn
from tierflow.config import DEFAULT_PII_KEY
from tierflow.policy import PiiTreatment, TablePolicy
from tierflow.stores import mysql

DIGEST_COLUMN = "_tf_digest"
SEPARATOR = "\x1f"
NULL_TEXT = "\\N"
SALT_VARIABLE = "@tierflow_pii_salt"
DIGEST_SLICE_ROWS = 10_000
_INEXACT = {"float", "double", "real"}
_BINARY = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bit"}


def digest_columns(columns: list[SourceColumn], table: TablePolicy) -> list[SourceColumn]:
    """The columns a digest covers, in table order."""
    return [
        c
        for c in columns
        if c.data_type not in _INEXACT
        and table.archive.pii.get(c.name, PiiTreatment.KEEP) != PiiTreatment.DROP
    ]


def nullable_columns(url: str, table: str) -> set[str]:
    """Columns of ``table`` that may hold NULL (the others need no NULL marker in the digest)."""
    return {c.name for c in mysql.table_columns(url, table) if c.nullable}


def digest_sql(columns: list[SourceColumn], table: TablePolicy, nullable: set[str]) -> str:
    """MySQL's expression for a row's digest (an unsigned 32-bit integer). A hashed PII column
    needs ``SALT_VARIABLE`` set on the session (``salt_statement``)."""
    parts = []
    for col in digest_columns(columns, table):
        q = mysql.quote_ident(col.name)
        if table.archive.pii.get(col.name) == PiiTreatment.HASH:
            expr = f"SHA2(CONCAT({SALT_VARIABLE}, {q}), 256)"
        elif col.data_type in _BINARY:
            expr = f"HEX({q})"
        else:
            expr = q
        # 0x5c4e is '\N', written as hex so that no sql_mode changes what it means
        nullable_expr = col.name in nullable or table.archive.pii.get(col.name) == PiiTreatment.HASH
        parts.append(f"IFNULL({expr}, 0x5c4e)" if nullable_expr else expr)
    return f"CRC32(CONCAT_WS(0x1f, {', '.join(parts)}))"


def salt_statement(pii_key: str = DEFAULT_PII_KEY) -> tuple[str, tuple[str]]:
    """The statement (and its parameter) that gives a session the PII key for ``digest_sql``
    (``Settings.pii_hash_key``)."""
    return f"SET {SALT_VARIABLE} = %s", (pii_key,)


def _fraction_digits(col: SourceColumn) -> int:
    m = re.search(r"\((\d+)\)", col.column_type)
    return int(m.group(1)) if m else 0


def _as_text(values, col: SourceColumn, table: TablePolicy):
    """One archived column as the text MySQL's digest sees."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    typ = values.type
    if table.archive.pii.get(col.name) == PiiTreatment.HASH or pa.types.is_string(typ):
        text = values.cast(pa.string())
    elif pa.types.is_binary(typ):
        text = pa.array([None if v is None else v.hex().upper() for v in values.to_pylist()], pa.string())
    elif pa.types.is_timestamp(typ):
        # Arrow writes microseconds always; MySQL writes the column's fsp digits (none for 0)
        text = pc.cast(pc.cast(values, pa.timestamp("us")), pa.string())
        fsp = _fraction_digits(col)
        text = pc.utf8_slice_codeunits(text, 0, 19 + (fsp + 1 if fsp else 0))
    else:
        text = pc.cast(values, pa.string())
    return pc.fill_null(text, NULL_TEXT)


def row_digests(rows, columns: list[SourceColumn], table: TablePolicy) -> list[int]:
    """The digest of every row of ``rows`` (the archived Arrow table), as MySQL computes it.
    Slice by slice, so that the rows' text never exists for a whole batch at once."""
    import pyarrow as pa
    import pyarrow.compute as pc

    covered = digest_columns(columns, table)
    out: list[int] = []
    for start in range(0, rows.num_rows, DIGEST_SLICE_ROWS):
        part = rows.slice(start, DIGEST_SLICE_ROWS)
        texts = [_as_text(part.column(c.name), c, table) for c in covered]
        joined = pc.binary_join_element_wise(*texts, SEPARATOR)
        out.extend(map(zlib.crc32, joined.cast(pa.binary()).to_pylist()))
    return out


def with_digests(rows, columns: list[SourceColumn], table: TablePolicy):
    """``rows`` reduced to the primary key and its digest: what the delete compares."""
    import pyarrow as pa

    keys = rows.column(table.primary_key)
    digests = pa.array(row_digests(rows, columns, table), pa.uint64())
    return pa.table({table.primary_key: keys, DIGEST_COLUMN: digests})
