"""The query advisor against the real local PostgreSQL: a recorded analyst workload (read back from
pg_stat_statements) gives candidates; each promoted shape's model builds with dbt, and its rewrite
returns the same rows as the original; refused shapes carry their reason; ``advise`` without
``apply`` changes no file and no table.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from tierflow.advisor import history, workload
from tierflow.advisor.advise import Candidate, advise, apply
from tierflow.advisor.fingerprint import bind, fingerprint
from tierflow.advisor.proof import drawn_literal_sets, rows_of
from tierflow.advisor.shape import analyse
from tierflow.paths import DBT_DIR, PROJECT_ROOT, SQL_DIR
from tierflow.stores import warehouse
from tierflow.warehouse.dbt import run_dbt

from tests.conftest import PG_SERVER, unique_name

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = 40_000
REPEATS = 6


def _preloaded() -> bool:
    with warehouse.connection(f"{PG_SERVER}/postgres") as conn:
        row = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    return "pg_stat_statements" in row[0]


@pytest.fixture(scope="module")
def recorded() -> Iterator[tuple[str, list[history.QueryRun]]]:
    """A warehouse with synthetic raw.loan_transactions, the analyst workload run on it, and what
    pg_stat_statements recorded of it."""
    if not _preloaded():
        pytest.fail("PostgreSQL does not preload pg_stat_statements: run scripts/services.sh")
    name = unique_name("tfwh_advisor")
    url = f"{PG_SERVER}/{name}"
    warehouse.ensure_database(url)
    try:
        with warehouse.connection(url, autocommit=True) as conn:
            workload.create_table(conn, ROWS)
            assert history.ensure_pg_stat_statements(conn)
            workload.run(conn, repeats=REPEATS, one_offs=30)
            runs = history.postgres_history(conn)
        yield url, runs
    finally:
        with warehouse.connection(url, database="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def report(recorded) -> list[Candidate]:
    url, runs = recorded
    with warehouse.connection(url, autocommit=True) as conn:
        return advise(conn, runs, min_calls=3)


def _planted(name: str) -> str:
    template = next(p.template for p in workload.PLANTED if p.name == name)
    filled = template.format(
        status="x", txn_type="x", gateway="x", gateway2="y", start="2026-01-01", end="2026-01-08", id=1
    )
    return fingerprint(filled).fingerprint


def test_the_workload_is_read_back_from_pg_stat_statements(recorded) -> None:
    _, runs = recorded
    by_fp: dict[str, int] = {}
    for run in runs:
        fp = fingerprint(run.sql, run.dialect).fingerprint
        by_fp[fp] = by_fp.get(fp, 0) + run.calls
    for planted in workload.PLANTED:
        assert by_fp.get(_planted(planted.name)) == REPEATS, planted.name


def test_planted_shapes_are_promoted_with_a_proof_and_the_others_refused_with_reasons(report) -> None:
    by_fp = {c.fingerprint: c for c in report}
    for planted in workload.PLANTED:
        cand = by_fp[_planted(planted.name)]
        assert cand.calls == REPEATS
        assert cand.promotable is planted.promotable, (planted.name, cand.reason)
        if planted.promotable:
            assert cand.equivalent is True
            assert cand.literal_sets == 5
            assert cand.model_name and cand.model_sql and cand.rewrite_sql
            assert cand.original_ms and cand.rewrite_ms is not None
    reasons = {p.name: by_fp[_planted(p.name)].reason for p in workload.PLANTED if not p.promotable}
    assert "count(distinct)" in reasons["distinct_customers"]
    assert "non-deterministic" in reasons["sampled_amounts"]
    assert "window function" in reasons["running_share"]
    lookups = [c for c in report if c.calls == 30]
    assert lookups and lookups[0].reason == "not an aggregate query"


def _snapshot(url: str) -> tuple[dict[str, str], list[tuple]]:
    files = {}
    for root in (DBT_DIR / "models", SQL_DIR):
        for path in sorted(root.rglob("*")):
            if path.is_file():
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    with warehouse.connection(url) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname, c.relkind, c.reltuples FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_%' "
            "ORDER BY 1, 2"
        ).fetchall()
    return files, tables


def _calls(url: str) -> int:
    with warehouse.connection(url) as conn:
        return sum(r.calls for r in history.postgres_history(conn))


def test_advise_without_apply_changes_no_file_and_no_table(recorded) -> None:
    url, runs = recorded
    before, calls = _snapshot(url), _calls(url)
    with warehouse.connection(url, autocommit=True) as conn:
        report = advise(conn, runs, min_calls=3)
    assert any(c.promotable for c in report)
    assert _snapshot(url) == before
    # its own replays stay out of the history it reads
    assert _calls(url) - calls <= 2  # the two reads of pg_stat_statements themselves


@pytest.fixture(scope="module")
def applied(recorded, report, tmp_path_factory) -> tuple[str, Path, list[Candidate]]:
    """The promoted models written into a copy of the dbt project and built there with dbt."""
    url, _ = recorded
    project = tmp_path_factory.mktemp("advisor") / "dbt"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    promoted = [c for c in report if c.promotable]
    for cand in promoted:
        written = apply(cand, models_dir=project / "models" / "marts" / "promoted", sql_dir=project / "sql")
        assert [p.suffix for p in written] == [".sql", ".yml", ".sql"]
    run_dbt(["build", "--select", "path:models/marts/promoted"], url, "analytics", project_dir=project)
    return url, project, promoted


def test_the_generated_models_build_and_the_rewrites_return_the_same_rows(applied) -> None:
    url, project, promoted = applied
    assert len(promoted) == 3
    # measures over numeric(14,2) are declared with their scale (Redshift's bare numeric has none)
    assert sum("cast(sum(amount) as numeric(38,2)) as sum_1" in c.model_sql for c in promoted) == 2
    with warehouse.connection(url, autocommit=True) as conn:
        for cand in promoted:
            fp = fingerprint(cand.example_sql)
            types = dict(
                conn.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'raw' AND table_name = 'loan_transactions'"
                ).fetchall()
            )
            shape = analyse(fp, types)
            sets = drawn_literal_sets(conn, shape, 5)
            assert len(set(sets)) >= 2, cand.fingerprint
            nonempty = 0
            for literals in sets:
                original, _ = rows_of(conn, bind(fp.template, literals))
                rewritten, _ = rows_of(conn, bind(cand.rewrite_sql, literals))
                assert original == rewritten, (cand.fingerprint, literals)
                nonempty += bool(original)
            assert nonempty, cand.fingerprint
            assert (
                (project / "sql" / f"{cand.fingerprint}.sql").read_text().rstrip().endswith(cand.rewrite_sql)
            )


def test_an_existing_model_is_preferred_to_a_new_one(recorded, applied) -> None:
    url, runs = recorded
    _, project, promoted = applied
    with warehouse.connection(url, autocommit=True) as conn:
        again = {c.fingerprint: c for c in advise(conn, runs, min_calls=3, models_dir=project / "models")}
    for cand in promoted:
        now = again[cand.fingerprint]
        assert now.promotable and now.existing_model and now.equivalent
        assert now.model_name == cand.model_name
        assert now.model_sql is None


def test_the_cli_prints_the_report_as_json(recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tierflow.cli import app
    from typer.testing import CliRunner

    url, _ = recorded
    monkeypatch.setenv("TIERFLOW_WAREHOUSE_URL", url)
    monkeypatch.setenv("TIERFLOW_QUERY_JOURNAL", str(tmp_path / "journal.jsonl"))
    result = CliRunner().invoke(app, ["advise", "--json", "--min-calls", "3", "--top", "4"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report) == 4
    keys = {"fingerprint", "calls", "total_ms", "example_sql", "promotable", "reason", "model_name"}
    keys |= {"model_sql", "rewrite_sql", "equivalent", "original_ms", "rewrite_ms"}
    assert all(keys <= set(c) for c in report)
    assert [c["total_ms"] for c in report] == sorted((c["total_ms"] for c in report), reverse=True)
    refused = CliRunner().invoke(app, ["advise", "apply", _planted("distinct_customers"), "--min-calls", "3"])
    assert refused.exit_code == 1
    assert "count(distinct)" in refused.output
    assert not (PROJECT_ROOT / "sql" / "promoted").exists() or not any(
        (PROJECT_ROOT / "sql" / "promoted").iterdir()
    )
    assert os.environ["TIERFLOW_WAREHOUSE_URL"] == url


def test_the_ui_advisor_view_shows_the_stored_report(report, tmp_path: Path, monkeypatch) -> None:
    """The weekly DAG's stored report, read by the Storage tiers page's "Advisor" view: every shape
    with its verdict, each promoted one with its proof, rewrite and apply command; the JSON is the
    stored report."""
    from html import escape
    from html.parser import HTMLParser

    from fastapi.testclient import TestClient
    from tierflow.advisor import report as advisor_report
    from tierflow.config import Settings
    from tierflow.stores.objects import store_for
    from tierflow_airflow.ui.app import app

    uri = f"file://{tmp_path}/archive"
    monkeypatch.setenv("TIERFLOW_ARCHIVE_URI", uri)
    monkeypatch.setenv("AIRFLOW_VAR_TIERFLOW_ARCHIVE_URI", uri)
    client = TestClient(app)
    empty = client.get("/storage-tiers/advisor")
    assert empty.status_code == 200 and "No advisor report is stored yet" in empty.text
    assert client.get("/storage-tiers/advisor.json").json() == {"day": None, "candidates": []}

    rows = [c.as_dict() for c in report]
    store = store_for(Settings.from_env())
    advisor_report.save(store, rows[:1], date(2026, 11, 23))
    advisor_report.save(store, rows, date(2026, 11, 30))  # the newest wins

    class Rows(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.rows: dict[str, str] = {}
            self.rewrites = 0

        def handle_starttag(self, tag, attrs) -> None:
            a = dict(attrs)
            if tag == "tr" and "data-fingerprint" in a:
                self.rows[a["data-fingerprint"]] = a["data-promotable"]
            if tag == "pre" and a.get("class") == "rewrite":
                self.rewrites += 1

    page = client.get("/storage-tiers/advisor")
    assert page.status_code == 200
    parsed = Rows()
    parsed.feed(page.text)
    assert parsed.rows == {c.fingerprint: str(c.promotable).lower() for c in report}
    promoted = [c for c in report if c.promotable]
    assert parsed.rewrites == len(promoted) >= 1
    assert "report of 2026-11-30" in page.text
    for cand in report:
        if cand.promotable:
            assert f"{cand.literal_sets} literal sets equal" in page.text
            assert f"tierflow advise apply {cand.fingerprint}" in page.text
        else:
            assert escape(str(cand.reason)) in page.text
    body = client.get("/storage-tiers/advisor.json").json()
    assert body["day"] == "2026-11-30"
    assert body["candidates"] == json.loads(json.dumps(rows, default=str))
    assert '<a href="./"' in page.text  # back to the tier report


def test_the_refresh_cost_comes_from_the_incremental_build_history(recorded, applied) -> None:
    """Every dbt run records its models' build times (dbt/macros/model_runs.sql, on-run-end); after
    a second, incremental build of the promoted models the advisor's refresh cost is the new
    model's full build time x the measured incremental share x the builds in the window."""
    from statistics import median

    from tierflow.advisor.refresh import RUNS_TABLE, incremental_share

    url, runs = recorded
    _, project, promoted = applied
    run_dbt(["build", "--select", "path:models/marts/promoted"], url, "analytics", project_dir=project)
    with warehouse.connection(url, autocommit=True) as conn:
        history_rows = conn.execute(
            "SELECT invocation_id, model, materialized, full_refresh, seconds, run_at "
            f"FROM analytics.{RUNS_TABLE} ORDER BY run_at"
        ).fetchall()
        names = {c.model_name for c in promoted}
        built = [r for r in history_rows if r[1] in names]
        assert len({r[0] for r in built}) == 2, built  # two dbt invocations on record
        assert {r[1] for r in built} == names
        # models with a time dimension are incremental (the others are rebuilt whole)
        incremental = {r[1] for r in built if r[2] == "incremental"}
        assert incremental, built
        share, measured = incremental_share(history_rows)
        assert share is not None and measured == len(incremental)
        pairs = [sorted((r for r in built if r[1] == n), key=lambda r: r[5]) for n in incremental]
        expected_share = median([second[4] / first[4] for first, second in pairs])
        assert share == pytest.approx(expected_share)
        fresh = {c.fingerprint: c for c in advise(conn, runs, min_calls=3)}
    for cand in promoted:
        now = fresh[cand.fingerprint]
        assert now.promotable and not now.existing_model
        assert now.refresh_basis.startswith("2 build(s) in the window"), now.refresh_basis
        saved = now.total_ms * max(0.0, 1 - now.rewrite_ms / now.original_ms)
        assert now.saving_ms == pytest.approx(saved - now.refresh_ms * share * 2, abs=0.01)
