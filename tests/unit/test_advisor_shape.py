"""What the advisor promotes, what it refuses and why, and the model and rewrite it writes."""

from __future__ import annotations

import pytest
from tierflow.advisor import model
from tierflow.advisor.fingerprint import bind, fingerprint
from tierflow.advisor.shape import NotPromotable, analyse

TYPES = {
    "gateway": "character varying",
    "status": "character varying",
    "txn_type": "character varying",
    "customer_id": "bigint",
    "amount": "numeric",
    "created_at": "timestamp without time zone",
}
DAILY = (
    "SELECT gateway, count(*) AS n, sum(amount) AS total, avg(amount) AS mean FROM raw.loan_transactions "
    "WHERE status = 'success' AND created_at >= '2026-01-01' AND created_at < '2026-02-01' GROUP BY gateway"
)


def test_filters_join_the_grain_and_a_timestamp_range_becomes_its_day() -> None:
    shape = analyse(fingerprint(DAILY), TYPES)
    assert shape.source == "raw.loan_transactions"
    assert shape.grain == ["gateway", "status", "created_at_day"]
    assert shape.time_dimension == "created_at_day"
    assert [m.expr for m in shape.measures] == ["count(*)", "sum(amount)", "count(amount)"]
    assert shape.params == {"p0": ("status", "eq"), "p1": ("created_at", "low"), "p2": ("created_at", "high")}
    sql = bind(shape.rewrite_template.replace("{model}", "analytics.m"), fingerprint(DAILY).literals)
    assert sql == (
        "SELECT gateway, COALESCE(CAST(SUM(n_rows) AS BIGINT), 0) AS n, SUM(sum_1) AS total, "
        "SUM(sum_1) / NULLIF(SUM(count_1), 0) AS mean FROM analytics.m WHERE status = 'success' "
        "AND created_at_day >= CAST('2026-01-01' AS DATE) AND created_at_day < CAST('2026-02-01' AS DATE) "
        "GROUP BY gateway"
    )


def test_the_model_is_incremental_on_its_day_with_tests_and_a_contract() -> None:
    fp = fingerprint(DAILY)
    shape = analyse(fp, TYPES)
    sql = model.model_sql(shape, "{{ source('lms', 'loan_transactions') }}", fp.fingerprint)
    assert "materialized='incremental'" in sql
    assert "unique_key=['created_at_day']" in sql
    assert "cast(created_at as date) as created_at_day" in sql
    assert "status is not null" in sql
    assert "tierflow.in_lookback('cast(created_at as date)', 'created_at_day')" in sql
    types = {c: "bigint" for c in [*shape.grain, *(m.name for m in shape.measures)]}
    yml = model.model_yml(shape, "promoted_x", fp.fingerprint, types)
    assert "enforced: true" in yml
    assert "unique_combination" in yml
    assert "not_null" in yml


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        (
            "SELECT gateway, count(DISTINCT customer_id) FROM raw.t WHERE status = 'x' GROUP BY gateway",
            "count(distinct) across the grain",
        ),
        (
            "SELECT txn_type, sum(amount * random()) FROM raw.t WHERE status = 'x' GROUP BY 1",
            "non-deterministic",
        ),
        ("SELECT count(*) FROM raw.t WHERE created_at >= now()", "non-deterministic"),
        (
            "SELECT gateway, sum(sum(amount)) OVER (PARTITION BY gateway) FROM raw.t WHERE status = 'x' GROUP BY 1",
            "window function over the lifted dimension",
        ),
        ("SELECT gateway, count(*) FROM raw.t JOIN raw.u ON t.id = u.id GROUP BY 1", "joins"),
        ("SELECT gateway, count(*) FROM raw.t GROUP BY 1 HAVING count(*) > 5", "HAVING"),
        ("SELECT id, amount FROM raw.t WHERE id = 5", "not an aggregate"),
        ("SELECT count(*) FROM raw.t WHERE created_at <= '2026-01-01'", "half-open day range"),
        ("SELECT count(*) FROM raw.t WHERE amount * 2 > 5", "not a column compared with a constant"),
        (
            "SELECT count(*) FROM raw.t WHERE status = 'x' OR gateway = 'y'",
            "not a column compared with a constant",
        ),
    ],
)
def test_shapes_that_cannot_be_promoted_exactly_are_refused_with_the_reason(sql: str, reason: str) -> None:
    with pytest.raises(NotPromotable, match=reason.replace("(", r"\(").replace(")", r"\)")):
        analyse(fingerprint(sql), TYPES)


def test_an_existing_model_with_a_wider_grain_answers_and_its_names_are_used() -> None:
    shape = analyse(fingerprint("SELECT gateway, max(amount) FROM raw.loan_transactions GROUP BY 1"), TYPES)
    existing = [
        {
            "name": "promoted_wide",
            "source": "raw.loan_transactions",
            "grain": ["gateway", "status"],
            "measures": {"n_rows": "count(*)", "biggest": "max(amount)"},
        }
    ]
    found = model.answering_model(shape, existing)
    assert found is not None
    model.adopt_names(shape, found)
    assert "MAX(biggest)" in shape.rewrite_template
    narrower = [{**existing[0], "grain": ["status"]}]
    assert model.answering_model(shape, narrower) is None
