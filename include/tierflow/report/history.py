"""Daily reports kept in the archive store: ``<archive-uri>/reports/dt=YYYY-MM-DD/tier_report.json``."""

from __future__ import annotations

from datetime import date, datetime

from tierflow.config import Settings
from tierflow.report.model import Report

REPORTS_PREFIX = "reports"
REPORT_FILE = "tier_report.json"


def report_key(day: date) -> str:
    return f"{REPORTS_PREFIX}/dt={day.isoformat()}/{REPORT_FILE}"


def save(settings: Settings, report: Report) -> str:
    """Store the report under its as-of day (one per day; a rerun replaces it). Returns the URL."""
    from tierflow.stores.objects import store_for

    store = store_for(settings)
    key = report_key(datetime.fromisoformat(report.as_of).date())
    store.put_bytes(key, report.to_json().encode())
    return store.url(key)


def report_days(store, file_name: str) -> list[tuple[date, str]]:
    """(day, key) of each stored ``reports/dt=<day>/<file_name>`` in ``store``, oldest first."""
    from tierflow.archive.layout import partition_value

    found: list[tuple[date, str]] = []
    for obj in store.list(f"{REPORTS_PREFIX}/"):
        if not obj.key.endswith("/" + file_name):
            continue
        part = obj.key.split("/")[1]
        try:
            found.append((date.fromisoformat(partition_value(part)), obj.key))
        except ValueError:
            continue
    found.sort()
    return found


def load_history(settings: Settings, days: int | None = None) -> list[tuple[date, Report]]:
    """Stored daily reports, oldest first (the last ``days`` of them when given)."""
    from tierflow.stores.objects import store_for

    store = store_for(settings)
    found = report_days(store, REPORT_FILE)
    if days:
        found = found[-days:]
    return [(d, Report.from_json(store.get_bytes(k))) for d, k in found]


def latest(settings: Settings) -> Report | None:
    history = load_history(settings, days=1)
    return history[-1][1] if history else None
