"""S3 lifecycle rules from the policy's retention, merged into the bucket's configuration.

tierflow owns the rules whose ID starts with ``tierflow-<database>-``: applying replaces those and
keeps every other rule on the bucket (other teams', other databases'). On a versioned bucket an
expiry only hides an object behind a delete marker, so each rule also expires noncurrent versions
and one more rule removes the expired delete markers: an expired row really leaves the bucket.
The warehouse's staging (``_tierflow_staging/``) expires after STAGING_DAYS under ``tierflow-_staging``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tierflow.archive import layout
from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.policy import Policy
from tierflow.stores import mysql
from tierflow.stores.objects import STAGING_PREFIX, store_for

RULE_PREFIX = "tierflow-"
# the warehouse load's staged Parquet (copies of MySQL rows) is needed only while a load runs
STAGING_RULE_ID = f"{RULE_PREFIX}_staging"
STAGING_DAYS = 7
# days a replaced, retired or expired version is kept before it is removed for good
NONCURRENT_DAYS = 1
S3_MAX_RULES = 1000


class LifecycleConflictError(TierflowError):
    """The bucket's other rules and tierflow's cannot be put together."""


def retention_days(table: Any) -> int:
    """The table's archive retention in days, as its S3 lifecycle rule expires objects."""
    return int(round(table.archive.retention_years * 365))


def own_prefix(database: str) -> str:
    """The ID prefix of the rules tierflow owns for ``database``'s archive."""
    return f"{RULE_PREFIX}{database}-"


def _key_prefix(settings: Settings, *parts: str) -> str:
    root = urlsplit(settings.archive_uri).path.strip("/")
    return "/".join(p for p in (root, *parts) if p) + "/"


def lifecycle_rules(settings: Settings, policy: Policy) -> list[dict[str, Any]]:
    """Per archived table: Glacier IR after N days, expiry after retention, noncurrent versions
    removed NONCURRENT_DAYS later; and one rule for the database's expired delete markers."""
    database = mysql.database_of(settings.mysql_url)
    rules = []
    for t in policy.archived_tables:
        rule: dict[str, Any] = {
            "ID": f"{own_prefix(database)}{t.name}",
            "Filter": {"Prefix": _key_prefix(settings, layout.table_prefix(database, t.name))},
            "Status": "Enabled",
            "Expiration": {"Days": retention_days(t)},
            "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        }
        if policy.archive.glacier_ir_after_days:
            rule["Transitions"] = [
                {"Days": policy.archive.glacier_ir_after_days, "StorageClass": "GLACIER_IR"}
            ]
        rules.append(rule)
    rules.append(
        {
            "ID": STAGING_RULE_ID,
            "Filter": {"Prefix": _key_prefix(settings, STAGING_PREFIX)},
            "Status": "Enabled",
            "Expiration": {"Days": STAGING_DAYS},
            "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
        }
    )
    if len(rules) > 1:
        # S3 refuses ExpiredObjectDeleteMarker beside Expiration.Days in one rule: its own rule
        rules.append(
            {
                "ID": f"{own_prefix(database)}_delete-markers",
                "Filter": {"Prefix": _key_prefix(settings, database)},
                "Status": "Enabled",
                "Expiration": {"ExpiredObjectDeleteMarker": True},
            }
        )
    return rules


def merged_rules(
    existing: list[dict[str, Any]], ours: list[dict[str, Any]], database: str
) -> list[dict[str, Any]]:
    """``existing`` without the rules tierflow owns for ``database`` (and its staging rule), then
    ``ours``."""
    mine = own_prefix(database)
    kept = [
        r for r in existing if not (str(r.get("ID", "")).startswith(mine) or r.get("ID") == STAGING_RULE_ID)
    ]
    merged = kept + ours
    if len(merged) > S3_MAX_RULES:
        raise LifecycleConflictError(
            f"{len(kept)} other rule(s) and tierflow's {len(ours)} exceed S3's {S3_MAX_RULES} rules "
            "per bucket; nothing was changed"
        )
    return merged


def apply_lifecycle(settings: Settings, policy: Policy) -> list[dict[str, Any]]:
    """Merge the policy's rules into the archive bucket's lifecycle configuration (one put of the
    whole configuration) and return the bucket's rules as S3 reports them back."""
    from botocore.exceptions import ClientError

    from tierflow.stores.objects import S3Store

    store = store_for(settings)
    if not isinstance(store, S3Store):
        raise TierflowError(f"lifecycle rules apply to an s3:// archive, not {settings.archive_uri}")
    try:
        existing = store.client.get_bucket_lifecycle_configuration(Bucket=store.bucket)["Rules"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            raise
        existing = []
    database = mysql.database_of(settings.mysql_url)
    rules = merged_rules(existing, lifecycle_rules(settings, policy), database)
    store.client.put_bucket_lifecycle_configuration(
        Bucket=store.bucket, LifecycleConfiguration={"Rules": rules}
    )
    return store.client.get_bucket_lifecycle_configuration(Bucket=store.bucket)["Rules"]
