"""``tierflow archive lifecycle --apply`` on moto's S3 server: tierflow's rules are merged into the
bucket's configuration (others' rules kept, its own replaced by ID prefix), and on a versioned
bucket they expire noncurrent versions and expired delete markers too."""

from __future__ import annotations

import subprocess
import sys

import boto3
import pytest
from tierflow.archive.lifecycle import NONCURRENT_DAYS, STAGING_DAYS, apply_lifecycle
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY, PROJECT_ROOT
from tierflow.policy import load_policy

pytestmark = pytest.mark.integration

FOREIGN = {
    "ID": "logs-expire",
    "Filter": {"Prefix": "logs/"},
    "Status": "Enabled",
    "Expiration": {"Days": 30},
}
OTHER_DB = {
    "ID": "tierflow-otherdb-loans",
    "Filter": {"Prefix": "lake/otherdb/loans/"},
    "Status": "Enabled",
    "Expiration": {"Days": 400},
}
STALE = {
    "ID": "tierflow-lending-dropped_table",
    "Filter": {"Prefix": "lake/lending/dropped_table/"},
    "Status": "Enabled",
    "Expiration": {"Days": 10},
}


@pytest.fixture
def lifecycle_settings(s3_archive_uri: str, moto_server) -> Settings:
    return Settings(
        mysql_url="mysql://root@127.0.0.1:3306/lending",
        archive_uri=s3_archive_uri,
        policy_path=DEFAULT_POLICY,
        aws_endpoint_url=moto_server.endpoint,
    )


def _s3(moto_server):
    return boto3.client("s3", endpoint_url=moto_server.endpoint, region_name="ap-south-1")


def _core(rule: dict) -> dict:
    return {k: rule[k] for k in ("ID", "Filter", "Status", "Expiration")}


def test_apply_merges_into_the_bucket_and_expires_old_versions(
    lifecycle_settings: Settings, moto_server
) -> None:
    s3 = _s3(moto_server)
    bucket = lifecycle_settings.archive_uri.split("/")[2]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [FOREIGN, OTHER_DB, STALE]}
    )
    policy = load_policy(DEFAULT_POLICY)

    for _ in range(2):  # a second apply changes nothing
        apply_lifecycle(lifecycle_settings, policy)
        rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
        assert _core(rules["logs-expire"]) == FOREIGN
        assert _core(rules["tierflow-otherdb-loans"]) == OTHER_DB
        assert "tierflow-lending-dropped_table" not in rules
        ours = {i: r for i, r in rules.items() if i.startswith("tierflow-lending-")}
        tables = {t.name for t in policy.archived_tables}
        assert set(ours) == {f"tierflow-lending-{t}" for t in tables} | {"tierflow-lending-_delete-markers"}
        assert rules["tierflow-_staging"]["Filter"]["Prefix"] == "lake/_tierflow_staging/"
        assert rules["tierflow-_staging"]["Expiration"]["Days"] == STAGING_DAYS
        assert len(rules) == len(ours) + 3
    for rule_id, rule in ours.items():
        if rule_id.endswith("_delete-markers"):
            assert rule["Expiration"] == {"ExpiredObjectDeleteMarker": True}
            assert rule["Filter"]["Prefix"] == "lake/lending/"
        else:
            assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == NONCURRENT_DAYS
            assert rule["Expiration"]["Days"] > 0


def test_cli_apply_keeps_other_rules(lifecycle_settings: Settings, moto_server) -> None:
    s3 = _s3(moto_server)
    bucket = lifecycle_settings.archive_uri.split("/")[2]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [FOREIGN]})
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(PROJECT_ROOT / "include"),
        "TIERFLOW_MYSQL_URL": lifecycle_settings.mysql_url,
        "TIERFLOW_ARCHIVE_URI": lifecycle_settings.archive_uri,
        "AWS_ENDPOINT_URL": moto_server.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-south-1",
    }
    out = subprocess.run(
        [sys.executable, "-m", "tierflow.cli", "archive", "lifecycle", "--apply"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    ids = {r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert "logs-expire" in ids and "tierflow-lending-loan_transactions" in ids
