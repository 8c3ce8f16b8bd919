"""The CLI starts cheaply: `tierflow --help` and a hot-tier lookup import none of the heavy libraries.

Every import at a module's top level is paid by every `tierflow` call, so the command modules import
the data libraries (and rich, for the output) in the commands that use them. Each check runs in a
fresh interpreter, because this test process has most of them loaded already.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tierflow.paths import PROJECT_ROOT

# The libraries no CLI start-up should pay for; each takes from a tenth of a second to seconds to import.
DATA_LIBRARIES = (
    "pyarrow",
    "pandas",
    "numpy",
    "duckdb",
    "great_expectations",
    "sqlalchemy",
    "boto3",
    "botocore",
    "connectorx",
    "dbt",
    "matplotlib",
    "MySQLdb",
    "psycopg2",
    "psycopg",
)
# Needed only by some commands: the policy and the stores (pydantic, yaml, redis), logging
# (structlog) and rich output.
COMMAND_LIBRARIES = ("rich", "pydantic", "yaml", "redis", "structlog")

# Imports tierflow.cli, runs `tierflow ARGS...` if any are given, and reports which top-level
# packages got imported and the exit code.
PROBE = """
import json, sys
args = sys.argv[1:]
import tierflow.cli
code = None
if args:
    sys.argv = ["tierflow", *args]
    try:
        tierflow.cli.main()
    except SystemExit as exc:
        code = exc.code
print()
print(json.dumps({"code": code, "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def probe(*args: str, preload: str = "") -> dict:
    out = subprocess.run(
        [sys.executable, "-c", preload + PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(PROJECT_ROOT / "include"),
            "HOME": "/tmp",
            # nothing listens on port 1: the lookup fails at once, after everything it needs is imported
            "TIERFLOW_REDIS_URL": "redis://127.0.0.1:1/0",
        },
        cwd=PROJECT_ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["stdout"], result["stderr"] = out.stdout, out.stderr
    return result


def imported(result: dict, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if name in result["loaded"]]


def test_importing_the_cli_imports_only_typer() -> None:
    result = probe()
    assert imported(result, DATA_LIBRARIES + COMMAND_LIBRARIES) == []
    assert "typer" in result["loaded"]


def test_help_imports_no_heavy_library_and_lists_every_group() -> None:
    result = probe("--help")
    assert result["code"] == 0
    assert imported(result, DATA_LIBRARIES + COMMAND_LIBRARIES) == []
    for group in (
        "seed",
        "config",
        "db",
        "policy",
        "tiers",
        "hot",
        "events",
        "archive",
        "query",
        "warehouse",
    ):
        assert f"  {group} " in result["stdout"], f"{group} missing from tierflow --help"


def test_hot_lookup_imports_no_data_library() -> None:
    """`hot get customer` needs the policy and Redis, and nothing of the archive or the warehouse."""
    result = probe("hot", "get", "customer", "7")
    assert result["code"] == 2
    assert "127.0.0.1:1" in result["stderr"] and "not reachable" in result["stderr"]
    assert "redis" in result["loaded"] and "pydantic" in result["loaded"]
    assert imported(result, DATA_LIBRARIES) == []


def test_probe_sees_a_library_imported_at_start_up() -> None:
    """The same probe reports a heavy library once something imports it, so the checks above can fail."""
    result = probe("--help", preload="import pyarrow, rich.console\n")
    assert {"pyarrow", "rich"} <= set(imported(result, DATA_LIBRARIES + COMMAND_LIBRARIES))
