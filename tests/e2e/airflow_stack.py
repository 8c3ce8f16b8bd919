"""Airflow as production runs it, for the e2e tests: a private AIRFLOW_HOME and metadata database,
``api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` as separate processes.

Also the small helpers the e2e tests share: the project environment, the REST API with a token
from SimpleAuthManager (every user an admin), waiting for a URL.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from tierflow.paths import PROJECT_ROOT

from tests.conftest import PG_SERVER, free_port, unique_name

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
COMPONENTS = ("scheduler", "dag-processor", "triggerer")
TERMINAL = {"success", "failed"}


def airflow_env(tmp: Path, tiers: dict[str, str]) -> dict[str, str]:
    """This process's environment without Airflow or tierflow settings, plus ``tiers`` and a
    private AIRFLOW_HOME where every user is an admin (no login form)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TIERFLOW_"))}
    env.update(tiers)
    env.update(
        AIRFLOW_HOME=str(tmp / "airflow"),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__CORE__LAZY_LOAD_PLUGINS="False",
        AIRFLOW__API__WORKERS="1",
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1",
    )
    return env


def in_project_env(*command: str) -> list[str]:
    """``command`` run after ``source scripts/env.sh`` (which keeps the values set above)."""
    return ["bash", "-c", 'source scripts/env.sh && exec "$@"', "airflow-e2e", *command]


def wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[-3:]} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"{url} not answering after {timeout}s:\n{log.read_text()[-3000:]}")


def api(base: str, method: str, path: str, token: str | None = None, body: dict | None = None):
    """(status, parsed JSON body or the error text) of one REST call."""
    req = urllib.request.Request(
        f"{base}{path}", method=method, data=json.dumps(body).encode() if body is not None else None
    )
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def get_token(base: str, credentials: dict | None = None) -> str:
    """A token for every-user-an-admin, or for ``credentials`` (username and password)."""
    status, body = api(base, "POST" if credentials else "GET", "/auth/token", body=credentials)
    assert status in (200, 201), body
    return body["access_token"]


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class AirflowStack:
    """A fresh metadata database in PostgreSQL, migrated, and the four Airflow services on it."""

    def __init__(self, tmp: Path, tiers: dict[str, str], login: bool = False) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.db_name = unique_name("tfairflow")
        self.env = airflow_env(tmp, tiers)
        self.env.update(
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"postgresql+psycopg2://{PG_SERVER.split('://', 1)[1]}"
            f"/{self.db_name}",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__CORE__PARALLELISM="4",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.base}/execution/",
            # one secret for every process, so the api-server accepts the workers' task tokens
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
            AIRFLOW__API__SECRET_KEY=secrets.token_urlsafe(32),
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        )
        if login:
            # a real login: one admin, whose password the api-server generates into a file
            self.env.update(
                AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
                AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
            )
        self.login = login
        self.procs: dict[str, subprocess.Popen] = {}
        self.token = ""

    def log(self, component: str) -> Path:
        return self.tmp / f"{component}.log"

    def _run(self, *command: str, timeout: float = 600) -> None:
        done = subprocess.run(
            in_project_env(*command),
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"{command}: {done.stderr[-3000:]}"

    def _start(self, component: str, *args: str) -> None:
        with open(self.log(component), "w") as out:
            self.procs[component] = subprocess.Popen(
                in_project_env("airflow", component, *args),
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self, dag_ids: set[str]) -> None:
        from tierflow.stores import warehouse

        (self.tmp / "airflow").mkdir(exist_ok=True)
        warehouse.ensure_database(f"{PG_SERVER}/{self.db_name}")
        self._run("airflow", "db", "migrate")
        self._run("airflow", "pools", "set", "tierflow_mysql", "2", "source MySQL")
        self._start("api-server", "--host", "127.0.0.1", "--port", str(self.port))
        for component in COMPONENTS:
            self._start(component)
        wait_http(f"{self.base}/api/v2/monitor/health", 300, self.procs["api-server"], self.log("api-server"))
        self.token = get_token(self.base, self.credentials() if self.login else None)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status, dags = self.call("GET", "/api/v2/dags?limit=200")
            if status == 200 and dag_ids <= {d["dag_id"] for d in dags["dags"]}:
                return
            self.assert_running()
            time.sleep(2)
        raise AssertionError(f"DAGs {dag_ids} not serialised after 300s:\n{self.tail('dag-processor')}")

    def credentials(self) -> dict[str, str]:
        """The admin's username and password, from the file SimpleAuthManager writes."""
        generated = Path(self.env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
        return {"username": "admin", "password": json.loads(generated.read_text())["admin"]}

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            stop(proc)
        from tierflow.stores import warehouse

        with warehouse.connection(
            f"{PG_SERVER}/{self.db_name}", database="postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    def tail(self, component: str, chars: int = 4000) -> str:
        return self.log(component).read_text(errors="replace")[-chars:]

    def assert_running(self) -> None:
        dead = {c: p.returncode for c, p in self.procs.items() if p.poll() is not None}
        assert not dead, f"Airflow components exited: {dead}\n" + "\n".join(
            f"--- {c}\n{self.tail(c)}" for c in dead
        )

    def call(self, method: str, path: str, body: dict | None = None):
        return api(self.base, method, path, self.token, body)

    def runs(self, dag_id: str) -> list[dict]:
        status, body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")
        assert status == 200, body
        return body["dag_runs"]

    def unpause(self, dag_id: str, timeout: float = 600) -> list[dict]:
        """Unpause ``dag_id`` and wait for the run Airflow starts on unpause (when its latest
        schedule point has passed) to finish; that run, or none."""
        status, dag = self.call("GET", f"/api/v2/dags/{dag_id}")
        assert status == 200, dag
        if not dag["is_paused"]:
            return []
        due = dag["next_dagrun_run_after"]
        before = {r["dag_run_id"] for r in self.runs(dag_id)}
        status, body = self.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        assert status == 200, body
        if due is None or datetime.fromisoformat(due) > datetime.now(UTC):
            return []
        deadline = time.monotonic() + 120
        while not (started := [r for r in self.runs(dag_id) if r["dag_run_id"] not in before]):
            assert time.monotonic() < deadline, f"no run of {dag_id} after unpausing it (due {due})"
            self.assert_running()
            time.sleep(2)
        return [self.wait_run(dag_id, r["dag_run_id"], timeout) for r in started]

    def trigger(self, dag_id: str, conf: dict) -> str:
        """Unpause ``dag_id`` and trigger it with ``conf``, as the UI's trigger form does."""
        status, body = self.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        assert status == 200, body
        status, run = self.call(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf}
        )
        assert status == 200, run
        return run["dag_run_id"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, run = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            assert status == 200, run
            if run["state"] in TERMINAL:
                return run
            self.assert_running()
            time.sleep(3)
        raise AssertionError(f"{dag_id} {run_id} not finished after {timeout}s:\n{self.tail('scheduler')}")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        status, body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=200")
        assert status == 200, body
        return {
            t["task_id"] + (f"[{t['map_index']}]" if t["map_index"] >= 0 else ""): t["state"]
            for t in body["task_instances"]
        }

    def task_log_lines(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, try_number: int = 1
    ) -> list[dict]:
        """The task's log as Airflow serves it: one dict a line (event, level, logger...)."""
        status, body = self.call(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
            f"?map_index={map_index}",
        )
        assert status == 200, body
        return [line for line in body["content"] if isinstance(line, dict)]

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, try_number: int = 1
    ) -> str:
        return json.dumps(self.task_log_lines(dag_id, run_id, task_id, map_index, try_number))

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value"):
        status, body = self.call(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        )
        assert status == 200, body
        return body["value"]

    def tracebacks(self, component: str) -> list[str]:
        """Every traceback in ``component``'s log, with the lines that follow it."""
        lines = self.log(component).read_text(errors="replace").splitlines()
        return ["\n".join(lines[i : i + 12]) for i, line in enumerate(lines) if "Traceback" in line]
