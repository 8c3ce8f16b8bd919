"""
### nightly_archive

Moves cold rows of every archived table from MySQL to verified Parquet in the archive (S3), 02:00
IST. One mapped task per table, children before parents: the tables are mapped in three waves by
foreign-key depth (tables without archived children, then their parents, then theirs), each wave
after the previous one is done, one table at a time inside the `tierflow_mysql` pool. A parent row
leaves only once none of its children remain in MySQL, so a failed child table only holds its
parents back. Each task runs `tierflow archive run --table T`: select (keyset on the PK),
gate (GX suite in `expectations/archive/`), write + upload, read back and verify, then delete only
rows still identical to the archived copy. A failure names the failing expectation or
verification in the task log; nothing of a failed batch is deleted and a retry resumes from the
ledger. Emits one Asset per table that moved rows; registers new partitions in Glue for `s3://`.

Trigger from the UI with params: `tables` (empty = all), `as_of` (YYYY-MM-DD, empty = now),
`dry_run`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, AssetAlias, CronTriggerTimetable, Param, dag, task
from tierflow_airflow.connections import AWS_CONN_ID, MYSQL_POOL
from tierflow_airflow.defaults import DEFAULT_ARGS, TAGS

ARCHIVE_ALIAS = "tierflow_archive"
# Foreign-key depth of the lending schema: customers -> loans / communications -> their children.
WAVES = 3
# The night's run is over (whatever each table did): tier_audit is scheduled on it.
ARCHIVE_RUN = Asset(name="tierflow_archive_run", uri="tierflow://archive/run")


@dag(
    dag_id="nightly_archive",
    schedule=CronTriggerTimetable("0 2 * * *", timezone="Asia/Kolkata"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Kolkata"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "archive"],
    doc_md=__doc__,
    params={
        "tables": Param([], type="array", items={"type": "string"}, description="Empty: all."),
        "as_of": Param("", type="string", description="YYYY-MM-DD; empty: now."),
        "dry_run": Param(False, type="boolean"),
    },
)
def nightly_archive():
    @task
    def list_archived_tables(params: dict | None = None) -> list[list[str]]:
        """Archived tables by foreign-key wave (children first)."""
        from tierflow.archive.run import fk_waves
        from tierflow.policy import load_policy
        from tierflow.stores import mysql
        from tierflow_airflow.hooks import TierflowHook

        settings = TierflowHook().get_settings()
        policy = load_policy(settings.policy_path)
        fks = mysql.foreign_keys(settings.mysql_url)
        return fk_waves(policy, (params or {}).get("tables") or None, fks, WAVES)

    @task
    def wave_tables(waves: list[list[str]], wave: int) -> list[str]:
        return waves[wave]

    @task
    def all_tables(waves: list[list[str]]) -> list[str]:
        return [name for tables in waves for name in tables]

    @task(pool=MYSQL_POOL, max_active_tis_per_dagrun=1, outlets=[AssetAlias(ARCHIVE_ALIAS)])
    def archive_table(table: str, params: dict | None = None, outlet_events=None) -> dict:
        """Archive one table; raise with the failing expectation/verification in the message."""
        from tierflow.archive.run import archive_table_task
        from tierflow_airflow.hooks import TierflowHook

        params = params or {}
        result = archive_table_task(table, params, TierflowHook().get_settings())
        if result["rows"] and not params.get("dry_run"):
            outlet_events[AssetAlias(ARCHIVE_ALIAS)].add(
                Asset(name=f"tierflow_archive.{table}", uri=result["asset_uri"]),
                extra={"rows": result["rows"], "partitions": len(result["partitions"])},
            )
        return result

    @task(trigger_rule="all_done", outlets=[ARCHIVE_RUN])
    def register_glue_partitions(tables: list[str]) -> int:
        """Add every dt partition the ledger holds and Glue lacks (s3:// archives only), also after
        a table failed or a retry finished an earlier run's batches."""
        from tierflow.catalog import archived_partitions, register_partitions
        from tierflow.policy import load_policy
        from tierflow_airflow.hooks import TierflowHook

        settings = TierflowHook().get_settings()
        if not settings.archive_uri.startswith("s3://"):
            print(f"archive {settings.archive_uri} is not on S3: no Glue partitions to register")
            return 0
        from airflow.providers.amazon.aws.hooks.glue_catalog import GlueCatalogHook

        glue = GlueCatalogHook(aws_conn_id=AWS_CONN_ID).get_conn()
        policy = load_policy(settings.policy_path)
        added = 0
        for table in tables:
            partitions = archived_partitions(settings, table)
            if partitions:
                added += register_partitions(glue, settings, policy.table(table), partitions)
        return added

    waves = list_archived_tables()
    previous = None
    for i in range(WAVES):
        # a later wave runs whatever the previous one did (a failed child table only holds back
        # its own parents' rows, by the guard); an empty wave is skipped
        tables = wave_tables.override(task_id=f"wave_{i}_tables")(waves, i)
        wave = archive_table.override(
            task_id=f"archive_wave_{i}", trigger_rule="all_done" if i else "all_success"
        ).expand(table=tables)
        if previous is not None:
            previous >> wave
        previous = wave
    previous >> register_glue_partitions(all_tables(waves))


nightly_archive()
