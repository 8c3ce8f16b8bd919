"""The archive ledger: one row per batch in ``tierflow_archive_ledger`` in the source MySQL.

State moves extracted -> uploaded -> verified -> deleted (or failed / abandoned); restores are
recorded as 'restoring' -> 'restored'. A rerun reads the unfinished entries and completes them.
Each entry names the run that owns it (``owner_run``); a write on behalf of a run is applied only
while that run still owns the entry, so a run that lost its lock cannot change what another run
took over. ``pending_keys`` are objects being written whose entry does not reference them yet,
``retiring_keys`` objects the entry no longer references that wait to be removed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tierflow.errors import TierflowError
from tierflow.stores import mysql
from tierflow.stores.mysql import LEDGER_TABLE

STATES = ("extracted", "uploaded", "verified", "deleted", "failed", "abandoned", "restoring", "restored")
UNFINISHED = ("extracted", "uploaded", "verified", "restoring")
# Entries whose rows are in the archive.
ARCHIVED_STATES = ("verified", "deleted", "restored")
# Batches closed with every row still in MySQL and their objects removed: the last word on a table
# until one of its batches is archived after them, then history.
CLOSED_STATES = ("failed", "abandoned")

DDL = f"""
CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
  id                 BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  run_id             CHAR(32)        NOT NULL,
  table_name         VARCHAR(64)     NOT NULL,
  batch_name         VARCHAR(128)    NOT NULL,
  state              ENUM({", ".join(f"'{s}'" for s in STATES)}) NOT NULL,
  cutoff             DATETIME(6)     NULL,
  row_count          BIGINT          NOT NULL DEFAULT 0,
  deleted_rows       BIGINT          NOT NULL DEFAULT 0,
  bytes              BIGINT          NOT NULL DEFAULT 0,
  object_keys        JSON            NOT NULL,
  partitions         JSON            NOT NULL,
  key_min            BIGINT UNSIGNED NULL,
  key_max            BIGINT UNSIGNED NULL,
  checksum           VARCHAR(80)     NULL,
  schema_fingerprint CHAR(16)        NULL,
  schema_columns     JSON            NULL,
  manifest_key       VARCHAR(512)    NULL,
  error              TEXT            NULL,
  owner_run          CHAR(32)        NULL,
  pending_keys       JSON            NULL,
  retiring_keys      JSON            NULL,
  created_at         DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at         DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  KEY ix_ledger_table_state (table_name, state),
  KEY ix_ledger_created_at (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
"""

_COLUMNS = (
    "id",
    "run_id",
    "table_name",
    "batch_name",
    "state",
    "cutoff",
    "row_count",
    "deleted_rows",
    "bytes",
    "object_keys",
    "partitions",
    "key_min",
    "key_max",
    "checksum",
    "schema_fingerprint",
    "schema_columns",
    "manifest_key",
    "error",
    "owner_run",
    "pending_keys",
    "retiring_keys",
    "created_at",
    "updated_at",
)
_JSON = {"object_keys", "partitions", "schema_columns", "pending_keys", "retiring_keys"}
# columns added after the first release: a ledger created before gets them on first use
_ADDED = {
    "owner_run": "CHAR(32) NULL",
    "pending_keys": "JSON NULL",
    "retiring_keys": "JSON NULL",
}


class LedgerOwnershipError(TierflowError):
    """The ledger entry is owned by another run now: this run lost its lock and must stop."""


@dataclass
class LedgerEntry:
    table_name: str
    batch_name: str
    state: str
    run_id: str = ""
    cutoff: datetime | None = None
    row_count: int = 0
    deleted_rows: int = 0
    bytes: int = 0
    object_keys: list[str] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)
    key_min: int | None = None
    key_max: int | None = None
    checksum: str | None = None
    schema_fingerprint: str | None = None
    schema_columns: list[Any] | None = None
    manifest_key: str | None = None
    error: str | None = None
    owner_run: str | None = None
    pending_keys: list[str] = field(default_factory=list)
    retiring_keys: list[str] = field(default_factory=list)
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in _COLUMNS}

    @property
    def number(self) -> int:
        """The entry's ledger id, which objects are named after; set once the entry is inserted."""
        if self.id is None:
            raise TierflowError(f"ledger entry {self.table_name} {self.batch_name} is not in the ledger yet")
        return self.id


class Ledger:
    """Autocommit access to the ledger; every write is its own transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        from MySQLdb.constants import CLIENT

        # FOUND_ROWS: an UPDATE reports the rows it matched, so an owner check is not fooled by an
        # update that happens to change no value
        self.conn = mysql.connect(url, autocommit=True, client_flag=CLIENT.FOUND_ROWS)
        cur = self.conn.cursor()
        # created_at / updated_at are written by MySQL's clock: in UTC, like every time tierflow keeps
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(DDL)
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() "
            "AND table_name = %s",
            (LEDGER_TABLE,),
        )
        present = {r[0].lower() for r in cur.fetchall()}
        for column, ddl in _ADDED.items():
            if column not in present:
                cur.execute(f"ALTER TABLE {LEDGER_TABLE} ADD COLUMN {column} {ddl}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ping(self):
        self.conn.ping(True) if hasattr(self.conn, "ping") else None
        return self.conn.cursor()

    def insert(self, entry: LedgerEntry) -> LedgerEntry:
        cols = [c for c in _COLUMNS if c not in {"id", "created_at", "updated_at"}]
        values = [json.dumps(getattr(entry, c)) if c in _JSON else getattr(entry, c) for c in cols]
        cur = self._ping()
        cur.execute(
            f"INSERT INTO {LEDGER_TABLE} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
            values,
        )
        entry.id = cur.lastrowid
        return entry

    def update(self, entry: LedgerEntry, **changes: Any) -> LedgerEntry:
        """Write ``changes`` to the entry, only while ``entry.owner_run`` still owns it."""
        sets = ", ".join(f"{k} = %s" for k in changes)
        values = [json.dumps(v) if k in _JSON else v for k, v in changes.items()]
        matched = self._ping().execute(
            f"UPDATE {LEDGER_TABLE} SET {sets} WHERE id = %s AND owner_run <=> %s",
            [*values, entry.id, entry.owner_run],
        )
        if matched != 1:
            raise LedgerOwnershipError(
                f"table {entry.table_name!r} ledger entry {entry.id} ({entry.batch_name}) is no longer "
                f"owned by run {entry.owner_run}: another run took it over after this one lost its "
                "MySQL lock. This run stops; the owning run finishes the batch."
            )
        for key, value in changes.items():
            setattr(entry, key, value)
        return entry

    def claim(self, entry: LedgerEntry, run_id: str) -> LedgerEntry:
        """Make ``run_id`` the owner of an unfinished entry, if its owner did not change since it
        was read. Waits for a delete transaction of the previous owner still in flight (each
        holds a shared lock on the entry's row), so the two never act at the same time."""
        previous = entry.owner_run
        matched = self._ping().execute(
            f"UPDATE {LEDGER_TABLE} SET owner_run = %s WHERE id = %s AND owner_run <=> %s",
            (run_id, entry.id, previous),
        )
        if matched != 1:
            raise LedgerOwnershipError(
                f"table {entry.table_name!r} ledger entry {entry.id} ({entry.batch_name}) changed owner "
                "while this run was taking it over; this run stops."
            )
        entry.owner_run = run_id
        return entry

    def with_loose_objects(self, table: str) -> list[LedgerEntry]:
        """Entries with objects written but not referenced yet, or no longer referenced."""
        return self._select(
            "table_name = %s AND (JSON_LENGTH(pending_keys) > 0 OR JSON_LENGTH(retiring_keys) > 0)", [table]
        )

    def referencing(self, table: str, key: str, states: tuple[str, ...]) -> list[int]:
        """Ids of the entries in ``states`` that reference object ``key`` (data or manifest)."""
        cur = self._ping()
        cur.execute(
            f"SELECT id FROM {LEDGER_TABLE} WHERE table_name = %s "
            f"AND state IN ({', '.join(['%s'] * len(states))}) "
            "AND (JSON_CONTAINS(object_keys, JSON_QUOTE(%s)) OR manifest_key = %s)",
            [table, *states, key, key],
        )
        return [int(r[0]) for r in cur.fetchall()]

    def entries(self, table: str | None = None, states: tuple[str, ...] | None = None) -> list[LedgerEntry]:
        where, params = [], []
        if table:
            where.append("table_name = %s")
            params.append(table)
        if states:
            where.append(f"state IN ({', '.join(['%s'] * len(states))})")
            params.extend(states)
        return self._select(" AND ".join(where), params)

    def _select(self, where: str, params: list[Any]) -> list[LedgerEntry]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM {LEDGER_TABLE}"
        if where:
            sql += " WHERE " + where
        cur = self._ping()
        cur.execute(sql + " ORDER BY id", params)
        out = []
        for row in cur.fetchall():
            data = dict(zip(_COLUMNS, row, strict=True))
            for c in _JSON:
                data[c] = json.loads(data[c]) if data[c] else ([] if c != "schema_columns" else None)
            out.append(LedgerEntry(**data))
        return out

    def last_schema_columns(self, table: str) -> list[list[str]] | None:
        cur = self._ping()
        cur.execute(
            f"SELECT schema_columns FROM {LEDGER_TABLE} WHERE table_name = %s "
            "AND state IN ('verified', 'deleted') AND schema_columns IS NOT NULL "
            "ORDER BY id DESC LIMIT 1",
            (table,),
        )
        row = cur.fetchone()
        return json.loads(row[0]) if row else None


def read_entries(url: str) -> list[dict[str, Any]] | None:
    """Every ledger entry as a dict (id, table_name, state, row_count, bytes, object_keys,
    partitions), read without creating or altering anything: None when the archive has not
    created the ledger. For readers outside the archive, such as the tier report."""
    with mysql.connection(url) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (mysql.database_of(url), LEDGER_TABLE),
        )
        columns = {r[0].lower() for r in cur.fetchall()}
        if not columns:
            return None
        wanted = ["id", "table_name", "state", "row_count", "bytes", "object_keys", "partitions"]
        present = [c for c in wanted if c in columns]
        cur.execute(f"SELECT {', '.join(present)} FROM {mysql.quote_ident(LEDGER_TABLE)}")
        entries = []
        for row in cur.fetchall():
            entry = dict(zip(present, row, strict=True))
            for col in ("object_keys", "partitions"):
                value = entry.get(col)
                if isinstance(value, bytes | str):
                    try:
                        value = json.loads(value)
                    except ValueError:
                        value = [value]
                entry[col] = list(value or [])
            entries.append(entry)
        return entries
