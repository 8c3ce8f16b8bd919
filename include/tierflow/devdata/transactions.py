"""The payments ledger: disbursals, EMI payments with their failed attempts, penalties, prepayments
and refunds, then gateway-side reversals and payments still in flight at the end date."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tierflow.devdata.arrays import US_PER_DAY, add_us, hex_digits, join, money, weighted_choice
from tierflow.devdata.context import Schedule, SeedContext
from tierflow.devdata.vocabulary import PAYMENT_FAILURE_REASONS

Part = dict[str, np.ndarray]


def loan_transactions(ctx: SeedContext) -> pa.Table:
    """The loan_transactions table, in time order; the EMI schedule is released as it is read."""
    rng = ctx.rng
    e = ctx.take_schedule()
    paid = np.flatnonzero(e.pays)
    parts = [
        _disbursals(ctx),
        _emi_payments(rng, e, paid),
        _failed_attempts(ctx, e),
        _penalties(e),
        _prepayments(rng, e, paid),
        _refunds(rng, e, paid),
    ]
    cols = _in_time_order(ctx, parts)
    n = len(cols["created_at"])
    created = cols["created_at"]
    status = _final_status(ctx, cols)
    failure_reason = np.where(
        status == "failed", PAYMENT_FAILURE_REASONS[weighted_choice(rng, n, [45, 12, 18, 10, 5, 10])], None
    )
    updated = np.minimum(add_us(created, rng.integers(1_000_000, 600_000_000, n)), ctx.end_us)
    updated = np.maximum(updated, created)
    gateway_ref = _gateway_refs(rng, cols["gateway"])
    meta = _metadata(rng, n)
    return pa.table(
        {
            "id": np.arange(1, n + 1, dtype=np.uint64),
            "loan_id": (cols["loan"] + 1).astype(np.uint64),
            "customer_id": (ctx.loans.customer[cols["loan"]] + 1).astype(np.uint64),
            "txn_type": cols["txn_type"].astype(str),
            "amount": cols["amount"],
            "currency": np.full(n, "INR"),
            "installment_no": pa.array(cols["inst"], mask=cols["inst"] < 0, type=pa.int32()),
            "gateway": cols["gateway"].astype(str),
            "gateway_ref": gateway_ref,
            "status": status.astype(str),
            "failure_reason": pa.array(failure_reason, type=pa.string()),
            "metadata": pa.array(meta, type=pa.string()),
            "created_at": created,
            "updated_at": updated,
        }
    )


def _part(loan, txn_type, amount, created, status, *, gateway, inst) -> Part:
    n = len(loan)
    return {
        "loan": loan,
        "txn_type": np.full(n, txn_type, dtype="<U11"),
        "amount": money(np.asarray(amount, float)),
        "created_at": created,
        "status": np.full(n, status, dtype="<U9"),
        "gateway": np.asarray(gateway, dtype="<U11"),
        "inst": np.full(n, -1, dtype=np.int64) if inst is None else inst.astype(np.int64),
    }


def _disbursals(ctx: SeedContext) -> Part:
    loans = ctx.loans
    disb = np.flatnonzero(loans.disbursed | np.isin(loans.status, ["closed", "written_off"]))
    return _part(
        disb,
        "disbursal",
        loans.principal[disb],
        loans.disbursed_at[disb],
        "success",
        gateway=np.full(len(disb), "neft"),
        inst=None,
    )


def _emi_payments(rng: np.random.Generator, e: Schedule, paid: np.ndarray) -> Part:
    autopay = rng.random(len(paid)) < 0.55
    gw = np.where(
        autopay,
        np.where(rng.random(len(paid)) < 0.6, "nach", "upi_autopay"),
        np.array(["razorpay", "cashfree", "payu", "paytm"])[weighted_choice(rng, len(paid), [5, 3, 2, 2])],
    )
    return _part(
        e.loan[paid],
        "emi_payment",
        e.paid_amount[paid],
        e.paid_at[paid],
        "success",
        gateway=gw,
        inst=e.inst[paid],
    )


def _failed_attempts(ctx: SeedContext, e: Schedule) -> Part:
    """Each EMI payment may follow failed attempts (insufficient funds, mandate failures...)."""
    rng = ctx.rng
    risk = ctx.loans.risk[e.loan]
    attempts = np.where(e.is_due, rng.poisson(0.1 + 1.2 * risk), 0)
    attempts = np.where(e.is_due & ~e.pays, np.maximum(attempts, 1), attempts)
    fail_idx = np.repeat(np.arange(len(attempts)), attempts)
    k = np.arange(len(fail_idx)) - np.repeat(np.cumsum(attempts) - attempts, attempts)
    fail_at = add_us(
        e.due[fail_idx].astype("datetime64[us]"),
        k * 2 * US_PER_DAY + rng.integers(9 * 3600_000_000, 20 * 3600_000_000, len(fail_idx)),
    )
    ok = fail_at <= ctx.end_us
    fail_idx, fail_at = fail_idx[ok], fail_at[ok]
    gw_f = np.array(["nach", "upi_autopay", "razorpay", "cashfree", "payu"])[
        weighted_choice(rng, len(fail_idx), [4, 3, 2, 1, 1])
    ]
    return _part(
        e.loan[fail_idx],
        "emi_payment",
        e.emi[fail_idx],
        fail_at,
        "failed",
        gateway=gw_f,
        inst=e.inst[fail_idx],
    )


def _penalties(e: Schedule) -> Part:
    """Late payments draw a penalty."""
    late = np.flatnonzero(e.status == "late")
    return _part(
        e.loan[late],
        "penalty",
        np.maximum(money(e.emi[late] * 0.02), 50.0) + 0.0,
        add_us(e.paid_at[late], 60_000_000),
        "success",
        gateway=np.full(len(late), "razorpay"),
        inst=e.inst[late],
    )


def _prepayments(rng: np.random.Generator, e: Schedule, paid: np.ndarray) -> Part:
    pre = paid[rng.random(len(paid)) < 0.015]
    return _part(
        e.loan[pre],
        "prepayment",
        money(e.emi[pre] * rng.uniform(1, 3, len(pre))),
        add_us(e.paid_at[pre], rng.integers(US_PER_DAY, 10 * US_PER_DAY, len(pre))),
        "success",
        gateway=np.full(len(pre), "razorpay"),
        inst=None,
    )


def _refunds(rng: np.random.Generator, e: Schedule, paid: np.ndarray) -> Part:
    """A few refunds for over-collection."""
    ref = paid[rng.random(len(paid)) < 0.004]
    return _part(
        e.loan[ref],
        "refund",
        money(e.paid_amount[ref] * rng.uniform(0.05, 0.5, len(ref))) + 0.01,
        add_us(e.paid_at[ref], rng.integers(2 * US_PER_DAY, 15 * US_PER_DAY, len(ref))),
        "success",
        gateway=np.full(len(ref), "neft"),
        inst=None,
    )


def _in_time_order(ctx: SeedContext, parts: list[Part]) -> Part:
    """The parts as one ledger: what happened by the end date, sorted by time (stable)."""
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    happened = cols["created_at"] <= ctx.end_us
    cols = {k: v[happened] for k, v in cols.items()}
    order = np.argsort(cols["created_at"], kind="stable")
    return {k: v[order] for k, v in cols.items()}


def _final_status(ctx: SeedContext, cols: Part) -> np.ndarray:
    """Gateway-side reversals, and payments stuck 'initiated' in the last days."""
    rng, created = ctx.rng, cols["created_at"]
    n = len(created)
    status = cols["status"].astype("<U9")
    rev = (status == "success") & (cols["txn_type"] == "emi_payment") & (rng.random(n) < 0.003)
    status[rev] = "reversed"
    stuck = (created > ctx.end_us - np.timedelta64(2, "D")) & (rng.random(n) < 0.05)
    status[stuck] = "initiated"
    return status


def _gateway_refs(rng: np.random.Generator, gateway: np.ndarray) -> pa.Array:
    ref_hex = rng.integers(0, 2**62, len(gateway), dtype=np.int64)
    prefix = np.select(
        [
            gateway == "razorpay",
            gateway == "cashfree",
            gateway == "payu",
            gateway == "paytm",
            gateway == "nach",
            gateway == "upi_autopay",
        ],
        ["pay_", "cf_", "payu_", "ptm_", "NACH", "UPI"],
        "UTR",
    )
    return join(prefix.astype(str), np.char.upper(hex_digits(ref_hex, 15)))


def _metadata(rng: np.random.Generator, n: int) -> np.ndarray:
    has_meta = rng.random(n) < 0.3
    attempt = np.array(
        [
            '{"channel":"app","attempt":1}',
            '{"channel":"app","attempt":2}',
            '{"channel":"app","attempt":3}',
        ]
    )[rng.integers(0, 3, n)]
    return np.where(has_meta, attempt, None)  # type: ignore[call-overload]  # None: an object array
