"""Customers: fake Indian names, phones, e-mails and PANs, cities weighted by size, KYC and risk."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tierflow.devdata.arrays import US_PER_DAY, add_us, join, letters, weighted_choice
from tierflow.devdata.context import Customers, SeedContext
from tierflow.devdata.vocabulary import CITIES, EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES


def customers(ctx: SeedContext) -> pa.Table:
    """The customers table; keeps their sign-up times, KYC and risk in ``ctx.customers``."""
    rng, n = ctx.rng, ctx.scale.customers
    created = ctx.clock.times(n)
    ids = np.arange(1, n + 1, dtype=np.uint64)
    full_name, phone, email, last_i = _contacts(rng, ids)
    pan = _pan(rng, ids, last_i)
    age_days = rng.integers(21 * 365, 58 * 365, n)
    dob = created.astype("datetime64[D]") - age_days.astype("timedelta64[D]")
    city_idx = weighted_choice(rng, n, [c[2] for c in CITIES])
    city = np.array([c[0] for c in CITIES])[city_idx]
    state = np.array([c[1] for c in CITIES])[city_idx]
    kyc = np.array(["verified", "pending", "rejected", "expired"])[weighted_choice(rng, n, [85, 8, 4, 3])]
    updated = np.minimum(add_us(created, rng.integers(0, 30 * US_PER_DAY, n)), ctx.end_us)
    ctx.customers = Customers(created=created, verified=kyc == "verified", risk=rng.beta(1.2, 9.0, n))
    return pa.table(
        {
            "id": ids,
            "full_name": full_name,
            "phone": phone,
            "email": email,
            "pan": pan,
            "date_of_birth": dob,
            "city": city,
            "state": state,
            "kyc_status": kyc,
            "created_at": created,
            "updated_at": updated,
        }
    )


def _contacts(rng: np.random.Generator, ids: np.ndarray) -> tuple[pa.Array, np.ndarray, pa.Array, np.ndarray]:
    """Full names, mobile numbers and e-mail addresses; the last-name picks too, for the PAN."""
    n = len(ids)
    first_i = rng.integers(0, len(FIRST_NAMES), n)
    last_i = rng.integers(0, len(LAST_NAMES), n)
    full_name = join(FIRST_NAMES[first_i], " ", LAST_NAMES[last_i])
    phone = (rng.integers(6, 10, n) * 10**9 + rng.integers(0, 10**9, n)).astype(str)
    email = join(
        np.char.lower(FIRST_NAMES)[first_i],
        ".",
        np.char.lower(LAST_NAMES)[last_i],
        ids,
        "@",
        EMAIL_DOMAINS[weighted_choice(rng, n, [6, 2, 1, 1, 1])],
    )
    return full_name, phone, email, last_i


def _pan(rng: np.random.Generator, ids: np.ndarray, last_i: np.ndarray) -> pa.Array:
    """PAN: AAAPLnnnnC — 3 letters + 'P' (individual) + surname initial + 4 digits + check letter,
    unique by construction from the customer id."""
    seq = ids.astype(np.int64)
    initials = np.array([name[0] for name in LAST_NAMES])[last_i]
    return join(
        letters(seq // 10000, 3),
        "P",
        initials,
        np.char.zfill((seq % 10000).astype(str), 4),
        letters(rng.integers(0, 26, len(ids)), 1),
    )
