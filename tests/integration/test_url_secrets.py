"""Passwords holding ``@ / # ? % :``, percent-encoded in the URL, against real users: a MariaDB user,
a PostgreSQL role on a private cluster that checks passwords (scram-sha-256; the shared server
trusts loopback, so it would accept any password) and a Redis ACL user. Every store and the
connectorx reads work, and no failed connection shows the password in its error or the logs."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from tierflow.config import Settings
from tierflow.errors import ServiceUnavailable
from tierflow.paths import DEFAULT_POLICY
from tierflow.policy import load_policy
from tierflow.stores import mysql, warehouse
from tierflow.urls import parse, redact

from tests.conftest import AS_OF, NO_WAREHOUSE_URL, RedisServer, free_port, wait_for_port

pytestmark = pytest.mark.integration

PASSWORD = "p@ss/w#r?d%:x"
ENCODED = quote(PASSWORD, safe="")
# what a password must not show up as: whole, encoded, or the pieces a mis-parse splits it into
LEAKS = (PASSWORD, ENCODED, "ss/w", "w#r", "r?d", "d%:x", "%40ss")


def _pg_bin() -> Path:
    """The PostgreSQL server binaries (initdb, postgres) of the installed server."""
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and (Path(out.stdout.strip()) / "initdb").is_file():
            return Path(out.stdout.strip())
    return Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


def assert_no_leak(*texts: str) -> None:
    for text in texts:
        for leak in LEAKS:
            assert leak not in text, f"{leak!r} shows in: {text[:400]}"


class PasswordPostgres:
    """A private PostgreSQL cluster on a free loopback port whose pg_hba asks for passwords."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="tfpg_"))
        self.proc: subprocess.Popen | None = None

    def _as_postgres(self, *cmd: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)

    def start(self) -> None:
        data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        pwfile = self.dir / "pw"
        pwfile.write_text("admin-secret\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        subprocess.run(
            self._as_postgres(
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
            ),
            check=True,
            capture_output=True,
        )
        self.proc = subprocess.Popen(
            self._as_postgres(
                str(PG_BIN / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(self.dir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, timeout=30)
        self.admin_url = f"postgresql://postgres:admin-secret@127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def password_postgres() -> Iterator[PasswordPostgres]:
    if not (PG_BIN / "initdb").is_file():
        pytest.fail(f"{PG_BIN / 'initdb'} is missing: the PostgreSQL server binaries are needed")
    server = PasswordPostgres()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_user_url(password_postgres: PasswordPostgres) -> str:
    """A role whose password is PASSWORD and that owns a fresh database."""
    role = f"tfpw_{uuid.uuid4().hex[:8]}"
    with warehouse.connection(f"{password_postgres.admin_url}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        conn.execute(f"CREATE DATABASE {role} OWNER {role}")
    return f"postgresql://{role}:{ENCODED}@127.0.0.1:{password_postgres.port}/{role}"


def mysql_user_on(url: str) -> Iterator[str]:
    """``url``'s database as seen by a new MariaDB user whose password is PASSWORD."""
    user = f"tfpw_{uuid.uuid4().hex[:8]}"
    db = mysql.database_of(url)
    with mysql.connection(url, database=False, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (PASSWORD,))
        cur.execute(f"GRANT ALL ON `{db}`.* TO '{user}'@'%'")
        cur.execute(f"GRANT PROCESS, REPLICATION CLIENT ON *.* TO '{user}'@'%'")
    u = parse(url)
    yield f"mysql://{user}:{ENCODED}@{u.host}:{u.port or 3306}/{db}"
    with mysql.connection(url, database=False, autocommit=True) as conn:
        conn.cursor().execute(f"DROP USER IF EXISTS '{user}'@'%'")


@pytest.fixture
def mysql_user_url(mysql_url: str) -> Iterator[str]:
    yield from mysql_user_on(mysql_url)


@pytest.fixture
def seeded_user_url(seeded_mysql_url: str) -> Iterator[str]:
    yield from mysql_user_on(seeded_mysql_url)


def test_urls_keep_every_character_of_the_password() -> None:
    url = f"mysql://app:{ENCODED}@db.example:3307/lending?ssl=1"
    u = parse(url)
    assert (u.user, u.password, u.host, u.port, u.database) == (
        "app",
        PASSWORD,
        "db.example",
        3307,
        "lending",
    )
    assert parse(u.render()).password == PASSWORD
    assert parse(u.with_database("other").render()) == parse(url.replace("/lending", "/other"))
    assert mysql.db_url_with_database(url, "x").startswith(f"mysql://app:{ENCODED}@db.example:3307/x")
    assert redact(url) == "mysql://app:***@db.example:3307/lending?ssl=1"
    # not encoded: refused by name of what to do, and masked whole where it is shown
    raw = f"mysql://app:{PASSWORD}@db.example/lending"
    assert_no_leak(redact(raw))
    with pytest.raises(ValueError, match="percent-encode") as err:
        parse(raw)
    assert_no_leak(str(err.value))


def test_mysql_store_and_connectorx_with_the_password(mysql_user_url: str) -> None:
    tables = mysql.init_schema(mysql_user_url)
    assert "loan_transactions" in tables
    with mysql.connection(mysql_user_url) as conn:
        cur = conn.cursor()
        cur.execute("SELECT CURRENT_USER()")
        assert cur.fetchone()[0].startswith(parse(mysql_user_url).user + "@")
    page = mysql.read_arrow(mysql_user_url, "SELECT COUNT(*) AS n FROM customers")
    assert page.column("n").to_pylist() == [0]


def test_archive_run_reads_with_connectorx_as_the_user(mysql_user_url: str, file_archive_uri: str) -> None:
    from tierflow.archive import run_archive

    from tests.integration.test_archive_run import make_rows

    make_rows(mysql_user_url)
    settings = Settings(
        mysql_url=mysql_user_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
        warehouse_url=NO_WAREHOUSE_URL,
    )
    summary = run_archive(
        settings, allow_large_run=True, tables=["loan_transactions"], as_of=AS_OF, batch_rows=25
    )
    assert summary.ok, summary.errors()
    assert (summary.tables[0].rows, summary.tables[0].deleted) == (60, 60)


def test_warehouse_load_with_passwords_on_both_ends(
    seeded_user_url: str, pg_user_url: str, file_archive_uri: str
) -> None:
    from tierflow.warehouse.dbt import dbt_env
    from tierflow.warehouse.load import load_table

    settings = Settings(
        mysql_url=seeded_user_url,
        warehouse_url=pg_user_url,
        archive_uri=file_archive_uri,
        policy_path=DEFAULT_POLICY,
    )
    report = load_table(settings, load_policy(DEFAULT_POLICY).table("loans"))  # connectorx, COPY, GX gate
    with mysql.connection(seeded_user_url) as conn:
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM loans")
        expected = cur.fetchone()[0]
    assert expected > 0 and report.inserted == expected
    with warehouse.connection(pg_user_url) as conn:
        assert conn.execute("SELECT count(*) FROM raw.loans").fetchone()[0] == expected
    assert dbt_env(pg_user_url, base={})["TIERFLOW_DBT_PASSWORD"] == PASSWORD


def test_dbt_connects_with_the_password_and_never_prints_it(pg_user_url: str, tmp_path: Path) -> None:
    from tierflow.paths import DBT_DIR
    from tierflow.warehouse.dbt import dbt_env, dbt_executable

    cmd = [
        dbt_executable(),
        "debug",
        "--connection",
        "--project-dir",
        str(DBT_DIR),
        "--profiles-dir",
        str(DBT_DIR),
        "--log-path",
        str(tmp_path / "logs"),
    ]
    out = subprocess.run(
        cmd, env=dbt_env(pg_user_url), capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert out.returncode == 0 and "OK connection ok" in out.stdout, out.stdout + out.stderr
    wrong = pg_user_url.replace(ENCODED, quote(PASSWORD + "!", safe=""))
    out = subprocess.run(cmd, env=dbt_env(wrong), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode != 0 and "password authentication failed" in out.stdout, out.stdout
    assert_no_leak(out.stdout, out.stderr, (tmp_path / "logs" / "dbt.log").read_text())


@pytest.fixture
def redis_acl_url(redis_server: RedisServer) -> Iterator[str]:
    import redis

    admin = redis.Redis.from_url(redis_server.url)
    user = f"tfpw_{uuid.uuid4().hex[:8]}"
    admin.acl_setuser(user, enabled=True, passwords=[f"+{PASSWORD}"], keys=["*"], commands=["+@all"])
    yield f"redis://{user}:{ENCODED}@127.0.0.1:{redis_server.port}/0"
    admin.acl_deluser(user)
    admin.close()


def test_redis_acl_user_with_the_password(redis_acl_url: str) -> None:
    from tierflow.stores import redis as redis_store

    client = redis_store.client(redis_acl_url)
    assert client.acl_whoami() in (parse(redis_acl_url).user, parse(redis_acl_url).user.encode())
    client.set("tf:probe", "1")
    assert client.get("tf:probe") == b"1"
    client.close()


def test_failed_connections_never_show_the_password(
    mysql_user_url: str, pg_user_url: str, redis_acl_url: str, caplog, capfd
) -> None:
    from tierflow.stores import redis as redis_store

    caplog.set_level(logging.DEBUG)
    wrong = {
        "mysql": mysql_user_url.replace(ENCODED, quote(PASSWORD + "!", safe="")),
        "pg": pg_user_url.replace(ENCODED, quote(PASSWORD + "!", safe="")),
        "redis": redis_acl_url.replace(ENCODED, quote(PASSWORD + "!", safe="")),
    }
    messages = []
    attempts = [
        lambda: mysql.connect(wrong["mysql"]),
        lambda: mysql.read_arrow(wrong["mysql"], "SELECT 1"),
        lambda: warehouse.connect(wrong["pg"]),
        lambda: redis_store.client(wrong["redis"]),
        lambda: mysql.connect(mysql_user_url.replace(":3306/", f":{free_port()}/")),
        lambda: warehouse.connect(pg_user_url.replace(f":{parse(pg_user_url).port}/", f":{free_port()}/")),
    ]
    started = time.monotonic()
    for attempt in attempts:
        with pytest.raises(ServiceUnavailable) as err:
            attempt()
        messages.append(str(err.value))
        assert "***" in str(err.value) or "@" not in str(err.value)
    assert time.monotonic() - started < 120
    out, errors = capfd.readouterr()
    assert_no_leak(*messages, caplog.text, out, errors)
    assert any("Access denied" in m for m in messages)
