"""The advisor's stored report, beside the tier reports: ``<archive-uri>/reports/dt=YYYY-MM-DD/``
``advisor_report.json`` (the candidates, as ``tierflow advise --json`` prints them) and
``advisor_report.md`` (the same for people to read).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from tierflow.report import REPORTS_PREFIX, report_days

JSON_FILE = "advisor_report.json"
MARKDOWN_FILE = "advisor_report.md"


def report_keys(day: date) -> tuple[str, str]:
    base = f"{REPORTS_PREFIX}/dt={day.isoformat()}"
    return f"{base}/{JSON_FILE}", f"{base}/{MARKDOWN_FILE}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(candidates: list[dict[str, Any]], day: date) -> str:
    lines = [
        f"# Query advisor, {day.isoformat()}",
        "",
        f"{len(candidates)} query shape(s), by total time; "
        f"{sum(bool(c['promotable']) for c in candidates)} promotable with a proof.",
        "",
        "| fingerprint | calls | total s | mean ms | tables | promotable / why not | proof | saving s |",
        "|---|---:|---:|---:|---|---|---|---:|",
    ]
    for c in candidates:
        if c["promotable"]:
            verdict = ("existing " if c["existing_model"] else "new ") + f"`{c['model_name']}`"
            proof = f"{c['literal_sets']} sets equal, {c['original_ms']:.1f} → {c['rewrite_ms']:.1f} ms"
        else:
            verdict, proof = f"no: {_cell(c['reason'])}", "-"
        saving = "-" if c["saving_ms"] is None else f"{c['saving_ms'] / 1000:.2f}"
        lines.append(
            f"| `{c['fingerprint']}` | {c['calls']} | {c['total_ms'] / 1000:.2f} | {c['mean_ms']:.1f} | "
            f"{_cell(', '.join(c['tables']))} | {verdict} | {proof} | {saving} |"
        )
    for c in candidates:
        if c["promotable"]:
            lines += ["", f"## `{c['fingerprint']}`", "", "```sql", c["example_sql"].strip(), "```", ""]
            lines += ["Rewrite:", "", "```sql", c["rewrite_sql"], "```"]
            if c.get("refresh_basis"):
                lines += ["", f"Refresh cost: {c['refresh_basis']}."]
    return "\n".join(lines) + "\n"


def latest(store: Any) -> tuple[date, list[dict[str, Any]]] | None:
    """The newest stored report: (its day, its candidates), or None when none is stored yet."""
    found = report_days(store, JSON_FILE)
    if not found:
        return None
    day, key = found[-1]
    return day, json.loads(store.get_bytes(key))


def save(store: Any, candidates: list[dict[str, Any]], day: date) -> tuple[str, str]:
    """Store the day's report (a rerun replaces it); returns the two URLs."""
    json_key, md_key = report_keys(day)
    store.put_bytes(json_key, json.dumps(candidates, default=str, indent=2).encode())
    store.put_bytes(md_key, markdown(candidates, day).encode())
    return store.url(json_key), store.url(md_key)
