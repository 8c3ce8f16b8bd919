"""
### warehouse_refresh

Write-audit-publish of the warehouse. For each table the tier policy marks `warehouse: true`, a
mapped task extracts new and changed rows since its watermark, stages them as Parquet under
`<archive-uri>/_tierflow_staging/`, COPYs them into `raw_audit`, runs the table's GX suite and only then
MERGEs into `raw` with the watermark (`tierflow warehouse load`). The dbt models are then built per
model by Cosmos into the idle audit slot (`analytics_audit_blue`/`_green`), each followed by its
tests; `publish_marts` runs the marts' GX suites there and swaps `analytics` to the slot in one
transaction. `choose_build_slot` takes the warehouse's build lease first and holds it to the publish
(`release_build_slot`, a teardown, gives it up however the run ends), so a `tierflow warehouse build`
cannot rebuild the slot this run is building, nor the reverse. A failing test stops the run before `publish_marts`: `analytics` stays as it was.

Schedule: daily (06:00 IST), or earlier when the source is known to have changed: Asset
`tierflow_mysql_lending`, which an upstream ingestion DAG lists as an outlet or any system posts
through the REST API (`POST /api/v2/assets/events` with `asset_id` of `tierflow://mysql/lending`),
e.g. after a bulk import. The loads emit `tierflow_warehouse_raw` and the publish
`tierflow_warehouse_analytics`, for the DAGs and extracts downstream of the marts (this DAG is not
scheduled on its own outputs, which would re-trigger it forever). The dbt graph is read from `dbt/target/manifest.json`
(`tierflow warehouse parse` writes it) so parsing this file never runs dbt.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pendulum
from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestIndirectSelection
from tierflow.config import Settings
from tierflow.warehouse.dbt import PROFILE_VARS
from tierflow_airflow.defaults import DEFAULT_ARGS, TAGS

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt"
# dbt from the project's .venv (a local checkout), else the one installed with Airflow (Docker image)
DBT_BIN = (
    ROOT / ".venv" / "bin" / "dbt"
    if (ROOT / ".venv" / "bin" / "dbt").exists()
    else shutil.which("dbt") or "dbt"
)
# The profile's target: `local` (PostgreSQL) or `prod` (Redshift), the settings' `dbt_target`
# (TIERFLOW_DBT_TARGET where Airflow is deployed). Parsing reads no Connection, so the
# environment's settings decide it.
DBT_TARGET = Settings.from_env().dbt_profile_target
SOURCE_CHANGED = Asset(name="tierflow_mysql_lending", uri="tierflow://mysql/lending")
RAW_LOADED = Asset(name="tierflow_warehouse_raw", uri="tierflow://warehouse/raw")
MARTS_PUBLISHED = Asset(name="tierflow_warehouse_analytics", uri="tierflow://warehouse/analytics")


@functools.cache  # one Connection lookup per task process, not one per variable
def dbt_profile_env(slot: str) -> dict[str, str]:
    """dbt's profile variables for the builder (the build Connection when there is one, else the
    warehouse one) and ``slot``: ``tierflow.warehouse.dbt.profile_env``, the one builder of dbt's
    environment, which the CLI's dbt runs use too. A macro: resolved in the task, never at parse."""
    from tierflow.warehouse.dbt import profile_env
    from tierflow_airflow.failures import retry_only_transient
    from tierflow_airflow.hooks import TierflowHook

    with retry_only_transient():
        settings = TierflowHook().get_settings()
        return profile_env(settings.as_builder().warehouse_url, slot, settings=settings)


_SLOT = "ti.xcom_pull(task_ids='choose_build_slot')['slot']"
DBT_ENV = {name: f"{{{{ dbt_profile_env({_SLOT})['{name}'] }}}}" for name in PROFILE_VARS}
# Narrow an incremental build's tests and its delinquency rebuild to what was loaded since
# (tierflow.warehouse.publish.plan_build); an empty value means "everything".
DBT_VARS = {
    name: f"{{{{ ti.xcom_pull(task_ids='choose_build_slot')['{name}'] or '' }}}}"
    for name in ("tests_loaded_since", "changed_since")
}


@dag(
    dag_id="warehouse_refresh",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 6 * * *", timezone="Asia/Kolkata"), assets=SOURCE_CHANGED
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Kolkata"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "warehouse"],
    doc_md=__doc__,
    user_defined_macros={"dbt_profile_env": dbt_profile_env},
    params={"full_refresh": Param(False, type="boolean", description="Reload raw and rebuild marts.")},
)
def warehouse_refresh():
    @task
    def list_warehouse_tables() -> list[str]:
        """The policy's warehouse tables, parents first (the MERGE order does not matter for raw)."""
        from tierflow.policy import load_policy
        from tierflow.warehouse.load import warehouse_tables
        from tierflow_airflow.failures import retry_only_transient
        from tierflow_airflow.hooks import TierflowHook

        with retry_only_transient():
            policy = load_policy(TierflowHook().get_settings().policy_path)
            return [t.name for t in reversed(warehouse_tables(policy))]

    @task(outlets=[RAW_LOADED], max_active_tis_per_dagrun=2)
    def load_table(table: str, params: dict | None = None) -> dict:
        """Extract -> stage -> raw_audit -> GX gate -> MERGE into raw + watermark (idempotent)."""
        from tierflow.policy import load_policy
        from tierflow.warehouse.load import load_table as load
        from tierflow_airflow.failures import retry_only_transient
        from tierflow_airflow.hooks import TierflowHook

        with retry_only_transient():
            settings = TierflowHook().get_settings()
            table_policy = load_policy(settings.policy_path).table(table)
            report = load(settings, table_policy, full_refresh=bool((params or {}).get("full_refresh")))
            return report.as_dict()

    @task
    def choose_build_slot(params: dict | None = None, dag_run=None) -> dict:
        """Take the build lease (until publish_marts, or release_build_slot), then the audit slot
        analytics does not read from (dbt builds there), and what was loaded since the last build,
        which narrows the dbt tests and the delinquency rebuild."""
        from dataclasses import asdict

        from tierflow.warehouse.publish import plan_build
        from tierflow_airflow.failures import retry_only_transient
        from tierflow_airflow.hooks import TierflowHook

        full_refresh = bool((params or {}).get("full_refresh"))
        owner = f"airflow:{dag_run.dag_id}/{dag_run.run_id}"
        with retry_only_transient():
            return asdict(
                plan_build(TierflowHook().get_settings(), full_refresh=full_refresh, lease_owner=owner)
            )

    @task(outlets=[MARTS_PUBLISHED])
    def publish_marts(plan: dict, params: dict | None = None) -> dict:
        """Mart GX suites in the slot, then analytics -> slot in one transaction."""
        from tierflow.warehouse.publish import BuildPlan, publish_slot
        from tierflow_airflow.failures import retry_only_transient
        from tierflow_airflow.hooks import TierflowHook

        build = BuildPlan(**plan)
        with retry_only_transient():
            report = publish_slot(
                TierflowHook().get_settings(),
                build.slot,
                full_refresh=bool((params or {}).get("full_refresh")),
                plan=build,
            )
        return {"slot": report.slot, "published": report.published, "primed": report.primed}

    @task
    def release_build_slot(plan: dict) -> bool:
        """Give the build lease up however the run ended (a teardown: the run's state is its
        other tasks'); a no-op after publish_marts, which released it."""
        from tierflow.warehouse import lease
        from tierflow_airflow.failures import retry_only_transient
        from tierflow_airflow.hooks import TierflowHook

        with retry_only_transient():
            return lease.release(TierflowHook().get_settings(), plan["lease_owner"])

    dbt_models = DbtTaskGroup(
        group_id="dbt_models",
        project_config=ProjectConfig(
            DBT_DIR, manifest_path=DBT_DIR / "target" / "manifest.json", project_name="tierflow"
        ),
        profile_config=ProfileConfig(
            profile_name="tierflow", target_name=DBT_TARGET, profiles_yml_filepath=DBT_DIR / "profiles.yml"
        ),
        # A test on a model with several parents (relationships) runs once all are built.
        execution_config=ExecutionConfig(
            dbt_executable_path=str(DBT_BIN),
            invocation_mode=InvocationMode.SUBPROCESS,
            test_indirect_selection=TestIndirectSelection.CAUTIOUS,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST, should_detach_multiple_parents_tests=True
        ),
        operator_args={
            "env": DBT_ENV,
            "append_env": True,
            "vars": DBT_VARS,
            "full_refresh": "{{ params.full_refresh }}",
        },
        default_args=DEFAULT_ARGS,
    )

    loads = load_table.expand(table=list_warehouse_tables())
    plan = choose_build_slot()
    released = release_build_slot(plan).as_teardown(setups=plan)
    loads >> plan >> dbt_models >> publish_marts(plan) >> released


warehouse_refresh()
