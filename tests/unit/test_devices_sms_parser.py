"""The bank-SMS parser on the labelled corpus (tests/data/device_sms_corpus.jsonl), field by field."""

from __future__ import annotations

import json
from pathlib import Path

from tierflow.cli import app
from tierflow.devices import parse_sms
from typer.testing import CliRunner

CORPUS = Path(__file__).resolve().parents[1] / "data" / "device_sms_corpus.jsonl"
FIELDS = ("kind", "direction", "amount", "balance", "account_last4", "channel", "bank")


def _corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_corpus_has_the_breadth_the_tests_rely_on() -> None:
    rows = _corpus()
    banks = {r["expected"]["bank"] for r in rows if r["expected"]["financial"]}
    kinds = {r["expected"]["kind"] for r in rows if r["expected"]["financial"]}
    assert len(rows) >= 300
    assert len(banks) >= 20
    assert {"emi_debit", "emi_bounce", "loan_disbursal", "salary", "refund", "balance"} <= kinds
    assert sum(not r["expected"]["financial"] for r in rows) >= 50


def test_no_negative_is_financial() -> None:
    wrong = [
        r["body"]
        for r in _corpus()
        if not r["expected"]["financial"] and parse_sms(r["sender"], r["body"]).financial
    ]
    assert wrong == []


def test_amount_and_direction_on_at_least_97_percent_of_financial_messages() -> None:
    financial = [r for r in _corpus() if r["expected"]["financial"]]
    exact = 0
    for r in financial:
        got = parse_sms(r["sender"], r["body"])
        exact += (
            got.financial
            and got.amount == r["expected"]["amount"]
            and got.direction == r["expected"]["direction"]
        )
    assert exact / len(financial) >= 0.97


def test_each_field_matches_the_label() -> None:
    misses: dict[str, list[str]] = {f: [] for f in FIELDS}
    financial = [r for r in _corpus() if r["expected"]["financial"]]
    for r in financial:
        got = parse_sms(r["sender"], r["body"]).as_dict()
        for field in FIELDS:
            if got[field] != r["expected"][field]:
                misses[field].append(r["body"])
    assert {f: len(m) for f, m in misses.items() if len(m) > 0.03 * len(financial)} == {}


def test_fields_of_one_upi_debit() -> None:
    got = parse_sms(
        "VM-HDFCBK",
        "Rs.1,00,000.50 debited from A/c XX4321 on 01-Jan-26 to VPA ravi.k@oksbi (UPI Ref No 512345678901). Avl Bal Rs.2,345.00",
    )
    assert (got.kind, got.direction, got.amount, got.balance) == (
        "transaction",
        "debit",
        "100000.50",
        "2345.00",
    )
    assert (got.account_last4, got.channel, got.bank) == ("4321", "upi", "HDFC Bank")
    assert (got.reference, got.counterparty) == ("512345678901", "ravi.k@oksbi")


def test_cli_parse_sms_writes_one_object_per_line(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps(
            {
                "sender": "AX-SBIINB",
                "body": "INR 500.00 withdrawn at ATM from a/c no. XX1234. Avbl Bal INR 99.00",
            }
        )
        + "\n"
        + json.dumps({"sender": "VM-X", "body": "123456 is your OTP for Rs.500"})
        + "\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["devices", "parse-sms", str(source)])
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert (first["financial"], first["channel"], first["amount"], first["balance"]) == (
        True,
        "atm",
        "500.00",
        "99.00",
    )
    assert second["financial"] is False


def test_cli_parse_sms_rejects_a_line_without_a_body(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"sender": "VM-X"}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["devices", "parse-sms", str(source)])
    assert result.exit_code == 2
