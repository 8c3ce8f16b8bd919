"""TierflowHook: builds tierflow ``Settings`` from Airflow Connections and Variables."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook, Variable
from tierflow.config import Settings
from tierflow.errors import TierflowError
from tierflow.urls import DbUrl

from tierflow_airflow import connections as ids


def _connection(conn_id: str) -> Any | None:
    from airflow.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def connection_url(conn: Any, kind: str) -> str:
    """The tierflow URL of an Airflow Connection, built from its fields (not from ``get_uri()``,
    whose extras would land in the query), the login and password percent-encoded.

    ``kind`` is ``mysql``, ``warehouse`` (``redshift://`` for a redshift Connection, else
    ``postgresql://``; a Redshift Connection's extras such as ``workgroup`` are kept as the
    query the IAM sign-in reads) or ``redis`` (the database from ``schema`` or the ``db`` extra)."""
    extra = conn.extra_dejson or {}
    query: dict[str, str] = {}
    database = conn.schema or None
    if kind == "warehouse":
        redshift = (conn.conn_type or "").startswith("redshift")
        scheme = "redshift" if redshift else "postgresql"
        if redshift:
            query = {
                k: str(v) for k, v in extra.items() if k in {"workgroup", "cluster", "region", "iam_role"}
            }
    elif kind == "redis":
        scheme = "rediss" if str(extra.get("ssl", "")).lower() in {"1", "true", "yes"} else "redis"
        database = conn.schema or str(extra.get("db", 0))
    else:
        scheme = kind
    return DbUrl(
        scheme, conn.host or "127.0.0.1", conn.port, conn.login, conn.password, database, query
    ).render()


def aws_settings(conn: Any) -> dict[str, Any]:
    """The AWS settings of an ``aws`` Connection (``aws_default``), the fields the Amazon
    provider's ``AwsBaseHook`` reads: the access key in ``login`` (or the ``aws_access_key_id``
    extra), the secret in ``password`` (or ``aws_secret_access_key``), and the extras
    ``aws_session_token``, ``region_name``, ``endpoint_url`` and ``service_config.kinesis.endpoint_url``.
    A field the Connection leaves empty keeps its environment value. Every AWS client tierflow
    builds (S3, Glue, IAM, Kinesis, Redshift's IAM sign-in) uses them; a role to assume or a
    profile is refused rather than ignored."""
    extra = conn.extra_dejson or {}
    unsupported = sorted(k for k in ("role_arn", "profile_name", "assume_role_method") if extra.get(k))
    if unsupported:
        raise TierflowError(
            f"the Connection {conn.conn_id!r} sets {', '.join(unsupported)}: tierflow signs its AWS "
            "clients with the Connection's keys or, without keys, with the worker's own credential "
            "chain (instance profile, IRSA); give the worker that role instead"
        )
    changes: dict[str, Any] = {}
    key = conn.login or extra.get("aws_access_key_id")
    if key:
        changes["aws_access_key_id"] = key
        changes["aws_secret_access_key"] = conn.password or extra.get("aws_secret_access_key") or ""
        changes["aws_session_token"] = extra.get("aws_session_token") or None
    if extra.get("region_name"):
        changes["aws_region"] = extra["region_name"]
    if extra.get("endpoint_url"):
        changes["aws_endpoint_url"] = extra["endpoint_url"]
    kinesis = ((extra.get("service_config") or {}).get("kinesis") or {}).get("endpoint_url")
    if kinesis:
        changes["kinesis_endpoint_url"] = kinesis
    return changes


class TierflowHook(BaseHook):
    """Owns the mapping Connection -> tierflow setting. Env vars fill in what is not configured."""

    conn_name_attr = "mysql_conn_id"
    hook_name = "tierflow"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def get_settings(self) -> Settings:
        base = Settings.from_env()
        changes: dict[str, Any] = {}
        for setting, conn_id, kind in (
            ("mysql_url", ids.MYSQL_CONN_ID, "mysql"),
            ("warehouse_url", ids.WAREHOUSE_CONN_ID, "warehouse"),
            ("warehouse_build_url", ids.WAREHOUSE_BUILD_CONN_ID, "warehouse"),
            ("redis_url", ids.REDIS_CONN_ID, "redis"),
        ):
            if (conn := _connection(conn_id)) is not None:
                changes[setting] = connection_url(conn, kind)
        if (aws := _connection(ids.AWS_CONN_ID)) is not None:
            changes.update(aws_settings(aws))
        archive = Variable.get(ids.ARCHIVE_URI_VARIABLE, default=None)
        if archive:
            changes["archive_uri"] = archive
        policy = Variable.get(ids.POLICY_VARIABLE, default=None)
        if policy:
            from pathlib import Path

            changes["policy_path"] = Path(policy)
        return base.with_(**changes)
