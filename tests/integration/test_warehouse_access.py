"""The warehouse's identities and grants (tierflow.warehouse.access) on real PostgreSQL: the loader
loads, the builder builds and publishes with real dbt, twice, and afterwards the analysts (and a
dashboard user granted by hand) still read ``analytics`` while raw, the audit slots and the
archive stay closed to them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from tierflow.config import Settings
from tierflow.stores import warehouse
from tierflow.urls import parse
from tierflow.warehouse.access import Identities, access_model, setup_sql, setup_statements
from tierflow.warehouse.columns import quote
from tierflow.warehouse.publish import SLOTS, build_and_publish
from tierflow.warehouse.sql import POSTGRES

from tests.conftest import unique_name
from tests.integration.test_warehouse_publish import PROJECT, pay

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def as_user(url: str, user: str) -> str:
    u = parse(url)
    return u.__class__(u.scheme, u.host, u.port, user, None, u.database, u.query).render()


@pytest.fixture
def ids(warehouse_url: str) -> Iterator[Identities]:
    """The access model applied to a fresh database, under names private to this test (roles are
    cluster-wide in PostgreSQL); an analyst and a dashboard user beside the service users."""
    ids = Identities(unique_name("tfacc"))
    extra = [f"{ids.prefix}_alice", f"{ids.prefix}_dash"]
    database = quote(parse(warehouse_url).database or "")
    with warehouse.connection(warehouse_url, autocommit=True) as conn:
        for statement in setup_statements(access_model(ids), POSTGRES, database):
            conn.execute(statement)
        for user in extra:
            conn.execute(f"CREATE USER {quote(user)}")
        conn.execute(f"ALTER GROUP {quote(ids.analysts)} ADD USER {quote(extra[0])}")
        # a dashboard's user outside the analysts: SELECT on single views, granted by hand
        conn.execute(f"GRANT USAGE ON SCHEMA analytics TO {quote(extra[1])}")
        # the Spectrum schema's stand-in: nobody but its owner may read it
        conn.execute("CREATE SCHEMA archive")
        conn.execute("CREATE TABLE archive.payments AS SELECT 1 AS id")
    yield ids
    roles = [ids.loader, ids.builder, ids.loaders, ids.builders, ids.analysts, *extra]
    with warehouse.connection(warehouse_url, autocommit=True) as conn:
        for role in roles:  # one at a time: a default ACL names two of them
            conn.execute(f"DROP OWNED BY {quote(role)} CASCADE")
        for role in roles:
            conn.execute(f"DROP ROLE {quote(role)}")


@pytest.fixture
def mini_project(tmp_path: Path) -> Path:
    for rel, text in PROJECT.items():
        path = tmp_path / "project" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip())
    return tmp_path / "project"


def read(url: str, sql: str) -> list[tuple]:
    with warehouse.connection(url) as conn:
        return conn.execute(sql).fetchall()


def test_analysts_keep_reading_analytics_after_two_publishes_and_never_raw_or_archive(
    warehouse_url: str, ids: Identities, mini_project: Path
) -> None:
    loader, builder = as_user(warehouse_url, ids.loader), as_user(warehouse_url, ids.builder)
    alice, dash = as_user(warehouse_url, f"{ids.prefix}_alice"), as_user(warehouse_url, f"{ids.prefix}_dash")
    mart = "analytics.fct_payments_daily"

    pay(loader, (1, "2026-06-01", 100))  # the loader owns raw.payments
    first = build_and_publish(Settings(warehouse_url=builder), full_refresh=True, project_dir=mini_project)
    assert first.slot == SLOTS[0]
    with warehouse.connection(builder, autocommit=True) as conn:  # a grant made by hand
        conn.execute(f"GRANT SELECT ON {mart} TO {quote(ids.prefix + '_dash')}")
    pay(loader, (2, "2026-06-02", 50))
    second = build_and_publish(Settings(warehouse_url=builder), project_dir=mini_project)
    assert second.slot == SLOTS[1]

    rows = [("2026-06-01", 1, 100), ("2026-06-02", 1, 50)]
    sql = f"SELECT day::text, payments, amount_total FROM {mart} ORDER BY day"
    assert read(alice, sql) == rows  # the analysts' default privileges on analytics
    assert read(dash, sql) == rows  # the hand-made grant outlived both publishes
    for relation in ("raw.payments", "archive.payments", f"{SLOTS[1]}.fct_payments_daily"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            read(alice, f"SELECT * FROM {relation}")


def test_a_changed_mart_keeps_its_grants_through_drop_and_create(warehouse_url: str, ids: Identities) -> None:
    """CREATE OR REPLACE VIEW refuses other columns: the view is re-created and re-granted in
    the publish's transaction."""
    from tierflow.warehouse.views import repoint_view_statements

    builder = as_user(warehouse_url, ids.builder)
    dash = as_user(warehouse_url, f"{ids.prefix}_dash")
    with warehouse.connection(builder, autocommit=True) as conn:
        for slot, columns in ((SLOTS[0], "1 AS a"), (SLOTS[1], "1 AS a, 2 AS b")):
            conn.execute(f"CREATE SCHEMA {slot}")
            conn.execute(f"CREATE TABLE {slot}.m AS SELECT {columns}")
        conn.execute(f"CREATE VIEW analytics.m AS SELECT * FROM {SLOTS[0]}.m")
        conn.execute(f"GRANT SELECT ON analytics.m TO {quote(ids.prefix + '_dash')}")
    with warehouse.connection(builder) as conn:
        statements = repoint_view_statements(conn, POSTGRES, "analytics", SLOTS[1], "m")
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    assert statements[0] == 'DROP VIEW "analytics"."m"'
    assert read(dash, "SELECT a, b FROM analytics.m") == [(1, 2)]


def test_the_redshift_setup_file_is_the_access_model() -> None:
    from tierflow.paths import PROJECT_ROOT

    assert (PROJECT_ROOT / "sql" / "redshift" / "000_access.sql").read_text() == setup_sql()


def test_setup_sql_grants_only_to_groups_it_creates_and_nothing_on_the_archive() -> None:
    import re

    from tierflow.paths import PROJECT_ROOT

    text = "\n".join(p.read_text() for p in sorted((PROJECT_ROOT / "sql" / "redshift").glob("*.sql")))
    sql = "\n".join(line for line in text.lower().splitlines() if not line.lstrip().startswith("--"))
    created = set(re.findall(r'create group "?(\w+)"?', sql))
    granted = set(re.findall(r'\bto group "?(\w+)"?', sql))
    assert granted and granted <= created, granted - created
    # USAGE on an external schema reads all of it: the archive is read through history only
    assert not re.findall(r'\bgrant [^;]* on schema "?archive"?', sql)
