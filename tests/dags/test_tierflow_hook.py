"""TierflowHook turns every Connection and Variable into settings: the warehouse's loader and,
when the deployment has one, its builder; ``aws_default`` for every AWS client; the archive and
the policy; and the UI reads the same (Connections from AIRFLOW_CONN_* variables, as a secrets
backend would give them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tierflow.errors import TierflowError
from tierflow_airflow.hooks import TierflowHook

LOADER = "redshift://tierflow_loader@wh.example:5439/wh?cluster=tf&region=ap-south-1"
BUILDER = "redshift://tierflow_builder@wh.example:5439/wh?cluster=tf&region=ap-south-1"


def test_the_builder_connection_becomes_the_builders_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_WAREHOUSE", LOADER)
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_WAREHOUSE_BUILD", BUILDER)
    settings = TierflowHook().get_settings()
    assert settings.warehouse_url == LOADER
    assert settings.as_builder().warehouse_url == BUILDER


def test_without_a_builder_connection_every_step_uses_the_warehouse_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_WAREHOUSE", LOADER)
    monkeypatch.delenv("AIRFLOW_CONN_TIERFLOW_WAREHOUSE_BUILD", raising=False)
    monkeypatch.delenv("TIERFLOW_WAREHOUSE_BUILD_URL", raising=False)
    settings = TierflowHook().get_settings()
    assert settings.as_builder().warehouse_url == LOADER


# ---- aws_default: one rule for every AWS client ---------------------------------------------

AWS_KEY = "AKIAEXAMPLETIERFLOW"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
AWS_TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"


@pytest.fixture
def aws_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {
                "conn_type": "aws",
                "login": AWS_KEY,
                "password": AWS_SECRET,
                "extra": {
                    "aws_session_token": AWS_TOKEN,
                    "region_name": "eu-west-1",
                    "endpoint_url": "http://aws.example:4566",
                    "service_config": {"kinesis": {"endpoint_url": "http://kinesis.example:4567"}},
                },
            }
        ),
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_KINESIS"):
        monkeypatch.setenv(name, "http://from-the-environment:1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")


def _credentials(client) -> tuple[str, str, str | None]:
    creds = client._request_signer._credentials.get_frozen_credentials()
    return creds.access_key, creds.secret_key, creds.token


def test_aws_default_becomes_the_aws_settings(aws_default: None) -> None:
    s = TierflowHook().get_settings()
    assert (s.aws_access_key_id, s.aws_secret_access_key, s.aws_session_token) == (
        AWS_KEY,
        AWS_SECRET,
        AWS_TOKEN,
    )
    assert (s.aws_region, s.aws_endpoint_url) == ("eu-west-1", "http://aws.example:4566")
    assert s.kinesis_endpoint_url == "http://kinesis.example:4567"
    shown = repr(s) + " ".join(s.redacted().values())
    assert AWS_KEY not in shown and AWS_SECRET not in shown and AWS_TOKEN not in shown


def test_every_aws_client_signs_with_aws_default(aws_default: None) -> None:
    """S3 (the archive), Glue (the DAG's partitions), IAM, Kinesis, Redshift's IAM sign-in and
    dbt all get the Connection's region, endpoint and keys, not the environment's."""
    from tierflow.stores import aws
    from tierflow.stores.objects import store_for
    from tierflow.stores.warehouse import redshift_connect_kwargs
    from tierflow.warehouse.dbt import dbt_env

    s = TierflowHook().get_settings().with_(archive_uri="s3://lender-archive/lending")
    s3 = store_for(s).client
    assert (s3.meta.region_name, s3.meta.endpoint_url) == ("eu-west-1", "http://aws.example:4566")
    assert _credentials(s3) == (AWS_KEY, AWS_SECRET, AWS_TOKEN)
    for service, endpoint in (
        ("glue", "http://aws.example:4566"),
        ("iam", "http://aws.example:4566"),
        ("kinesis", "http://kinesis.example:4567"),
    ):
        client = aws.client(s, service)
        assert (client.meta.region_name, client.meta.endpoint_url) == ("eu-west-1", endpoint), service
        assert _credentials(client) == (AWS_KEY, AWS_SECRET, AWS_TOKEN), service

    redshift = "redshift://tierflow_loader@wh.example:5439/wh?cluster=tf"
    kwargs = redshift_connect_kwargs(redshift, aws=s)
    assert (kwargs["access_key_id"], kwargs["secret_access_key"], kwargs["session_token"]) == (
        AWS_KEY,
        AWS_SECRET,
        AWS_TOKEN,
    )
    assert kwargs["region"] == "eu-west-1"
    assert redshift_connect_kwargs(redshift + "&region=ap-south-1", aws=s)["region"] == "ap-south-1"
    env = dbt_env(redshift, base={}, settings=s)
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"]) == (
        AWS_KEY,
        AWS_SECRET,
        AWS_TOKEN,
    )
    assert env["TIERFLOW_DBT_REGION"] == "eu-west-1"


def test_an_aws_default_without_keys_keeps_the_credential_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    """An instance profile or IRSA deployment: aws_default names the region only, no client is
    given keys, and what the Connection leaves empty keeps its environment value."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws", "extra": {"region_name": "eu-west-1"}})
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio.local:9000")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_KINESIS", raising=False)
    s = TierflowHook().get_settings()
    assert s.aws_credentials() == {} and s.aws_access_key_id is None
    assert s.aws_client_kwargs("s3") == {
        "region_name": "eu-west-1",
        "endpoint_url": "http://minio.local:9000",
    }
    from tierflow.stores.warehouse import redshift_connect_kwargs

    assert "access_key_id" not in redshift_connect_kwargs("redshift://u@wh:5439/wh?cluster=tf", aws=s)


def test_without_aws_default_the_environment_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://moto.local:5000")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "http://kinesis.local:4567")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    s = TierflowHook().get_settings()
    assert (s.aws_region, s.aws_endpoint_url, s.kinesis_endpoint_url) == (
        "us-east-2",
        "http://moto.local:5000",
        "http://kinesis.local:4567",
    )
    assert s.aws_credentials() == {}


def test_an_aws_default_that_assumes_a_role_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """tierflow builds plain boto3 clients: a role the Connection asks for would be silently
    ignored, and every client would run as the worker's own identity."""
    role = {"role_arn": "arn:aws:iam::123456789012:role/tierflow"}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws", "extra": role}))
    with pytest.raises(TierflowError, match="role_arn"):
        TierflowHook().get_settings()


# ---- the other settings --------------------------------------------------------------------


def test_the_variables_become_the_archive_and_the_policy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_TIERFLOW_ARCHIVE_URI", "s3://lender-archive/lending")
    monkeypatch.setenv("AIRFLOW_VAR_TIERFLOW_POLICY", str(tmp_path / "tiers.yaml"))
    monkeypatch.setenv("TIERFLOW_ARCHIVE_URI", "file:///not/this/one")
    s = TierflowHook().get_settings()
    assert (s.archive_uri, s.policy_path) == ("s3://lender-archive/lending", tmp_path / "tiers.yaml")


def test_settings_without_a_connection_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The PII key, the suites and the dbt target have no Connection: the workers' environment
    (a secrets manager's injection for the key) gives them, through the same Settings."""
    monkeypatch.setenv("TIERFLOW_PII_SALT", "a-long-secret-key")
    monkeypatch.setenv("TIERFLOW_EXPECTATIONS_DIR", str(tmp_path))
    monkeypatch.setenv("TIERFLOW_DBT_TARGET", "prod")
    s = TierflowHook().get_settings()
    assert (s.pii_key, s.expectations_dir, s.dbt_profile_target) == ("a-long-secret-key", tmp_path, "prod")
    assert "a-long-secret-key" not in repr(s)


def test_the_dialect_follows_the_warehouse_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERFLOW_WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:5432/wh")
    monkeypatch.delenv("TIERFLOW_DBT_TARGET", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_WAREHOUSE", LOADER)
    s = TierflowHook().get_settings()
    assert (s.dialect, s.is_redshift, s.dbt_profile_target) == ("redshift", True, "prod")
    monkeypatch.setenv(
        "AIRFLOW_CONN_TIERFLOW_WAREHOUSE",
        json.dumps({"conn_type": "postgres", "host": "pg", "login": "etl", "schema": "wh"}),
    )
    s = TierflowHook().get_settings()
    assert (s.dialect, s.dbt_profile_target) == ("postgres", "local")


def test_the_ui_reads_the_settings_the_dags_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Storage tiers page builds its Settings through TierflowHook: a Connection wins over the
    API server's environment, as in the DAGs."""
    from tierflow_airflow.ui.app import settings_of_the_deployment

    monkeypatch.setenv("TIERFLOW_REDIS_URL", "redis://from-the-environment:6379/0")
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_REDIS", "redis://cache.example:6380/3")
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_WAREHOUSE", LOADER)
    monkeypatch.setenv("AIRFLOW_VAR_TIERFLOW_ARCHIVE_URI", "s3://lender-archive/lending")
    ui, dags = settings_of_the_deployment(), TierflowHook().get_settings()
    assert ui == dags
    assert (ui.redis_url, ui.warehouse_url, ui.archive_uri) == (
        "redis://cache.example:6380/3",
        LOADER,
        "s3://lender-archive/lending",
    )
    monkeypatch.delenv("AIRFLOW_CONN_TIERFLOW_REDIS")
    assert settings_of_the_deployment().redis_url == "redis://from-the-environment:6379/0"


def test_the_dags_dbt_environment_is_the_clis_for_the_builder(monkeypatch: pytest.MonkeyPatch) -> None:
    """warehouse_refresh's Cosmos tasks get dbt's profile variables from the one builder of dbt's
    environment (tierflow.warehouse.dbt.profile_env), as the builder, for the slot chosen."""
    import importlib.util

    import jinja2
    from tierflow.paths import PROJECT_ROOT
    from tierflow.warehouse.dbt import PROFILE_VARS, dbt_env

    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_WAREHOUSE", LOADER)
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_WAREHOUSE_BUILD", BUILDER)
    spec = importlib.util.spec_from_file_location(
        "warehouse_refresh_dag", PROJECT_ROOT / "dags" / "warehouse_refresh.py"
    )
    dag_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dag_file)
    dag_file.dbt_profile_env.cache_clear()

    class TaskInstance:
        def xcom_pull(self, task_ids: str) -> dict:
            assert task_ids == "choose_build_slot"
            return {"slot": "analytics_audit_green"}

    context = {"ti": TaskInstance(), "dbt_profile_env": dag_file.dbt_profile_env}
    rendered = {k: jinja2.Template(v).render(**context) for k, v in dag_file.DBT_ENV.items()}
    assert set(rendered) == set(PROFILE_VARS)
    cli = dbt_env(BUILDER, "analytics_audit_green", base={})
    assert rendered == {k: cli[k] for k in PROFILE_VARS}
    assert rendered["TIERFLOW_DBT_USER"] == "tierflow_builder" and rendered["TIERFLOW_DBT_CLUSTER_ID"] == "tf"
