"""The archive's input guards without services: as_of in UTC, future refused, the size limit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from tierflow.archive.guards import FutureAsOfError, LargeRunError, check_as_of, check_run_sizes
from tierflow.errors import TierflowError
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy

NOW = datetime(2026, 12, 2, 19, 0, 0)


def test_as_of_forms_become_naive_utc() -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    assert check_as_of(None, now=NOW) == NOW
    assert check_as_of("", now=NOW) == NOW
    # a day is its end (the one meaning of an as_of, as the CLI's --as-of and the DAG's param)
    end_of_day = datetime(2026, 6, 30, 23, 59, 59, 999_999)
    assert check_as_of("2026-06-30", now=NOW) == end_of_day
    assert check_as_of(date(2026, 6, 30), now=NOW) == end_of_day
    assert check_as_of("2026-12-02", now=NOW) == NOW  # today has not ended: now
    assert check_as_of(datetime(2026, 6, 30, 5, 30, tzinfo=ist), now=NOW) == datetime(2026, 6, 30)
    assert check_as_of("2026-12-03T00:10:00+05:30", now=NOW) == datetime(2026, 12, 2, 18, 40)
    assert check_as_of(NOW.replace(tzinfo=UTC), now=NOW) == NOW  # now itself is not the future


def test_future_and_malformed_as_of_are_refused_with_one_clear_line() -> None:
    with pytest.raises(FutureAsOfError) as err:
        check_as_of("2099-01-01", now=NOW)
    assert str(err.value).startswith("as_of 2099-01-01 (2099-01-01 23:59:59 UTC) is later than now")
    assert "Nothing was changed" in str(err.value)
    # 19:10 in UTC, though it reads 00:40 the next day in IST: ten minutes ahead
    with pytest.raises(FutureAsOfError):
        check_as_of("2026-12-03T00:40:00+05:30", now=NOW)
    with pytest.raises(FutureAsOfError):
        check_as_of(date(2026, 12, 3), now=NOW)  # tomorrow, in UTC
    with pytest.raises(TierflowError, match="'not-a-date' is not a date"):
        check_as_of("not-a-date", now=NOW)


def test_cutoff_of_an_aware_as_of_is_its_utc_moment() -> None:
    table = load_policy(DEFAULT_POLICY).table("loan_transactions")
    ist = timezone(timedelta(hours=5, minutes=30))
    cutoff = table.cutoff(datetime(2026, 6, 30, 5, 30, tzinfo=ist))
    assert cutoff == datetime(2025, 6, 30) and cutoff.tzinfo is None
    assert table.hot_cutoff(datetime(2026, 6, 30, 5, 30, tzinfo=ist)) == datetime(2026, 6, 2)


def test_run_size_limit_names_every_table_over_it() -> None:
    check_run_sizes([("a", 50, 100), ("b", 0, 0)], 0.5, allowed=False)  # at the limit: fine
    check_run_sizes([("a", 99, 100)], 0.5, allowed=True)
    with pytest.raises(LargeRunError) as err:
        check_run_sizes([("a", 51, 100), ("b", 1, 100), ("c", 3, 3)], 0.5, allowed=False, source="t.yaml")
    text = str(err.value)
    assert "'a' would move 51 of its 100 rows (51%)" in text and "'c' would move 3 of its 3 rows" in text
    assert "'b'" not in text and "--allow-large-run" in text and "t.yaml" in text
    assert load_policy(DEFAULT_POLICY).archive.max_run_fraction == 0.5
