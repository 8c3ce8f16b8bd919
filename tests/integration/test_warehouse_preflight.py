"""`tierflow warehouse preflight` against real PostgreSQL: it passes on a warehouse set up by the
access model, and names each thing missing, with its fix, on one that is not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tierflow.stores import warehouse
from tierflow.warehouse.access import Identities
from tierflow.warehouse.columns import quote

from tests.conftest import free_port
from tests.integration.test_warehouse_access import as_user, ids  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


def preflight(loader: str, builder: str | None, prefix: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TIERFLOW_WAREHOUSE_URL=loader, TIERFLOW_WAREHOUSE_BUILD_URL=builder or "")
    return subprocess.run(
        [str(Path(sys.executable).parent / "tierflow"), "warehouse", "preflight", "--prefix", prefix, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_warehouse_set_up_by_the_access_model_passes(warehouse_url: str, ids: Identities) -> None:  # noqa: F811 - the fixture imported above
    loader, builder = as_user(warehouse_url, ids.loader), as_user(warehouse_url, ids.builder)
    run = preflight(loader, builder, ids.prefix, "--json")
    report = json.loads(run.stdout)
    assert run.returncode == 0 and report["ok"], [c for c in report["checks"] if not c["ok"]]
    names = [c["name"] for c in report["checks"]]
    for name in (
        "connection (loader)",
        "identity (builder)",
        "schemas",
        "groups",
        "grants",
        "default privileges",
    ):
        assert name in names
    assert names[-1] == "dbt target"
    kept_out = {c["detail"] for c in report["checks"] if c["name"] == "analysts kept out"}
    assert kept_out == {f"{ids.analysts} cannot read {s} directly" for s in ("raw", "raw_audit", "archive")}


def test_each_missing_grant_is_named_with_its_fix(warehouse_url: str, ids: Identities) -> None:  # noqa: F811 - the fixture imported above
    with warehouse.connection(warehouse_url, autocommit=True) as conn:
        conn.execute(f"REVOKE USAGE ON SCHEMA raw FROM GROUP {quote(ids.builders)}")
        conn.execute(f"GRANT USAGE ON SCHEMA archive TO GROUP {quote(ids.analysts)}")
        conn.execute(f"ALTER GROUP {quote(ids.loaders)} DROP USER {quote(ids.loader)}")
    run = preflight(as_user(warehouse_url, ids.loader), as_user(warehouse_url, ids.builder), ids.prefix)
    assert run.returncode == 1
    failed = [line for line in run.stdout.splitlines() if line.startswith("FAIL")]
    assert failed == [
        f'FAIL  identity (loader): {ids.loader} is not in group {ids.loaders}  -> fix: ALTER GROUP "{ids.loaders}" '
        f'ADD USER "{ids.loader}"  (sql/redshift/000_access.sql)',
        f'FAIL  grants: {ids.builders} lacks USAGE on raw  -> fix: GRANT USAGE, CREATE ON SCHEMA "raw" TO GROUP '
        f'"{ids.builders}"',
        f"FAIL  analysts kept out: {ids.analysts} may read archive directly  -> fix: REVOKE USAGE ON SCHEMA "
        f'"archive" FROM GROUP "{ids.analysts}"',
    ]
    assert all(line.startswith(("PASS", "FAIL")) for line in run.stdout.splitlines())


def test_a_fresh_database_and_an_unreachable_one_fail_with_the_fix(warehouse_url: str) -> None:
    run = preflight(warehouse_url, None, "tfnone", "--json")
    checks = {c["name"]: c for c in json.loads(run.stdout)["checks"]}
    assert run.returncode == 1
    assert checks["schemas"]["fix"] == "run sql/redshift/000_access.sql as an admin"
    assert checks["groups"]["detail"] == "missing tfnone_loaders, tfnone_builders, tfnone_analysts"
    assert checks["dbt target"]["ok"]  # local target, postgres, as the URL's user
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    run = preflight(closed, None, "tfnone")
    assert run.returncode == 1 and run.stdout.startswith("FAIL  connection (loader): " + closed)
