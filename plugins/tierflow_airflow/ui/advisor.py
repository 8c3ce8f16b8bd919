"""The "Advisor" view of the Storage tiers page: the latest report the weekly ``query_advisor`` DAG
stored (``<archive-uri>/reports/dt=YYYY-MM-DD/advisor_report.json``), as HTML and JSON.

Each query shape shows its calls and time (a bar scaled to the costliest shape), whether it can be
promoted or why not, and for a promoted one its proof, net saving, rewrite and the command that
writes its model for review. The view only reads the stored report: it runs no query.
"""

from __future__ import annotations

import html
from datetime import date
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse

router = APIRouter()

STYLE = """
 body { font-family: system-ui, sans-serif; margin: 16px; color: #1a202c; }
 h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 18px 0 4px; }
 nav a { margin-right: 12px; } nav a.here { font-weight: 700; color: #1a202c; text-decoration: none; }
 table { border-collapse: collapse; margin: 12px 0; font-size: 13px; }
 th, td { border: 1px solid #e2e8f0; padding: 6px 10px; vertical-align: top; text-align: left; }
 th { background: #f7fafc; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
 .bar { background: #3182ce; height: 8px; border-radius: 2px; margin-top: 3px; }
 .muted { color: #718096; } .bad { color: #c53030; } .ok { color: #2f855a; }
 pre { background: #f7fafc; border: 1px solid #e2e8f0; padding: 8px; font-size: 12px; overflow-x: auto; }
 code { font-size: 12px; }
"""


def nav(here: str) -> str:
    """The links between the page's two views (relative, so they work behind a proxy prefix)."""
    links = [("Storage tiers", "./"), ("Advisor", "advisor")]
    return (
        "<nav>"
        + "".join(
            f'<a href="{href}" class="{"here" if name == here else ""}">{name}</a>' for name, href in links
        )
        + "</nav>"
    )


def stored_report() -> tuple[date, list[dict[str, Any]]] | None:
    from tierflow.advisor import report
    from tierflow.stores.objects import store_for

    # app.py imports this module: its settings are read at call time
    from tierflow_airflow.ui.app import settings_of_the_deployment

    return report.latest(store_for(settings_of_the_deployment()))


def _verdict(c: dict[str, Any]) -> str:
    if not c["promotable"]:
        return f'<span class="bad">no</span>: {html.escape(str(c["reason"]))}'
    kind = "existing mart" if c.get("existing_model") else "new model"
    return f'<span class="ok">yes</span>, {kind} <code>{html.escape(str(c["model_name"]))}</code>'


def _proof(c: dict[str, Any]) -> str:
    if not c["promotable"]:
        return '<span class="muted">-</span>'
    speedup = ""
    if c.get("original_ms") and c.get("rewrite_ms"):
        speedup = f" ({c['original_ms'] / c['rewrite_ms']:,.0f}&times;)"
    return (
        f"{c['literal_sets']} literal sets equal<br>"
        f"{c['original_ms']:,.1f} &rarr; {c['rewrite_ms']:,.1f} ms{speedup}"
    )


def _saving(c: dict[str, Any]) -> str:
    saving = c.get("saving_ms")
    if saving is None:
        return '<span class="muted">-</span>'
    cls = "ok" if saving > 0 else "bad"
    return f'<span class="{cls}">{saving / 1000:,.2f} s</span>'


def _row(c: dict[str, Any], widest: float) -> str:
    width = 0 if widest <= 0 else max(1, round(160 * c["total_ms"] / widest))
    return (
        f'<tr data-fingerprint="{html.escape(c["fingerprint"])}" data-promotable="{str(c["promotable"]).lower()}">'
        f"<td><code>{html.escape(c['fingerprint'])}</code></td>"
        f'<td class="num">{c["calls"]:,}</td>'
        f'<td class="num">{c["total_ms"] / 1000:,.2f} s<div class="bar" style="width:{width}px"></div></td>'
        f'<td class="num">{c["mean_ms"]:,.1f}</td>'
        f"<td>{html.escape(', '.join(c['tables']))}</td>"
        f"<td>{_verdict(c)}</td><td>{_proof(c)}</td><td class=num>{_saving(c)}</td></tr>"
    )


def _details(c: dict[str, Any]) -> str:
    fp = html.escape(c["fingerprint"])
    apply = (
        ""
        if c.get("existing_model")
        else f"<p>Write its model for review: <code>tierflow advise apply {fp}</code></p>"
    )
    basis = c.get("refresh_basis")
    refresh = f'<p class="refresh muted">refresh cost: {html.escape(basis)}</p>' if basis else ""
    return (
        f'<section class="candidate" id="fp-{fp}"><h2><code>{fp}</code></h2>'
        f"<p class=muted>what analysts ran ({c['calls']:,} calls):</p>"
        f"<pre>{html.escape(c['example_sql'].strip())}</pre>"
        f"<p class=muted>the rewrite, returning the same rows:</p>"
        f'<pre class="rewrite">{html.escape(c["rewrite_sql"] or "")}</pre>{refresh}{apply}</section>'
    )


def render_advisor(stored: tuple[date, list[dict[str, Any]]] | None) -> str:
    head = f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Query advisor</title><style>{STYLE}</style></head><body>"
    if stored is None:
        body = (
            "<h1>Query advisor</h1>"
            '<p id="summary">No advisor report is stored yet: the weekly <code>query_advisor</code> DAG '
            "writes one (or trigger it now).</p>"
        )
        return f"{head}{nav('Advisor')}{body}</body></html>"
    day, candidates = stored
    promoted = [c for c in candidates if c["promotable"]]
    widest = max((c["total_ms"] for c in candidates), default=0.0)
    rows = "".join(_row(c, widest) for c in candidates)
    body = (
        f"<h1>Query advisor</h1>"
        f'<p id="summary" class="muted">report of {day.isoformat()}: {len(candidates)} query shape(s) by '
        f"total time, {len(promoted)} promotable with a proof &middot; "
        f'<a href="advisor.json">JSON</a></p>'
        '<table id="candidates"><thead><tr><th>fingerprint</th><th>calls</th><th>total</th><th>mean ms</th>'
        "<th>tables</th><th>promotable / why not</th><th>proof</th><th>net saving</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>" + "".join(_details(c) for c in promoted)
    )
    return f"{head}{nav('Advisor')}{body}</body></html>"


@router.get("/storage-tiers/advisor", response_class=HTMLResponse)
def advisor_page() -> HTMLResponse:
    return HTMLResponse(render_advisor(stored_report()))


@router.get("/storage-tiers/advisor.json")
def advisor_json() -> JSONResponse:
    stored = stored_report()
    if stored is None:
        return JSONResponse({"day": None, "candidates": []})
    day, candidates = stored
    return JSONResponse({"day": day.isoformat(), "candidates": candidates})
