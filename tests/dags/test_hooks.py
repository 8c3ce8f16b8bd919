"""TierflowHook: Connections with passwords holding ``@ / # ? % :`` become URLs tierflow parses back
to the same password, and a Redshift Connection keeps the Data API's extras."""

from __future__ import annotations

import json

import pytest
from tierflow.urls import parse

PASSWORD = "p@ss/w#r?d%:x"


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> None:
    def conn(**fields) -> str:
        return json.dumps({"password": PASSWORD, **fields})

    monkeypatch.setenv(
        "AIRFLOW_CONN_TIERFLOW_MYSQL",
        conn(conn_type="mysql", login="app", host="db", port=3307, schema="lending"),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_TIERFLOW_WAREHOUSE",
        conn(
            conn_type="redshift",
            login="etl",
            host="wh",
            port=5439,
            schema="dev",
            extra={"workgroup": "wg", "region_name": "ap-south-1"},
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_TIERFLOW_REDIS",
        conn(conn_type="redis", login="hot", host="cache", port=6380, extra={"db": 2}),
    )


def test_connections_become_urls_with_the_password_intact(connections: None) -> None:
    from tierflow_airflow.hooks import TierflowHook

    s = TierflowHook().get_settings()
    my, wh, hot = parse(s.mysql_url), parse(s.warehouse_url), parse(s.redis_url)
    assert (my.scheme, my.user, my.password, my.host, my.port, my.database) == (
        "mysql",
        "app",
        PASSWORD,
        "db",
        3307,
        "lending",
    )
    assert (wh.scheme, wh.password, wh.database, wh.query) == (
        "redshift",
        PASSWORD,
        "dev",
        {"workgroup": "wg"},
    )
    assert (hot.scheme, hot.user, hot.password, hot.port, hot.database) == (
        "redis",
        "hot",
        PASSWORD,
        6380,
        "2",
    )
    assert PASSWORD not in repr(s) and "p%40ss" not in repr(s)
