"""Deterministic fake lending data: years of customers, loans, EMIs, payments, device data and campaigns.

Everything is generated column-wise with numpy from one seed, written as CSV by Arrow and bulk
loaded with ``LOAD DATA LOCAL INFILE`` while the next table is being generated. All PII is fake.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from queue import Queue

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tierflow.errors import TierflowError
from tierflow.stores import mysql

US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class Scale:
    customers: int
    api_logs_per_customer: float
    campaigns_per_month: int
    campaign_reach: float


# `medium` is sized for about 3M loan_transactions over 3 years.
SCALES: dict[str, Scale] = {
    "tiny": Scale(customers=400, api_logs_per_customer=20, campaigns_per_month=2, campaign_reach=0.3),
    "small": Scale(customers=8_000, api_logs_per_customer=20, campaigns_per_month=3, campaign_reach=0.2),
    "medium": Scale(customers=155_000, api_logs_per_customer=15, campaigns_per_month=3, campaign_reach=0.08),
    "large": Scale(customers=620_000, api_logs_per_customer=15, campaigns_per_month=3, campaign_reach=0.03),
}

FIRST_NAMES = np.array(
    "Aarav Vivaan Aditya Vihaan Arjun Sai Reyansh Ayaan Krishna Ishaan Rohan Rahul Amit Suresh Ramesh "
    "Vikram Anil Sunil Rajesh Manoj Deepak Sanjay Karan Nikhil Pranav Harsh Yash Ankit Gaurav Varun "
    "Aadhya Ananya Diya Saanvi Pari Anika Navya Myra Sara Priya Neha Pooja Sneha Kavya Riya Meera "
    "Lakshmi Divya Shruti Swati Anjali Nisha Asha Sunita Geeta Rekha Fatima Ayesha Zoya Simran".split()
)
LAST_NAMES = np.array(
    "Sharma Verma Gupta Singh Kumar Patel Shah Mehta Reddy Rao Nair Menon Iyer Pillai Das Ghosh Bose "
    "Mukherjee Chatterjee Banerjee Yadav Jain Agarwal Bansal Mishra Pandey Tiwari Dubey Joshi Kulkarni "
    "Deshpande Patil Pawar Jadhav Naidu Choudhary Khan Ansari Siddiqui Fernandes DSouza Gill Sandhu".split()
)
CITIES = [
    ("Mumbai", "Maharashtra", 10),
    ("Pune", "Maharashtra", 5),
    ("Nagpur", "Maharashtra", 2),
    ("Delhi", "Delhi", 10),
    ("Gurugram", "Haryana", 4),
    ("Noida", "Uttar Pradesh", 4),
    ("Lucknow", "Uttar Pradesh", 3),
    ("Kanpur", "Uttar Pradesh", 2),
    ("Bengaluru", "Karnataka", 9),
    ("Mysuru", "Karnataka", 1),
    ("Chennai", "Tamil Nadu", 6),
    ("Coimbatore", "Tamil Nadu", 2),
    ("Hyderabad", "Telangana", 7),
    ("Kolkata", "West Bengal", 6),
    ("Ahmedabad", "Gujarat", 5),
    ("Surat", "Gujarat", 3),
    ("Jaipur", "Rajasthan", 4),
    ("Indore", "Madhya Pradesh", 3),
    ("Bhopal", "Madhya Pradesh", 2),
    ("Patna", "Bihar", 3),
    ("Kochi", "Kerala", 2),
    ("Thiruvananthapuram", "Kerala", 1),
    ("Chandigarh", "Chandigarh", 2),
    ("Bhubaneswar", "Odisha", 2),
    ("Guwahati", "Assam", 1),
]
APPS = [  # (package, name, category)
    ("com.phonepe.app", "PhonePe", "finance"),
    ("net.one97.paytm", "Paytm", "finance"),
    ("com.google.android.apps.nbu.paisa.user", "Google Pay", "finance"),
    ("com.snapwork.hdfc", "HDFC Bank", "finance"),
    ("com.sbi.lotusintouch", "YONO SBI", "finance"),
    ("com.csam.icici.bank.imobile", "iMobile Pay", "finance"),
    ("com.axis.mobile", "Axis Mobile", "finance"),
    ("com.kotak.mobile.banking", "Kotak Bank", "finance"),
    ("com.cred.club", "CRED", "finance"),
    ("com.zerodha.kite3", "Kite", "finance"),
    ("com.groww", "Groww", "finance"),
    ("com.dreamplug.androidapp", "Slice", "finance"),
    ("com.lenden.club", "LenDenClub", "finance"),
    ("com.pubg.imobile", "BGMI", "gaming"),
    ("com.dts.freefireth", "Free Fire", "gaming"),
    ("com.dream11.fantasy", "Dream11", "gaming"),
    ("com.mpl.androidapp", "MPL", "gaming"),
    ("com.ludo.king", "Ludo King", "gaming"),
    ("com.supercell.clashofclans", "Clash of Clans", "gaming"),
    ("com.rummycircle", "RummyCircle", "gaming"),
    ("com.whatsapp", "WhatsApp", "social"),
    ("com.instagram.android", "Instagram", "social"),
    ("com.facebook.katana", "Facebook", "social"),
    ("com.snapchat.android", "Snapchat", "social"),
    ("com.sharechat.app", "ShareChat", "social"),
    ("in.mohalla.moj", "Moj", "social"),
    ("org.telegram.messenger", "Telegram", "social"),
    ("com.twitter.android", "X", "social"),
    ("in.amazon.mShop.android.shopping", "Amazon", "shopping"),
    ("com.flipkart.android", "Flipkart", "shopping"),
    ("com.myntra.android", "Myntra", "shopping"),
    ("com.meesho.supply", "Meesho", "shopping"),
    ("com.application.zomato", "Zomato", "shopping"),
    ("in.swiggy.android", "Swiggy", "shopping"),
    ("com.jio.media.jiobeats", "JioSaavn", "entertainment"),
    ("com.netflix.mediaclient", "Netflix", "entertainment"),
    ("in.startv.hotstar", "Hotstar", "entertainment"),
    ("com.google.android.youtube", "YouTube", "entertainment"),
    ("com.spotify.music", "Spotify", "entertainment"),
    ("com.microsoft.office.outlook", "Outlook", "productivity"),
    ("com.google.android.gm", "Gmail", "productivity"),
    ("com.truecaller", "Truecaller", "productivity"),
    ("in.gov.uidai.maadhaarplus", "mAadhaar", "productivity"),
    ("com.digilocker.android", "DigiLocker", "productivity"),
    ("com.olacabs.customer", "Ola", "other"),
    ("com.ubercab", "Uber", "other"),
    ("com.rapido.passenger", "Rapido", "other"),
    ("com.makemytrip", "MakeMyTrip", "other"),
    ("in.irctc.railconnect", "IRCTC", "other"),
]
BANKS = [  # (sender, short name)
    ("VM-HDFCBK", "HDFC Bank"),
    ("AD-SBIINB", "SBI"),
    ("JD-ICICIB", "ICICI Bank"),
    ("VK-AXISBK", "Axis Bank"),
    ("BZ-KOTAKB", "Kotak Bank"),
    ("AX-PNBSMS", "PNB"),
    ("VM-BOBTXN", "Bank of Baroda"),
    ("JM-IDFCFB", "IDFC FIRST"),
]
OTHER_SENDERS = ["AD-SWIGGY", "VM-AMAZON", "JD-FLPKRT", "AX-JIOINF", "VK-AIRTEL", "BZ-ZOMATO", "JM-OLACAB"]
API_PATHS = [
    ("GET", "/v2/customers/{id}/profile", 0.16),
    ("GET", "/v2/loans/{id}", 0.14),
    ("POST", "/v2/auth/otp", 0.09),
    ("POST", "/v2/auth/verify", 0.08),
    ("GET", "/v2/offers", 0.12),
    ("POST", "/v2/loans/apply", 0.04),
    ("POST", "/v2/payments/initiate", 0.06),
    ("GET", "/v2/payments/{id}/status", 0.08),
    ("POST", "/v2/device/apps", 0.05),
    ("POST", "/v2/device/sms", 0.05),
    ("PUT", "/v2/customers/{id}/kyc", 0.03),
    ("PATCH", "/v2/customers/{id}/address", 0.02),
    ("GET", "/v2/emis/{id}/schedule", 0.07),
    ("DELETE", "/v2/sessions/{id}", 0.01),
]
USER_AGENTS = [
    "okhttp/4.12.0 StashApp/7.4.1 (Android 14)",
    "okhttp/4.12.0 StashApp/7.3.0 (Android 13)",
    "okhttp/4.9.3 StashApp/6.9.2 (Android 11)",
    "StashApp/7.4.0 (iPhone; iOS 17.5)",
    "Mozilla/5.0 (Linux; Android 12) Chrome/126.0 Mobile",
    "Mozilla/5.0 (Windows NT 10.0) Chrome/127.0",
]
CAMPAIGN_THEMES = [
    "EMI_REMINDER",
    "LIMIT_UPGRADE",
    "FESTIVE_OFFER",
    "REACTIVATION",
    "KYC_NUDGE",
    "BNPL_CASHBACK",
]


@dataclass
class TableLoad:
    table: str
    rows: int
    seconds: float
    index_seconds: float = 0.0  # of ``seconds``: building the deferred secondary indexes


@dataclass
class SeedReport:
    database: str
    scale: str
    start: date
    end: date
    loads: list[TableLoad] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.loads)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def render(self) -> str:
        lines = [f"seeded {self.database} ({self.scale}, {self.start} .. {self.end}):"]
        for t in self.loads:
            rate = t.rows / t.seconds if t.seconds else 0.0
            lines.append(
                f"  {t.table:22} {t.rows:>11,} rows  {t.seconds:7.2f} s load "
                f"(indexes {t.index_seconds:6.2f} s)  {rate:>11,.0f} rows/s"
            )
        lines.append(
            f"total {self.rows:,} rows in {self.seconds:.1f} s = {self.rows_per_second:,.0f} rows/s overall"
        )
        return "\n".join(lines)


class _Clock:
    """Microsecond timestamps over the seeded period, with growth, seasonality and weekly rhythm."""

    def __init__(self, start: date, end: date, rng: np.random.Generator, growth_per_year: float = 0.6):
        self.start = np.datetime64(start, "D")
        self.days = (end - start).days + 1
        self.rng = rng
        d = np.arange(self.days)
        dates = self.start + d
        month = (dates.astype("datetime64[M]").astype(int) % 12) + 1
        weekday = (dates.astype(int) + 3) % 7  # 0 = Monday
        # Festive season (Navratri/Diwali: Oct-Nov) and year-end sales lift demand; monsoon dips.
        season = np.select(
            [np.isin(month, [10, 11]), month == 12, np.isin(month, [6, 7])], [1.45, 1.15, 0.9], 1.0
        )
        week = np.where(weekday >= 5, 0.8, 1.0)
        growth = np.exp(growth_per_year * d / 365.0)
        self.weights = growth * season * week
        self.cdf = np.cumsum(self.weights) / self.weights.sum()

    def day_index(self, n: int) -> np.ndarray:
        return np.searchsorted(self.cdf, self.rng.random(n))

    def times(self, n: int) -> np.ndarray:
        """``n`` sorted timestamps drawn from the activity curve (datetime64[us])."""
        day = np.sort(self.day_index(n))
        return self.at(day, self.intraday(n))

    def intraday(self, n: int) -> np.ndarray:
        # Activity peaks in the evening (IST); a beta-shaped day in microseconds.
        return (self.rng.beta(2.6, 1.8, n) * (US_PER_DAY - 1)).astype(np.int64)

    def at(self, day: np.ndarray, offset_us: np.ndarray) -> np.ndarray:
        base = (self.start + day.astype("timedelta64[D]")).astype("datetime64[us]")
        return base + offset_us.astype("timedelta64[us]")

    @property
    def end_us(self) -> np.datetime64:
        return (self.start + np.timedelta64(self.days, "D")).astype("datetime64[us]") - np.timedelta64(
            1, "us"
        )


def _weighted_choice(rng: np.random.Generator, n: int, weights) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return np.searchsorted(np.cumsum(w) / w.sum(), rng.random(n))


def _add_us(ts: np.ndarray, us) -> np.ndarray:
    return ts + np.asarray(us, dtype=np.int64).astype("timedelta64[us]")


def _money(x: np.ndarray) -> np.ndarray:
    return np.round(x, 2)


def _letters(codes: np.ndarray, width: int) -> np.ndarray:
    """Fixed-width A-Z strings for non-negative integers (base 26)."""
    out = np.empty((len(codes), width), dtype=np.uint8)
    c = np.asarray(codes, dtype=np.int64).copy()
    for i in range(width - 1, -1, -1):
        out[:, i] = ord("A") + c % 26
        c //= 26
    return out.view(f"S{width}").ravel().astype(f"U{width}")


def _join(*parts) -> pa.Array:
    """Element-wise string concatenation in Arrow (numpy's char functions loop in Python)."""
    arrays = [p if isinstance(p, str) else pa.array(p).cast(pa.string()) for p in parts]
    return pc.binary_join_element_wise(*arrays, "")


def _hex(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded lower-case hex strings of non-negative int64 values."""
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    out = np.empty((len(values), width), dtype=np.uint8)
    v = values.astype(np.uint64).copy()
    for i in range(width - 1, -1, -1):
        out[:, i] = digits[(v & np.uint64(15)).astype(np.int64)]
        v >>= np.uint64(4)
    return out.view(f"S{width}").ravel().astype(f"U{width}")


class _Generator:
    def __init__(self, scale: Scale, start: date, end: date, seed: int) -> None:
        self.scale = scale
        self.rng = np.random.default_rng(seed)
        self.clock = _Clock(start, end, self.rng)
        self.end_us = self.clock.end_us

    # -- customers -------------------------------------------------------------------------
    def customers(self) -> pa.Table:
        rng, n = self.rng, self.scale.customers
        created = self.clock.times(n)
        ids = np.arange(1, n + 1, dtype=np.uint64)
        first_i = rng.integers(0, len(FIRST_NAMES), n)
        last_i = rng.integers(0, len(LAST_NAMES), n)
        full_name = _join(FIRST_NAMES[first_i], " ", LAST_NAMES[last_i])
        phone = (rng.integers(6, 10, n) * 10**9 + rng.integers(0, 10**9, n)).astype(str)
        domains = np.array(["gmail.com", "yahoo.co.in", "outlook.com", "rediffmail.com", "hotmail.com"])
        email = _join(
            np.char.lower(FIRST_NAMES)[first_i],
            ".",
            np.char.lower(LAST_NAMES)[last_i],
            ids,
            "@",
            domains[_weighted_choice(rng, n, [6, 2, 1, 1, 1])],
        )
        # PAN: AAAPLnnnnC — 3 letters + 'P' (individual) + surname initial + 4 digits + check letter,
        # unique by construction from the customer id.
        seq = ids.astype(np.int64)
        initials = np.array([name[0] for name in LAST_NAMES])[last_i]
        pan = _join(
            _letters(seq // 10000, 3),
            "P",
            initials,
            np.char.zfill((seq % 10000).astype(str), 4),
            _letters(rng.integers(0, 26, n), 1),
        )
        age_days = rng.integers(21 * 365, 58 * 365, n)
        dob = created.astype("datetime64[D]") - age_days.astype("timedelta64[D]")
        city_idx = _weighted_choice(rng, n, [c[2] for c in CITIES])
        city = np.array([c[0] for c in CITIES])[city_idx]
        state = np.array([c[1] for c in CITIES])[city_idx]
        kyc = np.array(["verified", "pending", "rejected", "expired"])[
            _weighted_choice(rng, n, [85, 8, 4, 3])
        ]
        updated = np.minimum(_add_us(created, rng.integers(0, 30 * US_PER_DAY, n)), self.end_us)
        self.customer_created = created
        self.customer_verified = kyc == "verified"
        # Each customer's risk: most pay on time, a tail is chronically late or defaults.
        self.customer_risk = rng.beta(1.2, 9.0, n)
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

    # -- loans -----------------------------------------------------------------------------
    def loans(self) -> pa.Table:
        rng = self.rng
        n_c = self.scale.customers
        per_customer = rng.poisson(2.4, n_c) + 1
        cust = np.repeat(np.arange(n_c), per_customer)
        n = len(cust)
        span = (self.end_us - self.customer_created[cust]).astype(np.int64)
        # Most customers borrow soon after signing up, repeat borrowers later.
        applied = _add_us(self.customer_created[cust], (rng.beta(1.0, 2.2, n) * span).astype(np.int64))
        order = np.argsort(applied, kind="stable")
        cust, applied = cust[order], applied[order]
        product = np.array(["credit_line", "personal_loan", "bnpl"])[_weighted_choice(rng, n, [25, 35, 40])]
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
        risk = self.customer_risk[cust]
        rejected = (rng.random(n) < 0.08 + 0.5 * risk) | ~self.customer_verified[cust]
        approve_delay = rng.integers(5 * 60_000_000, 2 * US_PER_DAY, n)
        disburse_delay = rng.integers(60_000_000, 6 * 3600 * 1_000_000, n)
        approved_at = _add_us(applied, approve_delay)
        disbursed_at = _add_us(approved_at, disburse_delay)
        recent = disbursed_at > self.end_us
        status = np.where(rejected, "rejected", "disbursed").astype("<U11")
        status[~rejected & (approved_at > self.end_us)] = "applied"
        status[~rejected & (approved_at <= self.end_us) & recent] = "approved"
        self.loan_customer = cust
        self.loan_principal = principal
        self.loan_rate = rate
        self.loan_tenure = tenure
        self.loan_disbursed = status == "disbursed"
        self.loan_disbursed_at = disbursed_at
        self.loan_risk = risk
        self.loan_product = product
        self.n_loans = n
        # Statuses that depend on repayment (closed / written off) are settled after EMIs.
        self.loan_status = status
        self.loan_applied = applied
        self.loan_approved_at = approved_at
        self._loan_closed_at = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
        return None  # built after the schedules: see loans_table()

    def loans_table(self) -> pa.Table:
        n = self.n_loans
        status = self.loan_status.astype(str)
        has_approval = np.isin(status, ["approved", "disbursed", "closed", "written_off"])
        has_disbursal = np.isin(status, ["disbursed", "closed", "written_off"])
        closed = np.isin(status, ["closed", "written_off"])
        updated = self.loan_applied.copy()
        updated = np.where(has_approval, self.loan_approved_at, updated)
        updated = np.where(has_disbursal, self.loan_disbursed_at, updated)
        updated = np.where(closed, self._loan_closed_at, updated)
        nat = np.datetime64("NaT")
        return pa.table(
            {
                "id": np.arange(1, n + 1, dtype=np.uint64),
                "customer_id": (self.loan_customer + 1).astype(np.uint64),
                "product": self.loan_product,
                "principal": _money(self.loan_principal),
                "interest_rate_pct": np.round(self.loan_rate, 2),
                "tenure_months": self.loan_tenure,
                "status": status,
                "applied_at": self.loan_applied,
                "approved_at": pa.array(
                    np.where(has_approval, self.loan_approved_at, nat), mask=~has_approval
                ),
                "disbursed_at": pa.array(
                    np.where(has_disbursal, self.loan_disbursed_at, nat), mask=~has_disbursal
                ),
                "closed_at": pa.array(np.where(closed, self._loan_closed_at, nat), mask=~closed),
                "created_at": self.loan_applied,
                "updated_at": updated,
            }
        )

    # -- EMI schedules and their payments --------------------------------------------------
    def emi_schedules(self) -> pa.Table:
        rng = self.rng
        loans = np.flatnonzero(self.loan_disbursed)
        tenure = self.loan_tenure[loans]
        loan = np.repeat(loans, tenure)
        n = len(loan)
        first_idx = np.repeat(np.cumsum(tenure) - tenure, tenure)
        inst = (np.arange(n) - first_idx + 1).astype(np.int64)
        disb_day = self.loan_disbursed_at[loan].astype("datetime64[D]")
        disb_month = disb_day.astype("datetime64[M]")
        dom = np.minimum((disb_day - disb_month).astype(np.int64) + 1, 28)
        due = (disb_month + inst.astype("timedelta64[M]")).astype("datetime64[D]") + (dom - 1).astype(
            "timedelta64[D]"
        )
        p, r, t = self.loan_principal[loan], self.loan_rate[loan] / 1200.0, self.loan_tenure[loan]
        with np.errstate(divide="ignore", invalid="ignore"):
            emi = np.where(r > 0, p * r * (1 + r) ** t / ((1 + r) ** t - 1), p / t)
        emi = np.maximum(_money(emi), 1.0)
        end_day = self.end_us.astype("datetime64[D]")
        is_due = due <= end_day
        risk = self.loan_risk[loan]
        # A loan that starts defaulting stays in default: once an instalment is missed, later
        # ones are missed with high probability (this is what makes DPD buckets non-trivial).
        u = rng.random(n)
        p_miss = 0.005 + 0.1 * risk
        p_late = 0.05 + 0.9 * risk
        outcome = np.where(
            u < p_miss, 3, np.where(u < p_miss + p_late, 2, np.where(u < p_miss + p_late + 0.02, 1, 0))
        )
        default_start = np.where(
            rng.random(len(loans)) < np.clip(self.loan_risk[loans] * 0.5, 0, 0.9),
            rng.integers(1, np.maximum(tenure, 2)),
            10_000,
        )
        in_default = inst >= np.repeat(default_start, tenure)
        outcome = np.where(in_default & (rng.random(n) < 0.9), 3, outcome)
        late_days = np.where(outcome == 2, rng.integers(1, 75, n), 0)
        pay_offset = np.where(outcome == 2, late_days * US_PER_DAY, -rng.integers(0, 5, n) * US_PER_DAY)
        paid_at = _add_us(
            due.astype("datetime64[us]"), pay_offset + rng.integers(6 * 3600_000_000, 22 * 3600_000_000, n)
        )
        paid_in_time = paid_at <= self.end_us
        # Payments not yet made as of the end date (late payer still late) count as unpaid.
        pays = is_due & (outcome != 3) & paid_in_time
        partial = pays & (outcome == 1)
        paid_amount = np.where(pays, np.where(partial, _money(emi * rng.uniform(0.3, 0.8, n)), emi), 0.0)
        status = np.full(n, "scheduled", dtype="<U14")
        status[is_due & ~pays] = "missed"
        status[pays & (outcome == 0)] = "paid"
        status[pays & (outcome == 2)] = "late"
        status[partial] = "partially_paid"
        waive = (status == "missed") & (rng.random(n) < 0.01)
        status[waive] = "waived"
        created = self.loan_disbursed_at[loan]
        updated = np.where(
            pays, paid_at, np.where(is_due, np.maximum(due.astype("datetime64[us]"), created), created)
        )
        updated = np.minimum(updated, self.end_us)
        updated = np.maximum(updated, created)
        default_due = np.where(
            in_default & (inst == np.repeat(default_start, tenure)), due, np.datetime64("9999-12-31")
        )
        self._settle_loans(loans, tenure, loan, inst, status, due, paid_at, pays, default_due)
        self.emi = {
            "loan": loan,
            "inst": inst,
            "due": due,
            "emi": emi,
            "pays": pays,
            "paid_at": paid_at,
            "paid_amount": paid_amount,
            "status": status,
            "is_due": is_due,
        }
        nat = np.datetime64("NaT")
        return pa.table(
            {
                "id": np.arange(1, n + 1, dtype=np.uint64),
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

    def _settle_loans(self, loans, tenure, loan, inst, status, due, paid_at, pays, default_due) -> None:
        """Close fully repaid loans; write off defaulted loans 180 days after the default began."""
        n_emi = len(loan)
        end_day = self.end_us.astype("datetime64[D]")
        settled = np.isin(status, ["paid", "late", "waived"])
        all_settled = (
            np.logical_and.reduceat(settled, np.cumsum(tenure) - tenure) if n_emi else np.array([], bool)
        )
        last_idx = np.cumsum(tenure) - 1
        last_paid = np.maximum.reduceat(
            np.where(pays, paid_at, np.datetime64(0, "us")), np.cumsum(tenure) - tenure
        )
        first_missed_due = np.minimum.reduceat(default_due, np.cumsum(tenure) - tenure)
        written_off = (first_missed_due + np.timedelta64(180, "D")) <= end_day
        closed = all_settled & (due[last_idx] <= end_day)
        st = self.loan_status
        st[loans[closed]] = "closed"
        self._loan_closed_at[loans[closed]] = np.maximum(
            last_paid[closed], self.loan_disbursed_at[loans[closed]]
        )
        wo = written_off & ~closed
        st[loans[wo]] = "written_off"
        self._loan_closed_at[loans[wo]] = (first_missed_due[wo] + np.timedelta64(180, "D")).astype(
            "datetime64[us]"
        ) + np.timedelta64(10 * 3600, "s")

    # -- payments ledger -------------------------------------------------------------------
    def loan_transactions(self) -> pa.Table:
        rng = self.rng
        e, self.emi = self.emi, {}  # the schedule's arrays are needed by the transactions only
        parts: list[dict[str, np.ndarray]] = []
        disb = np.flatnonzero(self.loan_disbursed | np.isin(self.loan_status, ["closed", "written_off"]))
        parts.append(
            self._txn_part(
                disb,
                "disbursal",
                self.loan_principal[disb],
                self.loan_disbursed_at[disb],
                "success",
                gateway=np.full(len(disb), "neft"),
                inst=None,
            )
        )
        # Each EMI payment may follow failed attempts (insufficient funds, mandate failures...).
        paid = np.flatnonzero(e["pays"])
        loan_p = e["loan"][paid]
        autopay = rng.random(len(paid)) < 0.55
        gw = np.where(
            autopay,
            np.where(rng.random(len(paid)) < 0.6, "nach", "upi_autopay"),
            np.array(["razorpay", "cashfree", "payu", "paytm"])[
                _weighted_choice(rng, len(paid), [5, 3, 2, 2])
            ],
        )
        parts.append(
            self._txn_part(
                loan_p,
                "emi_payment",
                e["paid_amount"][paid],
                e["paid_at"][paid],
                "success",
                gateway=gw,
                inst=e["inst"][paid],
            )
        )
        risk = self.loan_risk[e["loan"]]
        attempts = np.where(e["is_due"], rng.poisson(0.1 + 1.2 * risk), 0)
        attempts = np.where(e["is_due"] & ~e["pays"], np.maximum(attempts, 1), attempts)
        fail_idx = np.repeat(np.arange(len(attempts)), attempts)
        k = np.arange(len(fail_idx)) - np.repeat(np.cumsum(attempts) - attempts, attempts)
        fail_at = _add_us(
            e["due"][fail_idx].astype("datetime64[us]"),
            k * 2 * US_PER_DAY + rng.integers(9 * 3600_000_000, 20 * 3600_000_000, len(fail_idx)),
        )
        ok = fail_at <= self.end_us
        fail_idx, fail_at = fail_idx[ok], fail_at[ok]
        gw_f = np.array(["nach", "upi_autopay", "razorpay", "cashfree", "payu"])[
            _weighted_choice(rng, len(fail_idx), [4, 3, 2, 1, 1])
        ]
        parts.append(
            self._txn_part(
                e["loan"][fail_idx],
                "emi_payment",
                e["emi"][fail_idx],
                fail_at,
                "failed",
                gateway=gw_f,
                inst=e["inst"][fail_idx],
            )
        )
        # Late payments draw a penalty; some customers prepay; a few refunds for over-collection.
        late = np.flatnonzero(e["status"] == "late")
        parts.append(
            self._txn_part(
                e["loan"][late],
                "penalty",
                np.maximum(_money(e["emi"][late] * 0.02), 50.0) + 0.0,
                _add_us(e["paid_at"][late], 60_000_000),
                "success",
                gateway=np.full(len(late), "razorpay"),
                inst=e["inst"][late],
            )
        )
        pre = paid[rng.random(len(paid)) < 0.015]
        parts.append(
            self._txn_part(
                e["loan"][pre],
                "prepayment",
                _money(e["emi"][pre] * rng.uniform(1, 3, len(pre))),
                _add_us(e["paid_at"][pre], rng.integers(US_PER_DAY, 10 * US_PER_DAY, len(pre))),
                "success",
                gateway=np.full(len(pre), "razorpay"),
                inst=None,
            )
        )
        ref = paid[rng.random(len(paid)) < 0.004]
        parts.append(
            self._txn_part(
                e["loan"][ref],
                "refund",
                _money(e["paid_amount"][ref] * rng.uniform(0.05, 0.5, len(ref))) + 0.01,
                _add_us(e["paid_at"][ref], rng.integers(2 * US_PER_DAY, 15 * US_PER_DAY, len(ref))),
                "success",
                gateway=np.full(len(ref), "neft"),
                inst=None,
            )
        )
        # Gateway-side reversals and stuck 'initiated' payments in the last days.
        cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        happened = cols["created_at"] <= self.end_us
        cols = {k: v[happened] for k, v in cols.items()}
        created = cols["created_at"]
        order = np.argsort(created, kind="stable")
        n = len(order)
        cols = {k: v[order] for k, v in cols.items()}
        created = created[order]
        status = cols["status"].astype("<U9")
        rev = (status == "success") & (cols["txn_type"] == "emi_payment") & (rng.random(n) < 0.003)
        status[rev] = "reversed"
        stuck = (created > self.end_us - np.timedelta64(2, "D")) & (rng.random(n) < 0.05)
        status[stuck] = "initiated"
        failed = status == "failed"
        reasons = np.array(
            [
                "insufficient_funds",
                "mandate_not_registered",
                "bank_timeout",
                "upi_pin_incorrect",
                "account_frozen",
                "limit_exceeded",
            ]
        )
        failure_reason = np.where(failed, reasons[_weighted_choice(rng, n, [45, 12, 18, 10, 5, 10])], None)
        updated = np.minimum(_add_us(created, rng.integers(1_000_000, 600_000_000, n)), self.end_us)
        updated = np.maximum(updated, created)
        ref_hex = rng.integers(0, 2**62, n, dtype=np.int64)
        prefix = np.select(
            [
                cols["gateway"] == "razorpay",
                cols["gateway"] == "cashfree",
                cols["gateway"] == "payu",
                cols["gateway"] == "paytm",
                cols["gateway"] == "nach",
                cols["gateway"] == "upi_autopay",
            ],
            ["pay_", "cf_", "payu_", "ptm_", "NACH", "UPI"],
            "UTR",
        )
        gateway_ref = _join(prefix.astype(str), np.char.upper(_hex(ref_hex, 15)))
        has_meta = rng.random(n) < 0.3
        attempt = np.array(
            [
                '{"channel":"app","attempt":1}',
                '{"channel":"app","attempt":2}',
                '{"channel":"app","attempt":3}',
            ]
        )[rng.integers(0, 3, n)]
        meta = np.where(has_meta, attempt, None)
        self.txn_count = n
        return pa.table(
            {
                "id": np.arange(1, n + 1, dtype=np.uint64),
                "loan_id": (cols["loan"] + 1).astype(np.uint64),
                "customer_id": (self.loan_customer[cols["loan"]] + 1).astype(np.uint64),
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

    @staticmethod
    def _txn_part(loan, txn_type, amount, created, status, *, gateway, inst) -> dict[str, np.ndarray]:
        n = len(loan)
        return {
            "loan": loan,
            "txn_type": np.full(n, txn_type, dtype="<U11"),
            "amount": _money(np.asarray(amount, float)),
            "created_at": created,
            "status": np.full(n, status, dtype="<U9"),
            "gateway": np.asarray(gateway, dtype="<U11"),
            "inst": np.full(n, -1, dtype=np.int64) if inst is None else inst.astype(np.int64),
        }

    # -- device data -----------------------------------------------------------------------
    def _captures(self) -> tuple[np.ndarray, np.ndarray]:
        """Device snapshots: at signup and at every loan application."""
        if not hasattr(self, "_capture"):
            cust = np.concatenate([np.arange(self.scale.customers), self.loan_customer])
            at = np.concatenate([self.customer_created, self.loan_applied])
            at = np.minimum(_add_us(at, self.rng.integers(0, 600_000_000, len(at))), self.end_us)
            self._capture = (cust, at)
        return self._capture

    def user_device_apps(self) -> pa.Table:
        rng = self.rng
        cust, at = self._captures()
        k = rng.integers(2, 7, len(cust))
        c = np.repeat(cust, k)
        created = np.repeat(at, k)
        order = np.argsort(created, kind="stable")
        c, created = c[order], created[order]
        n = len(c)
        # Heavier borrowers carry more finance apps; gamers skew risky.
        cat_weights = np.array(
            [3 if a[2] == "finance" else 2 if a[2] in ("social", "shopping") else 1 for a in APPS], float
        )
        app = _weighted_choice(rng, n, cat_weights)
        risky = self.customer_risk[c] > 0.2
        app = np.where(risky & (rng.random(n) < 0.3), rng.integers(13, 20, n), app)
        pkg = np.array([a[0] for a in APPS])[app]
        name = np.array([a[1] for a in APPS])[app]
        cat = np.array([a[2] for a in APPS])[app]
        installed = _add_us(created, -rng.integers(US_PER_DAY, 700 * US_PER_DAY, n))
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

    def user_device_sms(self) -> pa.Table:
        rng = self.rng
        cust, at = self._captures()
        k = rng.integers(1, 5, len(cust))
        c = np.repeat(cust, k)
        created = np.repeat(at, k)
        order = np.argsort(created, kind="stable")
        c, created = c[order], created[order]
        n = len(c)
        sms_at = _add_us(created, -rng.integers(60_000_000, 45 * US_PER_DAY, n))
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
        bodies = []
        bank_names = [x[1] for x in BANKS]
        vpas = [
            "swiggy@icici",
            "amazon@apl",
            "merchant@okaxis",
            "zomato@hdfcbank",
            "rent.pay@ybl",
            "bharatpe@yesbank",
        ]
        otp = rng.integers(100000, 999999, n)
        for i in range(n):
            d = day[i]
            dd = f"{d[8:10]}-{d[5:7]}-{d[2:4]}"
            if not bank[i]:
                bodies.append(
                    f"{otp[i]} is your OTP for login. Valid for 10 minutes. Do not share it with anyone."
                    if fmt[i] < 2
                    else f"Flat {int(amount[i]) % 60 + 10}% off on your next order! Use code SAVE{otp[i] % 1000}. T&C apply."
                )
                continue
            bn, a, bl, ac = bank_names[b[i]], f"{amount[i]:,.2f}", f"{bal[i]:,.2f}", acct[i]
            f = fmt[i]
            if f == 0:
                bodies.append(
                    f"Rs.{a} debited from A/c XX{ac} on {dd} to VPA {vpas[otp[i] % 6]}. Avl Bal Rs.{bl}. Not you? Call 18002586161 -{bn}"
                )
            elif f == 1:
                bodies.append(
                    f"Your A/c XXXXXXXX{ac} is credited by Rs.{a} on {dd} by a/c linked to VPA {vpas[otp[i] % 6]} (UPI Ref no {otp[i]}{ac}). -{bn}"
                )
            elif f == 2:
                bodies.append(
                    f"{bn} Acct XX{ac} debited for Rs {a} on {dd}; NACH mandate EMI credited. Avl Bal: Rs {bl}"
                )
            elif f == 3:
                bodies.append(
                    f"Dear Customer, your A/c XX{ac} has insufficient balance. NACH debit of Rs.{a} returned on {dd}. Charges may apply. -{bn}"
                )
            else:
                bodies.append(
                    f"INR {a} spent on {bn} Credit Card XX{ac} at AMAZON on {dd}. Avl Limit: INR {bl}"
                )
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

    # -- communications and engagement -----------------------------------------------------
    def communications(self) -> pa.Table:
        rng = self.rng
        start_m = self.clock.start.astype("datetime64[M]")
        end_m = self.end_us.astype("datetime64[M]")
        months = np.arange(start_m, end_m + 1)
        cust_parts, at_parts, code_parts, chan_parts, tmpl_parts = [], [], [], [], []
        for m in months:
            m_start = m.astype("datetime64[us]")
            eligible = np.flatnonzero(self.customer_created < m_start + np.timedelta64(15, "D"))
            if len(eligible) == 0:
                continue
            for j in range(self.scale.campaigns_per_month):
                theme = CAMPAIGN_THEMES[(int(m.astype(int)) * 7 + j) % len(CAMPAIGN_THEMES)]
                mm = str(m)
                if theme == "FESTIVE_OFFER" and not mm.endswith(("-10", "-11")):
                    theme = "LIMIT_UPGRADE"
                code = f"{theme}_{mm.replace('-', '_')}_{j + 1}"
                reach = rng.random(len(eligible)) < self.scale.campaign_reach
                who = eligible[reach]
                day = rng.integers(0, 27)
                send = m_start + np.timedelta64(int(day), "D") + np.timedelta64(10, "h")
                t = _add_us(np.full(len(who), send), rng.integers(0, 4 * 3600_000_000, len(who)))
                channel = np.array(["sms", "email", "push", "whatsapp"])[
                    (j + _weighted_choice(rng, 1, [4, 3, 2, 2])[0]) % 4
                ]
                cust_parts.append(who)
                at_parts.append(t)
                code_parts.append(np.full(len(who), code))
                chan_parts.append(np.full(len(who), channel))
                tmpl_parts.append(np.full(len(who), f"{theme.lower()}_v{1 + j % 3}"))
        cust = np.concatenate(cust_parts)
        created = np.concatenate(at_parts)
        keep = created <= self.end_us
        cust, created = cust[keep], created[keep]
        code = np.concatenate(code_parts)[keep]
        channel = np.concatenate(chan_parts)[keep]
        tmpl = np.concatenate(tmpl_parts)[keep]
        order = np.argsort(created, kind="stable")
        cust, created, code, channel, tmpl = (
            cust[order],
            created[order],
            code[order],
            channel[order],
            tmpl[order],
        )
        n = len(cust)
        u = rng.random(n)
        status = np.where(u < 0.03, "failed", np.where((u < 0.07) & (channel == "email"), "bounced", "sent"))
        status = np.where(created > self.end_us - np.timedelta64(1, "h"), "queued", status)
        self.comm = {"created": created, "status": status, "channel": channel}
        updated = np.minimum(_add_us(created, rng.integers(1_000_000, 120_000_000, n)), self.end_us)
        return pa.table(
            {
                "id": np.arange(1, n + 1, dtype=np.uint64),
                "customer_id": (cust + 1).astype(np.uint64),
                "campaign_code": code,
                "channel": channel,
                "template_code": tmpl,
                "status": status,
                "created_at": created,
                "updated_at": np.maximum(updated, created),
            }
        )

    def communication_events(self) -> pa.Table:
        rng = self.rng
        c = self.comm
        n = len(c["created"])
        sent = c["status"] == "sent"
        delivered = sent & (rng.random(n) < np.where(c["channel"] == "email", 0.88, 0.95))
        opened = delivered & (rng.random(n) < np.where(c["channel"] == "sms", 0.0, 0.35))
        clicked = delivered & (
            rng.random(n) < np.where(opened, 0.25, np.where(c["channel"] == "sms", 0.04, 0.0))
        )
        bounced = c["status"] == "bounced"
        failed = c["status"] == "failed"
        kinds = [
            ("sent", sent | bounced, 0, 5),
            ("delivered", delivered, 5, 300),
            ("opened", opened, 300, 3 * 86400),
            ("clicked", clicked, 3 * 86400, 4 * 86400),
            ("bounced", bounced, 5, 60),
            ("failed", failed, 1, 30),
        ]
        ids, types, times = [], [], []
        prev = c["created"].copy()
        for name, mask, lo, hi in kinds:
            idx = np.flatnonzero(mask)
            base = prev[idx] if name in ("delivered", "opened", "clicked") else c["created"][idx]
            t = _add_us(base, rng.integers(lo * 1_000_000 + 1, hi * 1_000_000 + 2, len(idx)))
            if name in ("delivered", "opened", "clicked"):
                prev[idx] = t
            ids.append(idx)
            types.append(np.full(len(idx), name))
            times.append(t)
        comm = np.concatenate(ids)
        created = np.concatenate(times)
        etype = np.concatenate(types)
        keep = created <= self.end_us
        comm, created, etype = comm[keep], created[keep], etype[keep]
        order = np.argsort(created, kind="stable")
        comm, created, etype = comm[order], created[order], etype[order]
        m = len(comm)
        meta = np.where(etype == "clicked", '{"link":"offer","utm_source":"campaign"}', None)
        return pa.table(
            {
                "id": np.arange(1, m + 1, dtype=np.uint64),
                "communication_id": (comm + 1).astype(np.uint64),
                "event_type": etype,
                "metadata": pa.array(meta, type=pa.string()),
                "created_at": created,
            }
        )

    def api_request_logs(self) -> pa.Table:
        rng = self.rng
        n = int(self.scale.customers * self.scale.api_logs_per_customer)
        created = self.clock.times(n)
        # Logs only exist for the recent past in practice, but the source keeps everything forever:
        # that is exactly what the archive tier is for.
        p = _weighted_choice(rng, n, [x[2] for x in API_PATHS])
        method = np.array([x[0] for x in API_PATHS])[p]
        cust = rng.integers(1, self.scale.customers + 1, n).astype(np.uint64)
        templates = np.array([x[1] for x in API_PATHS])
        head = np.array([t.split("{id}")[0] for t in templates])[p]
        tail = np.array([t.split("{id}")[1] if "{id}" in t else "" for t in templates])[p]
        has_id = np.array(["{id}" in t for t in templates])[p]
        path = _join(head, np.where(has_id, cust.astype(str), ""), tail)
        status_code = np.array([200, 201, 400, 401, 404, 429, 500, 502, 503])[
            _weighted_choice(rng, n, [80, 5, 4, 3, 3, 1, 2, 1, 1])
        ]
        latency = np.clip(rng.lognormal(4.3, 0.8, n), 3, 30000).astype(np.int64)
        anon = rng.random(n) < 0.1
        ip = _join("10.", rng.integers(0, 255, n), ".", rng.integers(0, 255, n), ".", rng.integers(1, 255, n))
        ua = np.array(USER_AGENTS)[rng.integers(0, len(USER_AGENTS), n)]
        request_id = _join(
            _hex(rng.integers(0, 2**62, n, dtype=np.int64), 16),
            _hex(rng.integers(0, 2**62, n, dtype=np.int64), 16),
        )
        return pa.table(
            {
                "id": np.arange(1, n + 1, dtype=np.uint64),
                "request_id": request_id,
                "customer_id": pa.array(cust, mask=anon),
                "method": method,
                "path": path,
                "status_code": status_code,
                "latency_ms": latency,
                "client_ip": ip,
                "user_agent": ua,
                "created_at": created,
            }
        )


LOAD_ORDER = [
    "customers",
    "loans",
    "emi_schedules",
    "loan_transactions",
    "user_device_apps",
    "user_device_sms",
    "communications",
    "communication_events",
    "api_request_logs",
]


def _write_csv(table: pa.Table, path: Path) -> None:
    options = pacsv.WriteOptions(include_header=False, null_string="NULL", batch_size=65536)
    pacsv.write_csv(table, str(path), options)


def _load(conn, table: str, columns: list[str], path: Path) -> None:
    cols = ", ".join(mysql.quote_ident(c) for c in columns)
    cur = conn.cursor()
    cur.execute(
        f"LOAD DATA LOCAL INFILE %s INTO TABLE {mysql.quote_ident(table)} CHARACTER SET utf8mb4 "
        "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
        f"LINES TERMINATED BY '\\n' ({cols})",
        (str(path),),
    )
    warnings = conn.show_warnings() if cur.rowcount >= 0 else ()
    if warnings:
        raise RuntimeError(f"loading {table}: {warnings[:3]}")
    conn.commit()


def _secondary_indexes(conn, table: str) -> list[str]:
    """The table's plain (non-unique) secondary index definitions, as in SHOW CREATE TABLE."""
    cur = conn.cursor()
    cur.execute(f"SHOW CREATE TABLE {mysql.quote_ident(table)}")
    ddl = cur.fetchone()[1]
    return [line.strip().rstrip(",") for line in ddl.splitlines() if line.strip().startswith("KEY `")]


def _defer_indexes(conn, tables: list[str]) -> dict[str, list[str]]:
    """Drop secondary indexes before a bulk load; building them afterwards by sort is much faster.

    Indexes that back a foreign key cannot be dropped and stay in place.
    """
    import MySQLdb

    deferred: dict[str, list[str]] = {}
    cur = conn.cursor()
    for table in tables:
        for definition in _secondary_indexes(conn, table):
            name = definition.split("`")[1]
            try:
                cur.execute(f"ALTER TABLE {mysql.quote_ident(table)} DROP INDEX {mysql.quote_ident(name)}")
            except MySQLdb.OperationalError:
                continue  # needed by a foreign key
            deferred.setdefault(table, []).append(definition)
    return deferred


def _restore_indexes(conn, table: str, definitions: list[str]) -> None:
    if definitions:
        adds = ", ".join(f"ADD {d}" for d in definitions)
        conn.cursor().execute(f"ALTER TABLE {mysql.quote_ident(table)} {adds}")


class DropRefusedError(TierflowError):
    """The seed would drop a database that may hold rows nobody can bring back."""


LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def check_drop_allowed(url: str, drop_existing: str | None = None) -> None:
    """Raise DropRefusedError unless dropping the database in ``url`` is harmless or named.

    Harmless: the database is on a loopback host and does not exist or holds no archive ledger
    rows (rows in the ledger live only in the archive now). Anything else must be named by
    ``drop_existing``; a remote host is refused before any connection is made.
    """
    from tierflow.archive.ledger import LEDGER_TABLE
    from tierflow.urls import parse, redact

    name = mysql.database_of(url)
    if drop_existing is not None and drop_existing != name:
        raise DropRefusedError(
            f"--drop-existing names {drop_existing!r}, but the seed's database is {name!r} "
            f"({redact(url)}); nothing was dropped"
        )
    if drop_existing == name:
        return
    advice = (
        f"Nothing was dropped. To replace it anyway, pass --drop-existing {name} "
        f"(library: drop_existing={name!r}); to keep it, pass --no-recreate."
    )
    host = (parse(url).host or "localhost").strip("[]").lower()
    if host not in LOOPBACK_HOSTS:
        raise DropRefusedError(
            f"the seed would drop database {name!r} on {host} ({redact(url)}), which is not this "
            f"machine. {advice}"
        )
    with mysql.connection(url, database=False) as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (name, LEDGER_TABLE),
        )
        if not cur.fetchone()[0]:
            return
        cur.execute(f"SELECT COUNT(*) FROM {mysql.quote_ident(name)}.{LEDGER_TABLE}")
        entries = int(cur.fetchone()[0])
    if entries:
        raise DropRefusedError(
            f"the seed would drop database {name!r} ({redact(url)}), but it holds {entries:,} "
            f"archive ledger entries: the rows they describe live only in the archive now. {advice}"
        )


def seed_database(
    url: str,
    *,
    scale: str = "small",
    years: int = 3,
    seed: int = 42,
    as_of: date | None = None,
    recreate: bool = True,
    drop_existing: str | None = None,
    progress: bool = True,
    console=None,
) -> SeedReport:
    """Fill the database in ``url`` with ``years`` of data ending on ``as_of`` (default today,
    UTC). ``recreate`` drops the database first, and is refused (DropRefusedError) for a
    database that holds archive ledger rows or is not on loopback unless ``drop_existing``
    names it."""
    from datetime import UTC

    end = as_of or datetime.now(UTC).date()
    start = end - timedelta(days=365 * years)
    if recreate:
        check_drop_allowed(url, drop_existing)
    mysql.init_schema(url, recreate=recreate)
    gen = _Generator(SCALES[scale], start, end, seed)
    report = SeedReport(database=mysql.database_of(url), scale=scale, start=start, end=end)

    def produce():
        yield "customers", gen.customers()
        gen.loans()
        emi = gen.emi_schedules()  # settles loan statuses, so loans are written after it
        yield "loans", gen.loans_table()
        yield "emi_schedules", emi
        emi = None  # written out: free it before the transactions are generated
        yield "loan_transactions", gen.loan_transactions()
        yield "user_device_apps", gen.user_device_apps()
        yield "user_device_sms", gen.user_device_sms()
        yield "communications", gen.communications()
        yield "communication_events", gen.communication_events()
        yield "api_request_logs", gen.api_request_logs()

    started = time.perf_counter()
    with mysql.connection(url) as conn:
        deferred = _defer_indexes(conn, LOAD_ORDER)
    queue: Queue = Queue(maxsize=2)
    errors: list[BaseException] = []
    loaders = 2  # MariaDB loads two tables at once on two cores while the next one is generated
    # A load into a child table holds a metadata lock on its foreign-key parents, which an ALTER
    # of the parent would wait for: a parent's indexes are built once its last child is loaded.
    parents: dict[str, set[str]] = {}
    unloaded_children: dict[str, set[str]] = {name: set() for name in LOAD_ORDER}
    for child, _, parent, _ in mysql.foreign_keys(url):
        if child != parent and child in unloaded_children and parent in unloaded_children:
            parents.setdefault(child, set()).add(parent)
            unloaded_children[parent].add(child)
    loaded: dict[str, TableLoad] = {}
    state = threading.Lock()

    prog = None
    if progress:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        prog = Progress(
            TextColumn("[bold]seed[/bold] {task.description:28}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} tables"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        prog.start()
        bar = prog.add_task("generating", total=len(LOAD_ORDER))

    def loader() -> None:
        conn = mysql.connect(url, local_infile=1)
        try:
            cur = conn.cursor()
            cur.execute("SET SESSION foreign_key_checks = 0")
            cur.execute("SET SESSION unique_checks = 0")
            while (item := queue.get()) is not None:
                name, columns, rows, path = item
                try:
                    if not errors:
                        t0 = time.perf_counter()
                        _load(conn, name, columns, path)
                        load = TableLoad(name, rows, time.perf_counter() - t0)
                        with state:
                            loaded[name] = load
                            ready = [name] if not unloaded_children[name] else []
                            for parent in parents.get(name, ()):
                                unloaded_children[parent].discard(name)
                                if not unloaded_children[parent] and parent in loaded:
                                    ready.append(parent)
                        for ready_name in ready:
                            t1 = time.perf_counter()
                            _restore_indexes(conn, ready_name, deferred.get(ready_name, []))
                            done = loaded[ready_name]
                            done.index_seconds = time.perf_counter() - t1
                            done.seconds += done.index_seconds
                            report.loads.append(done)
                            if prog:
                                prog.update(bar, advance=1, description=f"loaded {ready_name}")
                except BaseException as exc:  # surfaced in the main thread
                    errors.append(exc)
                finally:
                    path.unlink(missing_ok=True)
        finally:
            conn.close()

    threads = [threading.Thread(target=loader, name=f"seed-loader-{i}", daemon=True) for i in range(loaders)]
    for thread in threads:
        thread.start()
    with tempfile.TemporaryDirectory(prefix="tierflow-seed-") as tmp:
        try:
            for name, table in produce():
                if errors:
                    break
                if prog:
                    prog.update(bar, description=f"generated {name}")
                path = Path(tmp) / f"{name}.csv"
                _write_csv(table, path)
                # only the CSV waits for a loader: the generated table is freed once written
                queue.put((name, table.column_names, table.num_rows, path))
                del table
        finally:
            for _ in threads:
                queue.put(None)
            for thread in threads:
                thread.join()
            if prog:
                prog.stop()
    if errors:
        raise errors[0]
    report.loads.sort(key=lambda t: LOAD_ORDER.index(t.table))
    report.seconds = time.perf_counter() - started
    return report


def datetime_bounds(as_of: date, years: int) -> tuple[datetime, datetime]:
    """The seeded period for ``as_of`` and ``years``, as datetimes (start inclusive, end exclusive)."""
    start = as_of - timedelta(days=365 * years)
    return datetime.combine(start, datetime.min.time()), datetime.combine(
        as_of + timedelta(days=1), datetime.min.time()
    )
