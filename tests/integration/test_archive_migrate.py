"""`tierflow archive migrate` rewrites objects of the older encoding (unsigned integers, INT64
timestamps) in today's, through write-verify-switch-retire, rows and checksums unchanged.

The old objects are made the way the old writer wrote them: the archived object rewritten in place
with BIGINT UNSIGNED columns as UINT_64 and timestamps as INT64 microseconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from tierflow.archive import run_archive
from tierflow.archive.ledger import Ledger
from tierflow.archive.migrate import migrate_encoding, old_encoding
from tierflow.archive.verify import verify_archive
from tierflow.config import Settings

from tests.integration.test_archive_run import (
    AS_OF,
    archive_rows,
    assert_union_equals,
    mysql_rows,
)

pytestmark = pytest.mark.integration

TABLE = "loan_transactions"


def _make_old(settings: Settings, key: str) -> str:
    """Replace the archived object ``key`` by the same rows as the old writer wrote them, under the
    name the archive gives those bytes, and point its ledger entry at it. Returns the new key."""
    import io

    from tierflow.archive import layout
    from tierflow.stores import mysql

    root = _root(settings)
    table = pq.read_table(root / key, coerce_int96_timestamp_unit="us")
    for i, f in enumerate(table.schema):
        if pa.types.is_int64(f.type) and pc.min(table.column(i)).as_py() >= 0:
            table = table.set_column(i, pa.field(f.name, pa.uint64()), table.column(i).cast(pa.uint64()))
    buf = io.BytesIO()
    pq.write_table(
        table, buf, compression="zstd", use_deprecated_int96_timestamps=False, coerce_timestamps="us"
    )
    with Ledger(settings.mysql_url) as ledger:
        entry = next(e for e in ledger.entries(TABLE) if key in e.object_keys)
        old_key = layout.object_key(
            mysql.database_of(settings.mysql_url), TABLE, layout.partition_of(key), entry.id, buf.getvalue()
        )
        (root / old_key).write_bytes(buf.getvalue())
        (root / key).unlink()
        ledger.update(entry, object_keys=[old_key if k == key else k for k in entry.object_keys])
    return old_key


def _root(settings: Settings) -> Path:
    return Path(settings.archive_uri.removeprefix("file://"))


def _object_keys(settings: Settings) -> list[str]:
    with Ledger(settings.mysql_url) as ledger:
        return [k for e in ledger.entries(TABLE, ("deleted",)) for k in e.object_keys]


def test_old_objects_are_rewritten_in_todays_encoding_with_the_same_rows(
    small_settings: Settings,
) -> None:
    original = mysql_rows(small_settings.mysql_url)
    summary = run_archive(small_settings, allow_large_run=True, tables=[TABLE], as_of=AS_OF, batch_rows=25)
    assert summary.ok, summary.errors()
    keys = _object_keys(small_settings)
    assert len(keys) >= 2
    before = sorted(archive_rows(small_settings))
    old = [_make_old(small_settings, key) for key in keys[:2]]
    keys = _object_keys(small_settings)
    for key in old:
        assert "id" in old_encoding((_root(small_settings) / key).read_bytes())
    assert verify_archive(small_settings, tables=[TABLE]).ok  # the archive's readers map them

    planned = migrate_encoding(small_settings, tables=[TABLE], dry_run=True)
    assert sorted(planned.old_objects) == sorted(old) and planned.rewritten == 0
    assert _object_keys(small_settings) == keys

    done = migrate_encoding(small_settings, tables=[TABLE])
    assert done.rewritten == 2
    now = _object_keys(small_settings)
    assert not set(old) & set(now) and len(now) == len(keys)
    for key in old:
        assert not (_root(small_settings) / key).exists()  # retired
    for key in now:
        assert old_encoding((_root(small_settings) / key).read_bytes()) == []
    assert sorted(archive_rows(small_settings)) == before
    assert verify_archive(small_settings, tables=[TABLE]).ok
    assert_union_equals(small_settings, original)

    again = migrate_encoding(small_settings, tables=[TABLE])
    assert again.old_objects == [] and again.rewritten == 0


def test_migrate_cli_reports_json(small_settings: Settings) -> None:
    summary = run_archive(small_settings, allow_large_run=True, tables=[TABLE], as_of=AS_OF, batch_rows=25)
    assert summary.ok, summary.errors()
    _make_old(small_settings, _object_keys(small_settings)[0])
    env = {
        **os.environ,
        "TIERFLOW_MYSQL_URL": small_settings.mysql_url,
        "TIERFLOW_ARCHIVE_URI": small_settings.archive_uri,
        "TIERFLOW_WAREHOUSE_URL": small_settings.warehouse_url,
    }
    cli = [sys.executable, "-m", "tierflow.cli", "archive", "migrate", "--table", TABLE, "--json"]
    dry = subprocess.run([*cli, "--dry-run"], env=env, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout.splitlines()[-1])["old_objects"] == 1
    real = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
    assert real.returncode == 0, real.stderr
    report = json.loads(real.stdout.splitlines()[-1])
    assert report["rewritten"] == 1 and report["dry_run"] is False
