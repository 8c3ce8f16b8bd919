"""Query fingerprints: constants, spelling and engine do not change a shape's name; the shape does."""

from __future__ import annotations

import pytest
from tierflow.advisor.fingerprint import bind, fingerprint

BASE = (
    "SELECT gateway, count(*), sum(amount) FROM raw.loan_transactions "
    "WHERE status = 'success' AND created_at >= '2026-01-01' AND created_at < '2026-02-01' GROUP BY gateway"
)


def test_same_shape_with_other_literals_shares_the_fingerprint_and_keeps_each_sample() -> None:
    other = BASE.replace("'success'", "'failed'").replace("2026-01-01", "2026-03-01")
    a, b = fingerprint(BASE), fingerprint(other)
    assert a.fingerprint == b.fingerprint
    assert a.template == b.template
    assert a.literals == ("'success'", "'2026-01-01'", "'2026-02-01'")
    assert b.literals == ("'failed'", "'2026-03-01'", "'2026-02-01'")


def test_in_lists_of_any_length_are_one_shape() -> None:
    one = fingerprint("SELECT count(*) FROM raw.t WHERE gateway IN ('nach')")
    three = fingerprint("SELECT count(*) FROM raw.t WHERE gateway IN ('nach', 'neft', 'payu')")
    assert one.fingerprint == three.fingerprint
    assert bind(three.template, three.literals) == (
        "SELECT COUNT(*) FROM raw.t WHERE gateway IN ('nach', 'neft', 'payu')"
    )


def test_pg_stat_statements_parameters_match_the_literal_spelling() -> None:
    normalised = (
        "select gateway, count(*), sum(amount) from raw.loan_transactions "
        "where status = $1 and created_at >= $2 and created_at < $3 group by gateway"
    )
    fp = fingerprint(normalised)
    assert fp.fingerprint == fingerprint(BASE).fingerprint
    assert fp.literals == (None, None, None)
    # "$1,$2" without spaces (as pg_stat_statements prints an IN list typed so) parses too
    packed = fingerprint("select count(*) from raw.t where gateway in ($1,$2,$3)")
    assert packed.parsed
    assert packed.fingerprint == fingerprint("SELECT count(*) FROM raw.t WHERE gateway IN ('a')").fingerprint


@pytest.mark.parametrize(
    ("other", "why"),
    [
        (BASE.replace("sum(amount)", "max(amount)"), "another aggregate"),
        (
            BASE.replace("GROUP BY gateway", "GROUP BY gateway, status").replace(
                "SELECT gateway", "SELECT gateway, status"
            ),
            "another grain",
        ),
        (BASE.replace("created_at < ", "created_at <= "), "another operator"),
        (BASE.replace("raw.loan_transactions", "raw.communications"), "another table"),
        (BASE + " LIMIT 10", "a LIMIT"),
    ],
)
def test_a_different_shape_gets_a_different_fingerprint(other: str, why: str) -> None:
    assert fingerprint(other).fingerprint != fingerprint(BASE).fingerprint, why


@pytest.mark.parametrize(
    ("redshift", "postgres"),
    [
        (
            'SELECT "Gateway", NVL(SUM(amount), 0) FROM "RAW"."LOAN_TRANSACTIONS" WHERE status = \'success\' GROUP BY 1',
            "select gateway, coalesce(sum(amount), 0) from raw.loan_transactions where status = 'failed' group by 1",
        ),
        (
            "SELECT created_at::date, LEN(gateway), COUNT(*) FROM raw.t GROUP BY 1, 2",
            "SELECT CAST(created_at AS date), length(gateway), count(*) FROM raw.t GROUP BY 1, 2",
        ),
        ("SELECT TOP 10 id FROM raw.t WHERE amount > 5", "SELECT id FROM raw.t WHERE amount > 7 LIMIT 10"),
    ],
)
def test_redshift_and_postgres_spellings_of_one_query_match(redshift: str, postgres: str) -> None:
    assert fingerprint(redshift, "redshift").fingerprint == fingerprint(postgres, "postgres").fingerprint


def test_positions_limits_and_types_stay_in_the_shape() -> None:
    fp = fingerprint("SELECT CAST(a AS varchar(10)), count(*) FROM raw.t GROUP BY 1 ORDER BY 2 DESC LIMIT 5")
    assert fp.literals == ()
    assert "GROUP BY 1 ORDER BY 2 DESC LIMIT 5" in fp.template


def test_unparseable_text_still_gets_a_stable_fingerprint() -> None:
    a, b = fingerprint("SELEC broken ((("), fingerprint("SELEC   broken (((")
    assert not a.parsed
    assert a.fingerprint == b.fingerprint
