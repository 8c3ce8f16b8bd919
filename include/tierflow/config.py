"""Runtime settings: one place that turns environment variables into typed settings.

Every setting has a working local default, so a fresh checkout runs against the local services.
Inside Airflow the same ``Settings`` are built from Connections (see ``plugins/tierflow_airflow``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tierflow.paths import DEFAULT_POLICY, EXPECTATIONS_DIR, LOCAL_DATA_DIR

DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/lending"
DEFAULT_WAREHOUSE_URL = "postgresql://postgres@127.0.0.1:5432/tierflow_warehouse"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_ARCHIVE_URI = (LOCAL_DATA_DIR / "archive").as_uri()
DEFAULT_AWS_REGION = "ap-south-1"
# The key of the archive's PII hashes when none is set: public, so only for local data; an
# archive of PII on AWS refuses it (tierflow.archive.archiver)
DEFAULT_PII_KEY = "tierflow"

ENV_VARS = {
    "mysql_url": "TIERFLOW_MYSQL_URL",
    "warehouse_url": "TIERFLOW_WAREHOUSE_URL",
    "warehouse_build_url": "TIERFLOW_WAREHOUSE_BUILD_URL",
    "redis_url": "TIERFLOW_REDIS_URL",
    "archive_uri": "TIERFLOW_ARCHIVE_URI",
    "policy_path": "TIERFLOW_POLICY",
    "pii_key": "TIERFLOW_PII_SALT",
    "expectations_dir": "TIERFLOW_EXPECTATIONS_DIR",
    "dbt_target": "TIERFLOW_DBT_TARGET",
    "kinesis_stream": "TIERFLOW_KINESIS_STREAM",
    "kinesis_endpoint_url": "AWS_ENDPOINT_URL_KINESIS",
    "athena_workgroup": "TIERFLOW_ATHENA_WORKGROUP",
    "query_journal": "TIERFLOW_QUERY_JOURNAL",
}


@dataclass(frozen=True)
class Settings:
    """Where each tier lives. Immutable; derive variants with ``with_``."""

    mysql_url: str = DEFAULT_MYSQL_URL
    warehouse_url: str = DEFAULT_WAREHOUSE_URL
    redis_url: str = DEFAULT_REDIS_URL
    archive_uri: str = DEFAULT_ARCHIVE_URI
    policy_path: Path = DEFAULT_POLICY
    # The builder's identity (dbt, the mart gates, publish) when it is not the loader's
    # (``warehouse_url``); docs/warehouse.md, "First deploy on Redshift".
    warehouse_build_url: str | None = None
    # The Great Expectations suites: expectations/<gate>/<dataset>.json
    expectations_dir: Path = EXPECTATIONS_DIR
    # The dbt profile's target; None: the warehouse's dialect decides (``dbt_profile_target``)
    dbt_target: str | None = None
    # The key of the archive's PII hashes; None: unset (DEFAULT_PII_KEY hashes, an S3 archive
    # of PII refuses to run). Never shown by repr() or redacted().
    pii_key: str | None = None
    # The hot tier's change events on Kinesis; None: the Redis Stream the policy names
    kinesis_stream: str | None = None
    # Every AWS client tierflow builds (S3, Glue, IAM, Kinesis, Redshift's IAM sign-in) takes
    # these (``aws_client_kwargs``). No access key: boto3's own credential chain (environment,
    # ~/.aws, web identity, instance profile).
    aws_endpoint_url: str | None = None
    aws_region: str = DEFAULT_AWS_REGION
    kinesis_endpoint_url: str | None = None  # Kinesis only (a local emulator); else aws_endpoint_url
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    # The query advisor's sources: an Athena workgroup's executions (None: not read) and the
    # journal ``tierflow query`` appends each run to
    athena_workgroup: str | None = None
    query_journal: Path = LOCAL_DATA_DIR / "query_journal.jsonl"
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            mysql_url=env.get(ENV_VARS["mysql_url"]) or DEFAULT_MYSQL_URL,
            warehouse_url=env.get(ENV_VARS["warehouse_url"]) or DEFAULT_WAREHOUSE_URL,
            redis_url=env.get(ENV_VARS["redis_url"]) or DEFAULT_REDIS_URL,
            archive_uri=env.get(ENV_VARS["archive_uri"]) or DEFAULT_ARCHIVE_URI,
            policy_path=Path(env.get(ENV_VARS["policy_path"]) or DEFAULT_POLICY),
            warehouse_build_url=env.get(ENV_VARS["warehouse_build_url"]) or None,
            expectations_dir=Path(env.get(ENV_VARS["expectations_dir"]) or EXPECTATIONS_DIR),
            dbt_target=env.get(ENV_VARS["dbt_target"]) or None,
            # set-but-empty stays empty: it hashes with the empty key, and counts as unset for
            # the refusal, as a missing one
            pii_key=env.get(ENV_VARS["pii_key"]),
            kinesis_stream=env.get(ENV_VARS["kinesis_stream"]) or None,
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
            aws_region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or DEFAULT_AWS_REGION,
            kinesis_endpoint_url=env.get(ENV_VARS["kinesis_endpoint_url"]) or None,
            athena_workgroup=env.get(ENV_VARS["athena_workgroup"]) or None,
            query_journal=Path(env.get(ENV_VARS["query_journal"]) or LOCAL_DATA_DIR / "query_journal.jsonl"),
        )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def __repr__(self) -> str:
        # a Settings printed in a traceback or a log shows no password
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in self.redacted().items()) + ")"

    def as_builder(self) -> Settings:
        """These settings with the builder's warehouse URL in ``warehouse_url``."""
        if not self.warehouse_build_url:
            return self
        return replace(self, warehouse_url=self.warehouse_build_url, warehouse_build_url=None)

    @property
    def is_redshift(self) -> bool:
        """Whether the warehouse is Redshift (else PostgreSQL)."""
        from tierflow.urls import is_redshift

        return is_redshift(self.warehouse_url)

    @property
    def dialect(self) -> str:
        """The warehouse's SQL dialect: ``redshift`` or ``postgres`` (tierflow.warehouse.sql)."""
        return "redshift" if self.is_redshift else "postgres"

    @property
    def dbt_profile_target(self) -> str:
        """The dbt target: ``dbt_target`` when set, else ``prod`` on Redshift and ``local``."""
        return self.dbt_target or ("prod" if self.is_redshift else "local")

    @property
    def pii_hash_key(self) -> str:
        """The key the archive's PII hashes use: ``pii_key``, or the public default when unset."""
        return DEFAULT_PII_KEY if self.pii_key is None else self.pii_key

    def aws_credentials(self) -> dict[str, str]:
        """The explicit AWS credentials as boto3 names them; empty: boto3's credential chain."""
        if not self.aws_access_key_id:
            return {}
        creds = {
            "aws_access_key_id": self.aws_access_key_id,
            "aws_secret_access_key": self.aws_secret_access_key or "",
        }
        if self.aws_session_token:
            creds["aws_session_token"] = self.aws_session_token
        return creds

    def aws_client_kwargs(self, service: str) -> dict[str, Any]:
        """``boto3.client(service, **kwargs)`` arguments: region, endpoint, credentials."""
        endpoint = self.aws_endpoint_url
        if service == "kinesis":
            endpoint = self.kinesis_endpoint_url or endpoint
        return {"region_name": self.aws_region, "endpoint_url": endpoint, **self.aws_credentials()}

    def redacted(self) -> dict[str, str]:
        """The settings as printable strings, passwords masked, keys left out."""
        from tierflow.urls import redact

        return {
            "mysql_url": redact(self.mysql_url),
            "warehouse_url": redact(self.warehouse_url),
            "warehouse_build_url": redact(self.warehouse_build_url)
            if self.warehouse_build_url
            else "(warehouse_url)",
            "redis_url": redact(self.redis_url),
            "archive_uri": self.archive_uri,
            "policy_path": str(self.policy_path),
            "expectations_dir": str(self.expectations_dir),
            "dialect": self.dialect,
            "dbt_target": self.dbt_profile_target,
            "pii_key": "***" if self.pii_key else "(unset: the public default)",
            "kinesis_stream": self.kinesis_stream or "(the Redis Stream)",
            "aws_endpoint_url": self.aws_endpoint_url or "(AWS default)",
            "aws_region": self.aws_region,
            "kinesis_endpoint_url": self.kinesis_endpoint_url or "(aws_endpoint_url)",
            "aws_credentials": "***" if self.aws_access_key_id else "(AWS credential chain)",
        }
