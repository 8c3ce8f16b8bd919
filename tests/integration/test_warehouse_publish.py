"""Atomic publish against real PostgreSQL and real dbt, on a two-model project written here (so the
test pins the publish mechanics, independent of how the marts in dbt/ evolve)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tierflow.config import Settings
from tierflow.stores import warehouse
from tierflow.warehouse.dbt import DbtFailed
from tierflow.warehouse.publish import SLOTS, build_and_publish

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROJECT = {
    "dbt_project.yml": """
name: tfmini
version: "1.0.0"
config-version: 2
profile: tierflow
models:
  tfmini:
    staging: {+schema: staging, +materialized: view}
""",
    "macros/generate_schema_name.sql": """
{% macro generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}{{ target.schema | trim }}
  {%- else -%}{{ target.schema | trim }}_{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
""",
    "models/staging/stg_payments.sql": "select id, day, amount from raw.payments",
    "models/fct_payments_daily.sql": """
{{ config(materialized='incremental', unique_key='day', incremental_strategy='delete+insert') }}
select day, count(*) as payments, sum(amount) as amount_total
from {{ ref('stg_payments') }}
{% if is_incremental() %} where day >= (select max(day) - 1 from {{ this }}) {% endif %}
group by day
""",
    "tests/assert_amount_total_not_negative.sql": """
select * from {{ ref('fct_payments_daily') }} where amount_total < 0
""",
}


@pytest.fixture
def mini_project(tmp_path: Path) -> Path:
    for rel, text in PROJECT.items():
        path = tmp_path / "project" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip())
    return tmp_path / "project"


def published(url: str) -> list[tuple]:
    with warehouse.connection(url) as conn:
        return conn.execute(
            "SELECT day::text, payments, amount_total FROM analytics.fct_payments_daily ORDER BY day"
        ).fetchall()


def pay(url: str, *rows: tuple[int, str, float]) -> None:
    with warehouse.connection(url) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
        conn.execute("CREATE TABLE IF NOT EXISTS raw.payments (id int primary key, day date, amount numeric)")
        for row in rows:
            conn.execute("INSERT INTO raw.payments VALUES (%s, %s, %s)", row)
        conn.commit()


def test_build_publishes_atomically_and_a_failing_test_leaves_analytics_as_before(
    warehouse_url: str, mini_project: Path
) -> None:
    settings = Settings(warehouse_url=warehouse_url)
    pay(warehouse_url, (1, "2026-06-01", 100), (2, "2026-06-02", 50))

    first = build_and_publish(settings, full_refresh=True, project_dir=mini_project)
    assert first.slot == SLOTS[0]
    assert "fct_payments_daily" in first.published
    assert published(warehouse_url) == [("2026-06-01", 1, 100), ("2026-06-02", 1, 50)]
    # The idle slot was primed with the incremental mart, so its first build is incremental.
    assert f"{SLOTS[1]}.fct_payments_daily" in first.primed

    pay(warehouse_url, (3, "2026-06-03", 70), (4, "2026-06-02", 5))  # a late row inside the lookback
    second = build_and_publish(settings, project_dir=mini_project)
    assert second.slot == SLOTS[1]
    good = [("2026-06-01", 1, 100), ("2026-06-02", 2, 55), ("2026-06-03", 1, 70)]
    assert published(warehouse_url) == good

    pay(warehouse_url, (5, "2026-06-04", -500))
    with pytest.raises(DbtFailed) as err:
        build_and_publish(settings, project_dir=mini_project)
    assert "assert_amount_total_not_negative" in str(err.value)
    assert published(warehouse_url) == good
    with warehouse.connection(warehouse_url) as conn:
        view = conn.execute(
            "SELECT view_definition FROM information_schema.views "
            "WHERE table_schema = 'analytics' AND table_name = 'fct_payments_daily'"
        ).fetchone()[0]
    assert SLOTS[1] in view


WINDOWED = {
    "dbt_project.yml": """
name: tfwin
version: "1.0.0"
config-version: 2
profile: tierflow
models:
  tfwin:
    staging: {+schema: staging, +materialized: view}
data_tests:
  tfwin:
    staging:
      +meta: {test_window: loaded}
""",
    "models/staging/stg_payments.sql": "select id, day, amount, _loaded_at from raw.win_payments",
    "models/staging/_models.yml": """
version: 2
models:
  - name: stg_payments
    columns:
      - name: amount
        data_tests: [not_null]
""",
}


def test_an_incremental_build_tests_the_rows_loaded_since_the_last_passing_build(
    warehouse_url: str, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from tierflow.paths import DBT_DIR

    project = tmp_path / "win"
    for rel, text in WINDOWED.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text.lstrip())
    for macro in ("generate_schema_name.sql", "test_window.sql"):
        (project / "macros").mkdir(exist_ok=True)
        (project / "macros" / macro).write_text((DBT_DIR / "macros" / macro).read_text())
    settings = Settings(warehouse_url=warehouse_url)

    def load(*rows: tuple[int, float | None, datetime]) -> None:
        with warehouse.connection(warehouse_url) as conn:
            conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS raw.win_payments "
                "(id int primary key, day date, amount numeric, _loaded_at timestamp)"
            )
            for pk, amount, at in rows:
                conn.execute(
                    "INSERT INTO raw.win_payments VALUES (%s, '2026-06-01', %s, %s)", (pk, amount, at)
                )
            conn.commit()

    now = datetime.now(UTC).replace(tzinfo=None)
    load((1, 10.0, now - timedelta(days=2)))
    first = build_and_publish(settings, full_refresh=True, project_dir=project)
    assert first.tests_loaded_since is None  # a full refresh tests every row

    # a bad row loaded after that build started: the next incremental build tests it and fails
    load((2, None, datetime.now(UTC).replace(tzinfo=None)))
    with pytest.raises(DbtFailed, match="not_null_stg_payments_amount"):
        build_and_publish(settings, project_dir=project)

    # the failed build recorded nothing: the window still starts at the first build
    with warehouse.connection(warehouse_url) as conn:
        conn.execute("UPDATE raw.win_payments SET amount = 1 WHERE id = 2")
        conn.commit()
    second = build_and_publish(settings, project_dir=project)
    assert second.tests_loaded_since is not None
    since = datetime.fromisoformat(second.tests_loaded_since)
    assert now - timedelta(days=2) < since <= datetime.now(UTC).replace(tzinfo=None)

    # a row stamped before the last passing build is outside the incremental window (its batch
    # was tested then); a full refresh still tests it
    load((3, None, since - timedelta(hours=1)))
    assert build_and_publish(settings, project_dir=project).tests_loaded_since is not None
    with pytest.raises(DbtFailed, match="not_null_stg_payments_amount"):
        build_and_publish(settings, full_refresh=True, project_dir=project)


def test_an_incremental_build_gates_the_delinquency_days_it_rewrote(warehouse_url: str) -> None:
    """The mart suite of fct_loan_delinquency_daily names report_day as its incremental window:
    after an incremental build only the lookback days are checked (through a scratch table that
    is dropped afterwards); a full refresh checks every day."""
    from tierflow.quality import QualityGateError
    from tierflow.warehouse.gates import check_mart

    with warehouse.connection(warehouse_url) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS gate_slot")
        conn.execute(
            "CREATE TABLE gate_slot.fct_loan_delinquency_daily (report_day date, loan_id bigint, "
            "product varchar, days_past_due int, dpd_bucket varchar, overdue_amount numeric, "
            "outstanding_amount numeric, PRIMARY KEY (report_day, loan_id))"
        )
        for day, bucket in (("2026-05-31", "bogus"), ("2026-06-27", "current"), ("2026-06-30", "1-30")):
            conn.execute(
                "INSERT INTO gate_slot.fct_loan_delinquency_daily VALUES (%s, 1, 'bnpl', 5, %s, 10, 100)",
                (day, bucket),
            )
        conn.commit()

    # the bad month-end is older than the lookback: an incremental build does not recheck it
    assert check_mart(warehouse_url, "gate_slot", "fct_loan_delinquency_daily", lookback_days=3) == (
        "\"report_day\" >= '2026-06-27'"
    )
    with pytest.raises(QualityGateError, match="expect_column_values_to_be_in_set") as full:
        check_mart(warehouse_url, "gate_slot", "fct_loan_delinquency_daily")
    assert "bogus" in str(full.value)

    with warehouse.connection(warehouse_url) as conn:
        conn.execute(
            "INSERT INTO gate_slot.fct_loan_delinquency_daily VALUES ('2026-06-30', 2, 'bnpl', -4, 'current', 0, 9)"
        )
        conn.commit()
    with pytest.raises(QualityGateError, match="expect_column_values_to_be_between") as recent:
        check_mart(warehouse_url, "gate_slot", "fct_loan_delinquency_daily", lookback_days=3)
    assert "where \"report_day\" >= '2026-06-27'" in str(recent.value)
    with warehouse.connection(warehouse_url) as conn:
        left = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'gate_slot'"
        ).fetchall()
    assert left == [("fct_loan_delinquency_daily",)]  # the scratch table is gone
