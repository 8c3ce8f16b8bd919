"""Device data benchmark: the bank-SMS parser's rate on one core over the labelled corpus."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tierflow.devices import parse_sms

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "device_sms_corpus.jsonl"


def main(repeat: int = 300) -> None:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    messages = [(r["sender"], r["body"]) for r in rows] * repeat
    started = time.perf_counter()
    for sender, body in messages:
        parse_sms(sender, body)
    elapsed = time.perf_counter() - started
    print(
        f"parser: {len(messages):,} SMS in {elapsed:.2f} s = {len(messages) / elapsed:,.0f} SMS/s (target 50,000)"
    )


if __name__ == "__main__":
    main()
