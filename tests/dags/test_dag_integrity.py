"""DAG integrity: every file in dags/ imports cleanly, fast, and without touching a database or the
network; each DAG has tags, an owner, retries >= 2, a doc and dag_id == file name.

The DAG folder is parsed once, in a fresh interpreter whose sockets refuse to connect (and whose
Airflow metadata database is an empty SQLite file), so any database, Variable or network access at
import time shows up as a recorded connect attempt or an import error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from tierflow.paths import DEFAULT_POLICY, PROJECT_ROOT
from tierflow.policy import load_policy
from tierflow_airflow.archive import run_window_doc

DAGS_DIR = PROJECT_ROOT / "dags"
DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))
# Modules that cost a parse its time: a DAG file imports them inside its tasks, never at top level.
# ruff's TID253 bans them in dags/ by name; this test checks that no parse loads them at all.
HEAVY_MODULES = tuple(
    tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"][
        "flake8-tidy-imports"
    ]["banned-module-level-imports"]
)
# Per-file parse budget. Airflow's own default timeout is 30 s; a thin DAG file parses in well
# under a second (cosmos-built ones ~3 s), and this leaves room for a busy 2-core machine.
MAX_PARSE_SECONDS = 8.0

PARSER = textwrap.dedent(
    """
    import json, socket, sys, time

    attempts = []

    def _refuse(self, address, *args, **kwargs):
        attempts.append(repr(address))
        raise ConnectionRefusedError(f"network access at DAG import time: {address!r}")

    def _refuse_dns(host, port=None, *args, **kwargs):
        attempts.append(f"getaddrinfo({host!r}, {port!r})")
        raise socket.gaierror(f"DNS lookup at DAG import time: {host!r}")

    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import BaseHook, Connection, Variable

    def _refuse_lookup(kind):
        def lookup(*args, **kwargs):
            attempts.append(f"{kind}({', '.join(map(repr, args[-1:]))})")
            raise RuntimeError(f"{kind} lookup at DAG import time: {args[-1:]!r}")
        return classmethod(lookup)

    Variable.get = _refuse_lookup("Variable.get")
    Connection.get = _refuse_lookup("Connection.get")
    BaseHook.get_connection = _refuse_lookup("BaseHook.get_connection")

    # Airflow's own logging set-up, which the plugin and the DAG files must leave alone
    import logging
    import structlog
    from airflow import plugins_manager

    host_structlog = structlog.get_config()
    host_handlers = list(logging.getLogger().handlers)

    before = set(sys.modules)
    socket.socket.connect = _refuse
    socket.socket.connect_ex = _refuse
    socket.getaddrinfo = _refuse_dns

    plugins_manager.ensure_plugins_loaded()
    plugins_manager.get_fastapi_plugins()
    started = time.monotonic()
    bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
    total = time.monotonic() - started
    after_structlog = structlog.get_config()
    guest = {
        "structlog_changed": sorted(
            k for k in host_structlog if after_structlog.get(k) != host_structlog[k]
        ),
        "root_handlers_kept": logging.getLogger().handlers == host_handlers,
        "plugin_import_errors": plugins_manager.get_import_errors(),
        "plugins": sorted(p["name"] for p in plugins_manager.get_plugin_info(["name"])),
    }
    heavy = sorted({m.split(".")[0] for m in set(sys.modules) - before} & set(sys.argv[2].split(",")))

    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "fileloc": dag.fileloc,
            "tags": sorted(dag.tags or []),
            "owner": dag.owner,
            "default_args": {k: str(v) for k, v in (dag.default_args or {}).items()},
            "doc_md": dag.doc_md or "",
            "schedule": repr(dag.timetable),
            "catchup": dag.catchup,
            "params": {
                name: {"default": param.value, "description": param.description, **param.schema}
                for name, param in ((n, dag.params.get_param(n)) for n in dag.params)
            },
            "tasks": {
                t.task_id: {"owner": t.owner, "retries": t.retries} for t in dag.tasks
            },
        }
    stats = [
        {"file": s.file, "duration": s.duration.total_seconds(), "dag_num": s.dag_num}
        for s in bag.dagbag_stats
    ]
    print("@@REPORT@@" + json.dumps({
        "dags": dags, "import_errors": bag.import_errors, "attempts": attempts,
        "heavy": heavy, "stats": stats, "total_seconds": total, "guest": guest,
    }))
    """
)


def parse_dag_folder(folder: Path, airflow_home: Path) -> dict:
    """Parse ``folder`` with DagBag in a guarded subprocess and return what it found."""
    airflow_home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(airflow_home),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'empty.db'}",
        "PYTHONPATH": os.pathsep.join(str(PROJECT_ROOT / d) for d in ("include", "plugins", "dags")),
    }
    out = subprocess.run(
        [sys.executable, "-c", PARSER, str(folder), ",".join(HEAVY_MODULES)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=folder,
    )
    assert out.returncode == 0, f"DagBag parse crashed:\n{out.stderr[-4000:]}"
    line = next(x for x in out.stdout.splitlines() if x.startswith("@@REPORT@@"))
    return json.loads(line.removeprefix("@@REPORT@@"))


def dag_problems(dag_id: str, info: dict) -> list[str]:
    """What is wrong with one parsed DAG, as sentences naming the DAG and the field."""
    problems = []
    stem = Path(info["fileloc"]).stem
    if dag_id != stem:
        problems.append(f"{dag_id}: dag_id differs from its file name {stem}.py")
    if not info["tags"]:
        problems.append(f"{dag_id}: no tags")
    if not info["owner"] or info["owner"] == "airflow":
        problems.append(f"{dag_id}: no owner (default_args must come from tierflow_airflow.defaults)")
    if not info["doc_md"].strip():
        problems.append(f"{dag_id}: no doc_md (pass the module docstring)")
    if not info["tasks"]:
        problems.append(f"{dag_id}: has no tasks")
    for task_id, task in info["tasks"].items():
        if (task["retries"] or 0) < 2:
            problems.append(f"{dag_id}.{task_id}: retries={task['retries']} (need >= 2)")
        if not task["owner"] or task["owner"] == "airflow":
            problems.append(f"{dag_id}.{task_id}: no owner")
    return problems


@pytest.fixture(scope="module")
def project_dags(tmp_path_factory: pytest.TempPathFactory) -> dict:
    files = sorted(p.name for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))
    return {**parse_dag_folder(DAGS_DIR, tmp_path_factory.mktemp("airflow_home")), "files": files}


def test_dag_folder_parses_without_import_errors(project_dags: dict) -> None:
    assert project_dags["import_errors"] == {}


def test_no_network_or_database_access_at_import(project_dags: dict) -> None:
    assert project_dags["attempts"] == []


def test_plugin_and_dags_leave_airflows_logging_alone(project_dags: dict) -> None:
    """Loaded into Airflow's scheduler and DAG processor, tierflow must not replace their loggers
    (it once did: the scheduler died on ``'BoundLoggerFilteringAtInfo' has no attribute 'name'``)."""
    guest = project_dags["guest"]
    assert guest["plugin_import_errors"] == {}
    assert "tierflow_ui" in guest["plugins"]
    assert guest["structlog_changed"] == [], "structlog.configure() called from tierflow"
    assert guest["root_handlers_kept"]


def test_no_heavy_imports_at_top_level(project_dags: dict) -> None:
    assert project_dags["heavy"] == [], "import these inside the tasks that use them"


def test_parsing_is_fast(project_dags: dict) -> None:
    slow = {s["file"]: s["duration"] for s in project_dags["stats"] if s["duration"] > MAX_PARSE_SECONDS}
    assert slow == {}


def test_one_dag_per_file(project_dags: dict) -> None:
    if not project_dags["files"]:
        pytest.skip("dags/ holds no DAG file yet")
    by_file: dict[str, list[str]] = {}
    for dag_id, info in project_dags["dags"].items():
        by_file.setdefault(Path(info["fileloc"]).name, []).append(dag_id)
    assert sorted(by_file) == project_dags["files"]
    assert {f: ids for f, ids in by_file.items() if len(ids) != 1} == {}


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[p.stem for p in DAG_FILES])
def test_dag_follows_the_house_rules(project_dags: dict, dag_file: Path) -> None:
    dag_id = dag_file.stem
    assert dag_id in project_dags["dags"], (
        f"{dag_file.name} defines no DAG with dag_id {dag_id!r}; found {sorted(project_dags['dags'])}"
    )
    assert dag_problems(dag_id, project_dags["dags"][dag_id]) == []


# --- the checks themselves can fail ---------------------------------------------------------------

GOOD_DAG = '''
"""A well-formed DAG used to prove the integrity checks pass on good input."""
from airflow.sdk import dag, task
from tierflow_airflow.defaults import DEFAULT_ARGS, TAGS


@dag(dag_id="good_dag", schedule=None, default_args=DEFAULT_ARGS, tags=TAGS, doc_md=__doc__)
def good_dag():
    @task
    def count_rows() -> int:
        return 1

    count_rows()


good_dag()
'''

NETWORK_DAG = '''
"""Talks to PostgreSQL at import time: exactly what the guard must catch."""
import socket

from airflow.sdk import dag, task
from tierflow_airflow.defaults import DEFAULT_ARGS, TAGS

socket.create_connection(("127.0.0.1", 5432), timeout=1)


@dag(dag_id="network_dag", schedule=None, default_args=DEFAULT_ARGS, tags=TAGS, doc_md=__doc__)
def network_dag():
    @task
    def noop() -> None:
        pass

    noop()


network_dag()
'''

SWALLOWED_NETWORK_DAG = '''
"""Tries the network at import but swallows the error: still recorded as an attempt."""
import socket

from airflow.sdk import dag, task
from tierflow_airflow.defaults import DEFAULT_ARGS, TAGS

try:
    socket.create_connection(("127.0.0.1", 6379), timeout=1)
except OSError:
    pass


@dag(dag_id="swallowed_network_dag", schedule=None, default_args=DEFAULT_ARGS, tags=TAGS,
     doc_md=__doc__)
def swallowed_network_dag():
    @task
    def noop() -> None:
        pass

    noop()


swallowed_network_dag()
'''

VARIABLE_DAG = '''
"""Reads an Airflow Variable at import time (a metadata-database round trip on every parse)."""
from airflow.sdk import Variable, dag, task
from tierflow_airflow.defaults import DEFAULT_ARGS, TAGS

ARCHIVE_URI = Variable.get("tierflow_archive_uri", default="file:///tmp/archive")


@dag(dag_id="variable_dag", schedule=None, default_args=DEFAULT_ARGS, tags=TAGS, doc_md=__doc__)
def variable_dag():
    @task
    def noop() -> None:
        pass

    noop()


variable_dag()
'''

SLOPPY_DAG = """
import pandas
from airflow.sdk import dag, task


@dag(dag_id="not_the_file_name", schedule=None)
def sloppy():
    @task(retries=0)
    def work() -> None:
        pass

    work()


sloppy()
"""


@pytest.fixture(scope="module")
def fixture_dags(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("fixture_dags")
    for name, text in {
        "good_dag": GOOD_DAG,
        "network_dag": NETWORK_DAG,
        "swallowed_network_dag": SWALLOWED_NETWORK_DAG,
        "sloppy_dag": SLOPPY_DAG,
        "variable_dag": VARIABLE_DAG,
    }.items():
        (folder / f"{name}.py").write_text(text)
    return parse_dag_folder(folder, tmp_path_factory.mktemp("airflow_home_fixtures"))


def test_good_dag_passes_every_check(fixture_dags: dict) -> None:
    assert dag_problems("good_dag", fixture_dags["dags"]["good_dag"]) == []


def test_network_access_at_import_is_caught(fixture_dags: dict) -> None:
    errors = fixture_dags["import_errors"]
    assert any(Path(f).name == "network_dag.py" for f in errors), errors
    assert "at DAG import time" in next(e for f, e in errors.items() if Path(f).name == "network_dag.py")
    assert "swallowed_network_dag" in fixture_dags["dags"]  # imported, but ...
    assert any("6379" in a for a in fixture_dags["attempts"])  # ... the attempt was recorded
    assert any("5432" in a for a in fixture_dags["attempts"])


def test_variable_access_at_import_is_caught(fixture_dags: dict) -> None:
    assert "variable_dag" not in fixture_dags["dags"]
    assert any(Path(f).name == "variable_dag.py" for f in fixture_dags["import_errors"])
    assert "Variable.get('tierflow_archive_uri')" in fixture_dags["attempts"]


def test_sloppy_dag_is_reported(fixture_dags: dict) -> None:
    info = fixture_dags["dags"]["not_the_file_name"]
    problems = " | ".join(dag_problems("not_the_file_name", info))
    assert "differs from its file name sloppy_dag.py" in problems
    assert "no tags" in problems
    assert "no owner" in problems
    assert "no doc_md" in problems
    assert "not_the_file_name.work: retries=0" in problems
    assert "pandas" in fixture_dags["heavy"]


# --- schedules and trigger forms ------------------------------------------------------------------

POLICY_TABLES = list(load_policy(DEFAULT_POLICY).tables)
# dag_id -> (schedule summary, params and their defaults)
SCHEDULES = {
    "nightly_archive": (
        "CronTriggerTimetable(expression='0 2 * * *', timezone='Asia/Kolkata'",
        {"tables": [], "as_of": None, "dry_run": True, "allow_large_run": False},
    ),
    "hot_tier_reconcile": ("CronTriggerTimetable(expression='30 3 * * *', timezone='Asia/Kolkata'", {}),
    "query_advisor": (
        "CronTriggerTimetable(expression='0 6 * * 1', timezone='Asia/Kolkata'",
        {"min_calls": 3, "top": 20},
    ),
    "tier_audit": (
        "AssetOrTimeSchedule(asset_condition=Asset(name='tierflow_archive_run'",
        {"strict": True},
    ),
    "warehouse_refresh": (
        "AssetOrTimeSchedule(asset_condition=Asset(name='tierflow_mysql_lending'",
        {"full_refresh": False},
    ),
}


@pytest.mark.parametrize("dag_id", sorted(SCHEDULES))
def test_schedule_catchup_and_param_defaults(project_dags: dict, dag_id: str) -> None:
    info = project_dags["dags"][dag_id]
    schedule, defaults = SCHEDULES[dag_id]
    assert info["catchup"] is False, f"{dag_id}: catchup must be off (no backfill on unpause)"
    assert schedule in info["schedule"], info["schedule"]
    assert {name: p["default"] for name, p in info["params"].items()} == defaults
    undescribed = [name for name, p in info["params"].items() if not (p["description"] or "").strip()]
    assert undescribed == [], f"{dag_id}: params without a description"


def test_every_dag_file_has_its_schedule_checked() -> None:
    assert sorted(SCHEDULES) == [p.stem for p in DAG_FILES]


def test_archive_form_offers_only_what_is_safe(project_dags: dict) -> None:
    """The form: tables from the policy, an optional date, a dry run unless unticked."""
    params = project_dags["dags"]["nightly_archive"]["params"]
    assert params["tables"]["items"]["enum"] == POLICY_TABLES
    assert params["as_of"]["type"] == ["null", "string"] and params["as_of"]["format"] == "date"
    assert params["dry_run"]["default"] is True
    run_window = load_policy(DEFAULT_POLICY).archive.run_window
    assert run_window is not None
    assert run_window.start in project_dags["dags"]["nightly_archive"]["doc_md"]
    assert run_window_doc(load_policy(DEFAULT_POLICY)) in project_dags["dags"]["nightly_archive"]["doc_md"]


def test_archive_form_schema_refuses_what_the_form_must_refuse(project_dags: dict) -> None:
    """The params' JSON schema (what the UI and the REST API check) refuses a bad date and an
    unknown table before any run exists, and accepts an empty date."""
    from airflow.sdk import Param
    from airflow.sdk.exceptions import ParamValidationError

    params = project_dags["dags"]["nightly_archive"]["params"]

    def param(name: str) -> Param:
        spec = dict(params[name])
        return Param(spec.pop("default"), **spec)

    assert param("as_of").resolve(None) is None
    assert param("as_of").resolve("2026-06-30") == "2026-06-30"
    with pytest.raises(ParamValidationError):
        param("as_of").resolve("not-a-date")
    with pytest.raises(ParamValidationError):
        param("tables").resolve(["no_such_table"])
    assert param("tables").resolve(["loans"]) == ["loans"]


# --- which failures are retried --------------------------------------------------------------------


def tierflow_tasks_without_fail_fast(source: str) -> list[str]:
    """Task functions that read tierflow settings (TierflowHook) outside ``retry_only_transient``."""
    import ast

    missing = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef) or "TierflowHook" not in ast.unparse(node):
            continue
        guarded = {
            id(inner)
            for w in ast.walk(node)
            if isinstance(w, ast.With) and "retry_only_transient" in ast.unparse(w.items[0])
            for inner in ast.walk(w)
        }
        uses = [
            n for n in ast.walk(node) if isinstance(n, ast.Call) and ast.unparse(n.func) == "TierflowHook"
        ]
        if any(id(u) not in guarded for u in uses):
            missing.append(node.name)
    return missing


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.stem)
def test_tierflow_tasks_fail_at_once_on_errors_a_retry_cannot_fix(dag_file: Path) -> None:
    """A bad policy, a failed gate or bad params fail the task without retries; only transient
    errors wait for a retry (plugins/tierflow_airflow/failures.py)."""
    assert tierflow_tasks_without_fail_fast(dag_file.read_text()) == []


def test_a_task_reading_settings_unguarded_is_reported() -> None:
    source = textwrap.dedent(
        """
        def guarded():
            with retry_only_transient():
                return TierflowHook().get_settings()

        def unguarded():
            return TierflowHook().get_settings()
        """
    )
    assert tierflow_tasks_without_fail_fast(source) == ["unguarded"]
