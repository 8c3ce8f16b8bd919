"""End to end: Airflow's api-server with the tierflow plugin, opened in real headless Chromium.

Starts ``airflow api-server`` on a free port (project env from scripts/env.sh, a private
AIRFLOW_HOME, SimpleAuthManager with every user an admin), serialises the DAGs, opens the
"Storage tiers" page from the UI nav, checks every policy table is listed and that its "Advisor" view
opens, saves a screenshot to
tests/artifacts/, and checks through the REST API that the DAGs are listed and that a trigger of
``nightly_archive`` with params is accepted.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tierflow.paths import DEFAULT_POLICY, PROJECT_ROOT
from tierflow.policy import load_policy

from tests.conftest import free_port
from tests.e2e.airflow_stack import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    airflow_env,
    api,
    in_project_env,
    stop,
    wait_http,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

TRIGGER_DAG = "nightly_archive"
# every DAG file of the project (dag_id == file name)
OUR_DAGS = {p.stem for p in (PROJECT_ROOT / "dags").glob("*.py") if not p.name.startswith("_")}


@pytest.fixture
def api_server(tmp_path, seeded_mysql_url, redis_url, warehouse_url, file_archive_uri) -> Iterator[dict]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/browser.sh` (part of `make setup`)")
    env = airflow_env(
        tmp_path,
        {
            "TIERFLOW_MYSQL_URL": seeded_mysql_url,
            "TIERFLOW_REDIS_URL": redis_url,
            "TIERFLOW_WAREHOUSE_URL": warehouse_url,
            "TIERFLOW_ARCHIVE_URI": file_archive_uri,
            "TIERFLOW_POLICY": str(DEFAULT_POLICY),
        },
    )
    (tmp_path / "airflow").mkdir()
    # The api-server lists DAGs from the metadata DB: serialise the project's DAG files first.
    done = subprocess.run(
        in_project_env("airflow", "dags", "reserialize"),
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    port = free_port()
    log = tmp_path / "api-server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            in_project_env("airflow", "api-server", "--port", str(port)),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/v2/monitor/health", 300, proc, log)
        yield {"base": base, "log": log}
    finally:
        stop(proc)


def _check_ui_pages(base: str, tables: list[str]) -> None:
    """The Storage tiers page inside the Airflow UI and on its own, and the DAG list, in Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1300})
        page.goto(f"{base}/", wait_until="domcontentloaded")
        # The plugin's nav entry, rendered by the Airflow UI from the plugin's external_views.
        nav = page.get_by_role("link", name="Storage tiers")
        nav.first.wait_for(timeout=90_000)
        nav.first.click()
        page.wait_for_url("**/plugin/storage-tiers", timeout=60_000)
        frame = page.frame_locator("iframe").first
        frame.locator("#tiers tbody tr").first.wait_for(timeout=120_000)
        listed = frame.locator("#tiers tbody tr").evaluate_all("rows => rows.map(r => r.dataset.table)")
        assert listed == tables
        status = frame.locator("#status").inner_text()
        assert status in {"GREEN", "AMBER", "RED"}
        # Three years of seeded data and nothing archived yet: short windows are overdue.
        assert "mysql_past_window" in frame.locator("#violations").inner_text()
        chart = frame.locator("#chart")
        chart.wait_for()
        page.wait_for_function(
            "() => { const f = document.querySelector('iframe');"
            " const i = f && f.contentDocument && f.contentDocument.querySelector('#chart');"
            " return i && i.complete && i.naturalWidth > 500; }",
            timeout=120_000,
        )
        page.screenshot(path=str(ARTIFACTS / "storage_tiers.png"), full_page=True)
        # the page's "Advisor" view, from its nav: no weekly report is stored in this fresh archive
        frame.get_by_role("link", name="Advisor").click()
        summary = frame.locator("#summary")
        summary.wait_for(timeout=60_000)
        assert "No advisor report is stored yet" in summary.inner_text()

        # The page on its own (the iframe above scrolls inside the UI), for the README.
        page.goto(f"{base}/tierflow/storage-tiers/", wait_until="load")
        page.screenshot(path=str(ARTIFACTS / "storage_tiers_page.png"), full_page=True)

        page.goto(f"{base}/dags", wait_until="domcontentloaded")
        for dag_id in sorted(OUR_DAGS):
            page.get_by_text(dag_id, exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "dags_list.png"))
        browser.close()


def test_storage_tiers_page_dags_and_trigger(api_server):
    base = api_server["base"]
    tables = list(load_policy(DEFAULT_POLICY).tables)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    _check_ui_pages(base, tables)

    status, token_body = api(base, "GET", "/auth/token")
    assert status in (200, 201), token_body
    token = token_body["access_token"]
    status, dags = api(base, "GET", "/api/v2/dags?limit=200", token)
    assert status == 200, dags
    dag_ids = {d["dag_id"] for d in dags["dags"]}
    assert OUR_DAGS <= dag_ids, f"missing DAGs: {OUR_DAGS - dag_ids}"

    status, dag = api(base, "GET", f"/api/v2/dags/{TRIGGER_DAG}/details", token)
    assert status == 200, dag
    defaults = {name: spec.get("value") for name, spec in (dag.get("params") or {}).items()}
    # the form opens as a dry run of every table as of now, with the large-run switch off
    assert defaults == {"tables": [], "as_of": None, "dry_run": True, "allow_large_run": False}, defaults
    # what a data engineer fills in the trigger form: one table, a date, a dry run
    params = {"tables": ["api_request_logs"], "as_of": "2026-06-30", "dry_run": True}
    status, run = api(
        base,
        "POST",
        f"/api/v2/dags/{TRIGGER_DAG}/dagRuns",
        token,
        {"logical_date": None, "conf": params, "note": "tierflow e2e: trigger accepted"},
    )
    assert status == 200, run
    assert run["dag_id"] == TRIGGER_DAG and run["conf"] == params
    assert run["state"] in {"queued", "running"}
    # No scheduler runs here; delete the run so it never executes against a real database.
    status, _ = api(base, "DELETE", f"/api/v2/dags/{TRIGGER_DAG}/dagRuns/{run['dag_run_id']}", token)
    assert status == 204
    # a param of the wrong type is refused by the params' schema, before any run exists
    status, refused = api(
        base,
        "POST",
        f"/api/v2/dags/{TRIGGER_DAG}/dagRuns",
        token,
        {"logical_date": None, "conf": {"dry_run": "yes"}},
    )
    assert status == 400 and "dry_run" in str(refused), (status, refused)
    # so are a date that is not one and a table the policy does not have
    for conf in ({"as_of": "not-a-date"}, {"tables": ["no_such_table"]}):
        status, refused = api(
            base, "POST", f"/api/v2/dags/{TRIGGER_DAG}/dagRuns", token, {"logical_date": None, "conf": conf}
        )
        assert status == 400 and next(iter(conf)) in str(refused), (conf, status, refused)
