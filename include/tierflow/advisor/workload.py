"""A synthetic analyst workload over ``raw.loan_transactions``: repeated expensive aggregate shapes
with varying literals (the ones the advisor should promote), cheap one-off lookups, and aggregates
that must not be promoted. The demo, the benchmark and the tests run it.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tierflow.paths import SQL_DIR

TABLE = "raw.loan_transactions"


@dataclass(frozen=True)
class Planted:
    name: str
    template: str  # str.format fields filled per call
    promotable: bool


PLANTED = [
    Planted(
        "collections_by_gateway",
        "SELECT gateway, count(*) AS attempts, sum(amount) AS amount FROM raw.loan_transactions "
        "WHERE status = '{status}' AND created_at >= '{start}' AND created_at < '{end}' "
        "GROUP BY gateway ORDER BY gateway",
        True,
    ),
    Planted(
        "amount_by_type",
        "SELECT txn_type, avg(amount) AS mean_amount, max(amount) AS largest "
        "FROM raw.loan_transactions WHERE gateway IN ('{gateway}', '{gateway2}') GROUP BY txn_type",
        True,
    ),
    Planted(
        "status_mix",
        "SELECT status, count(*) AS n, min(amount) AS smallest, count(installment_no) AS instalments "
        "FROM raw.loan_transactions WHERE txn_type = '{txn_type}' GROUP BY status ORDER BY status",
        True,
    ),
    Planted(
        "distinct_customers",
        "SELECT gateway, count(DISTINCT customer_id) AS customers FROM raw.loan_transactions "
        "WHERE created_at >= '{start}' AND created_at < '{end}' GROUP BY gateway",
        False,
    ),
    Planted(
        "sampled_amounts",
        "SELECT txn_type, sum(amount * random()) AS noisy FROM raw.loan_transactions "
        "WHERE status = '{status}' GROUP BY txn_type",
        False,
    ),
    Planted(
        "running_share",
        "SELECT gateway, sum(amount) AS amount, sum(sum(amount)) OVER (PARTITION BY gateway) AS running "
        "FROM raw.loan_transactions WHERE status = '{status}' GROUP BY gateway",
        False,
    ),
]
ONE_OFF = "SELECT id, amount, status FROM raw.loan_transactions WHERE id = {id}"


def values(conn: Any) -> dict[str, Any]:
    """The literal domains of the table: its statuses, gateways, types, days and ids."""

    def col(name: str) -> list[str]:
        return [r[0] for r in conn.execute(f"SELECT DISTINCT {name} FROM {TABLE} ORDER BY 1").fetchall()]  # noqa: S608

    lo, hi, max_id = conn.execute(
        f"SELECT min(created_at)::date, max(created_at)::date, max(id) FROM {TABLE}"  # noqa: S608
    ).fetchone()
    return {
        "status": col("status"),
        "gateway": col("gateway"),
        "txn_type": col("txn_type"),
        "days": (lo, hi),
        "max_id": max_id,
    }


def fill(template: str, domains: dict[str, Any], rng: random.Random) -> str:
    lo, hi = domains["days"]
    span = max(1, (hi - lo).days)
    start: date = lo + timedelta(days=rng.randrange(span))
    end = start + timedelta(days=rng.choice([7, 14, 30]))
    gateways = rng.sample(domains["gateway"], 2) if len(domains["gateway"]) > 1 else domains["gateway"] * 2
    return template.format(
        status=rng.choice(domains["status"]),
        txn_type=rng.choice(domains["txn_type"]),
        gateway=gateways[0],
        gateway2=gateways[1],
        start=start.isoformat(),
        end=end.isoformat(),
        id=rng.randint(1, domains["max_id"] or 1),
    )


def run(conn: Any, *, repeats: int = 8, one_offs: int = 40, seed: int = 17) -> list[str]:
    """Run the workload on ``conn``; returns the statements, in order."""
    rng = random.Random(seed)
    domains = values(conn)
    statements = [fill(p.template, domains, rng) for p in PLANTED for _ in range(repeats)]
    statements += [fill(ONE_OFF, domains, rng) for _ in range(one_offs)]
    rng.shuffle(statements)
    for sql in statements:
        conn.execute(sql).fetchall()
    return statements


def create_table(conn: Any, rows: int, *, days: int = 365, start: str = "2026-01-01") -> None:
    """``raw.loan_transactions`` as production creates it (sql/redshift/001_raw_schema.sql, without
    Redshift's distribution and sort keys), filled with ``rows`` synthetic transactions spread over
    ``days`` days: five types, five gateways, four statuses. For the benchmark and the tests."""
    ddl = (SQL_DIR / "redshift" / "001_raw_schema.sql").read_text()
    match = re.search(r'CREATE TABLE IF NOT EXISTS "raw"\."loan_transactions" \(.*?\n\)', ddl, re.S)
    if match is None:
        raise RuntimeError("raw.loan_transactions is missing from sql/redshift/001_raw_schema.sql")
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    conn.execute(match.group(0))
    conn.execute(
        f"""
        INSERT INTO raw.loan_transactions
        SELECT g, g % 5000, g % 3000,
               (ARRAY['disbursal', 'emi_payment', 'prepayment', 'penalty', 'refund'])[1 + g % 5],
               round((100 + (g * 7919) % 50000) / 100.0, 2), 'INR',
               CASE WHEN g % 3 = 0 THEN NULL ELSE g % 12 END,
               (ARRAY['razorpay', 'nach', 'upi_autopay', 'neft', 'payu'])[1 + (g / 7) % 5], 'ref' || g,
               (ARRAY['success', 'failed', 'initiated', 'reversed'])[1 + (g / 3) % 4], NULL, NULL,
               timestamp '{start}' + (g % {days}) * interval '1 day' + (g % 86400) * interval '1 second',
               timestamp '{start}', timestamp '{start}'
        FROM generate_series(1::bigint, {int(rows)}) g
        """  # noqa: S608
    )
    conn.execute("ANALYZE raw.loan_transactions")
