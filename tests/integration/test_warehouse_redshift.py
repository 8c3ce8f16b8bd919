"""The Redshift Data API path against moto's redshift-data server. moto records statements but never
runs them (they stay STARTED), so this pins what is submitted and the wait's time limit; the SQL
itself is pinned by tests/unit/test_warehouse_sql.py."""

from __future__ import annotations

import pytest
from tierflow.errors import TierflowError
from tierflow.warehouse.columns import Column
from tierflow.warehouse.redshift import DataApi, DataApiTarget, copy_sql

pytestmark = pytest.mark.integration

COLUMNS = [
    Column("id", "bigint", "bigint unsigned", False),
    Column("updated_at", "datetime", "datetime(6)", False),
]
URL = "redshift://etl@wg.example:5439/dev?workgroup=tierflow&iam_role=arn:aws:iam::1:role/copy"


def test_copy_is_submitted_to_the_workgroup(moto_server) -> None:
    target = DataApiTarget.from_url(URL)
    api = DataApi(target, endpoint_url=moto_server.endpoint, region="ap-south-1")
    statement_id = api.submit(copy_sql("loans", COLUMNS, "s3://lake/staging/loans/batch=1", target.iam_role))
    desc = api.client.describe_statement(Id=statement_id)
    assert desc["QueryString"].startswith('COPY "raw_audit"."loans" ("id", "updated_at", "_loaded_at")')
    assert "IAM_ROLE 'arn:aws:iam::1:role/copy'" in desc["QueryString"]
    assert desc["Database"] == "dev"


def test_a_statement_that_never_finishes_times_out_by_name(moto_server) -> None:
    api = DataApi(DataApiTarget.from_url(URL), endpoint_url=moto_server.endpoint, region="ap-south-1")
    with pytest.raises(TierflowError, match="still STARTED after 1s"):
        api.execute("SELECT 1", timeout=1)
