"""The dbt project end to end on the local warehouse: `dbt build --target local` over a small
hand-made `raw` schema, mart numbers checked against values worked out by hand, then an incremental
run with late and updated rows, the dashboards' SQL, and `dbt docs generate`.

Three dbt invocations in all (each costs seconds on the 2-core box), shared by the tests below
through one module-scoped warehouse.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from decimal import Decimal

import pytest
from tierflow.paths import PROJECT_ROOT
from tierflow.stores import warehouse
from tierflow.urls import parse

from tests.integration.test_dbt_redshift_sql import for_postgres

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DBT_DIR = PROJECT_ROOT / "dbt"
TARGET = DBT_DIR / "target" / "tests"
DASHBOARDS = PROJECT_ROOT / "sql" / "dashboards"
PG_SERVER = os.environ.get("TIERFLOW_TEST_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")

# raw exactly as production creates it (sql/redshift/001_raw_schema.sql, minus dist/sort keys):
# MySQL names and portable types plus _loaded_at, the contract with `tierflow warehouse load`.
RAW_DDL = for_postgres((PROJECT_ROOT / "sql" / "redshift" / "001_raw_schema.sql").read_text())

CUSTOMERS = [
    # id, phone, email, pan, dob, city, state, kyc
    (1, "9876543210", "asha@example.in", "ABCDE1234F", "1990-05-01", "Pune", "Maharashtra", "verified"),
    (2, "9123456780", "ravi@example.in", "BCDEF2345G", "2004-01-01", "Bengaluru", "Karnataka", "pending"),
    (3, "8123456789", "mani@example.in", "CDEFG3456H", "1960-01-01", "Chennai", "Tamil Nadu", "verified"),
]
LOANS = [
    # id, customer, product, principal, status, disbursed_at, closed_at
    (1, 1, "personal_loan", "12000", "disbursed", "2026-01-10 11:00:00", None),
    (2, 2, "bnpl", "3000", "disbursed", "2026-05-20 09:30:00", None),
    (3, 3, "personal_loan", "50000", "disbursed", "2025-12-05 15:00:00", None),
    (4, 1, "credit_line", "5000", "closed", "2026-02-01 10:00:00", "2026-04-15 12:00:00"),
    (5, 2, "personal_loan", "8000", "rejected", None, None),
]
# id, loan, no, due_date, due, paid, paid_at, status
EMIS = [
    *[
        (10 + n, 1, n, f"2026-{n + 1:02d}-10", "2100", p, pa, s)
        for n, p, pa, s in [
            (1, "2100", "2026-02-10 08:00:00", "paid"),
            (2, "2100", "2026-03-10 08:00:00", "paid"),
            (3, "2100", "2026-04-10 08:00:00", "paid"),
            (4, "0", None, "missed"),
            (5, "0", None, "missed"),
            (6, "0", None, "scheduled"),
        ]
    ],
    (21, 2, 1, "2026-06-20", "1050", "1050", "2026-06-20 10:00:00", "paid"),
    (22, 2, 2, "2026-07-20", "1050", "0", None, "scheduled"),
    (23, 2, 3, "2026-08-20", "1050", "0", None, "scheduled"),
    *[
        (30 + n, 3, n, f"2026-{n:02d}-05", "8000", "0", None, "missed" if n < 7 else "scheduled")
        for n in range(1, 8)
    ],
    (41, 4, 1, "2026-03-01", "2600", "2600", "2026-03-01 09:00:00", "paid"),
    (42, 4, 2, "2026-04-01", "2600", "2600", "2026-04-14 18:00:00", "late"),
]
# id, loan, customer, type, amount, gateway, status, created_at
TXNS = [
    (101, 1, 1, "emi_payment", "2100", "razorpay", "success", "2026-02-10 08:00:00"),
    (102, 1, 1, "emi_payment", "2100", "razorpay", "success", "2026-03-10 08:00:00"),
    (103, 1, 1, "emi_payment", "2100", "razorpay", "success", "2026-04-10 08:00:00"),
    (104, 1, 1, "emi_payment", "2100", "razorpay", "failed", "2026-05-10 08:00:00"),
    (105, 1, 1, "emi_payment", "2100", "nach", "failed", "2026-06-10 06:00:00"),
    (106, 2, 2, "disbursal", "3000", "neft", "success", "2026-05-20 09:30:00"),
    (107, 2, 2, "emi_payment", "1050", "upi_autopay", "success", "2026-06-20 10:00:00"),
    (108, 4, 1, "emi_payment", "2600", "nach", "success", "2026-03-01 09:00:00"),
    (109, 4, 1, "emi_payment", "2600", "nach", "failed", "2026-04-01 06:00:00"),
    (110, 4, 1, "emi_payment", "2600", "nach", "success", "2026-04-14 18:00:00"),
    (111, 4, 1, "prepayment", "100", "nach", "success", "2026-04-14 18:05:00"),
    (112, 1, 1, "emi_payment", "2100", "razorpay", "initiated", "2026-06-30 20:00:00"),
]
APPS = [
    # id, customer, package, category, created_at
    (1, 1, "com.phonepe.app", "finance", "2026-01-05 10:00:00"),
    (2, 1, "com.google.android.apps.nbu.paisa.user", "finance", "2026-01-05 10:00:00"),
    (3, 1, "com.pubg.imobile", "gaming", "2026-01-05 10:00:00"),
    (4, 1, "com.whatsapp", "social", "2026-01-05 10:00:00"),
    (5, 1, "in.amazon.mShop.android.shopping", "shopping", "2026-01-05 10:00:00"),
    (6, 1, "com.phonepe.app", "finance", "2026-06-01 10:00:00"),  # re-scan: same app, counts once
    (7, 2, "com.microsoft.office.outlook", "productivity", "2026-05-18 10:00:00"),
]
COMMS = [
    # id, customer, campaign, channel, created_at, events
    (1, 1, "emi_reminder", "sms", "2026-06-28 09:00:00", ["sent", "delivered", "clicked"]),
    (2, 2, "emi_reminder", "sms", "2026-06-28 09:00:00", ["sent", "delivered"]),
    (3, 3, "emi_reminder", "sms", "2026-06-28 09:00:00", ["sent", "bounced"]),
    (4, 1, "monsoon_offer", "email", "2026-06-29 18:00:00", ["sent", "delivered", "opened", "clicked"]),
    (5, 2, "emi_reminder", "sms", "2026-06-20 09:00:00", ["sent", "delivered"]),
]
AS_OF = "2026-06-30"


def _fill_raw(conn) -> None:
    cur = conn.cursor()
    cur.execute(RAW_DDL)
    for cid, phone, email, pan, dob, city, state, kyc in CUSTOMERS:
        cur.execute(
            "insert into raw.customers values (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " '2025-11-01', '2025-11-01', now())",
            (cid, f"Customer {cid}", phone, email, pan, dob, city, state, kyc),
        )
    for lid, cust, product, principal, status, disbursed, closed in LOANS:
        cur.execute(
            "insert into raw.loans values (%s, %s, %s, %s, 18.5, 6, %s, '2025-11-15',"
            " %s, %s, %s, '2025-11-15', coalesce(%s, %s, '2025-11-15')::timestamp, now())",
            (lid, cust, product, principal, status, disbursed, disbursed, closed, closed, disbursed),
        )
    for eid, loan, no, due, amount, paid, paid_at, status in EMIS:
        cur.execute(
            "insert into raw.emi_schedules values (%s, %s, %s, %s, %s, %s, %s, %s,"
            " '2025-12-01', coalesce(%s::timestamp, '2025-12-01'), now())",
            (eid, loan, no, due, amount, paid, paid_at, status, paid_at),
        )
    for tid, loan, cust, ttype, amount, gateway, status, created in TXNS:
        _insert_txn(cur, tid, loan, cust, ttype, amount, gateway, status, created, created)
    for aid, cust, package, category, created in APPS:
        cur.execute(
            "insert into raw.user_device_apps values (%s, %s, %s, %s, %s, null, %s, now())",
            (aid, cust, package, package.split(".")[-1], category, created),
        )
    for cid, cust, campaign, channel, created, events in COMMS:
        cur.execute(
            "insert into raw.communications values (%s, %s, %s, %s, 'tpl_1', 'sent', %s, %s, now())",
            (cid, cust, campaign, channel, created, created),
        )
        for n, event in enumerate(events):
            cur.execute(
                "insert into raw.communication_events values (%s, %s, %s, null,"
                " %s::timestamp + %s * interval '1 hour', now())",
                (cid * 10 + n, cid, event, created, n),
            )
    conn.commit()


def _insert_txn(cur, tid, loan, cust, ttype, amount, gateway, status, created, updated) -> None:
    cur.execute(
        "insert into raw.loan_transactions values (%s, %s, %s, %s, %s, 'INR', null, %s, %s, %s, %s,"
        " null, %s, %s, now())",
        (
            tid,
            loan,
            cust,
            ttype,
            amount,
            gateway,
            f"ref{tid}",
            status,
            "insufficient_funds" if status == "failed" else None,
            created,
            updated,
        ),
    )


def run_dbt(url: str, *args: str, as_of: str = AS_OF) -> None:
    """`dbt <args>` in this process (dbtRunner: no second interpreter start-up on a busy box)."""
    from dbt.cli.main import dbtRunner

    u = parse(url)
    env = {
        "DBT_PROFILES_DIR": str(DBT_DIR),
        "TIERFLOW_DBT_HOST": u.host or "127.0.0.1",
        "TIERFLOW_DBT_PORT": str(u.port or 5432),
        "TIERFLOW_DBT_USER": u.user or "postgres",
        "TIERFLOW_DBT_DBNAME": u.database,
        # A fresh database per module, so the marts go straight to the published name the
        # dashboards read.
        "TIERFLOW_DBT_SCHEMA": "analytics",
        "TIERFLOW_DBT_THREADS": "2",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        result = dbtRunner().invoke(
            [
                *args,
                "--project-dir",
                str(DBT_DIR),
                "--target",
                "local",
                "--vars",
                f"{{as_of_date: '{as_of}'}}",
                "--target-path",
                str(TARGET / u.database),
                "--log-path",
                str(TARGET / u.database),
            ]
        )
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    failed = []
    for node in getattr(result.result, "results", None) or []:
        if str(node.status) not in {"success", "pass", "warn", "skipped"}:
            failed.append(f"{node.node.unique_id}: {node.status} {node.message}")
    assert result.success, f"dbt {args[0]} failed: {result.exception or ''}\n" + "\n".join(failed)


def rows(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with warehouse.connection(url) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def built_warehouse() -> Iterator[str]:
    """A warehouse database with the fixture `raw` rows and one full `dbt build` done."""
    name = f"tfwh_dbt_{os.getpid()}"
    url = f"{PG_SERVER}/{name}"
    warehouse.ensure_database(url)
    try:
        with warehouse.connection(url) as conn:
            _fill_raw(conn)
        run_dbt(url, "build", "--full-refresh")
        yield url
    finally:
        with warehouse.connection(url, database="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(TARGET / name, ignore_errors=True)


def test_build_is_green_and_marts_exist(built_warehouse: str) -> None:
    tables = {
        r[0]
        for r in rows(
            built_warehouse,
            "select table_name from information_schema.tables where table_schema = 'analytics'",
        )
    }
    assert {
        "fct_daily_disbursements",
        "fct_daily_collections",
        "fct_loan_delinquency_daily",
        "fct_portfolio_at_risk_daily",
        "dim_customers",
        "fct_customer_app_profile",
        "fct_campaign_funnel_daily",
        "rpt_portfolio_at_risk",
        "rpt_daily_collections",
    } <= tables


def test_disbursements_per_day_and_product(built_warehouse: str) -> None:
    got = rows(
        built_warehouse,
        "select disbursement_day::text, product, disbursement_count, disbursement_amount"
        " from analytics.fct_daily_disbursements order by 1, 2",
    )
    # The rejected loan 5 was never disbursed; closed loan 4 still counts on its disbursal day.
    assert got == [
        ("2025-12-05", "personal_loan", 1, Decimal("50000.00")),
        ("2026-01-10", "personal_loan", 1, Decimal("12000.00")),
        ("2026-02-01", "credit_line", 1, Decimal("5000.00")),
        ("2026-05-20", "bnpl", 1, Decimal("3000.00")),
    ]


def test_collections_count_attempts_and_successful_amounts(built_warehouse: str) -> None:
    got = {
        (r[0], r[1]): r[2:]
        for r in rows(
            built_warehouse,
            "select collection_day::text, gateway, attempted_count, succeeded_count, failed_count,"
            " pending_count, amount_collected, success_rate from analytics.fct_daily_collections",
        )
    }
    # The disbursal (neft, 05-20) is money going out, not a collection.
    assert ("2026-05-20", "neft") not in got
    assert got[("2026-04-14", "nach")] == (2, 2, 0, 0, Decimal("2700.00"), Decimal("1.0000"))
    assert got[("2026-04-01", "nach")] == (1, 0, 1, 0, Decimal("0.00"), Decimal("0.0000"))
    assert got[("2026-06-30", "razorpay")] == (1, 0, 0, 1, Decimal("0.00"), Decimal("0.0000"))
    assert len(got) == 10


def test_delinquency_days_past_due_and_buckets(built_warehouse: str) -> None:
    def dpd(day: str) -> dict[int, tuple]:
        return {
            r[0]: r[1:]
            for r in rows(
                built_warehouse,
                "select loan_id, days_past_due, dpd_bucket, is_npa, outstanding_amount"
                " from analytics.fct_loan_delinquency_daily where report_day = %s",
                (day,),
            )
        }

    # 06-30: loan 1 missed 05-10 and 06-10 (oldest sets DPD = 51); loan 3 missed since 01-05.
    assert dpd("2026-06-30") == {
        1: (51, "31-60", False, Decimal("6300.00")),
        2: (0, "current", False, Decimal("2100.00")),
        3: (176, "90+", True, Decimal("56000.00")),
    }
    # Loan 4's 04-01 instalment was paid late on 04-14: 12 DPD on 04-13; that payment cleared the
    # schedule, so from 04-14 nothing is outstanding and the loan is off the book.
    assert dpd("2026-04-13")[4] == (12, "1-30", False, Decimal("2600.00"))
    assert 4 not in dpd("2026-04-14")
    # Outside the 90-day window only month-ends are kept.
    days = rows(
        built_warehouse,
        "select min(report_day)::text, count(distinct report_day),"
        " count(distinct report_day) filter (where report_day < '2026-04-02')"
        " from analytics.fct_loan_delinquency_daily",
    )
    assert days == [("2025-12-31", 94, 4)]


def test_portfolio_at_risk_by_product(built_warehouse: str) -> None:
    got = rows(
        built_warehouse,
        "select product, active_loans, gross_outstanding, par30_ratio, par60_ratio, par90_ratio,"
        " npa_ratio, npa_loan_ratio from analytics.fct_portfolio_at_risk_daily"
        " where report_day = '2026-06-30' order by product",
    )
    # personal_loan: 6300 (51 DPD) + 56000 (176 DPD) = 62300; PAR60 = PAR90 = NPA = 56000 / 62300.
    assert got == [
        ("bnpl", 1, Decimal("2100.00"), 0, 0, 0, 0, 0),
        (
            "personal_loan",
            2,
            Decimal("62300.00"),
            Decimal("1.0000"),
            Decimal("0.8989"),
            Decimal("0.8989"),
            Decimal("0.8989"),
            Decimal("0.5000"),
        ),
    ]


def test_customers_are_masked_and_banded(built_warehouse: str) -> None:
    got = rows(
        built_warehouse,
        "select customer_id, phone_hash, pan_hash, age_band, city, state, kyc_status"
        " from analytics.dim_customers order by 1",
    )
    assert [r[3:] for r in got] == [
        ("31-40", "Pune", "Maharashtra", "verified"),
        ("21-25", "Bengaluru", "Karnataka", "pending"),
        ("61+", "Chennai", "Tamil Nadu", "verified"),
    ]
    # Hex SHA-256 of salt + value: the digest the archive writes, so hashed PANs join across tiers.
    salt = os.environ.get("TIERFLOW_PII_SALT", "tierflow")
    assert got[0][1] == hashlib.sha256(f"{salt}9876543210".encode()).hexdigest()
    assert got[0][2] == hashlib.sha256(f"{salt}ABCDE1234F".encode()).hexdigest()
    readable = {c[1] for c in CUSTOMERS} | {c[3] for c in CUSTOMERS}
    assert not readable & {v for r in got for v in r[1:3]}
    columns = {
        r[0]
        for r in rows(
            built_warehouse,
            "select column_name from information_schema.columns"
            " where table_schema = 'analytics' and table_name = 'dim_customers'",
        )
    }
    assert not columns & {"phone", "email", "pan", "full_name", "date_of_birth"}


def test_app_profile_and_campaign_funnel(built_warehouse: str) -> None:
    apps = rows(
        built_warehouse,
        "select customer_id, total_apps, finance_apps, gaming_apps, social_apps,"
        " other_apps, last_seen_at::text from analytics.fct_customer_app_profile order by 1",
    )
    assert apps == [(1, 5, 2, 1, 1, 1, "2026-06-01 10:00:00"), (2, 1, 0, 0, 0, 1, "2026-05-18 10:00:00")]
    funnel = rows(
        built_warehouse,
        "select send_day::text, campaign_code, sent, delivered, opened, clicked, bounced,"
        " delivery_rate, open_rate, click_rate, click_to_open_rate"
        " from analytics.fct_campaign_funnel_daily order by 1, 2",
    )
    assert funnel == [
        ("2026-06-20", "emi_reminder", 1, 1, 0, 0, 0, Decimal("1.0000"), 0, 0, None),
        ("2026-06-28", "emi_reminder", 3, 2, 0, 1, 1, Decimal("0.6667"), 0, Decimal("0.5000"), None),
        ("2026-06-29", "monsoon_offer", 1, 1, 1, 1, 0, 1, 1, 1, 1),
    ]


@pytest.mark.parametrize(
    "query", sorted(DASHBOARDS.glob("*/*.sql")), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_dashboard_queries_run_on_the_published_schema(built_warehouse: str, query) -> None:
    with warehouse.connection(built_warehouse) as conn:
        cur = conn.execute(query.read_text())
        result = cur.fetchall()
        assert cur.description, f"{query.name} returns no columns"
    assert result, f"{query} returned no rows on the fixture data"


def test_late_and_updated_rows_reach_the_marts_incrementally(built_warehouse: str) -> None:
    """Runs last: a second, incremental build one day later, with late, updated and new rows."""
    url = built_warehouse
    loan3_days = "select report_day::text from analytics.fct_loan_delinquency_daily where loan_id = 3"
    assert ("2026-06-30",) in rows(url, loan3_days)  # on the book before its closure is known
    with warehouse.connection(url) as conn:
        cur = conn.cursor()
        # Learnt late: loan 3 was closed on 06-29 (a settlement booked after the fact).
        cur.execute(
            "update raw.loans set status = 'closed', closed_at = '2026-06-29 12:00',"
            " updated_at = '2026-07-01 10:00', _loaded_at = now() where id = 3"
        )
        # Gateway callback: yesterday's pending attempt succeeded (updated, same created_at).
        cur.execute(
            "update raw.loan_transactions set status = 'success', updated_at = '2026-07-01 08:00',"
            " _loaded_at = now() where id = 112"
        )
        # Late arrival inside the lookback, and the new day.
        _insert_txn(
            cur,
            113,
            2,
            2,
            "emi_payment",
            "500",
            "cashfree",
            "success",
            "2026-06-29 14:00:00",
            "2026-06-29 14:00:00",
        )
        _insert_txn(
            cur,
            114,
            2,
            2,
            "prepayment",
            "1050",
            "upi_autopay",
            "success",
            "2026-07-01 11:00:00",
            "2026-07-01 11:00:00",
        )
        cur.execute(
            "insert into raw.loans values (6, 3, 'bnpl', 4000, 18.5, 3, 'disbursed', '2026-06-28',"
            " '2026-06-28', '2026-06-29 10:00', null, '2026-06-28', '2026-06-29 10:00', now())"
        )
        # Loan 1 pays its 06-10 instalment on 07-01; the 05-10 one is still unpaid.
        cur.execute(
            "update raw.emi_schedules set paid_amount = 2100, paid_at = '2026-07-01 09:00',"
            " status = 'late', updated_at = '2026-07-01 09:00', _loaded_at = now() where id = 15"
        )
        # A click 11 days after the send (06-20 is before the lookback of the funnel's send days).
        cur.execute(
            "insert into raw.communication_events values (99, 5, 'clicked', null, '2026-07-01 12:00', now())"
        )
        cur.execute(
            "insert into raw.user_device_apps values (8, 2, 'com.dream11', 'dream11', 'gaming', null,"
            " '2026-07-01 10:00', now())"
        )
        conn.commit()

    run_dbt(url, "build", as_of="2026-07-01")

    collections = {
        (r[0], r[1]): r[2:]
        for r in rows(
            url,
            "select collection_day::text, gateway, attempted_count, succeeded_count, pending_count,"
            " amount_collected from analytics.fct_daily_collections",
        )
    }
    assert collections[("2026-06-30", "razorpay")] == (1, 1, 0, Decimal("2100.00"))
    assert collections[("2026-06-29", "cashfree")] == (1, 1, 0, Decimal("500.00"))
    assert collections[("2026-07-01", "upi_autopay")] == (1, 1, 0, Decimal("1050.00"))
    assert collections[("2026-02-10", "razorpay")] == (1, 1, 0, Decimal("2100.00"))  # history kept
    assert len(collections) == 12

    assert ("2026-06-29", "bnpl", 1, Decimal("4000.00")) in rows(
        url,
        "select disbursement_day::text, product, disbursement_count, disbursement_amount"
        " from analytics.fct_daily_disbursements",
    )
    loan1 = rows(
        url,
        "select report_day::text, days_past_due, outstanding_amount from analytics.fct_loan_delinquency_daily"
        " where loan_id = 1 and report_day >= '2026-06-30' order by 1",
    )
    assert loan1 == [("2026-06-30", 51, Decimal("6300.00")), ("2026-07-01", 52, Decimal("4200.00"))]
    # The window moved a day: 04-02 (not a month-end) left the fact, 03-31 (a month-end) stayed.
    kept = {
        r[0] for r in rows(url, "select distinct report_day::text from analytics.fct_loan_delinquency_daily")
    }
    assert "2026-04-02" not in kept and {"2026-03-31", "2026-04-03", "2026-07-01"} <= kept

    par = rows(
        url,
        "select product, active_loans from analytics.fct_portfolio_at_risk_daily"
        " where report_day = '2026-07-01' order by 1",
    )
    # Loan 6 has no instalment schedule yet, so nothing outstanding: not on the book; loan 3 left
    # the book on 06-29, and its rows from that day on left the fact (whole days are rebuilt).
    assert par == [("bnpl", 1), ("personal_loan", 1)]
    assert not [d for (d,) in rows(url, loan3_days) if d >= "2026-06-29"]
    assert ("2026-06-28",) in rows(url, loan3_days)
    assert rows(
        url,
        "select clicked, click_rate from analytics.fct_campaign_funnel_daily where send_day = '2026-06-20'",
    ) == [(1, Decimal("1.0000"))]
    assert rows(
        url, "select total_apps, gaming_apps from analytics.fct_customer_app_profile where customer_id = 2"
    ) == [(2, 1)]

    run_dbt(url, "docs", "generate", as_of="2026-07-01")
    catalog = TARGET / parse(url).database / "catalog.json"
    assert "model.tierflow.fct_portfolio_at_risk_daily" in catalog.read_text()
