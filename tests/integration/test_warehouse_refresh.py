"""`tierflow warehouse refresh` end to end on the tiny dataset with the real dbt project: every mart
is published into analytics, and an unchanged rerun publishes the other slot with the same data."""

from __future__ import annotations

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
    seeded_mysql_url: str, warehouse_url: str, file_archive_uri: str
) -> None:
    settings = Settings(
        mysql_url=seeded_mysql_url,
        warehouse_url=warehouse_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
    )
    load_all(settings, full_refresh=True)
    first = build_and_publish(settings, full_refresh=True)
    assert first.slot == SLOTS[0] and set(MARTS) <= set(first.published)
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
    assert snapshot(warehouse_url) == before
