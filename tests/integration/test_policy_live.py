"""The tier policy against the live MySQL schema: unknown tables and columns are named, and a bad
policy changes nothing in the database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tierflow.errors import PolicyError
from tierflow.paths import DEFAULT_POLICY, PROJECT_ROOT
from tierflow.policy import check_against_schema, load_policy
from tierflow.stores import mysql

pytestmark = pytest.mark.integration

REAL_TEXT = DEFAULT_POLICY.read_text()


def _unknown_table(raw: dict) -> None:
    raw["tables"]["loan_repayments"] = {
        "primary_key": "id",
        "time_column": "created_at",
        "warm_window_days": 365,
    }


def _unknown_column(raw: dict) -> None:
    raw["tables"]["loan_transactions"]["time_column"] = "posted_at"


LIVE_BAD = {
    "unknown_table": (_unknown_table, ["tables.loan_repayments", "unknown table"]),
    "unknown_column": (
        _unknown_column,
        ["tables.loan_transactions.time_column", "unknown column 'posted_at'", "created_at"],
    ),
}

# Everything else the issue lists: these fail before the schema is read, and must not touch it.
OFFLINE_BAD = {
    "negative_window": lambda raw: raw["tables"]["loans"].update(warm_window_days=-1),
    "hot_longer_than_warm": lambda raw: raw["tables"]["loans"].update(hot_window_days=9999),
    "unknown_key": lambda raw: raw["tables"]["loans"].update(colour="blue"),
}


def write_policy(tmp_path: Path, name: str, edit) -> Path:
    raw = yaml.safe_load(REAL_TEXT)
    edit(raw)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def snapshot(url: str) -> dict:
    """Tables, columns, row counts and checksums: any change to the database shows up here."""
    with mysql.connection(url) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT table_name, column_name, column_type FROM information_schema.columns "
            "WHERE table_schema = %s ORDER BY 1, 2",
            (mysql.database_of(url),),
        )
        columns = cur.fetchall()
        tables = sorted({t for t, _, _ in columns})
        counts = {}
        for table in tables:
            cur.execute(f"SELECT COUNT(*) FROM {mysql.quote_ident(table)}")
            counts[table] = cur.fetchone()[0]
        cur.execute("CHECKSUM TABLE " + ", ".join(mysql.quote_ident(t) for t in tables))
        checksums = cur.fetchall()
    return {"columns": columns, "counts": counts, "checksums": checksums}


def insert_a_customer(url: str) -> None:
    with mysql.connection(url, autocommit=True) as conn:
        conn.cursor().execute(
            "INSERT INTO customers (full_name, phone, email, pan, date_of_birth, city, state, "
            "created_at, updated_at) VALUES ('Asha Rao', '9876543210', 'asha@example.in', "
            "'ABCDE1234F', '1990-04-01', 'Pune', 'Maharashtra', NOW(6), NOW(6))"
        )


def run_check(url: str, policy: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT / "include"),
        "TIERFLOW_MYSQL_URL": url,
        "COLUMNS": "250",
    }
    return subprocess.run(
        [sys.executable, "-m", "tierflow.cli", "policy", "check", "--policy", str(policy)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_real_policy_matches_the_live_schema(mysql_url: str) -> None:
    check_against_schema(load_policy(DEFAULT_POLICY), mysql.columns_by_table(mysql_url))
    out = run_check(mysql_url, DEFAULT_POLICY)
    assert out.returncode == 0, out.stderr
    assert "policy OK (checked against live schema)" in out.stdout


@pytest.mark.parametrize("name", sorted(LIVE_BAD))
def test_unknown_name_gives_one_clear_error_and_changes_nothing(
    mysql_url: str, tmp_path: Path, name: str
) -> None:
    edit, expected = LIVE_BAD[name]
    insert_a_customer(mysql_url)
    before = snapshot(mysql_url)
    path = write_policy(tmp_path, name, edit)

    with pytest.raises(PolicyError) as err:
        check_against_schema(load_policy(path), mysql.columns_by_table(mysql_url))
    message = str(err.value)
    assert message.startswith(f"{path}: does not match the live schema")
    problems = [line for line in message.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1, message
    for words in expected:
        assert words in problems[0], f"{words!r} missing from: {message}"

    out = run_check(mysql_url, path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    flat = " ".join(out.stderr.split())
    for words in expected:
        assert words in flat, out.stderr
    assert snapshot(mysql_url) == before


@pytest.mark.parametrize("name", sorted(OFFLINE_BAD))
def test_invalid_policy_fails_before_reading_the_schema(mysql_url: str, tmp_path: Path, name: str) -> None:
    insert_a_customer(mysql_url)
    before = snapshot(mysql_url)
    path = write_policy(tmp_path, name, OFFLINE_BAD[name])
    out = run_check(mysql_url, path)
    assert out.returncode == 2
    assert "1 problem(s)" in out.stderr
    assert snapshot(mysql_url) == before


def test_malformed_policy_changes_nothing(mysql_url: str, tmp_path: Path) -> None:
    before = snapshot(mysql_url)
    path = tmp_path / "malformed.yaml"
    path.write_text(REAL_TEXT.replace("tables:\n", "tables:\n  - [\n", 1))
    out = run_check(mysql_url, path)
    assert out.returncode == 2
    assert "malformed YAML" in out.stderr
    assert snapshot(mysql_url) == before
