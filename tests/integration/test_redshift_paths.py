"""The project's own Redshift code paths through the conformance harness (tests/redshift_harness.py):
the raw load of every warehouse table (first and incremental, staged on moto's S3 from the real
MariaDB), and the publish (lock, slot choice, mart gates, the swap twice, priming). Every statement
passes the harness's checks, and every step signs in the one way docs/warehouse.md describes:
IAM through redshift_connector, as the loader or the builder, never with a password."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY, PROJECT_ROOT
from tierflow.policy import load_policy
from tierflow.warehouse.access import SCHEMAS, access_model
from tierflow.warehouse.load import load_table
from tierflow.warehouse.preflight import preflight
from tierflow.warehouse.sql import REDSHIFT

from tests import redshift_harness as rh

pytestmark = pytest.mark.integration

WAREHOUSE_TABLES = [t for t in reversed(list(load_policy(DEFAULT_POLICY).tables.values())) if t.warehouse]


def assert_iam_as(recorder: rh.Recorder, user: str) -> None:
    assert recorder.connections
    for kwargs in recorder.connections:
        assert kwargs.get("iam") is True and kwargs.get("db_user") == user, kwargs
        assert kwargs.get("cluster_identifier") == "tierflow" and not kwargs.get("password"), kwargs


@pytest.mark.parametrize("incremental", [False, True], ids=["first", "incremental"])
def test_raw_load_sends_only_what_redshift_accepts(
    seeded_mysql_url: str, s3_archive_uri: str, incremental: bool
) -> None:
    settings = Settings(mysql_url=seeded_mysql_url, archive_uri=s3_archive_uri, warehouse_url=rh.LOADER_URL)
    # an incremental load reads its watermark; a first one finds none
    watermark = {
        r"SELECT watermark_value, watermark_pk FROM": (
            [("v", 1114), ("pk", 20)],
            [(datetime(2026, 6, 28), 1)],
        )
    }
    recorder = rh.Recorder(answers=watermark if incremental else None)
    with rh.recorded_redshift_connector(recorder):
        reports = [load_table(settings, table) for table in WAREHOUSE_TABLES]
    loaded = [r for r in reports if r.rows_staged]
    # a first load moves every table; an incremental one what changed since the watermark's lookback
    assert len(loaded) == len(WAREHOUSE_TABLES) if not incremental else 0 < len(loaded) < len(reports)
    if incremental:
        assert all(r.previous is not None for r in reports)
    assert recorder.failures() == {}
    assert_iam_as(recorder, "tierflow_loader")
    sent = [st.sql for st in recorder.statements]
    # the raw tables the loader creates are the ones sql/redshift/001_raw_schema.sql holds
    ddl_file = rh.sql_statements((PROJECT_ROOT / "sql" / "redshift" / "001_raw_schema.sql").read_text())
    created = [s for s in sent if s.startswith('CREATE TABLE IF NOT EXISTS "raw".')]
    assert created and set(created) <= set(ddl_file)
    copies = [s for s in sent if s.startswith("COPY ")]
    assert len(copies) == len(loaded)
    assert all(f"IAM_ROLE '{rh.COPY_ROLE}'" in s and s3_archive_uri in s for s in copies)
    # each table's MERGE and watermark commit together
    merges = [i for i, s in enumerate(sent) if s.startswith("MERGE INTO")]
    assert len(merges) == len(loaded)
    assert all(
        sent[i + 4] == "COMMIT" and sent[i + 3].startswith('INSERT INTO "raw"."_tierflow_watermarks"')
        for i in merges
    )


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    target = str(tmp_path_factory.mktemp("dbt_redshift_publish"))
    result = rh.run_dbt(["parse"], rh.Recorder(), target)
    assert result.success, result.exception
    return json.loads((Path(target) / "manifest.json").read_text())


def test_publish_sends_only_what_redshift_accepts_and_keeps_grants(manifest: dict) -> None:
    from tierflow.stores import warehouse
    from tierflow.warehouse import publish

    blue, green = publish.SLOTS
    catalog = rh.catalog_from_manifest(manifest, blue, exists=True)
    for (schema, name), columns in list(catalog.relations.items()):
        catalog.add(schema.replace(blue, green), name, list(columns), catalog.kinds[(schema, name)])
    marts = [r.name for r in publish.dbt_runner.project_relations(manifest) if r.schema_suffix == ""]
    changed = marts[0]  # a mart whose columns changed between the two builds
    catalog.relations[(green, changed)] = [*catalog.relations[(green, changed)], rh.Column("added_col")]
    grants = {
        r"FROM svv_relation_privileges": (
            [("identity_name", 1043), ("identity_type", 1043), ("privilege_type", 1043)],
            [("tierflow_analysts", "group", "SELECT")],
        )
    }
    recorder = rh.Recorder(catalog, answers=grants)
    settings = Settings(warehouse_url=rh.REDSHIFT_URL)
    with rh.recorded_redshift_connector(recorder):
        lock = warehouse.connect(settings.warehouse_url, autocommit=True)
        publish.take_publish_lock(lock, REDSHIFT)
        plan = publish.plan_build(settings, full_refresh=True)
        assert plan.slot == blue and plan.dbt_vars() == {}
        publish.check_marts(settings, blue, manifest, full_refresh=True)
        assert publish.swap(settings, blue, manifest, full_refresh=True) == marts
        publish.prime_other_slot(settings, blue, manifest, force=True)
        publish.check_marts(settings, green, manifest, full_refresh=False)
        assert publish.swap(settings, green, manifest) == marts
        lock.close()
    assert recorder.failures() == {}
    assert_iam_as(recorder, "tierflow_builder")
    sent = [st.sql for st in recorder.statements]
    assert 'LOCK "raw"."_tierflow_publish_lock"' in sent
    for mart in marts:
        assert (
            f'CREATE OR REPLACE VIEW "analytics"."{mart}" AS SELECT * FROM "{blue}"."{mart}" WITH NO SCHEMA BINDING'
            in sent
        )
    # the changed mart's view is re-created and its grant given back, before the publication commits
    drop = sent.index(f'DROP VIEW "analytics"."{changed}"')
    assert sent[drop + 2] == f'GRANT SELECT ON "analytics"."{changed}" TO GROUP "tierflow_analysts"'
    assert "COMMIT" in sent[drop:] and not any(s.startswith("DROP VIEW IF EXISTS") for s in sent)


def cluster_answers(*, external_schema: bool = True) -> dict:
    """The catalog a cluster set up by docs/warehouse.md answers preflight's queries with."""
    text = [("name", 1043)]
    groups = ("tierflow_loaders", "tierflow_builders", "tierflow_analysts")
    model = access_model()

    def schema_privileges(sql: str) -> tuple:
        held = [g.privileges for g in model.schema_grants if f"'{g.schema}'" in sql and f"'{g.group}'" in sql]
        return text, [(p,) for p in (held[0] if held else ())]

    spectrum = '{"IAM_ROLE":"arn:aws:iam::123456789012:role/tierflow-spectrum"}'
    return {
        r"FROM pg_group g JOIN pg_user": ([("one", 23)], [(1,)]),
        r"SELECT nspname FROM pg_namespace": (text, [(s,) for s in (*SCHEMAS, "archive", "pg_catalog")]),
        r"SELECT groname FROM pg_group": (text, [(g,) for g in groups]),
        r"FROM svv_schema_privileges": schema_privileges,
        r"FROM svv_default_privileges": ([("one", 23)], [(1,)]),
        r"FROM svv_external_schemas": (text * 2, [("tierflow_archive", spectrum)] if external_schema else []),
    }


def test_preflight_on_redshift_sends_only_what_redshift_accepts(moto_server, monkeypatch) -> None:
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    aws = {"endpoint_url": moto_server.endpoint, "region_name": "ap-south-1"}
    boto3.client("glue", **aws).create_database(DatabaseInput={"Name": "tierflow_archive"})
    for role in ("tierflow-spectrum", "tierflow-copy"):
        with contextlib.suppress(boto3.client("iam", **aws).exceptions.EntityAlreadyExistsException):
            boto3.client("iam", **aws).create_role(RoleName=role, AssumeRolePolicyDocument="{}")
    settings = Settings(
        warehouse_url=rh.LOADER_URL,
        warehouse_build_url=rh.REDSHIFT_URL,
        aws_endpoint_url=moto_server.endpoint,
    )
    recorder = rh.Recorder(answers=cluster_answers())
    with rh.recorded_redshift_connector(recorder):
        checks = preflight(settings)
    assert [c for c in checks if not c.ok] == []
    assert {"external schema", "Glue database", "Spectrum IAM role", "COPY IAM role", "dbt target"} <= {
        c.name for c in checks
    }
    assert recorder.failures() == {}
    assert [kw["db_user"] for kw in recorder.connections] == ["tierflow_loader", "tierflow_builder"]
    assert all(kw["iam"] is True for kw in recorder.connections)

    recorder = rh.Recorder(answers=cluster_answers(external_schema=False))
    with rh.recorded_redshift_connector(recorder):
        failed = [c for c in preflight(settings) if not c.ok]
    assert [(c.name, c.detail) for c in failed] == [("external schema", "no external schema archive")]
    assert "002_spectrum_archive.sql" in failed[0].fix


LEASES = '"raw"."_tierflow_load_leases"'


def staged_keys(settings: Settings, table: str) -> list[str]:
    from tierflow.stores.objects import store_for

    return [o.key for o in store_for(settings).list(f"_tierflow_staging/{table}/")]


def lease_statements(sent: list[str], table: str) -> tuple[list[str], list[str]]:
    """(the lease rows inserted for ``table``, the ones deleted) among the statements sent."""
    taken = [s for s in sent if s.startswith(f"INSERT INTO {LEASES}") and f"'{table}'" in s]
    given_up = [s for s in sent if s.startswith(f"DELETE FROM {LEASES} WHERE name = '{table}' AND owner")]
    return taken, given_up


def test_redshift_load_holds_its_table_lease_and_reports_timings(
    seeded_mysql_url: str, s3_archive_uri: str
) -> None:
    from tierflow.warehouse.load import STAGING_BATCHES_KEPT

    settings = Settings(mysql_url=seeded_mysql_url, archive_uri=s3_archive_uri, warehouse_url=rh.LOADER_URL)
    table = load_policy(DEFAULT_POLICY).table("loans")
    recorder = rh.Recorder()
    with rh.recorded_redshift_connector(recorder):
        reports = [load_table(settings, table, full_refresh=True) for _ in range(STAGING_BATCHES_KEPT + 2)]
    assert recorder.failures() == {}
    sent = [st.sql for st in recorder.statements]
    taken, given_up = lease_statements(sent, "loans")
    assert len(taken) == len(given_up) == len(reports)
    # the lease is taken before the batch's DDL and given up after its publish
    first_ddl = sent.index('DROP TABLE IF EXISTS "raw_audit"."loans"')
    assert sent.index(taken[0]) < first_ddl < sent.index(next(s for s in sent if s.startswith("MERGE INTO")))
    assert sent.index(given_up[0]) > sent.index(next(s for s in sent if s.startswith("MERGE INTO")))
    for owner_sql, report in zip(taken, reports, strict=True):
        assert report.batch_id in owner_sql  # each load its own owner
        assert {"extract", "stage", "copy", "gate", "merge", "total"} <= set(report.seconds)
        assert report.rows_staged > 0 and report.watermark is not None
    # staging is pruned to the newest batches, as on the local warehouse
    batches = {k.split("/")[2] for k in staged_keys(settings, "loans")}
    assert len(batches) == STAGING_BATCHES_KEPT and batches <= {f"batch={r.batch_id}" for r in reports}


def test_redshift_load_refused_while_another_load_holds_the_lease(
    seeded_mysql_url: str, s3_archive_uri: str
) -> None:
    from datetime import timedelta

    from tierflow.warehouse.target import LoadInProgress

    settings = Settings(mysql_url=seeded_mysql_url, archive_uri=s3_archive_uri, warehouse_url=rh.LOADER_URL)
    now = datetime.now()
    held = {
        rf"FROM {re.escape(LEASES)} WHERE name = 'loans'": (
            [("owner", 1043), ("slot", 1043), ("acquired_at", 1114), ("expires_at", 1114)],
            [("load:other-host:7:20260703T010000-abcd", None, now, now + timedelta(minutes=30))],
        )
    }
    recorder = rh.Recorder(answers=held)
    with (
        rh.recorded_redshift_connector(recorder),
        pytest.raises(LoadInProgress, match="load:other-host:7"),
    ):
        load_table(settings, load_policy(DEFAULT_POLICY).table("loans"))
    sent = [st.sql for st in recorder.statements]
    assert not any(s.startswith(("COPY ", "MERGE INTO", 'DROP TABLE IF EXISTS "raw_audit"')) for s in sent)
    assert not any(s.startswith(f"INSERT INTO {LEASES}") for s in sent)
    assert staged_keys(settings, "loans") == []


def test_redshift_load_cleans_its_staging_when_the_gate_fails(
    seeded_mysql_url: str, s3_archive_uri: str
) -> None:
    from tierflow.quality import QualityGateError

    settings = Settings(mysql_url=seeded_mysql_url, archive_uri=s3_archive_uri, warehouse_url=rh.LOADER_URL)
    table = load_policy(DEFAULT_POLICY).table("loans")
    recorder = rh.Recorder()
    with rh.recorded_redshift_connector(recorder):
        good = load_table(settings, table)

        def failing_gate(url: str, schema: str, name: str) -> None:
            assert staged_keys(settings, "loans")  # the batch was staged and copied
            raise QualityGateError(f"{schema}.{name}", [])

        with pytest.raises(QualityGateError):
            load_table(settings, table, full_refresh=True, gate=failing_gate)
    sent = [st.sql for st in recorder.statements]
    assert len([s for s in sent if s.startswith("COPY ")]) == 2
    assert len([s for s in sent if s.startswith("MERGE INTO")]) == 1  # the good load's only
    taken, given_up = lease_statements(sent, "loans")
    assert len(taken) == len(given_up) == 2  # given up after the failure too
    # the failed batch's objects are gone; the published one's stay
    assert {k.split("/")[2] for k in staged_keys(settings, "loans")} == {f"batch={good.batch_id}"}


def test_redshift_load_cleans_its_staging_when_the_publish_fails(
    seeded_mysql_url: str, s3_archive_uri: str
) -> None:
    settings = Settings(mysql_url=seeded_mysql_url, archive_uri=s3_archive_uri, warehouse_url=rh.LOADER_URL)

    def cluster_error(sql: str) -> tuple:
        raise RuntimeError("ERROR: could not complete because of conflict with concurrent transaction")

    recorder = rh.Recorder(answers={r"^MERGE INTO": cluster_error})
    with (
        rh.recorded_redshift_connector(recorder),
        pytest.raises(RuntimeError, match="concurrent transaction"),
    ):
        load_table(settings, load_policy(DEFAULT_POLICY).table("loans"))
    sent = [st.sql for st in recorder.statements]
    merge = next(i for i, s in enumerate(sent) if s.startswith("MERGE INTO"))
    # the publish transaction (with its temp changes table) is rolled back, never committed
    assert sent[merge + 1] == "ROLLBACK" and "COMMIT" not in sent[merge - 1 : merge + 2]
    assert not any(s.startswith('INSERT INTO "raw"."_tierflow_watermarks"') for s in sent)
    taken, given_up = lease_statements(sent, "loans")
    assert len(taken) == len(given_up) == 1
    assert staged_keys(settings, "loans") == []
