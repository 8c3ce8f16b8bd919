"""The quality gates connect with the SQLAlchemy dialect of their target: psycopg2 on PostgreSQL
(run here against the real server), the Redshift dialect over redshift_connector on Redshift (run
through the conformance harness's recorder, which proves what its connections send)."""

from __future__ import annotations

import great_expectations as gx
import pytest
from tierflow.quality import QualityGateError
from tierflow.stores import warehouse
from tierflow.warehouse import gates

from tests import redshift_harness as rh

pytestmark = pytest.mark.integration


def suite(name: str) -> gx.ExpectationSuite:
    return gx.ExpectationSuite(
        name=name, expectations=[gx.expectations.ExpectColumnValuesToNotBeNull(column="status")]
    )


def test_postgres_gate_checks_the_table_through_psycopg2(warehouse_url: str) -> None:
    assert gates.sqlalchemy_url(warehouse_url).startswith("postgresql+psycopg2://")
    with warehouse.connection(warehouse_url, autocommit=True) as conn:
        conn.execute("create table gated (id bigint, status varchar(16))")
        conn.execute("insert into gated values (1, 'approved'), (2, 'closed')")
    gates.validate_table(warehouse_url, "public", "gated", suite("pg_pass"), dataset="public.gated")
    with warehouse.connection(warehouse_url, autocommit=True) as conn:
        conn.execute("insert into gated values (3, null)")
    with pytest.raises(QualityGateError, match="status"):
        gates.validate_table(warehouse_url, "public", "gated", suite("pg_fail"), dataset="public.gated")


def test_redshift_gate_sends_nothing_redshift_rejects() -> None:
    assert gates.sqlalchemy_url(rh.REDSHIFT_URL).startswith("redshift+redshift_connector://")
    recorder = rh.Recorder()
    recorder.catalog.add("raw_audit", "loans", [rh.Column("id", "bigint"), rh.Column("status")])
    with rh.recorded_redshift_connector(recorder):
        gates.validate_table(rh.REDSHIFT_URL, "raw_audit", "loans", suite("rs"), dataset="raw_audit.loans")
    sent = [st.sql for st in recorder.statements]
    assert {(kw["iam"], kw["db_user"]) for kw in recorder.connections} == {(True, "tierflow_builder")}
    first_query = next(i for i, sql in enumerate(sent) if "raw_audit" in sql)
    # what the dialect's first connect sends, before the gate reads the table
    assert sent[:3] == [
        "select pg_catalog.version()",
        "select current_schema()",
        "show transaction isolation level",
    ]
    assert all(sql == "ROLLBACK" for sql in sent[3:first_query])
    assert not any("standard_conforming_strings" in sql for sql in sent)
    assert recorder.failures() == {}
    assert any('"status" IS NULL' in sql or "status IS NULL" in sql for sql in sent)
