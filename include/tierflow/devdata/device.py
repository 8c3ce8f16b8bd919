"""Device data captured at sign-up and at every loan application: installed apps and inbox SMS."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tierflow.devdata.arrays import US_PER_DAY, add_us, weighted_choice
from tierflow.devdata.context import SeedContext
from tierflow.devdata.vocabulary import APPS, BANKS, OTHER_SENDERS, UPI_HANDLES


def _captures(ctx: SeedContext) -> tuple[np.ndarray, np.ndarray]:
    """Device snapshots (customer, time): at signup and at every loan application."""
    if ctx.captures is None:
        cust = np.concatenate([np.arange(ctx.scale.customers), ctx.loans.customer])
        at = np.concatenate([ctx.customers.created, ctx.loans.applied])
        at = np.minimum(add_us(at, ctx.rng.integers(0, 600_000_000, len(at))), ctx.end_us)
        ctx.captures = (cust, at)
    return ctx.captures


def _per_capture(ctx: SeedContext, low: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    """``low`` to ``high - 1`` rows per snapshot: each row's customer and capture time, in time order."""
    cust, at = _captures(ctx)
    k = ctx.rng.integers(low, high, len(cust))
    c = np.repeat(cust, k)
    created = np.repeat(at, k)
    order = np.argsort(created, kind="stable")
    return c[order], created[order]


def user_device_apps(ctx: SeedContext) -> pa.Table:
    rng = ctx.rng
    c, created = _per_capture(ctx, 2, 7)
    n = len(c)
    # Heavier borrowers carry more finance apps; gamers skew risky.
    cat_weights = np.array(
        [3 if a[2] == "finance" else 2 if a[2] in ("social", "shopping") else 1 for a in APPS], float
    )
    app = weighted_choice(rng, n, cat_weights)
    risky = ctx.customers.risk[c] > 0.2
    app = np.where(risky & (rng.random(n) < 0.3), rng.integers(13, 20, n), app)
    pkg = np.array([a[0] for a in APPS])[app]
    name = np.array([a[1] for a in APPS])[app]
    cat = np.array([a[2] for a in APPS])[app]
    installed = add_us(created, -rng.integers(US_PER_DAY, 700 * US_PER_DAY, n))
    has_inst = rng.random(n) < 0.9
    return pa.table(
        {
            "id": np.arange(1, n + 1, dtype=np.uint64),
            "customer_id": (c + 1).astype(np.uint64),
            "package_name": pkg,
            "app_name": name,
            "category": cat,
            "installed_at": pa.array(installed, mask=~has_inst),
            "created_at": created,
        }
    )


def user_device_sms(ctx: SeedContext) -> pa.Table:
    rng = ctx.rng
    c, created = _per_capture(ctx, 1, 5)
    n = len(c)
    sms_at = add_us(created, -rng.integers(60_000_000, 45 * US_PER_DAY, n))
    bank = rng.random(n) < 0.6
    b = rng.integers(0, len(BANKS), n)
    sender = np.where(
        bank,
        np.array([x[0] for x in BANKS])[b],
        np.array(OTHER_SENDERS)[rng.integers(0, len(OTHER_SENDERS), n)],
    )
    amount = np.round(rng.lognormal(7.5, 1.2, n), 2)
    bal = np.round(rng.lognormal(9.5, 1.3, n), 2)
    acct = rng.integers(1000, 9999, n)
    day = np.datetime_as_string(sms_at, unit="D")
    fmt = rng.integers(0, 5, n)
    otp = rng.integers(100000, 999999, n)
    bodies = [
        _bank_sms(fmt[i], BANKS[b[i]][1], amount[i], bal[i], acct[i], day[i], otp[i])
        if bank[i]
        else _other_sms(fmt[i], amount[i], otp[i])
        for i in range(n)
    ]
    return pa.table(
        {
            "id": np.arange(1, n + 1, dtype=np.uint64),
            "customer_id": (c + 1).astype(np.uint64),
            "sender": sender,
            "body": np.array(bodies),
            "is_bank_sms": bank.astype(np.int8),
            "sms_at": sms_at,
            "created_at": created,
        }
    )


def _other_sms(fmt, amount, otp) -> str:
    if fmt < 2:
        return f"{otp} is your OTP for login. Valid for 10 minutes. Do not share it with anyone."
    return f"Flat {int(amount) % 60 + 10}% off on your next order! Use code SAVE{otp % 1000}. T&C apply."


def _bank_sms(fmt, bank_name, amount, balance, acct, day, otp) -> str:
    """A bank's SMS in one of five formats: UPI debit or credit, NACH debit or bounce, card spend."""
    a, bl, bn, ac = f"{amount:,.2f}", f"{balance:,.2f}", bank_name, acct
    dd = f"{day[8:10]}-{day[5:7]}-{day[2:4]}"
    vpa = UPI_HANDLES[otp % 6]
    if fmt == 0:
        return f"Rs.{a} debited from A/c XX{ac} on {dd} to VPA {vpa}. Avl Bal Rs.{bl}. Not you? Call 18002586161 -{bn}"
    if fmt == 1:
        return f"Your A/c XXXXXXXX{ac} is credited by Rs.{a} on {dd} by a/c linked to VPA {vpa} (UPI Ref no {otp}{ac}). -{bn}"
    if fmt == 2:
        return f"{bn} Acct XX{ac} debited for Rs {a} on {dd}; NACH mandate EMI credited. Avl Bal: Rs {bl}"
    if fmt == 3:
        return f"Dear Customer, your A/c XX{ac} has insufficient balance. NACH debit of Rs.{a} returned on {dd}. Charges may apply. -{bn}"
    return f"INR {a} spent on {bn} Credit Card XX{ac} at AMAZON on {dd}. Avl Limit: INR {bl}"
