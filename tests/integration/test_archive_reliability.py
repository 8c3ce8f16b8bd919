"""kill -9 at every phase boundary and at random moments, S3 outages, and the S3 settings (moto).

Kills use children forked from a forkserver (the heavy imports are paid once), killed with SIGKILL by
the crash hook at a named phase or by the parent at a random moment; then a clean run finishes.
MySQL ∪ archive must equal the original row for row with no duplicates.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time

import pytest
from tierflow.archive import run_archive
from tierflow.archive.ops import verify_archive
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY
from tierflow.stores import mysql

from tests.conftest import NO_WAREHOUSE_URL
from tests.integration.test_archive_run import (
    AS_OF,
    archive_rows,
    assert_union_equals,
    make_rows,
    mysql_rows,
)

PHASES = ["extracted", "object_put", "uploaded", "verified", "delete_chunk", "deleted_rows", "deleted"]


def _child(settings: Settings, crash_at: str | None, batch_rows: int, policy) -> None:
    if crash_at:
        os.environ["TIERFLOW_ARCHIVE_CRASH_AT"] = crash_at
    else:
        os.environ.pop("TIERFLOW_ARCHIVE_CRASH_AT", None)
    summary = run_archive(
        settings,
        allow_large_run=True,
        tables=["loan_transactions"],
        as_of=AS_OF,
        batch_rows=batch_rows,
        gate=False,
        policy=policy,
    )
    os._exit(0 if summary.ok else 1)


def _context():
    """Children fork from a clean forkserver with the heavy modules preloaded: quick to start,
    and never a copy of this test process, whose native thread pools (connectorx's, Arrow's)
    a plain fork would inherit half-alive."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tierflow.archive.run", "pyarrow.parquet", "connectorx", "duckdb", "MySQLdb"])
    return ctx


def _fork_run(
    settings: Settings,
    crash_at: str | None = None,
    kill_after: float | None = None,
    batch_rows: int = 20,
    policy=None,
) -> int:
    ctx = _context()
    proc = ctx.Process(target=_child, args=(settings, crash_at, batch_rows, policy))
    proc.start()
    if kill_after is not None:
        proc.join(kill_after)
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
    proc.join(120)
    assert not proc.is_alive()
    return proc.exitcode


@pytest.fixture
def kill_settings(mysql_url: str, file_archive_uri: str) -> Settings:
    make_rows(mysql_url, cold=1500, warm=5, days=4)
    return Settings(
        warehouse_url=NO_WAREHOUSE_URL,
        mysql_url=mysql_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
    )


@pytest.fixture
def small_delete_chunks():
    """The real policy with delete_batch_rows 7: a batch of 20 is deleted in several
    transactions, so kills land between them."""
    from tierflow.policy import load_policy

    policy = load_policy(DEFAULT_POLICY)
    return policy.model_copy(update={"archive": policy.archive.model_copy(update={"delete_batch_rows": 7})})


def test_kill_9_at_each_phase_and_at_random_moments(kill_settings: Settings, small_delete_chunks) -> None:
    original = mysql_rows(kill_settings.mysql_url)
    kills = 0
    for phase in PHASES:
        for nth in (1, 2):
            code = _fork_run(kill_settings, crash_at=f"{phase}:{nth}", policy=small_delete_chunks)
            if code == -signal.SIGKILL:
                kills += 1
            assert_union_equals(kill_settings, original) if code != -signal.SIGKILL else None
    rng = random.Random(1234)
    attempts = 0
    while kills < 24 and attempts < 60:
        attempts += 1
        if (
            _fork_run(kill_settings, kill_after=rng.uniform(0.02, 0.5), policy=small_delete_chunks)
            == -signal.SIGKILL
        ):
            kills += 1
        # mid-batch a row may be in both places (verified, not yet deleted), but never in neither
        live, archived = mysql_rows(kill_settings.mysql_url), dict(archive_rows(kill_settings))
        assert set(live) | set(archived) == set(original)
    assert kills >= 20, f"only {kills} runs were killed"
    assert _fork_run(kill_settings, policy=small_delete_chunks) == 0
    assert_union_equals(kill_settings, original)
    assert set(mysql_rows(kill_settings.mysql_url)) == set(range(1501, 1506))
    assert verify_archive(kill_settings, tables=["loan_transactions"]).ok


def test_s3_down_mid_run_deletes_nothing_and_rerun_resumes(
    mysql_url: str, s3_archive_uri: str, moto_server
) -> None:
    import boto3

    make_rows(mysql_url, cold=40, warm=2)
    settings = Settings(
        warehouse_url=NO_WAREHOUSE_URL,
        mysql_url=mysql_url,
        archive_uri=s3_archive_uri,
        policy_path=DEFAULT_POLICY,
        aws_endpoint_url=moto_server.endpoint,
    )
    original = mysql_rows(mysql_url)
    moto_server.stop()
    try:
        summary = run_archive(
            settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF, gate=False
        )
    finally:
        moto_server.start()
    t = summary.tables[0]
    assert t.status == "failed" and "not reachable" in t.error and "S3" in t.error
    assert mysql_rows(mysql_url) == original  # nothing deleted
    # moto forgets everything on restart: recreate the bucket, then the rerun resumes
    bucket = s3_archive_uri.split("/")[2]
    boto3.client("s3", endpoint_url=moto_server.endpoint, region_name="ap-south-1").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-south-1"}
    )
    summary = run_archive(
        settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF, gate=False
    )
    assert summary.ok, summary.errors()
    assert summary.tables[0].resumed == 1 and summary.tables[0].rows == 40
    assert_union_equals(settings, original)


def test_s3_puts_are_encrypted_with_storage_class_and_lifecycle_applies(
    mysql_url: str, s3_archive_uri: str, moto_server
) -> None:
    import boto3
    from tierflow.archive.ops import apply_lifecycle
    from tierflow.policy import load_policy

    make_rows(mysql_url, cold=10, warm=1)
    settings = Settings(
        warehouse_url=NO_WAREHOUSE_URL,
        mysql_url=mysql_url,
        archive_uri=s3_archive_uri,
        policy_path=DEFAULT_POLICY,
        aws_endpoint_url=moto_server.endpoint,
    )
    run_archive(
        settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF
    ).raise_for_failures()
    s3 = boto3.client("s3", endpoint_url=moto_server.endpoint, region_name="ap-south-1")
    bucket = s3_archive_uri.split("/")[2]
    objects = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert objects and all(o["Key"].startswith("lake/") for o in objects)
    for obj in objects:
        head = s3.head_object(Bucket=bucket, Key=obj["Key"])
        assert head["ServerSideEncryption"] == "AES256"
        assert head["StorageClass"] == "STANDARD_IA"
    rules = apply_lifecycle(settings, load_policy(DEFAULT_POLICY))
    db = mysql.database_of(mysql_url)
    lt = next(r for r in rules if r["ID"] == f"tierflow-{db}-loan_transactions")
    assert lt["Expiration"]["Days"] == 2920
    assert lt["Transitions"][0]["StorageClass"] == "GLACIER_IR"
    assert lt["Filter"]["Prefix"] == f"lake/{db}/loan_transactions/"
    assert sorted(k for k, _ in archive_rows(settings)) == list(range(1, 11))


def test_glue_partitions_registered_once(mysql_url: str, s3_archive_uri: str, moto_server) -> None:
    import boto3
    from tierflow.catalog import archived_partitions, register_partitions
    from tierflow.policy import load_policy

    make_rows(mysql_url, cold=30, warm=1, days=3)
    settings = Settings(
        warehouse_url=NO_WAREHOUSE_URL,
        mysql_url=mysql_url,
        archive_uri=s3_archive_uri,
        policy_path=DEFAULT_POLICY,
        aws_endpoint_url=moto_server.endpoint,
    )
    summary = run_archive(
        settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF, gate=False
    )
    summary.raise_for_failures()
    glue = boto3.client("glue", endpoint_url=moto_server.endpoint, region_name="ap-south-1")
    table = load_policy(DEFAULT_POLICY).table("loan_transactions")
    dbname = f"tf_{os.getpid()}_{int(time.time())}"
    parts = archived_partitions(settings, "loan_transactions")  # what the DAG registers: the ledger's
    assert parts == summary.tables[0].partitions == ["2024-03"]  # monthly for loan_transactions
    assert register_partitions(glue, settings, table, parts, glue_database=dbname) == 1
    assert register_partitions(glue, settings, table, parts, glue_database=dbname) == 0
    got = glue.get_partitions(DatabaseName=dbname, TableName="loan_transactions")["Partitions"]
    assert sorted(p["Values"][0] for p in got) == parts
    cols = glue.get_table(DatabaseName=dbname, Name="loan_transactions")["Table"]["StorageDescriptor"]
    assert {"Name": "amount", "Type": "decimal(14,2)"} in cols["Columns"]
