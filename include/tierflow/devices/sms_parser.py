"""The bank-SMS parser: one Indian bank or wallet SMS in, its transaction fields out.

Precompiled regexes behind a cheap pre-filter: a message without a currency mark never reaches them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

_AMOUNT = r"(?:rs\.?|inr|₹)\s*:?\s*([0-9][0-9,]*(?:\.[0-9]{1,2})?)"
_AMOUNT_RE = re.compile(_AMOUNT, re.I)
_BALANCE_RE = re.compile(r"\bbal(?:ance)?\b[^₹]{0,30}?" + _AMOUNT, re.I)
_NEGATIVE_RE = re.compile(
    r"\botp\b|one time password|verification code|\bwin\b|\bwon\b|lucky|pre-?approved|apply now|"
    r"\boffer\b|up ?to|eligible for|get (?:flat|instant)|click here to claim|limited period|\bdue on\b.*\bpay now\b",
    re.I,
)
_DEBIT_RE = re.compile(
    r"\bdebited\b|\bspent\b|\bwithdrawn\b|\bpaid\b|\bsent\b|\bdr\b|\bdeducted\b|\bpurchase\b|\btransferred to\b",
    re.I,
)
_CREDIT_RE = re.compile(r"\bcredited\b|\breceived\b|\bdeposited\b|\bcr\b|\badded\b|\brefund", re.I)
_BOUNCE_RE = re.compile(r"bounce|dishono(?:u)?red|\bunpaid\b|\breturned\b|insufficient", re.I)
_EMI_RE = re.compile(r"\bemi\b|\bloan\b.*\binstal|\bnach\b|\becs\b|auto-?debit", re.I)
_SALARY_RE = re.compile(r"\bsalary\b|\bsal\b", re.I)
_DISBURSAL_RE = re.compile(r"disburs", re.I)
_REFUND_RE = re.compile(r"\brefund", re.I)
_ACCOUNT_RE = re.compile(
    r"(?:a/c|ac|acct|account|card|wallet)\s*(?:no\.?\s*)?(?:ending\s*(?:with\s*)?)?[x*.]*\s*([0-9]{3,4})\b",
    re.I,
)
_REFERENCE_RE = re.compile(
    r"(?:ref(?:erence)?(?:\s*no)?|utr(?:\s*no)?|rrn|txn\s*id|upi\s*ref|imps\s*ref|chq(?:\s*no)?)\.?\s*[:#-]?\s*"
    r"([a-z0-9]{6,22})",
    re.I,
)
_VPA_RE = re.compile(r"\b([a-z0-9.\-_]{2,64}@[a-z]{2,32})\b", re.I)
_COUNTERPARTY_RE = re.compile(
    r"(?:\bto\b|\bfrom\b|\bat\b|\bby\b|;)\s+(?:vpa\s+)?([A-Z][A-Za-z0-9&.\-' ]{1,40}?)"
    r"(?=\s+(?:on|via|ref|upi|avl|avbl|for|info|bal|if|not)\b|[.,(]|$)",
)
_CHANNELS = (
    ("upi", re.compile(r"\bupi\b|@[a-z]{2,}", re.I)),
    ("imps", re.compile(r"\bimps\b", re.I)),
    ("neft", re.compile(r"\bneft\b", re.I)),
    ("rtgs", re.compile(r"\brtgs\b", re.I)),
    ("nach", re.compile(r"\bnach\b|\becs\b|auto-?debit|mandate", re.I)),
    ("atm", re.compile(r"\batm\b|withdrawn", re.I)),
    ("cheque", re.compile(r"\bche?q(?:ue)?\b|\bchq\b", re.I)),
    ("card", re.compile(r"\bcard\b|\bpos\b", re.I)),
    ("wallet", re.compile(r"wallet|paytm balance|amazon pay balance", re.I)),
)
_BANKS = {
    "HDFCBK": "HDFC Bank",
    "SBIINB": "SBI",
    "SBIUPI": "SBI",
    "CBSSBI": "SBI",
    "ICICIB": "ICICI Bank",
    "AXISBK": "Axis Bank",
    "KOTAKB": "Kotak Mahindra Bank",
    "PNBSMS": "PNB",
    "BOBTXN": "Bank of Baroda",
    "CANBNK": "Canara Bank",
    "UNIONB": "Union Bank of India",
    "IDFCFB": "IDFC First Bank",
    "YESBNK": "Yes Bank",
    "INDUSB": "IndusInd Bank",
    "FEDBNK": "Federal Bank",
    "AUBANK": "AU Small Finance Bank",
    "RBLBNK": "RBL Bank",
    "PAYTMB": "Paytm Payments Bank",
    "PHONPE": "PhonePe",
    "AMAZON": "Amazon Pay",
    "MOBIKW": "Mobikwik",
    "AIRBNK": "Airtel Payments Bank",
    "BAJAJF": "Bajaj Finserv",
    "BFLOAN": "Bajaj Finserv",
    "TATACP": "Tata Capital",
    "HDBFSL": "HDB Financial",
    "IDBIBK": "IDBI Bank",
    "IOBCHN": "Indian Overseas Bank",
}


@dataclass(frozen=True, slots=True)
class ParsedSms:
    financial: bool
    kind: str | None = None
    direction: str | None = None
    amount: str | None = None
    balance: str | None = None
    account_last4: str | None = None
    channel: str | None = None
    bank: str | None = None
    reference: str | None = None
    counterparty: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


NOT_FINANCIAL = ParsedSms(financial=False)


def bank_of(sender: str) -> str | None:
    """The bank or wallet behind a DLT header such as ``VM-HDFCBK`` or ``AX-SBIINB-S``."""
    parts = sender.upper().split("-")
    head = parts[1] if len(parts) > 1 else parts[0]
    return _BANKS.get(head[:6])


def _money(text: str) -> str:
    return text.replace(",", "").rstrip(".")


def _kind_and_direction(body: str) -> tuple[str, str | None] | None:
    if _BOUNCE_RE.search(body) and _EMI_RE.search(body):
        return "emi_bounce", None
    if _DISBURSAL_RE.search(body):
        return "loan_disbursal", "credit"
    debit, credit = _DEBIT_RE.search(body), _CREDIT_RE.search(body)
    if debit and credit:
        # "debited ... and credited to X": the first verb is this account's side
        direction = "debit" if debit.start() < credit.start() else "credit"
    elif debit or credit:
        direction = "debit" if debit else "credit"
    else:
        return ("balance", None) if _BALANCE_RE.search(body) else None
    if _REFUND_RE.search(body) and direction == "credit":
        return "refund", direction
    if _SALARY_RE.search(body) and direction == "credit":
        return "salary", direction
    if _EMI_RE.search(body) and direction == "debit":
        return "emi_debit", direction
    return "transaction", direction


def _channel(body: str) -> str | None:
    for name, pattern in _CHANNELS:
        if pattern.search(body):
            return name
    return None


def _first(pattern: re.Pattern[str], body: str) -> str | None:
    match = pattern.search(body)
    return match.group(1) if match else None


def parse_sms(sender: str, body: str) -> ParsedSms:
    """Parse one SMS; a message that is not a bank transaction, EMI or balance notice is not financial."""
    if "rs" not in body.lower() and "inr" not in body.lower() and "₹" not in body:
        return NOT_FINANCIAL
    if _NEGATIVE_RE.search(body):
        return NOT_FINANCIAL
    found = _kind_and_direction(body)
    if found is None:
        return NOT_FINANCIAL
    kind, direction = found
    balance_match = _BALANCE_RE.search(body)
    amount_match = _AMOUNT_RE.search(body)
    if amount_match is None:
        return NOT_FINANCIAL
    if kind == "balance":
        amount = None
    elif balance_match and amount_match.start() >= balance_match.start():
        # the first currency figure is the balance: take the next one as the amount
        later = [m for m in _AMOUNT_RE.finditer(body) if m.start() != amount_match.start()]
        amount = _money(later[0].group(1)) if later else _money(amount_match.group(1))
    else:
        amount = _money(amount_match.group(1))
    return ParsedSms(
        financial=True,
        kind=kind,
        direction=direction,
        amount=amount,
        balance=_money(balance_match.group(1)) if balance_match else None,
        account_last4=_first(_ACCOUNT_RE, body),
        channel=_channel(body),
        bank=bank_of(sender),
        reference=_first(_REFERENCE_RE, body),
        counterparty=_first(_VPA_RE, body) or _first(_COUNTERPARTY_RE, body),
    )
