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

**Runs.** The schedule (and the run Airflow starts when the DAG is unpaused) archives every table as
of now, as the policy says. A run from the trigger form does what the form says and is a **dry run
unless `dry_run` is unticked**. Params:

- `tables`: tables to archive, chosen from the policy's; empty: all.
- `as_of`: archive as of this date (YYYY-MM-DD); empty: now. A future date is refused by
  `check_archive_run` before any table is touched.
- `dry_run`: count what would move, change nothing (default on).
- `allow_large_run`: let a table move more than `archive.max_run_fraction` of its rows (default
  off: such a table stops before its first batch, naming the count).

**Run window.** A run that would delete rows outside the policy's `archive.run_window` (below)
does nothing and says so in its log and summary.

**A failed table fails the run.** The other tables still run; `summarise_archive_run` logs what
every table did, logs the alert `archive.run.failed` naming the failed tables, and fails. Errors a
retry cannot fix (bad params, policy, a failed gate or verification) fail at once; only transient
ones (connection lost, throttled, a lock held) are retried.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, AssetAlias, CronTriggerTimetable, Param, dag, get_current_context, task
from tierflow_airflow.archive import deployed_policy, run_window_doc
from tierflow_airflow.connections import MYSQL_POOL
from tierflow_airflow.defaults import DEFAULT_ARGS, TAGS

ARCHIVE_ALIAS = "tierflow_archive"
# Foreign-key depth of the lending schema: customers -> loans / communications -> their children.
WAVES = 3
# The night's run is over (whatever each table did): tier_audit is scheduled on it.
ARCHIVE_RUN = Asset(name="tierflow_archive_run", uri="tierflow://archive/run")
# One table's task: a night's run fits the run window, a stuck one is stopped and retried.
TABLE_TIMEOUT = timedelta(hours=3)
POLICY = deployed_policy()
POLICY_TABLES = list(POLICY.tables)


@task
def check_archive_run(params: dict | None = None) -> dict:
    """What this run does (params, run type, run window); bad params fail here, at once."""
    from tierflow.policy import load_policy
    from tierflow_airflow.archive import plan_run
    from tierflow_airflow.failures import retry_only_transient
    from tierflow_airflow.hooks import TierflowHook

    with retry_only_transient():
        policy = load_policy(TierflowHook().get_settings().policy_path)
        run_type = get_current_context()["dag_run"].run_type
        return plan_run(params or {}, run_type, policy, pendulum.now("UTC"))


@task
def list_archived_tables(plan: dict) -> list[list[str]]:
    """Archived tables by foreign-key wave (children first); none when the run is skipped."""
    from tierflow.policy import load_policy
    from tierflow.stores import mysql
    from tierflow.stores.mysql_graph import fk_waves
    from tierflow_airflow.failures import retry_only_transient
    from tierflow_airflow.hooks import TierflowHook

    if plan["skipped"]:
        return [[] for _ in range(WAVES)]
    with retry_only_transient():
        settings = TierflowHook().get_settings()
        policy = load_policy(settings.policy_path)
        fks = mysql.foreign_keys(settings.mysql_url)
        return fk_waves(policy, plan["tables"] or None, fks, WAVES)


@task
def wave_tables(waves: list[list[str]], wave: int) -> list[str]:
    return waves[wave]


@task
def all_tables(waves: list[list[str]]) -> list[str]:
    return [name for tables in waves for name in tables]


@task(
    pool=MYSQL_POOL,
    max_active_tis_per_dagrun=1,
    outlets=[AssetAlias(ARCHIVE_ALIAS)],
    execution_timeout=TABLE_TIMEOUT,
)
def archive_table(table: str, plan: dict, outlet_events=None) -> dict:
    """Archive one table; raise with the failing expectation/verification in the message.
    Its result is kept (XCom ``table_result``) even when it fails, for the run's summary."""
    from tierflow_airflow.archive import archive_one_table
    from tierflow_airflow.failures import retry_only_transient
    from tierflow_airflow.hooks import TierflowHook

    with retry_only_transient():
        done = archive_one_table(table, plan, TierflowHook().get_settings())
        result = done["result"]
        get_current_context()["ti"].xcom_push(key="table_result", value=result)
        if done["failure"] is not None:
            raise done["failure"]
    if result["rows"] and not plan["dry_run"]:
        outlet_events[AssetAlias(ARCHIVE_ALIAS)].add(
            Asset(name=f"tierflow_archive.{table}", uri=result["asset_uri"]),
            extra={"rows": result["rows"], "partitions": len(result["partitions"])},
        )
    return result


@task(trigger_rule="all_done", outlets=[ARCHIVE_RUN])
def register_glue_partitions(tables: list[str] | None) -> int:
    """Add every dt partition the ledger holds and Glue lacks (s3:// archives only), also after
    a table failed or a retry finished an earlier run's batches."""
    from tierflow.catalog import archived_partitions, register_partitions
    from tierflow.policy import load_policy
    from tierflow_airflow.failures import retry_only_transient
    from tierflow_airflow.hooks import TierflowHook

    with retry_only_transient():
        settings = TierflowHook().get_settings()
        if not settings.archive_uri.startswith("s3://"):
            print(f"archive {settings.archive_uri} is not on S3: no Glue partitions to register")
            return 0
        from tierflow.stores import aws

        glue = aws.client(settings, "glue")  # the aws_default Connection, as S3's client
        policy = load_policy(settings.policy_path)
        added = 0
        for table in tables or []:  # none when the run failed before listing its tables
            partitions = archived_partitions(settings, table)
            if partitions:
                added += register_partitions(glue, settings, policy.table(table), partitions)
        return added


@task(trigger_rule="all_done")
def summarise_archive_run(plan: dict | None, tables: list[str] | None) -> dict:
    """What every table did; fails the run (after logging the alert) when any table failed."""
    from airflow.sdk.exceptions import AirflowFailException
    from tierflow_airflow.archive import summarise_run

    if plan is None or tables is None:
        # check_archive_run or list_archived_tables failed: nothing ran; their log says why
        raise AirflowFailException("this run archived nothing: see check_archive_run's log")
    ti = get_current_context()["ti"]
    results = []
    for i in range(WAVES):
        pulled = ti.xcom_pull(task_ids=f"archive_wave_{i}", key="table_result")
        results += [r for r in (pulled or []) if r] if isinstance(pulled, list) else [pulled]
    summary = summarise_run(plan, tables, results)
    if summary["failed"]:
        raise AirflowFailException(
            f"archive run failed for {', '.join(summary['failed'])}: see archive.run.failed above"
        )
    return summary


@dag(
    dag_id="nightly_archive",
    schedule=CronTriggerTimetable("0 2 * * *", timezone="Asia/Kolkata"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Kolkata"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "archive"],
    doc_md=f"{__doc__}\n{run_window_doc(POLICY)}\n",
    params={
        "tables": Param(
            [],
            type="array",
            items={"type": "string", "enum": POLICY_TABLES},
            uniqueItems=True,
            examples=POLICY_TABLES,
            description="Tables to archive, from the tier policy. Empty: every archived table.",
        ),
        "as_of": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Archive as of this date (YYYY-MM-DD). Empty: now. A future date is refused.",
        ),
        "dry_run": Param(
            True,
            type="boolean",
            description="Count what would move and change nothing. Untick to archive and delete.",
        ),
        "allow_large_run": Param(
            False,
            type="boolean",
            description="Let a table move more than the policy's archive.max_run_fraction of its rows "
            "(a first archive of an old database). Off: such a table stops before its first batch.",
        ),
    },
)
def nightly_archive():
    plan = check_archive_run()
    waves = list_archived_tables(plan)
    previous = None
    for i in range(WAVES):
        # a later wave runs whatever the previous one did (a failed child table only holds back
        # its own parents' rows, by the guard); an empty wave is skipped
        tables = wave_tables.override(task_id=f"wave_{i}_tables")(waves, i)
        wave = (
            archive_table.override(
                task_id=f"archive_wave_{i}", trigger_rule="all_done" if i else "all_success"
            )
            .partial(plan=plan)
            .expand(table=tables)
        )
        if previous is not None:
            previous >> wave
        previous = wave
    every_table = all_tables(waves)
    previous >> register_glue_partitions(every_table)
    previous >> summarise_archive_run(plan, every_table)


nightly_archive()
