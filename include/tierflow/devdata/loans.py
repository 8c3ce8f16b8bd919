"""Loans and their EMI schedules: products, terms, approval, repayment outcomes, closing and write-off.

The schedule decides how each loan ends, so the loans table is built after it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tierflow.devdata.arrays import US_PER_DAY, add_us, money, weighted_choice
from tierflow.devdata.context import Loans, Schedule, SeedContext


def draw_loans(ctx: SeedContext) -> None:
    """Draw every customer's loans into ``ctx.loans``; their table comes from ``loans_table``."""
    rng, people = ctx.rng, ctx.customers
    n_c = ctx.scale.customers
    per_customer = rng.poisson(2.4, n_c) + 1
    cust = np.repeat(np.arange(n_c), per_customer)
    n = len(cust)
    span = (ctx.end_us - people.created[cust]).astype(np.int64)
    # Most customers borrow soon after signing up, repeat borrowers later.
    applied = add_us(people.created[cust], (rng.beta(1.0, 2.2, n) * span).astype(np.int64))
    order = np.argsort(applied, kind="stable")
    cust, applied = cust[order], applied[order]
    product, principal, rate, tenure = _terms(rng, n)
    risk = people.risk[cust]
    rejected = (rng.random(n) < 0.08 + 0.5 * risk) | ~people.verified[cust]
    approved_at, disbursed_at, status = _decisions(ctx, applied, rejected)
    ctx.loans = Loans(
        customer=cust,
        principal=principal,
        rate=rate,
        tenure=tenure,
        disbursed=status == "disbursed",
        disbursed_at=disbursed_at,
        risk=risk,
        product=product,
        status=status,
        applied=applied,
        approved_at=approved_at,
        closed_at=np.full(n, np.datetime64("NaT"), dtype="datetime64[us]"),
    )


def _terms(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Product, principal, interest rate and tenure in months of ``n`` loans."""
    product = np.array(["credit_line", "personal_loan", "bnpl"])[weighted_choice(rng, n, [25, 35, 40])]
    is_bnpl, is_pl = product == "bnpl", product == "personal_loan"
    principal = np.where(
        is_bnpl,
        rng.lognormal(8.6, 0.6, n),
        np.where(is_pl, rng.lognormal(11.0, 0.7, n), rng.lognormal(10.1, 0.6, n)),
    )
    principal = np.clip(np.round(principal / 100) * 100, 500, 1_500_000)
    rate = np.where(is_bnpl, rng.choice([0.0, 12.0, 18.0, 24.0], n), rng.uniform(14, 36, n))
    tenure = np.where(
        is_bnpl, rng.choice([3, 6], n), np.where(is_pl, rng.choice([6, 9, 12, 18, 24], n), 12)
    ).astype(np.int64)
    return product, principal, rate, tenure


def _decisions(
    ctx: SeedContext, applied: np.ndarray, rejected: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Approval and disbursal times, and the status each loan has reached by the end date."""
    rng, n = ctx.rng, len(applied)
    approve_delay = rng.integers(5 * 60_000_000, 2 * US_PER_DAY, n)
    disburse_delay = rng.integers(60_000_000, 6 * 3600 * 1_000_000, n)
    approved_at = add_us(applied, approve_delay)
    disbursed_at = add_us(approved_at, disburse_delay)
    recent = disbursed_at > ctx.end_us
    status = np.where(rejected, "rejected", "disbursed").astype("<U11")
    status[~rejected & (approved_at > ctx.end_us)] = "applied"
    status[~rejected & (approved_at <= ctx.end_us) & recent] = "approved"
    return approved_at, disbursed_at, status


def loans_table(ctx: SeedContext) -> pa.Table:
    loans = ctx.loans
    status = loans.status.astype(str)
    has_approval = np.isin(status, ["approved", "disbursed", "closed", "written_off"])
    has_disbursal = np.isin(status, ["disbursed", "closed", "written_off"])
    closed = np.isin(status, ["closed", "written_off"])
    updated = loans.applied.copy()
    updated = np.where(has_approval, loans.approved_at, updated)
    updated = np.where(has_disbursal, loans.disbursed_at, updated)
    updated = np.where(closed, loans.closed_at, updated)
    nat = np.datetime64("NaT")
    return pa.table(
        {
            "id": np.arange(1, loans.count + 1, dtype=np.uint64),
            "customer_id": (loans.customer + 1).astype(np.uint64),
            "product": loans.product,
            "principal": money(loans.principal),
            "interest_rate_pct": np.round(loans.rate, 2),
            "tenure_months": loans.tenure,
            "status": status,
            "applied_at": loans.applied,
            "approved_at": pa.array(np.where(has_approval, loans.approved_at, nat), mask=~has_approval),
            "disbursed_at": pa.array(np.where(has_disbursal, loans.disbursed_at, nat), mask=~has_disbursal),
            "closed_at": pa.array(np.where(closed, loans.closed_at, nat), mask=~closed),
            "created_at": loans.applied,
            "updated_at": updated,
        }
    )


def emi_schedules(ctx: SeedContext) -> pa.Table:
    """The EMI schedule of every disbursed loan, with what was paid; settles the loans' statuses."""
    loans = ctx.loans
    disbursed = np.flatnonzero(loans.disbursed)
    tenure = loans.tenure[disbursed]
    loan, inst, due, emi = _instalments(loans, disbursed, tenure)
    is_due = due <= ctx.end_us.astype("datetime64[D]")
    outcome, default_start, in_default = _outcomes(ctx.rng, loans, disbursed, loan, inst)
    pays, paid_at, paid_amount, partial = _payments(ctx, outcome, due, emi, is_due)
    status = _statuses(ctx.rng, is_due, pays, outcome, partial)
    created = loans.disbursed_at[loan]
    updated = np.where(
        pays, paid_at, np.where(is_due, np.maximum(due.astype("datetime64[us]"), created), created)
    )
    updated = np.minimum(updated, ctx.end_us)
    updated = np.maximum(updated, created)
    default_due = np.where(in_default & (inst == default_start), due, np.datetime64("9999-12-31"))
    _settle_loans(ctx, disbursed, tenure, status, due, paid_at, pays, default_due)
    ctx.schedule = Schedule(
        loan=loan,
        inst=inst,
        due=due,
        emi=emi,
        pays=pays,
        paid_at=paid_at,
        paid_amount=paid_amount,
        status=status,
        is_due=is_due,
    )
    nat = np.datetime64("NaT")
    return pa.table(
        {
            "id": np.arange(1, len(loan) + 1, dtype=np.uint64),
            "loan_id": (loan + 1).astype(np.uint64),
            "installment_no": inst,
            "due_date": due,
            "due_amount": emi,
            "paid_amount": paid_amount,
            "paid_at": pa.array(np.where(pays, paid_at, nat), mask=~pays),
            "status": status.astype(str),
            "created_at": created,
            "updated_at": updated,
        }
    )


def _instalments(
    loans: Loans, disbursed: np.ndarray, tenure: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One row per instalment: its loan, number, due date (monthly, day of month capped at 28) and EMI."""
    loan = np.repeat(disbursed, tenure)
    n = len(loan)
    first_idx = np.repeat(np.cumsum(tenure) - tenure, tenure)
    inst = (np.arange(n) - first_idx + 1).astype(np.int64)
    disb_day = loans.disbursed_at[loan].astype("datetime64[D]")
    disb_month = disb_day.astype("datetime64[M]")
    dom = np.minimum((disb_day - disb_month).astype(np.int64) + 1, 28)
    due = (disb_month + inst.astype("timedelta64[M]")).astype("datetime64[D]") + (dom - 1).astype(
        "timedelta64[D]"
    )
    p, r, t = loans.principal[loan], loans.rate[loan] / 1200.0, loans.tenure[loan]
    with np.errstate(divide="ignore", invalid="ignore"):
        emi = np.where(r > 0, p * r * (1 + r) ** t / ((1 + r) ** t - 1), p / t)
    return loan, inst, due, np.maximum(money(emi), 1.0)


def _outcomes(
    rng: np.random.Generator, loans: Loans, disbursed: np.ndarray, loan: np.ndarray, inst: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each instalment's outcome (0 paid, 1 partial, 2 late, 3 missed); where each loan's default begins.

    A loan that starts defaulting stays in default: once an instalment is missed, later ones are
    missed with high probability (this is what makes DPD buckets non-trivial).
    """
    n, tenure = len(loan), loans.tenure[disbursed]
    risk = loans.risk[loan]
    u = rng.random(n)
    p_miss = 0.005 + 0.1 * risk
    p_late = 0.05 + 0.9 * risk
    outcome = np.where(
        u < p_miss, 3, np.where(u < p_miss + p_late, 2, np.where(u < p_miss + p_late + 0.02, 1, 0))
    )
    default_start = np.where(
        rng.random(len(disbursed)) < np.clip(loans.risk[disbursed] * 0.5, 0, 0.9),
        rng.integers(1, np.maximum(tenure, 2)),
        10_000,
    )
    default_start = np.repeat(default_start, tenure)
    in_default = inst >= default_start
    outcome = np.where(in_default & (rng.random(n) < 0.9), 3, outcome)
    return outcome, default_start, in_default


def _payments(
    ctx: SeedContext, outcome: np.ndarray, due: np.ndarray, emi: np.ndarray, is_due: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Whether and when each instalment was paid by the end date, and how much."""
    rng, n = ctx.rng, len(due)
    late_days = np.where(outcome == 2, rng.integers(1, 75, n), 0)
    pay_offset = np.where(outcome == 2, late_days * US_PER_DAY, -rng.integers(0, 5, n) * US_PER_DAY)
    paid_at = add_us(
        due.astype("datetime64[us]"), pay_offset + rng.integers(6 * 3600_000_000, 22 * 3600_000_000, n)
    )
    paid_in_time = paid_at <= ctx.end_us
    # Payments not yet made as of the end date (late payer still late) count as unpaid.
    pays = is_due & (outcome != 3) & paid_in_time
    partial = pays & (outcome == 1)
    paid_amount = np.where(pays, np.where(partial, money(emi * rng.uniform(0.3, 0.8, n)), emi), 0.0)
    return pays, paid_at, paid_amount, partial


def _statuses(
    rng: np.random.Generator, is_due: np.ndarray, pays: np.ndarray, outcome: np.ndarray, partial: np.ndarray
) -> np.ndarray:
    status = np.full(len(pays), "scheduled", dtype="<U14")
    status[is_due & ~pays] = "missed"
    status[pays & (outcome == 0)] = "paid"
    status[pays & (outcome == 2)] = "late"
    status[partial] = "partially_paid"
    waive = (status == "missed") & (rng.random(len(pays)) < 0.01)
    status[waive] = "waived"
    return status


def _settle_loans(
    ctx: SeedContext,
    disbursed: np.ndarray,
    tenure: np.ndarray,
    status: np.ndarray,
    due: np.ndarray,
    paid_at: np.ndarray,
    pays: np.ndarray,
    default_due: np.ndarray,
) -> None:
    """Close fully repaid loans; write off defaulted loans 180 days after the default began."""
    loans = ctx.loans
    end_day = ctx.end_us.astype("datetime64[D]")
    first = np.cumsum(tenure) - tenure
    settled = np.isin(status, ["paid", "late", "waived"])
    all_settled = np.logical_and.reduceat(settled, first) if len(status) else np.array([], bool)
    last_idx = np.cumsum(tenure) - 1
    last_paid = np.maximum.reduceat(np.where(pays, paid_at, np.datetime64(0, "us")), first)
    first_missed_due = np.minimum.reduceat(default_due, first)
    written_off = (first_missed_due + np.timedelta64(180, "D")) <= end_day
    closed = all_settled & (due[last_idx] <= end_day)
    loans.status[disbursed[closed]] = "closed"
    loans.closed_at[disbursed[closed]] = np.maximum(last_paid[closed], loans.disbursed_at[disbursed[closed]])
    wo = written_off & ~closed
    loans.status[disbursed[wo]] = "written_off"
    loans.closed_at[disbursed[wo]] = (first_missed_due[wo] + np.timedelta64(180, "D")).astype(
        "datetime64[us]"
    ) + np.timedelta64(10 * 3600, "s")
