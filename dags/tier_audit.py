"""
### tier_audit

Daily audit of the storage tiers, after `nightly_archive` has run: as soon as its run ends (Asset
`tierflow_archive_run`), or at 04:30 IST if it did not run. For every table in the tier policy it collects rows, bytes and age in Redis,
MySQL, the archive and the warehouse (`tierflow tiers report`), stores the day's report and chart
under `<archive-uri>/reports/dt=YYYY-MM-DD/` so growth per day and trends can be computed, and fails
with the violations in the log when the report is red (param `strict`, default on).

The latest report is shown in the Airflow UI under **Storage tiers**.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
)
from tierflow_airflow.defaults import DEFAULT_ARGS, TAGS


@dag(
    dag_id="tier_audit",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("30 4 * * *", timezone="Asia/Kolkata"),
        assets=Asset(name="tierflow_archive_run", uri="tierflow://archive/run"),
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Kolkata"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "audit"],
    doc_md=__doc__,
    params={
        "strict": Param(True, type="boolean", description="Fail the run when there is any violation."),
    },
)
def tier_audit():
    @task
    def build_report() -> dict:
        """Collect every tier, evaluate the policy, store the day's report (a rerun replaces it)."""
        from tierflow import report as tier_report
        from tierflow_airflow.failures import retry_only_transient
        from tierflow_airflow.hooks import TierflowHook

        moment = get_current_context().get("logical_date") or pendulum.now("UTC")
        as_of = pendulum.instance(moment).in_timezone("UTC").naive()
        with retry_only_transient():
            settings = TierflowHook().get_settings()
            result = tier_report.generate(settings, as_of)
            url = tier_report.save(settings, result)
        print(tier_report.summary_line(result))
        return {"url": url, "as_of": result.as_of, "status": result.status, "violations": len(result.red)}

    @task
    def draw_chart(saved: dict) -> str:
        """Draw the months-by-tier chart for the stored report, next to it in the store."""
        from datetime import datetime

        from tierflow import report as tier_report
        from tierflow.report.chart import render_png
        from tierflow.stores.objects import store_for
        from tierflow_airflow.failures import retry_only_transient
        from tierflow_airflow.hooks import TierflowHook

        with retry_only_transient():
            store = store_for(TierflowHook().get_settings())
            key = tier_report.report_key(datetime.fromisoformat(saved["as_of"]).date())
            stored = tier_report.Report.from_json(store.get_bytes(key))
            chart_key = key.rsplit("/", 1)[0] + "/tier_chart.png"
            store.put_bytes(chart_key, render_png(stored))
            return store.url(chart_key)

    @task
    def check_report(saved: dict) -> None:
        """Fail (no retries) with every violation in the log when the report is red and strict."""
        from datetime import datetime

        from airflow.sdk.exceptions import AirflowFailException
        from tierflow import report as tier_report
        from tierflow.stores.objects import store_for
        from tierflow_airflow.failures import retry_only_transient
        from tierflow_airflow.hooks import TierflowHook

        context = get_current_context()
        with retry_only_transient():
            store = store_for(TierflowHook().get_settings())
            key = tier_report.report_key(datetime.fromisoformat(saved["as_of"]).date())
            stored = tier_report.Report.from_json(store.get_bytes(key))
        for v in stored.violations:
            print(f"{v.severity.upper()} {v.kind}: {v.message}")
        print(tier_report.summary_line(stored))
        if stored.red and context["params"]["strict"]:
            raise AirflowFailException(
                f"tier report {saved['url']} is red: "
                + "; ".join(f"{v.kind}: {v.message}" for v in stored.red)
            )

    saved = build_report()
    draw_chart(saved)
    check_report(saved)


tier_audit()
