"""TierflowHook: builds tierflow ``Settings`` from Airflow Connections and Variables."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook, Variable
from tierflow.config import Settings
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
        archive = Variable.get(ids.ARCHIVE_URI_VARIABLE, default=None)
        if archive:
            changes["archive_uri"] = archive
        policy = Variable.get(ids.POLICY_VARIABLE, default=None)
        if policy:
            from pathlib import Path

            changes["policy_path"] = Path(policy)
        return base.with_(**changes)
