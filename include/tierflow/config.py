"""Runtime settings: one place that turns environment variables into typed settings.

Every setting has a working local default, so a fresh checkout runs against the local services.
Inside Airflow the same ``Settings`` are built from Connections (see ``plugins/tierflow_airflow``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from tierflow.paths import DEFAULT_POLICY, LOCAL_DATA_DIR

DEFAULT_MYSQL_URL = "mysql://root@127.0.0.1:3306/lending"
DEFAULT_WAREHOUSE_URL = "postgresql://postgres@127.0.0.1:5432/tierflow_warehouse"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_ARCHIVE_URI = (LOCAL_DATA_DIR / "archive").as_uri()

ENV_VARS = {
    "mysql_url": "TIERFLOW_MYSQL_URL",
    "warehouse_url": "TIERFLOW_WAREHOUSE_URL",
    "warehouse_build_url": "TIERFLOW_WAREHOUSE_BUILD_URL",
    "redis_url": "TIERFLOW_REDIS_URL",
    "archive_uri": "TIERFLOW_ARCHIVE_URI",
    "policy_path": "TIERFLOW_POLICY",
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
    aws_endpoint_url: str | None = None
    aws_region: str = "ap-south-1"
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
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
            aws_region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "ap-south-1",
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)

    def __repr__(self) -> str:
        # a Settings printed in a traceback or a log shows no password
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in self.redacted().items()) + ")"

    def as_builder(self) -> Settings:
        """These settings with the builder's warehouse URL in ``warehouse_url``."""
        if not self.warehouse_build_url:
            return self
        return replace(self, warehouse_url=self.warehouse_build_url, warehouse_build_url=None)

    def redacted(self) -> dict[str, str]:
        """The settings as printable strings, passwords masked."""
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
            "aws_endpoint_url": self.aws_endpoint_url or "(AWS default)",
            "aws_region": self.aws_region,
        }
