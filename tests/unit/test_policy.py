"""The tier policy: the real include/tiers.yaml validates; each bad file gives ONE clear error.

Unknown table and unknown column need the live schema: see tests/integration/test_policy_live.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml
from tierflow.errors import PolicyError
from tierflow.paths import DEFAULT_POLICY, PROJECT_ROOT
from tierflow.policy import PiiTreatment, Policy, check_against_schema, load_policy, parse_policy

REAL_TEXT = DEFAULT_POLICY.read_text()

# The tables in sql/mysql/001_lending_schema.sql, children first as the archive walks them.
SOURCE_TABLES = {
    "customers",
    "loans",
    "emi_schedules",
    "loan_transactions",
    "user_device_apps",
    "user_device_sms",
    "communications",
    "communication_events",
    "api_request_logs",
}


def mutated(edit) -> str:
    """The real policy with one edit applied to its parsed form, dumped back to YAML."""
    raw = yaml.safe_load(REAL_TEXT)
    edit(raw)
    return yaml.safe_dump(raw, sort_keys=False)


def _negative_window(raw: dict) -> None:
    raw["tables"]["api_request_logs"]["warm_window_days"] = -30


def _hot_longer_than_warm(raw: dict) -> None:
    raw["tables"]["loans"]["hot_window_days"] = 900


def _unknown_key(raw: dict) -> None:
    raw["tables"]["communications"]["retention_dayz"] = 30


def _window_bad_hour(raw: dict) -> None:
    raw["archive"]["run_window"]["end"] = "25:00"


def _window_bad_zone(raw: dict) -> None:
    raw["archive"]["run_window"]["timezone"] = "India/Mumbai"


# Malformed: an unclosed flow mapping in the middle of the file.
MALFORMED = REAL_TEXT.replace(
    "archive: {partition_by: month, retention_years: 8}",
    "archive: {partition_by: month, retention_years: 8",
    1,
)

# name -> (policy text, words the one error must contain)
BAD_POLICIES = {
    "negative_window": (
        mutated(_negative_window),
        ["tables.api_request_logs.warm_window_days", "greater than 0"],
    ),
    "hot_longer_than_warm": (
        mutated(_hot_longer_than_warm),
        ["tables.loans", "hot_window_days (900)", "warm_window_days (730)"],
    ),
    "window_bad_hour": (mutated(_window_bad_hour), ["archive.run_window.end", "pattern"]),
    "window_bad_zone": (mutated(_window_bad_zone), ["archive.run_window", "'India/Mumbai'", "IANA"]),
    "malformed_yaml": (MALFORMED, ["malformed YAML", "line "]),
    "unknown_key": (
        mutated(_unknown_key),
        ["tables.communications.retention_dayz", "unknown key"],
    ),
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def problem_lines(message: str) -> list[str]:
    return [line for line in message.splitlines() if line.startswith("  - ")]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "include"), "COLUMNS": "250", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "tierflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
    )


def test_real_policy_validates() -> None:
    policy = load_policy(DEFAULT_POLICY)
    assert isinstance(policy, Policy)
    assert set(policy.tables) == SOURCE_TABLES
    assert policy.source == str(DEFAULT_POLICY)
    assert (policy.database.soft_cap_gb, policy.database.hard_cap_gb) == (8, 16)
    assert policy.archive.format == "parquet"
    assert policy.archive.compression == "zstd"
    for table in policy.tables.values():
        assert table.name in SOURCE_TABLES
        assert table.warm_window_days > 0
        if table.hot_window_days is not None:
            assert table.hot_window_days <= table.warm_window_days
        assert table.archive.partition_by in {"day", "month"}
    assert policy.tables["customers"].archive.pii["pan"] is PiiTreatment.HASH
    assert policy.tables["customers"].archive.pii["full_name"] is PiiTreatment.DROP


def test_real_policy_lists_children_before_parents() -> None:
    """The archive walks tables in policy order, so a child must come before its parent."""
    order = list(load_policy(DEFAULT_POLICY).tables)
    parent_of = {
        "loans": "customers",
        "emi_schedules": "loans",
        "loan_transactions": "loans",
        "user_device_apps": "customers",
        "user_device_sms": "customers",
        "communications": "customers",
        "communication_events": "communications",
    }
    for child, parent in parent_of.items():
        assert order.index(child) < order.index(parent), f"{child} must be listed before {parent}"


def test_cutoffs_follow_the_windows() -> None:
    loans = load_policy(DEFAULT_POLICY).table("loans")
    as_of = date(2026, 6, 30)
    assert loans.cutoff(as_of) == datetime(2024, 6, 30)
    assert loans.hot_cutoff(as_of) == datetime(2026, 6, 2)
    assert load_policy(DEFAULT_POLICY).table("emi_schedules").hot_cutoff(as_of) is None


def test_run_window_is_the_nights_quiet_hours() -> None:
    from zoneinfo import ZoneInfo

    window = load_policy(DEFAULT_POLICY).archive.run_window
    ist = ZoneInfo("Asia/Kolkata")
    assert window is not None and window.describe() == "01:00-05:00 Asia/Kolkata"
    assert window.contains(datetime(2026, 6, 30, 2, 0, tzinfo=ist))  # the schedule
    assert window.contains(datetime(2026, 6, 29, 20, 30, tzinfo=ZoneInfo("UTC")))  # 02:00 IST
    assert not window.contains(datetime(2026, 6, 30, 5, 0, tzinfo=ist))
    assert not window.contains(datetime(2026, 6, 30, 14, 0, tzinfo=ist))


def test_run_window_across_midnight() -> None:
    from zoneinfo import ZoneInfo

    from tierflow.policy import RunWindow

    window = RunWindow(start="22:00", end="04:00", timezone="UTC")
    utc = ZoneInfo("UTC")
    assert window.contains(datetime(2026, 6, 30, 23, 0, tzinfo=utc))
    assert window.contains(datetime(2026, 6, 30, 3, 59, tzinfo=utc))
    assert not window.contains(datetime(2026, 6, 30, 12, 0, tzinfo=utc))


@pytest.mark.parametrize("name", sorted(BAD_POLICIES))
def test_bad_policy_gives_one_clear_error(tmp_path: Path, name: str) -> None:
    text, expected = BAD_POLICIES[name]
    path = write(tmp_path, name, text)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    message = str(err.value)
    assert message.startswith(f"{path}:"), "the error names the file"
    for words in expected:
        assert words in message, f"{words!r} missing from: {message}"
    if name == "malformed_yaml":
        assert "\n" not in message
    else:
        assert "1 problem(s)" in message
        assert len(problem_lines(message)) == 1, message


def test_unknown_key_at_top_level_is_an_error() -> None:
    with pytest.raises(PolicyError, match=r"archiv: unknown key"):
        parse_policy(REAL_TEXT + "\narchiv: {}\n", source="typo.yaml")


def test_policy_that_is_not_a_mapping_is_an_error() -> None:
    with pytest.raises(PolicyError, match="must be a YAML mapping"):
        parse_policy("- just\n- a list\n", source="list.yaml")


def test_missing_policy_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the tier policy"):
        load_policy(tmp_path / "nope.yaml")


def test_identifiers_are_checked_before_any_sql() -> None:
    """A table or column name that is not a plain identifier never reaches SQL."""
    raw = yaml.safe_load(REAL_TEXT)
    raw["tables"]["loans"]["time_column"] = "created_at; DROP TABLE loans"
    with pytest.raises(PolicyError, match=r"tables\.loans\.time_column"):
        parse_policy(yaml.safe_dump(raw), source="inject.yaml")


def test_check_against_schema_names_table_and_column() -> None:
    policy = load_policy(DEFAULT_POLICY)
    schema = {
        name: {"id": "bigint", "created_at": "datetime", "updated_at": "datetime", "due_date": "date"}
        for name in SOURCE_TABLES
    }
    schema["customers"].update({c: "varchar" for c in ("full_name", "phone", "email", "pan")})
    schema["customers"]["date_of_birth"] = "date"
    schema["user_device_sms"].update({"body": "varchar", "sender": "varchar"})
    schema["api_request_logs"].update({"client_ip": "varchar", "user_agent": "varchar"})
    check_against_schema(policy, schema)  # complete: no error

    del schema["user_device_sms"]["body"]
    with pytest.raises(PolicyError) as err:
        check_against_schema(policy, schema)
    assert len(problem_lines(str(err.value))) == 1
    assert "tables.user_device_sms.archive.pii.body: unknown column 'body'" in str(err.value)


def test_cli_policy_check_prints_the_effective_policy() -> None:
    out = run_cli("policy", "check", "--offline", "--policy", str(DEFAULT_POLICY))
    assert out.returncode == 0, out.stderr
    assert "policy OK" in out.stdout
    assert "loan_transactions" in out.stdout
    assert "soft 8 GB, hard 16 GB" in out.stdout


@pytest.mark.parametrize("name", sorted(BAD_POLICIES))
def test_cli_policy_check_exits_non_zero_with_the_message(tmp_path: Path, name: str) -> None:
    text, expected = BAD_POLICIES[name]
    path = write(tmp_path, name, text)
    out = run_cli("policy", "check", "--offline", "--policy", str(path))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    flat = " ".join(out.stderr.split())
    assert "error:" in flat
    for words in expected:
        assert " ".join(words.split()) in flat, f"{words!r} missing from: {out.stderr}"
    assert "policy OK" not in out.stdout
