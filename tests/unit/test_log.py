"""tierflow is a guest in its host's process: importing it and logging leave the host's logging alone.

Each probe runs in a fresh interpreter whose "host" configured structlog and the root logger first,
as Airflow's processes do, and reports what is left of that set-up after tierflow was imported and
logged.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tierflow.paths import PROJECT_ROOT

HOST_THEN_TIERFLOW = """
import importlib, json, logging, pkgutil, sys
import structlog

records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append({"name": record.name, "level": record.levelname, "message": record.getMessage()})

def host_processor(logger, method, event_dict):
    return event_dict
structlog.configure(processors=[host_processor, structlog.processors.KeyValueRenderer()])
host_config = structlog.get_config()
host = Keep()
logging.basicConfig(level=logging.DEBUG, handlers=[host])
root_before = list(logging.getLogger().handlers)

import tierflow
for info in pkgutil.walk_packages(tierflow.__path__, prefix="tierflow."):
    importlib.import_module(info.name)
for name in sys.argv[1:]:
    importlib.import_module(name)
from tierflow.log import get_logger
log = get_logger("tierflow.archive.run")
log.info("archive.batch.verified", table="loans", rows=3, note="two words")
log.warning("archive.delete.retry", table="loans", attempt=2)
log.debug("archive.batch.selected", table="loans")
print(json.dumps({
    "structlog_processors_kept": structlog.get_config()["processors"] == host_config["processors"],
    "structlog_wrapper_kept": structlog.get_config()["wrapper_class"] is host_config["wrapper_class"],
    "root_handlers_kept": logging.getLogger().handlers == root_before,
    "root_level": logging.getLogger().level,
    "records": [r for r in records if r["name"].startswith("tierflow")],
}))
"""


def probe(*extra_imports: str) -> dict:
    env_path = f"{PROJECT_ROOT / 'include'}:{PROJECT_ROOT / 'plugins'}"
    out = subprocess.run(
        [sys.executable, "-c", HOST_THEN_TIERFLOW, *extra_imports],
        capture_output=True,
        text=True,
        timeout=180,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": env_path, "HOME": "/tmp"},
        cwd=PROJECT_ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_and_logging_leave_the_hosts_logging_alone() -> None:
    result = probe()
    assert result["structlog_processors_kept"], "tierflow replaced the host's structlog processors"
    assert result["structlog_wrapper_kept"], "tierflow replaced the host's structlog logger class"
    assert result["root_handlers_kept"] and result["root_level"] == 10


def test_events_reach_the_hosts_handlers_at_their_true_level() -> None:
    records = probe()["records"]
    assert records == [
        {
            "name": "tierflow.archive.run",
            "level": "INFO",
            "message": 'archive.batch.verified table=loans rows=3 note="two words"',
        },
        {
            "name": "tierflow.archive.run",
            "level": "WARNING",
            "message": "archive.delete.retry table=loans attempt=2",
        },
        {"name": "tierflow.archive.run", "level": "DEBUG", "message": "archive.batch.selected table=loans"},
    ]


CLI_LOGGING = """
import sys
from tierflow.log import configure, get_logger
configure(level=sys.argv[1])  # stderr is a pipe: JSON lines
log = get_logger("tierflow.archive.run")
log.debug("archive.batch.selected", table="loans")
log.info("archive.batch.verified", table="loans", rows=3)
get_logger("botocore.credentials").info("not.for.the.cli")
"""


def test_cli_configure_writes_json_lines_off_a_terminal_at_its_level() -> None:
    """Only tierflow's own events at INFO; other libraries only from WARNING up."""
    out = subprocess.run(
        [sys.executable, "-c", CLI_LOGGING, "INFO"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT / "include"), "HOME": "/tmp"},
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stderr.splitlines()]
    assert len(lines) == 1, out.stderr
    assert {k: lines[0][k] for k in ("level", "logger", "event", "table", "rows")} == {
        "level": "info",
        "logger": "tierflow.archive.run",
        "event": "archive.batch.verified",
        "table": "loans",
        "rows": 3,
    }
