"""End to end in headless Chromium against the session's real Airflow: a data engineer logs in,
opens ``nightly_archive``'s trigger form, submits it as it opens, and sees the run succeed as a dry
run that changed nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.e2e.airflow_stack import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.e2e.conftest import Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

DAG = "nightly_archive"
FORM_DEFAULTS = {"tables": [], "as_of": None, "dry_run": True, "allow_large_run": False}


def test_trigger_form_defaults_make_a_dry_run_that_succeeds(deployment: Deployment) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/browser.sh` (part of `make setup`)")
    stack = deployment.stack
    before = deployment.row_counts()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{stack.base}/dags/{DAG}", wait_until="domcontentloaded")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(stack.credentials()["password"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"**/dags/{DAG}", timeout=60_000)

        page.get_by_role("button", name="Trigger").first.click()
        form = page.get_by_role("dialog")
        form.get_by_text("Run Parameters").wait_for(timeout=60_000)
        switches = form.locator("input[type=checkbox][name^=element_]").evaluate_all(
            "xs => Object.fromEntries(xs.map(x => [x.name.replace('element_', ''), x.checked]))"
        )
        assert switches == {"dry_run": True, "allow_large_run": False}, switches
        page.screenshot(path=str(ARTIFACTS / "trigger_form.png"))
        with page.expect_request(
            lambda r: r.method == "POST" and r.url.endswith(f"/api/v2/dags/{DAG}/dagRuns")
        ) as posted:
            form.get_by_role("button", name="Trigger").click()
        assert json.loads(posted.value.post_data)["conf"] == FORM_DEFAULTS
        # the UI opens the new run's page
        page.wait_for_url(f"**/dags/{DAG}/runs/*", timeout=60_000)
        run_id = unquote(page.url.rsplit("/runs/", 1)[1].split("?")[0])
        run = stack.wait_run(DAG, run_id, 600)
        assert run["state"] == "success", stack.task_states(DAG, run_id)
        page.reload(wait_until="domcontentloaded")
        page.get_by_text("success", exact=False).first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "trigger_form_run.png"))
        browser.close()

    assert run["run_type"] == "manual" and run["conf"] == FORM_DEFAULTS, run
    summary = stack.xcom(DAG, run_id, "summarise_archive_run")
    assert summary["dry_run"] is True and summary["deleted"] == 0 and summary["failed"] == [], summary
    assert summary["skipped"] is None, "a dry run runs at any hour"
    assert deployment.row_counts() == before
