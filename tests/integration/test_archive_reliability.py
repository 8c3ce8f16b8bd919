"""kill -9 at every phase boundary and at random moments, S3 outages, and the S3 settings (moto).

Kills use children forked from a forkserver (the heavy imports are paid once), killed with SIGKILL by
the crash hook at a named phase or by the parent at a random moment; then a clean run finishes.
The kill suite runs on file:// and on moto's S3 server with a writer updating and inserting rows in
the archived range meanwhile; restores and runs alternate with kills where rows leave objects.
MySQL ∪ archive must equal the expected rows, every column, with no duplicates and no loose object.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from datetime import date, timedelta

import pytest
from tierflow.archive import run_archive
from tierflow.archive.restore import restore
from tierflow.archive.verify import verify_archive
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
# where rows leave an object (reconcile after a restore or a changed row): write the new object,
# verify it, switch the ledger, retire the old one
REWRITE_PHASES = ["rewrite_put", "rewrite_verified", "rewrite_switched", "retire_object"]


def _set_crash(crash_at: str | None, settings: Settings) -> None:
    if settings.aws_endpoint_url:  # the forkserver may predate the moto fixture's credentials
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    if crash_at:
        os.environ["TIERFLOW_ARCHIVE_CRASH_AT"] = crash_at
    else:
        os.environ.pop("TIERFLOW_ARCHIVE_CRASH_AT", None)


def _child(settings: Settings, crash_at: str | None, batch_rows: int, policy) -> None:
    _set_crash(crash_at, settings)
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


def _restore_child(settings: Settings, crash_at: str | None, policy, start: date, end: date) -> None:
    _set_crash(crash_at, settings)
    restore(settings, table="loan_transactions", start=start, end=end, policy=policy)
    os._exit(0)


def _context():
    """Children fork from a clean forkserver with the heavy modules preloaded: quick to start,
    and never a copy of this test process, whose native thread pools (connectorx's, Arrow's)
    a plain fork would inherit half-alive."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(
        [
            "tierflow.archive.run",
            "tierflow.archive.restore",
            "tierflow.archive.verify",
            "pyarrow.parquet",
            "connectorx",
            "duckdb",
            "MySQLdb",
            "boto3",
        ]
    )
    return ctx


def _fork(target, args: tuple, kill_after: float | None = None) -> int:
    proc = _context().Process(target=target, args=args)
    proc.start()
    if kill_after is not None:
        proc.join(kill_after)
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
    proc.join(120)
    assert not proc.is_alive()
    return proc.exitcode


def _fork_run(
    settings: Settings,
    crash_at: str | None = None,
    kill_after: float | None = None,
    batch_rows: int = 20,
    policy=None,
) -> int:
    return _fork(_child, (settings, crash_at, batch_rows, policy), kill_after)


def _fork_restore(settings: Settings, policy, day: date, crash_at: str | None = None, kill_after=None) -> int:
    return _fork(_restore_child, (settings, crash_at, policy, day, day), kill_after)


class Writer:
    """Updates and inserts rows of the archived range while runs are killed around it.

    Updates move ``amount`` (and so ``updated_at``); inserts put back rows that were taken out
    of the cold key range before the test, with cold times. ``expected`` is every row as MySQL
    last committed it, so MySQL plus the archive must equal it when all is done."""

    def __init__(self, url: str, original: dict[int, dict], held_back: list[tuple]) -> None:
        import threading

        self.url = url
        self.expected = dict(original)
        self.held_back = list(held_back)
        self.updates = self.inserts = 0
        self.running = threading.Event()
        self.idle = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.running.set()
        self.thread.join(30)

    def resume(self) -> None:
        self.idle.clear()
        self.running.set()

    def pause(self) -> None:
        """Wait for the write in progress to commit; none starts until ``resume``."""
        self.running.clear()
        self.idle.wait(10)

    def _loop(self) -> None:
        rng = random.Random(99)
        conn = mysql.connect(self.url, autocommit=False)
        try:
            cur = conn.cursor()
            while not self.stop.is_set():
                if not self.running.is_set():
                    self.idle.set()
                    self.running.wait()
                    continue
                if self.held_back and rng.random() < 0.3:
                    row = self.held_back.pop()
                    cur.execute(f"INSERT INTO loan_transactions VALUES ({', '.join(['%s'] * len(row))})", row)
                    key = row[0]
                    self.inserts += 1
                else:
                    key = rng.randrange(1, max(self.expected) + 1)
                    if not cur.execute(
                        "UPDATE loan_transactions SET amount = amount + 1 WHERE id = %s", (key,)
                    ):
                        conn.rollback()
                        continue
                    self.updates += 1
                row = mysql_rows(self.url, where=f"id = {int(key)}", conn=conn)[key]  # as committed
                conn.commit()
                self.expected[key] = row
                time.sleep(rng.uniform(0.005, 0.03))
        finally:
            conn.close()


@pytest.fixture(params=["file", "s3"])
def kill_settings(request, mysql_url: str, tmp_path) -> Settings:
    make_rows(mysql_url, cold=1500, warm=5, days=4)
    if request.param == "file":
        return Settings(
            warehouse_url=NO_WAREHOUSE_URL,
            mysql_url=mysql_url,
            archive_uri=(tmp_path / "archive").as_uri(),
            policy_path=DEFAULT_POLICY,
        )
    moto = request.getfixturevalue("moto_server")
    uri = request.getfixturevalue("s3_archive_uri")
    return Settings(
        warehouse_url=NO_WAREHOUSE_URL,
        mysql_url=mysql_url,
        archive_uri=uri,
        policy_path=DEFAULT_POLICY,
        aws_endpoint_url=moto.endpoint,
    )


@pytest.fixture
def small_delete_chunks():
    """The real policy with delete_batch_rows 7: a batch of 20 is deleted in several
    transactions, so kills land between them."""
    from tierflow.policy import load_policy

    policy = load_policy(DEFAULT_POLICY)
    return policy.model_copy(update={"archive": policy.archive.model_copy(update={"delete_batch_rows": 7})})


def _hold_back(url: str, every: int) -> list[tuple]:
    """Take every ``every``-th cold row out of MySQL (the writer inserts it back later)."""
    with mysql.connection(url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("SELECT * FROM loan_transactions WHERE id %% %s = 0 AND id <= 1500", (every,))
        rows = list(cur.fetchall())
        cur.execute("DELETE FROM loan_transactions WHERE id %% %s = 0 AND id <= 1500", (every,))
    return rows


def test_kill_9_at_each_phase_and_at_random_moments_with_a_concurrent_writer(
    kill_settings: Settings, small_delete_chunks
) -> None:
    held_back = _hold_back(kill_settings.mysql_url, 25)
    original = mysql_rows(kill_settings.mysql_url)
    kills = 0
    with Writer(kill_settings.mysql_url, original, held_back) as writer:
        for phase in PHASES:
            for nth in (1, 2):
                writer.resume()
                code = _fork_run(kill_settings, crash_at=f"{phase}:{nth}", policy=small_delete_chunks)
                writer.pause()
                if code == -signal.SIGKILL:
                    kills += 1
                else:
                    assert_union_equals(kill_settings, writer.expected)
        rng = random.Random(1234)
        attempts = 0
        while kills < 24 and attempts < 60:
            attempts += 1
            writer.resume()
            code = _fork_run(kill_settings, kill_after=rng.uniform(0.02, 0.5), policy=small_delete_chunks)
            writer.pause()
            kills += code == -signal.SIGKILL
            # mid-batch a row may be in both places (verified, not yet deleted), but never in neither
            live, archived = mysql_rows(kill_settings.mysql_url), dict(archive_rows(kill_settings))
            assert set(live) | set(archived) == set(writer.expected)
    assert kills >= 20, f"only {kills} runs were killed"
    assert writer.updates > 20 and writer.inserts > 10, (writer.updates, writer.inserts)
    assert _fork_run(kill_settings, policy=small_delete_chunks) == 0
    assert_union_equals(kill_settings, writer.expected)
    assert set(mysql_rows(kill_settings.mysql_url)) == set(range(1501, 1506))
    assert verify_archive(kill_settings, tables=["loan_transactions"]).ok


def test_restore_and_archive_alternate_on_random_days_with_kills(
    mysql_url: str, file_archive_uri: str, small_delete_chunks
) -> None:
    """Ten rounds: restore a random day, archive again, each killed at a step where rows leave
    an object (or at a random moment) and then run clean. After every round MySQL plus the
    archive hold every original row exactly once, every column equal; no object is loose."""
    from tierflow.policy import parse_policy

    make_rows(mysql_url, cold=240, warm=5, days=6)
    settings = Settings(
        warehouse_url=NO_WAREHOUSE_URL,
        mysql_url=mysql_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
    )
    text = DEFAULT_POLICY.read_text()
    month = "archive: {partition_by: month, retention_years: 8}\n    warehouse: true"
    daily = parse_policy(text.replace(month, month.replace("month", "day"), 1))
    daily = daily.model_copy(update={"archive": small_delete_chunks.archive})
    original = mysql_rows(mysql_url)
    assert _fork_run(settings, batch_rows=50, policy=daily) == 0
    days = sorted(
        {r["created_at"].date() for r in original.values() if r["created_at"] < AS_OF - timedelta(days=400)}
    )
    rng = random.Random(2024)
    kills = 0
    for round_no in range(10):
        day = rng.choice(days)
        crash = rng.choice([*REWRITE_PHASES, None])
        code = _fork_restore(
            settings, daily, day, crash_at=crash, kill_after=None if crash else rng.uniform(0.2, 1.0)
        )
        kills += code == -signal.SIGKILL
        if code != 0:  # killed: the next archive run completes the restore from the ledger
            assert _fork_run(settings, batch_rows=50, policy=daily) == 0
            assert _fork_restore(settings, daily, day) == 0
        assert_union_equals(settings, original)
        crash = rng.choice([*REWRITE_PHASES, "delete_chunk:2", "verified", None])
        if round_no % 2:  # a row restored before changes: the run keeps it and rewrites the object
            _update_some(mysql_url, rng)
            original = mysql_rows_merged(mysql_url, original)
        code = _fork_run(settings, crash_at=crash, batch_rows=50, policy=daily)
        kills += code == -signal.SIGKILL
        assert _fork_run(settings, batch_rows=50, policy=daily) == 0
        assert_union_equals(settings, original)
        _assert_nothing_loose(settings)
    assert kills >= 4, f"only {kills} kills"
    assert set(mysql_rows(mysql_url)) == set(range(241, 246))
    assert verify_archive(settings, tables=["loan_transactions"]).ok


def _update_some(url: str, rng: random.Random) -> None:
    with mysql.connection(url, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("SELECT id FROM loan_transactions WHERE id <= 240")
        present = [r[0] for r in cur.fetchall()]
        for key in rng.sample(present, min(3, len(present))):
            cur.execute("UPDATE loan_transactions SET amount = amount + 1 WHERE id = %s", (key,))


def mysql_rows_merged(url: str, original: dict[int, dict]) -> dict[int, dict]:
    """``original`` with the rows MySQL holds now (the truth for rows it holds)."""
    return {**original, **mysql_rows(url)}


def _assert_nothing_loose(settings: Settings) -> None:
    """Every object in the store is named by exactly one finished ledger entry, and no entry
    has pending or retiring objects left."""
    from tierflow.archive.ledger import Ledger
    from tierflow.stores.objects import store_for

    with Ledger(settings.mysql_url) as ledger:
        entries = ledger.entries("loan_transactions")
    named = [k for e in entries if e.state == "deleted" for k in [*e.object_keys, e.manifest_key] if k]
    assert len(named) == len(set(named)), "two entries name one object"
    assert not [e.id for e in entries if e.pending_keys or e.retiring_keys]
    prefix = f"{mysql.database_of(settings.mysql_url)}/loan_transactions/"
    stored = {o.key for o in store_for(settings).list(prefix)}
    assert stored == set(named), (
        f"orphans {sorted(stored - set(named))[:3]}, missing {sorted(set(named) - stored)[:3]}"
    )


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
    from tierflow.archive.lifecycle import apply_lifecycle
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
