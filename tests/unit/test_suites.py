"""Every Great Expectations suite in expectations/ is a valid GX 1.x suite, and every gate that
runs has one: a suite GX cannot build would only fail when its load or publish runs."""

from __future__ import annotations

import pytest
from tierflow import quality
from tierflow.paths import DEFAULT_POLICY, EXPECTATIONS_DIR
from tierflow.policy import load_policy

SUITES = sorted(EXPECTATIONS_DIR.glob("*/*.json"))


@pytest.mark.parametrize("path", SUITES, ids=[f"{p.parent.name}/{p.stem}" for p in SUITES])
def test_suite_builds(path) -> None:
    suite = quality.load_suite(path.parent.name, path.stem)
    assert suite.expectations, f"{path} has no expectations"


def test_every_archived_and_warehouse_table_has_its_suite() -> None:
    policy = load_policy(DEFAULT_POLICY)
    missing = [
        f"archive/{t.name}"
        for t in policy.archived_tables
        if not quality.suite_path("archive", t.name).exists()
    ]
    missing += [
        f"warehouse/{t.name}"
        for t in policy.warehouse_tables
        if not quality.suite_path("warehouse", t.name).exists()
    ]
    assert not missing, missing


def test_every_mart_has_its_suite() -> None:
    marts = {p.stem for p in (EXPECTATIONS_DIR.parent / "dbt" / "models" / "marts").rglob("*.sql")}
    marts = {m for m in marts if m.startswith(("fct_", "dim_"))}
    assert marts and marts <= {p.stem for p in (EXPECTATIONS_DIR / "marts").glob("*.json")}, marts
