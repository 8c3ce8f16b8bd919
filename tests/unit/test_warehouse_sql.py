"""The warehouse's SQL and type mapping, checked without services (both dialects)."""

from __future__ import annotations

from datetime import datetime

import pytest
from tierflow.errors import TierflowError
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy
from tierflow.warehouse import dbt, publish
from tierflow.warehouse import sql as wsql
from tierflow.warehouse.columns import Column
from tierflow.warehouse.load import watermark_column
from tierflow.warehouse.redshift import copy_sql, publish_statements

COLUMNS = [
    Column("id", "bigint", "bigint unsigned", False),
    Column("amount", "decimal", "decimal(14,2)", False, precision=14, scale=2),
    Column("gateway", "enum", "enum('upi','nach')", False, char_length=4),
    Column("gateway_ref", "varchar", "varchar(40)", True, char_length=40),
    Column("installment_no", "smallint", "smallint unsigned", True),
    Column("is_bank_sms", "tinyint", "tinyint(1)", False),
    Column("metadata", "json", "json", True),
    Column("due_date", "date", "date", False),
    Column("updated_at", "datetime", "datetime(6)", False),
]


def test_types_follow_the_contract_on_both_engines() -> None:
    pg = {c.name: c.postgres_type() for c in COLUMNS}
    rs = {c.name: c.redshift_type() for c in COLUMNS}
    assert pg == {
        "id": "bigint",
        "amount": "numeric(14,2)",
        "gateway": "varchar",
        "gateway_ref": "varchar",
        "installment_no": "integer",
        "is_bank_sms": "smallint",
        "metadata": "varchar",
        "due_date": "date",
        "updated_at": "timestamp",
    }
    assert rs["metadata"] == "varchar(65535)"
    assert rs["gateway_ref"] == "varchar(160)"  # bytes, utf8mb4
    assert rs["amount"] == "numeric(14,2)"


def test_unknown_mysql_type_is_refused_by_name() -> None:
    with pytest.raises(TierflowError, match="geo.*geometry"):
        Column("geo", "geometry", "geometry", True).kind  # noqa: B018 - the property raises


def test_raw_ddl_has_loaded_at_and_primary_key_and_redshift_keys() -> None:
    ddl = wsql.table_ddl("raw", "loan_transactions", COLUMNS, "id", wsql.POSTGRES)
    assert '"_loaded_at" timestamp NOT NULL' in ddl
    assert 'PRIMARY KEY ("id")' in ddl
    assert '"gateway_ref" varchar,' in ddl and '"amount" numeric(14,2) NOT NULL' in ddl
    audit = wsql.table_ddl("raw_audit", "loan_transactions", COLUMNS, "id", wsql.POSTGRES)
    assert "PRIMARY KEY" not in audit  # a bad batch with duplicate ids must still land for the gate
    from tierflow.warehouse.raw_ddl import raw_table_ddl

    table = load_policy(DEFAULT_POLICY).table("loan_transactions")
    rs = raw_table_ddl("raw", table, COLUMNS, wsql.REDSHIFT)
    # beside its loan (the marts join on loan_id), in the order the marts read it
    assert rs.endswith('DISTKEY ("loan_id")\nSORTKEY ("created_at")')
    assert raw_table_ddl("raw", table, COLUMNS, wsql.POSTGRES) == wsql.table_ddl(
        "raw", "loan_transactions", COLUMNS, "id", wsql.POSTGRES
    )
    assert {c.name: c.redshift_type() for c in COLUMNS}["gateway"] == "varchar(16)"  # enum: its labels


def test_extract_is_a_keyset_page_after_the_watermark_minus_lookback() -> None:
    q = wsql.extract_sql(
        "loans",
        COLUMNS[:1] + COLUMNS[-1:],
        "updated_at",
        "id",
        since=datetime(2026, 6, 27, 12),
        after=(datetime(2026, 6, 30, 1, 2, 3, 4), 77),
        limit=1000,
    )
    assert q == (
        "SELECT `id`, `updated_at` FROM `loans` WHERE `updated_at` >= '2026-06-27 12:00:00.000000' AND "
        "(`updated_at` > '2026-06-30 01:02:03.000004' OR (`updated_at` = '2026-06-30 01:02:03.000004' "
        "AND `id` > 77)) ORDER BY `updated_at`, `id` LIMIT 1000"
    )
    first = wsql.extract_sql("loans", COLUMNS[:1], "updated_at", "id", since=None, after=None, limit=5)
    assert "WHERE" not in first


def test_changes_keep_only_new_or_different_rows_null_safely() -> None:
    q = wsql.changes_sql("t", COLUMNS, "id", wsql.REDSHIFT)
    assert 'LEFT JOIN "raw"."t" r ON r."id" = a."id"' in q
    assert '(a."gateway_ref" = r."gateway_ref" OR (a."gateway_ref" IS NULL AND r."gateway_ref" IS NULL))' in q
    assert "IS DISTINCT FROM" not in q  # Redshift has none
    assert "ON COMMIT DROP" in wsql.changes_sql("t", COLUMNS, "id", wsql.POSTGRES)
    merge = wsql.merge_sql("t", COLUMNS, "id")
    assert merge.startswith('MERGE INTO "raw"."t" AS r USING "_tierflow_changes" AS c')
    set_clause = merge.split("UPDATE SET ", 1)[1].split("\n", 1)[0]
    assert '"_loaded_at" = c."_loaded_at"' in set_clause and '"id" = c."id"' not in set_clause


def test_watermark_column_prefers_the_change_column() -> None:
    policy = load_policy(DEFAULT_POLICY)
    assert watermark_column(policy.table("emi_schedules")) == "updated_at"
    assert watermark_column(policy.table("communication_events")) == "created_at"


def test_redshift_copy_and_publish_batch() -> None:
    q = copy_sql("loans", COLUMNS[:2], "s3://lake/p/staging/loans/batch=1", "arn:aws:iam::1:role/r")
    assert q == (
        'COPY "raw_audit"."loans" ("id", "amount", "_loaded_at")\n'
        "FROM 's3://lake/p/staging/loans/batch=1/'\nIAM_ROLE 'arn:aws:iam::1:role/r'\nFORMAT AS PARQUET"
    )
    table = load_policy(DEFAULT_POLICY).table("loans")
    stmts = publish_statements(table, COLUMNS)
    assert stmts[0].startswith('CREATE TEMP TABLE "_tierflow_changes" AS')
    assert stmts[1].startswith("MERGE INTO")
    assert stmts[3].startswith('DELETE FROM "raw"."_tierflow_watermarks"')


def test_every_redshift_step_signs_in_with_iam_as_the_urls_user() -> None:
    from tierflow.stores.warehouse import redshift_connect_kwargs
    from tierflow.warehouse.gates import engine_kwargs, sqlalchemy_url

    url = "redshift://tierflow_loader@c.abc.ap-south-1.redshift.amazonaws.com:5439/wh?cluster=tf&region=ap-south-1"
    kwargs = redshift_connect_kwargs(url)
    assert kwargs["iam"] is True and kwargs["db_user"] == "tierflow_loader"
    assert kwargs["cluster_identifier"] == "tf" and "password" not in kwargs
    serverless = redshift_connect_kwargs("redshift://IAMR%3Atf-loader@wg.example:5439/wh?workgroup=tf")
    assert serverless["serverless_work_group"] == "tf" and serverless["is_serverless"] is True
    assert serverless["db_user"] == "IAMR:tf-loader"  # Serverless names the IAM role's user so
    assert engine_kwargs(url) == {"connect_args": kwargs} and "tierflow_loader" not in sqlalchemy_url(url)
    env = dbt.dbt_env(url, base={})
    assert (env["TIERFLOW_DBT_USER"], env["TIERFLOW_DBT_CLUSTER_ID"]) == ("tierflow_loader", "tf")
    with pytest.raises(TierflowError, match="carries a password; tierflow signs in with IAM"):
        redshift_connect_kwargs("redshift://u:pw@h:5439/dev?cluster=c")
    with pytest.raises(TierflowError, match=r"\?cluster=<id>"):
        redshift_connect_kwargs("redshift://u@h:5439/dev")


def test_slots_alternate_and_dbt_env_comes_from_the_url() -> None:
    assert publish.next_slot(None) == publish.SLOTS[0]
    assert publish.next_slot(publish.SLOTS[0]) == publish.SLOTS[1]
    assert publish.next_slot(publish.SLOTS[1]) == publish.SLOTS[0]
    env = dbt.dbt_env("postgresql://alice:s3cret@db.local:6543/wh", "analytics_audit_green", base={})
    assert env["TIERFLOW_DBT_HOST"] == "db.local" and env["TIERFLOW_DBT_PORT"] == "6543"
    assert env["TIERFLOW_DBT_PASSWORD"] == "s3cret" and env["TIERFLOW_DBT_SCHEMA"] == "analytics_audit_green"
    assert env["TIERFLOW_DBT_TARGET"] == "local"
    assert dbt.dbt_env("redshift://u@rs:5439/dev?cluster=c", base={})["TIERFLOW_DBT_TARGET"] == "prod"


def test_the_settings_sign_redshift_in_and_reach_dbt() -> None:
    """Explicit AWS keys in the settings (aws_default) sign every Redshift connection (the loader,
    the gates' engine) and dbt's; settings without keys leave the credential chain alone."""
    from tierflow.config import Settings
    from tierflow.stores.warehouse import redshift_connect_kwargs
    from tierflow.warehouse.gates import engine_kwargs

    url = "redshift://tierflow_loader@wh.example:5439/wh?cluster=tf"
    keys = Settings(aws_access_key_id="AKIAKEY", aws_secret_access_key="secret", aws_region="eu-west-1")
    signed = redshift_connect_kwargs(url, aws=keys)
    assert (signed["access_key_id"], signed["secret_access_key"], signed["session_token"]) == (
        "AKIAKEY",
        "secret",
        None,
    )
    assert signed["region"] == "eu-west-1" and redshift_connect_kwargs(url)["region"] is None
    assert engine_kwargs(url, keys) == {"connect_args": signed}
    chain = redshift_connect_kwargs(url, aws=Settings())
    assert "access_key_id" not in chain and chain["region"] == "ap-south-1"

    env = dbt.dbt_env(url, base={"AWS_SESSION_TOKEN": "of-other-keys"}, settings=keys.with_(pii_key="k"))
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("AKIAKEY", "secret")
    assert "AWS_SESSION_TOKEN" not in env and env["TIERFLOW_PII_SALT"] == "k"
    assert env["TIERFLOW_DBT_TARGET"] == "prod" and env["TIERFLOW_DBT_REGION"] == "eu-west-1"
    staging = Settings(dbt_target="staging")
    assert dbt.dbt_env(url, base={}, settings=staging)["TIERFLOW_DBT_TARGET"] == "staging"
    untouched = dbt.dbt_env("postgresql://u@db/wh", base={"AWS_PROFILE": "dev"}, settings=Settings())
    assert untouched["AWS_PROFILE"] == "dev" and "AWS_ACCESS_KEY_ID" not in untouched
    assert "TIERFLOW_PII_SALT" not in untouched


def test_project_relations_split_marts_from_layers() -> None:
    manifest = {
        "metadata": {"project_name": "tierflow"},
        "nodes": {
            "model.tierflow.fct_x": {
                "resource_type": "model",
                "package_name": "tierflow",
                "name": "fct_x",
                "alias": "fct_x",
                "config": {"schema": None, "materialized": "incremental"},
            },
            "model.tierflow.stg_y": {
                "resource_type": "model",
                "package_name": "tierflow",
                "name": "stg_y",
                "alias": "stg_y",
                "config": {"schema": "staging", "materialized": "view"},
            },
            "test.tierflow.t": {
                "resource_type": "test",
                "package_name": "tierflow",
                "name": "t",
                "config": {},
            },
        },
    }
    rels = dbt.project_relations(manifest)
    assert [(r.name, r.schema_suffix, r.materialized) for r in rels] == [
        ("fct_x", "", "incremental"),
        ("stg_y", "_staging", "view"),
    ]


def test_publish_sql_per_engine() -> None:
    """The atomic publish's statements: late-binding views, LIKE that keeps Redshift's dist/sort
    keys, a LOCK instead of PostgreSQL's advisory lock, and no leader-node-only functions."""
    from tierflow.warehouse.publish import copy_table_sql, lock_sql
    from tierflow.warehouse.sql import POSTGRES, REDSHIFT
    from tierflow.warehouse.views import view_sql

    assert view_sql('"analytics"."m"', '"slot"."m"', REDSHIFT).endswith("WITH NO SCHEMA BINDING")
    assert "BINDING" not in view_sql('"analytics"."m"', '"slot"."m"', POSTGRES)
    # a replaced view keeps its grants
    assert view_sql('"analytics"."m"', '"slot"."m"', POSTGRES).startswith("CREATE OR REPLACE VIEW")
    assert (
        copy_table_sql('"b"."t"', '"a"."t"', REDSHIFT)[1]
        == 'CREATE TABLE "b"."t" (LIKE "a"."t" INCLUDING DEFAULTS)'
    )
    assert (
        copy_table_sql('"b"."t"', '"a"."t"', POSTGRES)[1]
        == 'CREATE TABLE "b"."t" (LIKE "a"."t" INCLUDING ALL)'
    )
    redshift_lock = lock_sql(REDSHIFT)
    assert redshift_lock[-2:] == ["BEGIN", 'LOCK "raw"."_tierflow_publish_lock"']
    assert not any("advisory" in s for s in redshift_lock)
    assert "pg_try_advisory_lock" in lock_sql(POSTGRES)[0]


def test_preflight_refuses_a_dbt_profile_that_signs_in_otherwise(tmp_path) -> None:
    from tierflow.paths import DBT_DIR
    from tierflow.warehouse.preflight import dbt_target_check

    url = "redshift://tierflow_builder@c.example:5439/wh?cluster=tf"
    assert dbt_target_check(url).ok
    (tmp_path / "profiles.yml").write_text(
        (DBT_DIR / "profiles.yml").read_text().replace("method: iam", "method: database")
    )
    check = dbt_target_check(url, tmp_path)
    assert not check.ok and check.detail == "target prod: redshift as tierflow_builder, method database"
    assert (
        check.fix == "dbt/profiles.yml target prod must be type redshift, as tierflow_builder on c.example/wh"
    )
