"""The library never imports Airflow: `import tierflow` and every tierflow module leave it out.

Each check runs in a fresh interpreter, because this test process may already have airflow loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tierflow.paths import PROJECT_ROOT

# Imports `tierflow`, then every module under it, and reports which airflow modules got loaded.
PROBE = """
import importlib, json, pkgutil, sys
extra = sys.argv[1:]
import tierflow
after_package = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
modules, failed = [], {}
for info in pkgutil.walk_packages(tierflow.__path__, prefix="tierflow."):
    try:
        importlib.import_module(info.name)
        modules.append(info.name)
    except Exception as exc:
        failed[info.name] = f"{type(exc).__name__}: {exc}"
for name in extra:
    importlib.import_module(name)
loaded = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
print(json.dumps({"after_package": after_package, "modules": modules, "failed": failed,
                  "airflow": loaded}))
"""


def probe(*extra_imports: str, home: str = "/tmp") -> dict:
    env_path = f"{PROJECT_ROOT / 'include'}:{PROJECT_ROOT / 'plugins'}"
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *extra_imports],
        capture_output=True,
        text=True,
        timeout=180,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": env_path, "HOME": home, "AIRFLOW_HOME": home},
        cwd=PROJECT_ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_tierflow_and_every_module_leaves_airflow_out(tmp_path) -> None:
    result = probe(home=str(tmp_path))
    assert result["after_package"] == []
    # The core modules exist and were all imported: the probe really walked the package.
    for core in (
        "tierflow.cli",
        "tierflow.config",
        "tierflow.policy",
        "tierflow.stores.mysql",
        "tierflow.stores.objects",
        "tierflow.stores.warehouse",
        "tierflow.stores.redis",
    ):
        assert core in result["modules"]
    assert result["failed"] == {}, f"tierflow modules that fail to import: {result['failed']}"
    assert result["airflow"] == [], f"tierflow pulled in airflow: {result['airflow'][:10]}"


def test_probe_detects_airflow_when_it_is_imported(tmp_path) -> None:
    """The same probe sees airflow once the Airflow glue is imported, so the check above can fail."""
    result = probe("tierflow_airflow.hooks", home=str(tmp_path))
    assert "airflow" in result["airflow"]
