"""FastAPI app behind the "Storage tiers" page: the latest tier report as HTML, JSON and a PNG chart,
and its "Advisor" view of the latest query advisor report (``ui/advisor.py``).

Mounted by ``plugins/tierflow_ui_plugin.py`` at ``/tierflow``; the page is shown inside the Airflow
UI as an external view (an iframe). The report is the latest one ``tier_audit`` stored; when none is
stored yet (or with ``?live=1``) it is collected on the spot and not stored. Settings come from
``TierflowHook``, as in the DAGs: the Connections and Variables the API server reads from its
metadata database or secrets backend, the environment (TIERFLOW_*) for what has none.
"""

from __future__ import annotations

import html
import threading
import time
from typing import Any

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from tierflow import report as tier_report
from tierflow.config import Settings

from tierflow_airflow.hooks import TierflowHook
from tierflow_airflow.ui.advisor import nav
from tierflow_airflow.ui.advisor import router as advisor_router

LIVE_CACHE_SECONDS = 60

app = FastAPI(title="tierflow storage tiers", docs_url=None, redoc_url=None, openapi_url=None)

app.include_router(advisor_router)  # the "Advisor" view: /storage-tiers/advisor

_cache: dict[str, Any] = {}
_lock = threading.Lock()


def settings_of_the_deployment() -> Settings:
    """The settings the DAGs run with (``TierflowHook``), read again on each request, so that a
    changed Connection shows on the next one."""
    return TierflowHook().get_settings()


def current_report(live: bool = False) -> tuple[tier_report.Report, str]:
    """(report, where it came from). Blocking: FastAPI runs the sync routes in its thread pool."""
    settings = settings_of_the_deployment()
    if not live:
        stored = tier_report.latest(settings)
        if stored is not None:
            return stored, "stored by tier_audit"
    with _lock:
        cached = _cache.get("live")
        if cached and time.monotonic() - cached[0] < LIVE_CACHE_SECONDS:
            return cached[1], "collected live"
        report = tier_report.generate(settings)
        _cache["live"] = (time.monotonic(), report)
    return report, "collected live"


def _stats(stats: tier_report.TierStats | None, *, with_bytes: bool = True) -> str:
    if stats is None:
        return '<span class="muted">-</span>'
    if stats.missing:
        return '<span class="bad">missing</span>'
    rows = f"{'~' if stats.approximate else ''}{stats.rows:,}" if stats.rows is not None else "?"
    parts = [f"<b>{rows}</b>"]
    if with_bytes and stats.bytes is not None:
        parts.append(tier_report.human_bytes(stats.bytes))
    if stats.oldest:
        parts.append(
            f'<span class="muted">{html.escape(stats.oldest[:10])} &rarr; '
            f"{html.escape((stats.newest or '')[:10])}</span>"
        )
    return "<br>".join(parts)


def render_page(report: tier_report.Report, source: str) -> str:
    flagged = {v.table for v in report.red if v.table}
    rows = []
    for t in report.tables:
        archive = _stats(t.archive)
        if t.archive is not None:
            archive = f"{t.archive.files} files<br>" + archive
        rows.append(
            f'<tr data-table="{html.escape(t.name)}" class="{"red" if t.name in flagged else ""}">'
            f"<td class=name>{html.escape(t.name)}</td>"
            f"<td>{t.hot_window_days or '-'} / {t.warm_window_days} d</td>"
            f"<td>{_stats(t.redis)}</td><td>{_stats(t.mysql)}</td><td>{archive}</td>"
            f"<td>{_stats(t.warehouse, with_bytes=False)}</td></tr>"
        )
    violations = (
        "".join(
            f'<li class="{"bad" if v.severity == "violation" else "warn"}"><b>{html.escape(v.kind)}</b>: '
            f"{html.escape(v.message)}</li>"
            for v in report.violations
        )
        or '<li class="ok">no violations</li>'
    )
    db = report.database
    growth = (
        f"growth {tier_report.human_bytes(db.growth_bytes_per_day)}/day over {db.history_days} days"
        if db.growth_bytes_per_day is not None
        else "growth: needs two daily reports"
    )
    if db.days_until_soft_cap is not None:
        growth += f", {db.days_until_soft_cap:.0f} days until the soft cap"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Storage tiers</title>
<style>
 body {{ font-family: system-ui, sans-serif; margin: 16px; color: #1a202c; }}
 h1 {{ font-size: 20px; margin: 0 0 4px; }}
 .status {{ display: inline-block; padding: 2px 10px; border-radius: 10px; color: white; font-weight: 600; }}
 .status.green {{ background: #2f855a; }} .status.amber {{ background: #b7791f; }} .status.red {{ background: #c53030; }}
 table {{ border-collapse: collapse; margin: 12px 0; font-size: 13px; }}
 th, td {{ border: 1px solid #e2e8f0; padding: 6px 10px; vertical-align: top; text-align: left; }}
 th {{ background: #f7fafc; }}
 tr.red td.name {{ color: #c53030; font-weight: 600; }}
 .muted {{ color: #718096; }} .bad {{ color: #c53030; }} .warn {{ color: #b7791f; }} .ok {{ color: #2f855a; }}
 img {{ max-width: 100%; border: 1px solid #e2e8f0; }}
</style></head>
<body>
{nav("Storage tiers")}
<h1>Storage tiers <span class="status {report.status}" id="status">{report.status.upper()}</span></h1>
<div class="muted">as of {html.escape(report.as_of)} &middot; {html.escape(source)} &middot; generated
 {html.escape(report.generated_at)} &middot; <a href="report.json">JSON</a> &middot; <a href="?live=1">collect now</a></div>
<p>database <b>{html.escape(db.name)}</b>: {tier_report.human_bytes(db.bytes)} of soft
 {tier_report.human_bytes(db.soft_cap_bytes)} / hard {tier_report.human_bytes(db.hard_cap_bytes)}; {growth}</p>
<table id="tiers"><thead><tr><th>table</th><th>hot / warm window</th><th>Redis<br>customers, bytes, entries</th>
<th>MySQL<br>rows, data+index, rows</th><th>archive<br>files, rows, bytes, partitions</th><th>warehouse<br>rows</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<h2 style="font-size:16px">Violations and findings</h2><ul id="violations">{violations}</ul>
<img id="chart" alt="months per tier" src="chart.png{"?live=1" if source == "collected live" else ""}">
</body></html>"""


@app.get("/storage-tiers/", response_class=HTMLResponse)
def storage_tiers(live: bool = Query(False)) -> HTMLResponse:
    report, source = current_report(live)
    return HTMLResponse(render_page(report, source))


@app.get("/storage-tiers/report.json")
def report_json(live: bool = Query(False)) -> JSONResponse:
    report, _ = current_report(live)
    return JSONResponse(report.to_dict())


@app.get("/storage-tiers/chart.png")
def chart_png(live: bool = Query(False)) -> Response:
    from tierflow.report.chart import render_png

    report, _ = current_report(live)
    return Response(render_png(report), media_type="image/png", headers={"Cache-Control": "no-store"})
