"""Atomic publish of the dbt marts: build into an audit slot, test there, then repoint ``analytics``.

Two audit slots (``analytics_audit_blue`` / ``_green``, each with its ``_staging``/``_intermediate``
schemas) take turns. A build always goes into the slot that ``analytics`` does NOT point at, so a
half-built or failing mart is never visible. When dbt tests and the marts' GX suites pass, one
transaction repoints every ``analytics.<mart>`` view (keeping its grants) to the new slot and records the
publication. Incremental models keep their state per slot, so a build costs the new data since that
slot's last build; after a full refresh the other slot is primed with a copy of the incremental
tables so it does not start from scratch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.log import get_logger
from tierflow.paths import DBT_DIR
from tierflow.urls import is_redshift
from tierflow.warehouse import ANALYTICS_SCHEMA, PUBLICATIONS_TABLE, RAW_SCHEMA
from tierflow.warehouse import dbt as dbt_runner
from tierflow.warehouse.columns import quote
from tierflow.warehouse.sql import qualified
from tierflow.warehouse.views import repoint_view_statements

log = get_logger("tierflow.warehouse.publish")

SLOTS = ("analytics_audit_blue", "analytics_audit_green")


class PublishInProgress(TierflowError):
    """Another build/publish holds the publish lock."""


@dataclass
class BuildReport:
    slot: str
    full_refresh: bool
    published: list[str] = field(default_factory=list)
    primed: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    tests_loaded_since: str | None = None
    changed_since: str | None = None


def dialect_of(url: str) -> str:
    from tierflow.warehouse.sql import POSTGRES, REDSHIFT

    return REDSHIFT if is_redshift(url) else POSTGRES


def copy_table_sql(dst: str, src: str, dialect: str) -> list[str]:
    """Create ``dst`` shaped like ``src`` (Redshift's LIKE keeps dist and sort keys) and fill it."""
    from tierflow.warehouse.sql import REDSHIFT

    like = "INCLUDING DEFAULTS" if dialect == REDSHIFT else "INCLUDING ALL"
    return [
        f"DROP TABLE IF EXISTS {dst} CASCADE",
        f"CREATE TABLE {dst} (LIKE {src} {like})",
        f"INSERT INTO {dst} SELECT * FROM {src}",  # noqa: S608
    ]


def lock_sql(dialect: str) -> list[str]:
    """Statements that take the publish lock on a dedicated connection, held until it closes.
    PostgreSQL: a session advisory lock, tried (the caller fails fast when it is taken).
    Redshift has no advisory locks: an explicit LOCK of a one-purpose table in an open
    transaction, which a second build waits for."""
    from tierflow.warehouse.sql import REDSHIFT

    if dialect == REDSHIFT:
        table = qualified(RAW_SCHEMA, PUBLISH_LOCK_TABLE)
        return [
            f"CREATE SCHEMA IF NOT EXISTS {quote(RAW_SCHEMA)}",
            f"CREATE TABLE IF NOT EXISTS {table} (held boolean)",
            "BEGIN",
            f"LOCK {table}",
        ]
    return ["SELECT pg_try_advisory_lock(hashtext('tierflow.publish'))"]


PUBLISH_LOCK_TABLE = "_tierflow_publish_lock"
BUILDS_TABLE = "_tierflow_builds"


def publications_ddl() -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified(RAW_SCHEMA, PUBLICATIONS_TABLE)} (\n"
        "  published_at timestamp NOT NULL,\n"
        "  slot varchar(128) NOT NULL,\n"
        "  marts varchar(4096) NOT NULL,\n"
        "  full_refresh boolean NOT NULL\n"
        ")"
    )


def builds_ddl() -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified(RAW_SCHEMA, BUILDS_TABLE)} (\n"
        "  build_started_at timestamp NOT NULL,\n"
        "  slot varchar(128) NOT NULL,\n"
        "  published_at timestamp NOT NULL\n"
        ")"
    )


def loads_settled_at(settings: Settings) -> datetime | None:
    """A moment before which every load that will ever carry an earlier ``_loaded_at`` has committed.

    Each local load holds its table's advisory lock from before it stamps ``_loaded_at`` until its
    commit, so taking every table's lock (waiting for running loads) and reading the clock while
    holding them all gives that moment. Rows loaded before it are visible to a build that starts
    after it. A Redshift load holds a lease row instead (``lease.LOAD_LEASE_TABLE``), which a
    build cannot wait on as on a lock: there is no safe moment, so None.
    """
    from tierflow.policy import load_policy
    from tierflow.stores import warehouse
    from tierflow.warehouse.load import warehouse_tables
    from tierflow.warehouse.sql import POSTGRES

    if dialect_of(settings.warehouse_url) != POSTGRES:
        return None
    conn = warehouse.connect(settings.warehouse_url, aws=settings, autocommit=True)
    try:
        for table in warehouse_tables(load_policy(settings.policy_path)):
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"tierflow.load.{table.name}",))
        # the warehouse's clock, which stamped every row's _loaded_at too
        return warehouse.server_now(conn, settings.warehouse_url)
    finally:
        conn.close()  # releases the locks


def last_build_start(conn, slot: str | None = None) -> datetime | None:
    """When the last build that passed and was published started (its tests saw every row loaded
    before that), or None. With ``slot``: the last one whose models that slot holds (built there,
    or copied there whole by ``prime_other_slot``), i.e. what that slot's incremental tables have
    seen every row loaded before."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(RAW_SCHEMA)}")
    conn.execute(builds_ddl())
    sql = f"SELECT max(build_started_at) FROM {qualified(RAW_SCHEMA, BUILDS_TABLE)}"  # noqa: S608
    row = conn.execute(sql + " WHERE slot = %s", (slot,)).fetchone() if slot else conn.execute(sql).fetchone()
    return row[0] if row else None


def record_build(settings: Settings, started: datetime, *slots: str) -> None:
    """Record a published build as what each of ``slots`` holds (one transaction)."""
    from tierflow.stores import warehouse

    with warehouse.connection(settings.warehouse_url, aws=settings) as conn:
        published = warehouse.server_now(conn, settings.warehouse_url)
        conn.execute(builds_ddl())
        for slot in slots:
            conn.execute(
                f"INSERT INTO {qualified(RAW_SCHEMA, BUILDS_TABLE)} "  # noqa: S608
                "(build_started_at, slot, published_at) VALUES (%s, %s, %s)",
                (started, slot, published),
            )
        conn.commit()


def live_slot(conn) -> str | None:
    """The slot ``analytics`` reads from (the latest publication), or None before the first one."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(RAW_SCHEMA)}")
    conn.execute(publications_ddl())
    row = conn.execute(
        f"SELECT slot FROM {qualified(RAW_SCHEMA, PUBLICATIONS_TABLE)} "  # noqa: S608
        "ORDER BY published_at DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def next_slot(live: str | None) -> str:
    return SLOTS[1] if live == SLOTS[0] else SLOTS[0]


def build_slot(settings: Settings) -> str:
    """The slot the next build writes into (never the live one)."""
    from tierflow.stores import warehouse

    warehouse.ensure_database(settings.warehouse_url)
    with warehouse.connection(settings.warehouse_url, aws=settings) as conn:
        slot = next_slot(live_slot(conn))
        conn.commit()
    return slot


def _relation_exists(conn, schema: str, name: str) -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (schema, name),
        ).fetchone()
    )


def check_marts(
    settings: Settings, slot: str, manifest: dict, *, full_refresh: bool = True, project_dir: Path = DBT_DIR
) -> list[str]:
    """Run each mart's GX suite (``expectations/marts/<mart>.json``) in the audit slot. After an
    incremental build, suites that name an ``incremental_window_column`` check only the
    ``lookback_days`` (dbt var) that build rewrote."""
    from tierflow.warehouse import gates

    lookback = None if full_refresh else dbt_runner.project_var("lookback_days", project_dir)
    days = int(lookback) if lookback is not None else None
    checked = []
    for rel in dbt_runner.project_relations(manifest):
        if rel.schema_suffix == "" and gates.has_mart_suite(rel.name, settings.expectations_dir):
            gates.check_mart(
                settings.warehouse_url,
                slot,
                rel.name,
                lookback_days=days,
                root=settings.expectations_dir,
                aws=settings,
            )
            checked.append(rel.name)
    return checked


def swap(settings: Settings, slot: str, manifest: dict, *, full_refresh: bool = False) -> list[str]:
    """In ONE transaction: every ``analytics.<mart>`` view now reads ``<slot>.<mart>``."""
    from tierflow.stores import warehouse

    marts = [r for r in dbt_runner.project_relations(manifest) if r.schema_suffix == ""]
    dialect = dialect_of(settings.warehouse_url)
    with warehouse.connection(settings.warehouse_url, aws=settings) as conn:
        previous = live_slot(conn)
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(ANALYTICS_SCHEMA)}")
        missing = [m.name for m in marts if not _relation_exists(conn, slot, m.name)]
        if missing:
            raise TierflowError(
                f"cannot publish {slot}: marts {', '.join(missing)} were not built there; "
                "run `tierflow warehouse build`"
            )
        published = []
        for mart in marts:
            # grants on analytics.<mart> survive the publish (analysts, dashboards)
            for statement in repoint_view_statements(conn, dialect, ANALYTICS_SCHEMA, slot, mart.name):
                conn.execute(statement)
            published.append(mart.name)
        if previous and previous != slot:
            # Marts that no longer exist in the project: their views go too.
            stale = conn.execute(
                "SELECT table_name FROM information_schema.views WHERE table_schema = %s",
                (ANALYTICS_SCHEMA,),
            ).fetchall()
            for (name,) in stale:
                definition = conn.execute(
                    "SELECT view_definition FROM information_schema.views "
                    "WHERE table_schema = %s AND table_name = %s",
                    (ANALYTICS_SCHEMA, name),
                ).fetchone()[0]
                if name not in published and previous in (definition or ""):
                    conn.execute(f"DROP VIEW {qualified(ANALYTICS_SCHEMA, name)}")
        # the warehouse's clock, read apart (Redshift runs now() on its leader node only): the
        # latest publication names the live slot, whichever machine published it
        conn.execute(
            f"INSERT INTO {qualified(RAW_SCHEMA, PUBLICATIONS_TABLE)} "  # noqa: S608
            "(published_at, slot, marts, full_refresh) VALUES (%s, %s, %s, %s)",
            (
                warehouse.server_now(conn, settings.warehouse_url),
                slot,
                ",".join(published)[:4096],
                full_refresh,
            ),
        )
        conn.commit()
    log.info("published marts", slot=slot, marts=published)
    return published


def prime_other_slot(settings: Settings, slot: str, manifest: dict, *, force: bool) -> list[str]:
    """Copy the incremental tables of ``slot`` into the other slot where missing (or ``force``),
    so the next build there is incremental rather than a rebuild of all history."""
    from tierflow.stores import warehouse

    other = next_slot(slot)
    primed = []
    dialect = dialect_of(settings.warehouse_url)
    with warehouse.connection(settings.warehouse_url, aws=settings) as conn:
        for rel in dbt_runner.project_relations(manifest):
            if rel.materialized != "incremental":
                continue
            src_schema, dst_schema = slot + rel.schema_suffix, other + rel.schema_suffix
            if not _relation_exists(conn, src_schema, rel.name):
                continue
            if _relation_exists(conn, dst_schema, rel.name) and not force:
                continue
            src, dst = qualified(src_schema, rel.name), qualified(dst_schema, rel.name)
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(dst_schema)}")
            for statement in copy_table_sql(dst, src, dialect):
                conn.execute(statement)
            primed.append(f"{dst_schema}.{rel.name}")
        conn.commit()
    return primed


@dataclass
class BuildPlan:
    """What a build needs to know before dbt runs: the slot it writes into, and the dbt vars that
    narrow its tests and its rebuild to what changed (all None on a full refresh or on Redshift)."""

    slot: str
    settled_at: str | None = None  # recorded as this build's start once it is published
    tests_loaded_since: str | None = None
    changed_since: str | None = None
    lease_owner: str | None = None  # holds the build lease (tierflow.warehouse.lease) to the publish

    def dbt_vars(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("tests_loaded_since", self.tests_loaded_since),
                ("changed_since", self.changed_since),
            )
            if v
        }


def plan_build(
    settings: Settings, *, full_refresh: bool = False, lease_owner: str | None = None
) -> BuildPlan:
    """Tests on raw/staging read only rows loaded since the last passing build started
    (dbt/macros/test_window.sql); incremental models whose rows depend only on their own key's data
    (the delinquency mart) rebuild just the keys loaded since this slot's copy was built
    (dbt/macros/incremental.sql). A full refresh, or no such build, tests and rebuilds everything."""
    from tierflow.stores import warehouse
    from tierflow.warehouse import lease

    settings = settings.as_builder()
    if lease_owner:
        lease.acquire(settings, lease_owner)  # before the slot is chosen, until its publish
    plan = BuildPlan(slot=build_slot(settings), lease_owner=lease_owner)
    if lease_owner:
        lease.confirm(settings, lease_owner, slot=plan.slot)
    settled = loads_settled_at(settings)
    if settled is None:
        return plan
    plan.settled_at = settled.isoformat(sep=" ")
    if not full_refresh:
        with warehouse.connection(settings.warehouse_url, aws=settings) as conn:
            since, slot_since = last_build_start(conn), last_build_start(conn, plan.slot)
            conn.commit()
        plan.tests_loaded_since = since.isoformat(sep=" ") if since else None
        plan.changed_since = slot_since.isoformat(sep=" ") if slot_since else None
    return plan


def record_published_build(settings: Settings, plan: BuildPlan, *, primed_all: bool) -> None:
    """Record ``plan``'s build as published; for the other slot too when ``prime_other_slot``
    replaced every incremental table there with a copy of this build's."""
    if plan.settled_at is None:
        return
    slots = [plan.slot, next_slot(plan.slot)] if primed_all else [plan.slot]
    record_build(settings, datetime.fromisoformat(plan.settled_at), *slots)


def primed_every_incremental(manifest: dict, primed: list[str]) -> bool:
    incremental = [r for r in dbt_runner.project_relations(manifest) if r.materialized == "incremental"]
    return bool(incremental) and len(primed) == len(incremental)


@contextmanager
def publish_lock(settings: Settings) -> Iterator[None]:
    """Hold the publish lock (``lock_sql``) on a dedicated connection for the ``with`` block."""
    from tierflow.stores import warehouse

    lock = warehouse.connect(settings.warehouse_url, aws=settings, autocommit=True)
    try:
        take_publish_lock(lock, dialect_of(settings.warehouse_url))
        yield
    finally:
        lock.close()


def _publish(
    settings: Settings, report: BuildReport, manifest: dict, plan: BuildPlan | None, *, project_dir: Path
) -> None:
    """Gate the built slot and publish it, for the CLI and the DAG alike (under the publish lock,
    as the builder): the marts' GX suites, the build lease checked (and extended) right before the
    swap, the swap, the other slot primed, the build recorded."""
    from tierflow.warehouse import lease

    slot, full_refresh = report.slot, report.full_refresh
    t0 = time.perf_counter()
    check_marts(settings, slot, manifest, full_refresh=full_refresh, project_dir=project_dir)
    report.seconds["gates"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if plan is not None and plan.lease_owner:
        # still this build's slot: no other builder took it while dbt ran
        lease.confirm(settings, plan.lease_owner, slot=slot)
    report.published = swap(settings, slot, manifest, full_refresh=full_refresh)
    report.seconds["swap"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    report.primed = prime_other_slot(settings, slot, manifest, force=full_refresh)
    report.seconds["prime"] = time.perf_counter() - t0
    if plan is not None:
        record_published_build(settings, plan, primed_all=primed_every_incremental(manifest, report.primed))


def build_and_publish(
    settings: Settings, *, full_refresh: bool = False, project_dir: Path = DBT_DIR, threads: int | None = None
) -> BuildReport:
    """``dbt build`` into the idle slot, then ``_publish`` (all as the builder, under the publish
    lock and the build lease from the choice of the slot to the end)."""
    from tierflow.stores import warehouse
    from tierflow.warehouse import lease

    settings = settings.as_builder()
    warehouse.ensure_database(settings.warehouse_url)
    owner = lease.cli_owner()
    with publish_lock(settings):
        try:
            plan = plan_build(settings, full_refresh=full_refresh, lease_owner=owner)
            report = BuildReport(
                slot=plan.slot,
                full_refresh=full_refresh,
                tests_loaded_since=plan.tests_loaded_since,
                changed_since=plan.changed_since,
            )
            # A private target dir: a dbt run elsewhere (Cosmos, a developer) cannot swap our manifest.
            target = project_dir / "target" / f"tierflow_{plan.slot}"
            t0 = time.perf_counter()
            args = ["build"] + (["--full-refresh"] if full_refresh else [])
            if plan.dbt_vars():
                args += ["--vars", json.dumps(plan.dbt_vars())]
            dbt_runner.run_dbt(
                args,
                settings.warehouse_url,
                plan.slot,
                target_path=target,
                threads=threads,
                project_dir=project_dir,
                settings=settings,
            )
            report.seconds["dbt_build"] = time.perf_counter() - t0
            _publish(settings, report, dbt_runner.load_manifest(target), plan, project_dir=project_dir)
        finally:
            lease.release(settings, owner)
    return report


def take_publish_lock(conn, dialect: str) -> None:
    """Hold the publish lock on ``conn`` (autocommit) until it closes; see ``lock_sql``."""
    from tierflow.warehouse.sql import REDSHIFT

    statements = lock_sql(dialect)
    for statement in statements[:-1]:
        conn.execute(statement)
    last = conn.execute(statements[-1])
    if dialect != REDSHIFT and not last.fetchone()[0]:
        raise PublishInProgress("another `tierflow warehouse build` is running; wait for it")


def publish_slot(
    settings: Settings,
    slot: str,
    *,
    full_refresh: bool = False,
    project_dir: Path = DBT_DIR,
    plan: BuildPlan | None = None,
) -> BuildReport:
    """Gate and publish a slot that dbt already built (the Airflow path, where Cosmos runs dbt with
    the vars of ``plan``, which is then recorded as a published build): ``_publish``, then the
    run's build lease is given up (its teardown gives it up after a failure)."""
    from tierflow.warehouse import lease

    settings = settings.as_builder()
    manifest = dbt_runner.load_manifest(project_dir / "target")
    report = BuildReport(slot=slot, full_refresh=full_refresh)
    if plan is not None and plan.slot != slot:
        raise TierflowError(f"the build plan is for {plan.slot}, not {slot}")
    if slot not in SLOTS:
        raise TierflowError(f"{slot!r} is not an audit slot ({', '.join(SLOTS)})")
    with publish_lock(settings):
        _publish(settings, report, manifest, plan, project_dir=project_dir)
        if plan is not None and plan.lease_owner:
            lease.release(settings, plan.lease_owner)
    return report
