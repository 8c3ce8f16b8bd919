"""`tierflow warehouse refresh` end to end on the tiny dataset with the real dbt project: every mart
is published into analytics, and an unchanged rerun publishes the other slot with the same data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY
from tierflow.stores import mysql, warehouse
from tierflow.warehouse.load import load_all
from tierflow.warehouse.publish import SLOTS, build_and_publish

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MARTS = [
    "fct_daily_disbursements",
    "fct_daily_collections",
    "fct_loan_delinquency_daily",
    "fct_portfolio_at_risk_daily",
    "dim_customers",
    "fct_customer_app_profile",
    "fct_campaign_funnel_daily",
]


@pytest.fixture
def refresh_settings(seeded_mysql_url: str, warehouse_url: str, file_archive_uri: str) -> Settings:
    return Settings(
        mysql_url=seeded_mysql_url,
        warehouse_url=warehouse_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
    )


def snapshot(url: str) -> dict[str, tuple]:
    with warehouse.connection(url) as conn:
        return {
            m: conn.execute(
                f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM analytics.{m} t"
            ).fetchone()
            for m in MARTS
        }


@pytest.mark.timeout(900)
def test_refresh_publishes_every_mart_and_a_rerun_is_stable(
    seeded_mysql_url: str, warehouse_url: str, refresh_settings: Settings
) -> None:
    settings = refresh_settings
    load_all(settings)
    first = build_and_publish(settings)  # the first build: every table is new, nothing is narrowed
    assert first.slot == SLOTS[0] and set(MARTS) <= set(first.published)
    assert first.changed_since is None and first.tests_loaded_since is None
    before = snapshot(warehouse_url)
    assert all(count > 0 for count, _ in before.values())
    with mysql.connection(seeded_mysql_url) as conn:
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM customers")
        (customers,) = cur.fetchone()
    assert before["dim_customers"][0] == customers

    load_all(settings)
    second = build_and_publish(settings)
    assert second.slot == SLOTS[1]
    # the first build copied every incremental table into this slot, so it is recorded there too
    assert second.changed_since == second.tests_loaded_since is not None
    assert snapshot(warehouse_url) == before


def delinquency(url: str) -> list[tuple]:
    with warehouse.connection(url) as conn:
        return conn.execute(
            "SELECT report_day, loan_id, days_past_due, overdue_installments, overdue_amount, "
            "outstanding_amount, customer_id, product, dpd_bucket, is_npa, is_month_end "
            "FROM analytics.fct_loan_delinquency_daily ORDER BY report_day, loan_id"
        ).fetchall()


@pytest.mark.timeout(1200)
def test_an_incremental_build_rebuilds_changed_loans_and_matches_a_full_refresh(
    seeded_mysql_url: str, warehouse_url: str, refresh_settings: Settings
) -> None:
    """After a full refresh, a late payment and a late closure inside the lookback days plus a new
    day of activity: the incremental build (which rebuilds only the changed loans on the days
    already built) publishes exactly what a full refresh of the same data publishes, and the closed
    loan's rows from its closing day on are gone."""
    settings = refresh_settings
    load_all(settings, full_refresh=True)
    build_and_publish(settings, full_refresh=True)
    before = delinquency(warehouse_url)
    newest = max(r[0] for r in before)
    on_newest = [r for r in before if r[0] == newest]
    overdue = sorted(r[1] for r in on_newest if r[3] > 0)  # overdue instalments on the newest day
    changed_at = f"{newest + timedelta(days=1)} 09:00:00"
    with mysql.connection(seeded_mysql_url) as conn:
        cur = conn.cursor()
        # a loan whose oldest unsettled instalment has no payment at all is paid, late, the day
        # before the newest day (so only days from then on change: history stays as it was)
        for paid_loan in overdue:
            cur.execute(
                "SELECT id, paid_at FROM emi_schedules WHERE loan_id = %s "
                "AND status NOT IN ('paid', 'late', 'waived') AND due_date < %s ORDER BY due_date LIMIT 1",
                (paid_loan, newest),
            )
            emi_id, paid_at = cur.fetchone()
            if paid_at is None:
                break
        else:
            pytest.fail("no overdue loan with an unpaid instalment in the tiny dataset")
        cur.execute(
            "UPDATE emi_schedules SET status = 'late', paid_amount = due_amount, paid_at = %s, updated_at = %s "
            "WHERE id = %s",
            (f"{newest - timedelta(days=1)} 12:00:00", changed_at, emi_id),
        )
        assert cur.rowcount == 1
        # another loan turns out to have closed two days before the newest day
        closed_loan = next(r[1] for r in on_newest if r[1] != paid_loan)
        cur.execute(
            "UPDATE loans SET status = 'closed', closed_at = %s, updated_at = %s WHERE id = %s",
            (f"{newest - timedelta(days=2)} 12:00:00", changed_at, closed_loan),
        )
        assert cur.rowcount == 1
        # and a new day of activity moves the as-of day on
        cur.execute(
            "INSERT INTO loan_transactions (loan_id, customer_id, txn_type, amount, currency, installment_no, "
            "gateway, gateway_ref, status, failure_reason, metadata, created_at, updated_at) "
            "SELECT loan_id, customer_id, txn_type, amount, currency, installment_no, gateway, "
            "CONCAT('late-', gateway_ref), status, failure_reason, metadata, %s, %s "
            "FROM loan_transactions ORDER BY created_at DESC LIMIT 5",
            (changed_at, changed_at),
        )
        conn.commit()

    load_all(settings)
    incremental = build_and_publish(settings)
    assert incremental.changed_since is not None  # the scoped rebuild ran, not the whole lookback
    after = delinquency(warehouse_url)
    assert max(r[0] for r in after) == newest + timedelta(days=1)
    closing = newest - timedelta(days=2)
    assert not [r for r in after if r[1] == closed_loan and r[0] >= closing]
    assert [r for r in before if r[1] == closed_loan and r[0] >= closing]
    paid_before = {r[0]: r[2] for r in before if r[1] == paid_loan}  # days past due
    paid_after = {r[0]: r[2] for r in after if r[1] == paid_loan}
    assert newest not in paid_after or paid_after[newest] < paid_before[newest]

    build_and_publish(settings, full_refresh=True)
    assert delinquency(warehouse_url) == after
