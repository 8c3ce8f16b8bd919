"""Shared fixtures: each test gets its own MySQL database, warehouse database, Redis db and bucket.

Integration tests talk to the real local services (MariaDB, PostgreSQL, Redis) and to moto's S3
server started as a separate process on a free loopback port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from tierflow.config import Settings
from tierflow.paths import DEFAULT_POLICY, PROJECT_ROOT

MYSQL_SERVER = os.environ.get("TIERFLOW_TEST_MYSQL_SERVER", "mysql://root@127.0.0.1:3306")
PG_SERVER = os.environ.get("TIERFLOW_TEST_PG_SERVER", "postgresql://postgres@127.0.0.1:5432")
AS_OF = date(2026, 6, 30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


# A warehouse database that is never created: archive tests that take no warehouse into account
# point at it (the archive checks rows against a warehouse only when its database exists).
NO_WAREHOUSE_URL = f"{PG_SERVER}/{unique_name('tfnowh')}"


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh MySQL database with the lending schema applied, dropped afterwards."""
    from tierflow.stores import mysql

    url = f"{MYSQL_SERVER}/{unique_name('tftest')}"
    mysql.init_schema(url)
    yield url
    with mysql.connection(url, database=False, autocommit=True) as conn:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{mysql.database_of(url)}`")


@pytest.fixture
def seeded_mysql_url(mysql_url: str) -> str:
    """``mysql_url`` filled with the deterministic tiny dataset (3 years to AS_OF)."""
    from tierflow.devdata import seed_database

    seed_database(mysql_url, scale="tiny", years=3, seed=7, as_of=AS_OF, recreate=False, progress=False)
    return mysql_url


@pytest.fixture
def warehouse_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database standing in for Redshift, dropped afterwards."""
    from tierflow.stores import warehouse

    name = unique_name("tfwh")
    url = f"{PG_SERVER}/{name}"
    warehouse.ensure_database(url)
    yield url
    with warehouse.connection(url, database="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class RedisServer:
    """A private redis-server on a free loopback port, so tests can restart it empty."""

    def __init__(self, *options: str) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.options = options  # more redis-server options, e.g. --replicaof HOST PORT
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                *self.options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """An empty Redis (private server for this test session), flushed after the test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield redis_server.url
    try:
        client.flushall()
    finally:
        client.close()


class MotoServer:
    """moto's S3/Glue/Kinesis HTTP server in its own process, so tests can stop and restart it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "ap-south-1")
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_archive_uri(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the moto server; AWS_ENDPOINT_URL points at it for the test."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    bucket = unique_name("tf-archive").replace("_", "-")
    boto3.client("s3", endpoint_url=moto_server.endpoint, region_name="ap-south-1").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-south-1"}
    )
    return f"s3://{bucket}/lake"


@pytest.fixture
def file_archive_uri(tmp_path: Path) -> str:
    return (tmp_path / "archive").as_uri()


@pytest.fixture
def settings(mysql_url: str, file_archive_uri: str) -> Settings:
    return Settings(
        mysql_url=mysql_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
        warehouse_url=NO_WAREHOUSE_URL,
    )


@pytest.fixture
def project_root() -> Path:
    return PROJECT_ROOT
