"""Settings.from_env: every setting has a working local default and an environment override."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from tierflow import config
from tierflow.config import ENV_VARS, Settings
from tierflow.paths import DEFAULT_POLICY, EXPECTATIONS_DIR, LOCAL_DATA_DIR, PROJECT_ROOT
from tierflow.urls import parse, redact


def test_defaults_point_at_the_local_services() -> None:
    s = Settings.from_env({})
    assert s.mysql_url == "mysql://root@127.0.0.1:3306/lending"
    assert s.warehouse_url == "postgresql://postgres@127.0.0.1:5432/tierflow_warehouse"
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.archive_uri == (LOCAL_DATA_DIR / "archive").as_uri()
    assert s.archive_uri.startswith("file:///")
    assert s.policy_path == DEFAULT_POLICY
    assert s.policy_path.is_file()
    assert s.aws_endpoint_url is None
    assert s.aws_region == "ap-south-1"


def test_each_env_var_overrides_its_setting() -> None:
    env = {
        "TIERFLOW_MYSQL_URL": "mysql://app:pw@aurora.example:3306/lending",
        "TIERFLOW_WAREHOUSE_URL": "redshift://etl:pw@wh.example:5439/analytics",
        "TIERFLOW_REDIS_URL": "redis://cache.example:6380/2",
        "TIERFLOW_ARCHIVE_URI": "s3://lender-archive/lending",
        "TIERFLOW_POLICY": "/etc/tierflow/tiers.yaml",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    s = Settings.from_env(env)
    assert s.mysql_url == env["TIERFLOW_MYSQL_URL"]
    assert s.warehouse_url == env["TIERFLOW_WAREHOUSE_URL"]
    assert s.redis_url == env["TIERFLOW_REDIS_URL"]
    assert s.archive_uri == env["TIERFLOW_ARCHIVE_URI"]
    assert s.policy_path == Path("/etc/tierflow/tiers.yaml")
    assert s.aws_endpoint_url == "http://127.0.0.1:9000"
    assert s.aws_region == "eu-west-1"


def test_env_var_names_are_the_documented_ones() -> None:
    assert set(ENV_VARS.values()) == {
        "TIERFLOW_MYSQL_URL",
        "TIERFLOW_WAREHOUSE_URL",
        "TIERFLOW_WAREHOUSE_BUILD_URL",
        "TIERFLOW_REDIS_URL",
        "TIERFLOW_ARCHIVE_URI",
        "TIERFLOW_POLICY",
        "TIERFLOW_PII_SALT",
        "TIERFLOW_EXPECTATIONS_DIR",
        "TIERFLOW_DBT_TARGET",
        "TIERFLOW_KINESIS_STREAM",
        "AWS_ENDPOINT_URL_KINESIS",
        "TIERFLOW_ATHENA_WORKGROUP",
        "TIERFLOW_QUERY_JOURNAL",
    }
    assert set(ENV_VARS) <= {f.name for f in fields(Settings)}


def test_the_new_settings_default_to_what_their_call_sites_used() -> None:
    s = Settings.from_env({})
    assert s.expectations_dir == EXPECTATIONS_DIR and (s.expectations_dir / "archive").is_dir()
    assert (s.pii_key, s.pii_hash_key) == (None, "tierflow")
    assert (s.dbt_target, s.dbt_profile_target) == (None, "local")
    assert (s.dialect, s.is_redshift) == ("postgres", False)
    assert s.kinesis_endpoint_url is None and s.kinesis_stream is None
    assert s.athena_workgroup is None and s.query_journal.name == "query_journal.jsonl"
    assert s.aws_credentials() == {}
    assert s.aws_client_kwargs("s3") == {"region_name": "ap-south-1", "endpoint_url": None}


def test_each_new_env_var_sets_its_field() -> None:
    s = Settings.from_env(
        {
            "TIERFLOW_PII_SALT": "a-long-secret",
            "TIERFLOW_EXPECTATIONS_DIR": "/srv/suites",
            "TIERFLOW_DBT_TARGET": "staging",
            "AWS_ENDPOINT_URL": "http://aws:4566",
            "AWS_ENDPOINT_URL_KINESIS": "http://kinesis:4567",
            "TIERFLOW_KINESIS_STREAM": "lending-row-changes",
        }
    )
    assert s.kinesis_stream == "lending-row-changes"
    assert (s.pii_key, s.pii_hash_key) == ("a-long-secret", "a-long-secret")
    assert s.expectations_dir == Path("/srv/suites")
    assert (s.dbt_target, s.dbt_profile_target) == ("staging", "staging")
    assert s.kinesis_endpoint_url == "http://kinesis:4567"
    assert s.aws_client_kwargs("kinesis")["endpoint_url"] == "http://kinesis:4567"
    assert s.aws_client_kwargs("s3")["endpoint_url"] == "http://aws:4566"
    assert s.aws_client_kwargs("glue")["endpoint_url"] == "http://aws:4566"
    only_generic = Settings.from_env({"AWS_ENDPOINT_URL": "http://aws:4566"})
    assert only_generic.aws_client_kwargs("kinesis")["endpoint_url"] == "http://aws:4566"


def test_an_empty_pii_key_hashes_with_it_but_counts_as_unset() -> None:
    """TIERFLOW_PII_SALT= (exported empty) hashes with the empty key, as os.environ.get did, and
    an S3 archive of PII still refuses it (``not settings.pii_key``)."""
    s = Settings.from_env({"TIERFLOW_PII_SALT": ""})
    assert s.pii_key == "" and s.pii_hash_key == "" and not s.pii_key


def test_the_dialect_and_the_dbt_target_follow_the_warehouse_url() -> None:
    rs = Settings.from_env({"TIERFLOW_WAREHOUSE_URL": "redshift://tierflow_loader@wh:5439/dev?cluster=c"})
    assert (rs.dialect, rs.is_redshift, rs.dbt_profile_target) == ("redshift", True, "prod")
    # a Connection that replaces the URL later (TierflowHook) changes both
    pg = rs.with_(warehouse_url="postgresql://postgres@127.0.0.1:5432/wh")
    assert (pg.dialect, pg.dbt_profile_target) == ("postgres", "local")
    assert Settings(warehouse_url="REDSHIFT://u@h/db").dialect == "redshift"
    assert rs.with_(dbt_target="local").dbt_profile_target == "local"


def test_explicit_aws_credentials_reach_every_client_and_never_show() -> None:
    s = Settings(
        aws_access_key_id="AKIAEXAMPLEKEY",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG",
        aws_session_token="FwoGZXIvYXdzEXAMPLETOKEN",
        aws_region="eu-west-1",
        pii_key="pii-secret-key",
    )
    assert s.aws_client_kwargs("kinesis") == {
        "region_name": "eu-west-1",
        "endpoint_url": None,
        "aws_access_key_id": "AKIAEXAMPLEKEY",
        "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG",
        "aws_session_token": "FwoGZXIvYXdzEXAMPLETOKEN",
    }
    shown = repr(s) + " ".join(s.redacted().values())
    for secret in ("AKIAEXAMPLEKEY", "wJalrXUtnFEMI", "FwoGZXIvYXdz", "pii-secret-key"):
        assert secret not in shown
    assert s.redacted()["pii_key"] == "***" and s.redacted()["aws_credentials"] == "***"


def test_the_builder_signs_in_with_its_own_url_when_one_is_set() -> None:
    loader = "redshift://tierflow_loader@c:5439/wh?cluster=tf"
    builder = "redshift://tierflow_builder@c:5439/wh?cluster=tf"
    s = Settings.from_env({"TIERFLOW_WAREHOUSE_URL": loader, "TIERFLOW_WAREHOUSE_BUILD_URL": builder})
    assert s.warehouse_url == loader and s.as_builder().warehouse_url == builder
    assert s.as_builder().as_builder() == s.as_builder()
    assert Settings(warehouse_url=loader).as_builder().warehouse_url == loader


def test_empty_values_fall_back_to_defaults() -> None:
    """An exported-but-empty variable (common in .env files) must not produce an empty URL."""
    empty = {name: "" for name in ENV_VARS.values() if name != "TIERFLOW_PII_SALT"}
    s = Settings.from_env(empty | {"AWS_ENDPOINT_URL": ""})
    assert s == Settings.from_env({})


def test_s3_specific_endpoint_wins_over_generic_one() -> None:
    s = Settings.from_env({"AWS_ENDPOINT_URL": "http://generic:1", "AWS_ENDPOINT_URL_S3": "http://s3:2"})
    assert s.aws_endpoint_url == "http://s3:2"
    assert Settings.from_env({"AWS_REGION": "us-east-2"}).aws_region == "us-east-2"


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERFLOW_MYSQL_URL", "mysql://root@10.0.0.7:3307/src")
    assert Settings.from_env().mysql_url == "mysql://root@10.0.0.7:3307/src"


def test_settings_are_immutable_and_with_returns_a_copy() -> None:
    s = Settings.from_env({})
    other = s.with_(archive_uri="s3://b/p")
    assert other.archive_uri == "s3://b/p"
    assert s.archive_uri == config.DEFAULT_ARCHIVE_URI
    with pytest.raises(AttributeError):
        s.mysql_url = "mysql://x/y"  # type: ignore[misc]


def test_redacted_masks_every_password() -> None:
    s = Settings(
        mysql_url="mysql://app:s3cret@db:3306/lending",
        warehouse_url="redshift://etl:hunter2@wh:5439/dev",
        redis_url="redis://:r3dis@cache:6379/0",
    )
    shown = s.redacted()
    text = " ".join(shown.values())
    for secret in ("s3cret", "hunter2", "r3dis"):
        assert secret not in text
    assert shown["mysql_url"] == "mysql://app:***@db:3306/lending"
    assert shown["aws_endpoint_url"] == "(AWS default)"


def test_url_parsing_round_trip() -> None:
    u = parse("mysql://app:p%40ss@db.example:3307/lending?ssl=1")
    assert (u.scheme, u.host, u.port, u.user, u.password, u.database) == (
        "mysql",
        "db.example",
        3307,
        "app",
        "p@ss",
        "lending",
    )
    assert u.query == {"ssl": "1"}
    assert parse(u.with_database("other").render()).database == "other"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    with pytest.raises(ValueError, match="no scheme"):
        parse("just-a-host")


def test_cli_config_prints_masked_settings() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "TIERFLOW_MYSQL_URL": "mysql://app:topsecret@db:3306/lending",
        "PYTHONPATH": str(PROJECT_ROOT / "include"),
    }
    out = subprocess.run(
        [sys.executable, "-m", "tierflow.cli", "config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "mysql://app:***@db:3306/lending" in out.stdout
    assert "topsecret" not in out.stdout


def test_a_password_with_every_url_character_survives_and_never_shows() -> None:
    from urllib.parse import quote

    from tierflow.urls import scrub

    password = "p@ss/w#r?d%:x"
    url = f"redis://hot:{quote(password, safe='')}@cache:6380/2"
    assert parse(url).password == password and parse(parse(url).render()).password == password
    assert redact(url) == "redis://hot:***@cache:6380/2"
    assert scrub(f"auth {password} / {quote(password, safe='')} failed", url) == "auth *** / *** failed"
    raw = f"mysql://app:{password}@db:3306/lending"  # not encoded: masked whole, and refused
    assert "ss/w" not in redact(raw) and redact(raw) == "mysql://app:***@db:3306/lending"
    with pytest.raises(ValueError, match="percent-encode"):
        parse(raw)
    shown = repr(Settings(mysql_url=f"mysql://app:{quote(password, safe='')}@db/x"))
    assert "p%40ss" not in shown and password not in shown
