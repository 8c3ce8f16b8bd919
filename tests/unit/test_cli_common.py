"""`--as-of` has one meaning in every command (tierflow.cli.common.parse_as_of), and the command
context reads the settings and the policy in one place."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import typer
from tierflow.cli import app, common
from tierflow.paths import DEFAULT_POLICY
from typer.testing import CliRunner

NOW = datetime(2026, 7, 15, 10, 30, 0)
END_OF_DAY = datetime.max.time()


def test_a_day_is_its_end_in_utc() -> None:
    assert common.parse_as_of("2026-06-30", now=NOW) == datetime(2026, 6, 30, 23, 59, 59, 999_999)
    assert common.parse_as_of("20260630", now=NOW) == datetime.combine(date(2026, 6, 30), END_OF_DAY)
    assert common.parse_as_of(" 2026-06-30 ", now=NOW) == datetime.combine(date(2026, 6, 30), END_OF_DAY)


def test_today_is_now_not_a_moment_still_to_come() -> None:
    assert common.parse_as_of("2026-07-15", now=NOW) == NOW
    # the day is the UTC day: 01:00 at +05:30 on the 15th is 19:30 UTC on the 14th
    india = timezone(timedelta(hours=5, minutes=30))
    aware_now = datetime(2026, 7, 15, 1, 0, tzinfo=india)
    assert common.parse_as_of("2026-07-14", now=aware_now) == datetime(2026, 7, 14, 19, 30)
    assert common.parse_as_of("2026-07-15", now=aware_now) == datetime.combine(date(2026, 7, 15), END_OF_DAY)


def test_a_later_day_is_its_end_for_the_commands_to_refuse() -> None:
    assert common.parse_as_of("2026-07-16", now=NOW) == datetime.combine(date(2026, 7, 16), END_OF_DAY)
    assert common.parse_as_of("2026-07-16", now=NOW) > NOW


def test_a_timestamp_is_that_moment_and_an_offset_is_converted_to_utc() -> None:
    assert common.parse_as_of("2026-06-30T12:00", now=NOW) == datetime(2026, 6, 30, 12, 0)
    assert common.parse_as_of("2026-06-30 12:00:05", now=NOW) == datetime(2026, 6, 30, 12, 0, 5)
    assert common.parse_as_of("2026-06-30T05:30:00+05:30", now=NOW) == datetime(2026, 6, 30, 0, 0)
    assert common.parse_as_of("2026-06-30T23:30:00-02:00", now=NOW) == datetime(2026, 7, 1, 1, 30)
    assert common.parse_as_of("2026-06-30T00:00:00Z", now=NOW) == datetime(2026, 6, 30, 0, 0)
    assert common.parse_as_of("2026-06-30T12:00", now=NOW).tzinfo is None


def test_no_value_is_now_in_utc() -> None:
    assert common.parse_as_of(None, now=NOW) == NOW
    assert common.parse_as_of("", now=NOW) == NOW
    moment = common.parse_as_of(None)
    assert moment.tzinfo is None
    assert abs(moment - datetime.now(UTC).replace(tzinfo=None)) < timedelta(seconds=5)


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "2026-06-31", "30/06/2026", "2026-06-30T25:00"])
def test_what_is_neither_a_day_nor_a_timestamp_is_a_bad_parameter(value: str) -> None:
    with pytest.raises(typer.BadParameter, match="is not a date"):
        common.parse_as_of(value, now=NOW)


def test_since_is_the_start_of_a_day() -> None:
    assert common.parse_since("2026-06-30") == datetime(2026, 6, 30, 0, 0)
    assert common.parse_since("2026-06-30T05:30:00+05:30") == datetime(2026, 6, 30, 0, 0)
    assert common.parse_since(None) is None
    with pytest.raises(typer.BadParameter):
        common.parse_since("last week")


def test_the_archive_refuses_a_future_as_of_and_takes_today() -> None:
    """`archive plan|run` refuse a later day (its end is ahead of now) before touching a store;
    today means now, which they accept."""
    from tierflow.archive.guards import FutureAsOfError, check_as_of

    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    tomorrow = (now + timedelta(days=1)).date().isoformat()
    with pytest.raises(FutureAsOfError, match="later than now"):
        check_as_of(common.parse_as_of(tomorrow), now=now + timedelta(seconds=1))
    today = now.date().isoformat()
    assert check_as_of(common.parse_as_of(today, now=now), now=now) == now


def test_a_future_day_on_the_command_line_exits_2_before_any_store(monkeypatch: pytest.MonkeyPatch) -> None:
    # nothing listens on port 1: the guard has to refuse before the plan connects anywhere
    monkeypatch.setenv("TIERFLOW_MYSQL_URL", "mysql://root@127.0.0.1:1/nowhere")
    monkeypatch.setenv("TIERFLOW_POLICY", str(DEFAULT_POLICY))
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    result = CliRunner().invoke(app, ["archive", "plan", "--as-of", tomorrow])
    assert result.exit_code != 0
    assert "later than now" in str(result.exception), result.output


def test_a_bad_as_of_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["hot", "get", "customer", "7", "--as-of", "soon"])
    assert result.exit_code == 2
    assert "is not a date" in result.output


def test_context_reads_the_policy_option_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "tiers.yaml"
    other.write_text(DEFAULT_POLICY.read_text())
    monkeypatch.setenv("TIERFLOW_POLICY", str(DEFAULT_POLICY))
    assert common.context().settings.policy_path == DEFAULT_POLICY
    ctx = common.context(other)
    assert ctx.settings.policy_path == other
    assert ctx.policy is ctx.policy  # read once
    assert set(ctx.policy.tables) == set(common.context().policy.tables)


def test_one_console_for_results_and_one_for_errors() -> None:
    assert common.console() is common.console()
    assert common.err_console() is common.err_console()
    assert common.console() is not common.err_console()
    assert common.err_console().stderr and not common.console().stderr


def _cli_imports(path: Path) -> set[str]:
    """The tierflow.cli modules that ``path`` imports, at top level or inside a function."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "tierflow.cli":
            found |= {f"tierflow.cli.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tierflow.cli."):
            found.add(node.module or "")
        elif isinstance(node, ast.Import):
            found |= {
                a.name for a in node.names if a.name == "tierflow.cli" or a.name.startswith("tierflow.cli.")
            }
    return found


def test_groups_import_only_common_and_render_never_the_root_or_each_other() -> None:
    package = Path(common.__file__).parent
    groups = sorted(
        p for p in package.glob("*.py") if p.stem not in {"__init__", "__main__", "common", "render"}
    )
    assert {p.stem for p in groups} >= {"archive", "hot", "tiers", "warehouse", "source", "policy", "config"}
    for path in groups:
        assert _cli_imports(path) <= {"tierflow.cli.common", "tierflow.cli.render"}, path.name
    for shared in ("common", "render"):
        assert _cli_imports(package / f"{shared}.py") == set(), shared


def test_the_layout_check_sees_an_import_of_the_root(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from tierflow.cli import app, common\n    import tierflow.cli.hot\n")
    assert _cli_imports(bad) == {"tierflow.cli.app", "tierflow.cli.common", "tierflow.cli.hot"}
