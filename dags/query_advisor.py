"""
### query_advisor

Weekly query advisor (Mondays 06:00 IST): reads the last week's query history of the warehouse
(pg_stat_statements locally, SYS_QUERY_HISTORY on Redshift), Athena (when `TIERFLOW_ATHENA_WORKGROUP`
is set) and `tierflow query`, ranks the query shapes by calls x mean cost, proves the promotable ones
on the warehouse, and stores the report as JSON and markdown beside the tier reports under
`<archive-uri>/reports/dt=YYYY-MM-DD/advisor_report.{json,md}`. It changes nothing: promoting a
candidate is `tierflow advise apply FINGERPRINT`, reviewed like any other model (docs/advisor.md).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task
from tierflow_airflow.defaults import DEFAULT_ARGS, TAGS


@dag(
    dag_id="query_advisor",
    schedule=CronTriggerTimetable("0 6 * * 1", timezone="Asia/Kolkata"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Kolkata"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "advisor"],
    doc_md=__doc__,
    params={
        "min_calls": Param(3, type="integer", minimum=1, description="Only shapes run at least this often."),
        "top": Param(20, type="integer", minimum=1, description="At most this many shapes, by total time."),
    },
)
def query_advisor():
    @task
    def advise() -> dict:
        """Collect the week's history, advise, store the report (a rerun replaces the day's)."""
        from datetime import timedelta

        from tierflow.advisor import report
        from tierflow.advisor.collect import run
        from tierflow.stores.objects import store_for
        from tierflow_airflow.failures import retry_only_transient
        from tierflow_airflow.hooks import TierflowHook

        context = get_current_context()
        moment = pendulum.instance(context.get("logical_date") or pendulum.now("UTC")).in_timezone("UTC")
        with retry_only_transient():
            settings = TierflowHook().get_settings()
            candidates = run(
                settings,
                moment - timedelta(days=7),
                moment,
                min_calls=context["params"]["min_calls"],
                top=context["params"]["top"],
            )
            rows = [c.as_dict() for c in candidates]
            json_url, md_url = report.save(store_for(settings), rows, moment.date())
        promoted = sum(c.promotable for c in candidates)
        print(f"{len(rows)} shapes, {promoted} promotable with a proof: {md_url}")
        return {"json": json_url, "markdown": md_url, "shapes": len(rows), "promotable": promoted}

    advise()


query_advisor()
