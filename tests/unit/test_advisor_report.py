"""The advisor's stored report: JSON and markdown beside the tier reports."""

from __future__ import annotations

import json
from datetime import date

from tierflow.advisor import report
from tierflow.advisor.advise import Candidate


class _Store:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_bytes(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    def url(self, key: str) -> str:
        return f"mem://{key}"


def test_the_report_is_stored_as_json_and_markdown_beside_the_tier_reports() -> None:
    promoted = Candidate(
        "abc",
        12,
        6000.0,
        500.0,
        "SELECT gateway, count(*) FROM raw.t WHERE status = 'x' GROUP BY 1",
        ["postgres"],
        ["raw.t"],
        True,
        model_name="promoted_t_abc",
        rewrite_sql="SELECT gateway FROM m",
        equivalent=True,
        literal_sets=5,
        original_ms=500.0,
        rewrite_ms=5.0,
        saving_ms=5000.0,
    )
    refused = Candidate(
        "def",
        4,
        800.0,
        200.0,
        "SELECT count(DISTINCT a) FROM raw.t",
        ["postgres"],
        ["raw.t"],
        False,
        reason="count(distinct) across the grain | cannot be re-aggregated",
    )
    store = _Store()
    urls = report.save(store, [promoted.as_dict(), refused.as_dict()], date(2026, 6, 1))
    assert urls == (
        "mem://reports/dt=2026-06-01/advisor_report.json",
        "mem://reports/dt=2026-06-01/advisor_report.md",
    )
    stored = json.loads(store.objects["reports/dt=2026-06-01/advisor_report.json"])
    assert [c["fingerprint"] for c in stored] == ["abc", "def"]
    md = store.objects["reports/dt=2026-06-01/advisor_report.md"].decode()
    assert (
        "| `abc` | 12 | 6.00 | 500.0 | raw.t | new `promoted_t_abc` | 5 sets equal, 500.0 → 5.0 ms | 5.00 |"
        in md
    )
    assert "no: count(distinct) across the grain \\| cannot be re-aggregated" in md
    assert "SELECT gateway FROM m" in md
