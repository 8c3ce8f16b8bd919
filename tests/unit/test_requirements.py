"""The runtime/dev split of the requirements: nothing the image runs imports a dev-only package,
and every pin of both files is in the resolved constraints."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# distribution name -> the top-level modules it provides
DEV_MODULES = {
    "moto[server]": {"moto"},
    "playwright": {"playwright"},
    "pytest": {"pytest", "_pytest"},
    "pytest-timeout": {"pytest_timeout"},
    "ruff": {"ruff"},
    "mypy": {"mypy"},
    "import-linter": {"importlinter"},
    "types-pyyaml": {"yaml-stubs"},
    "pyspark": {"pyspark"},
}


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "-r")):
            name, _, version = line.partition("==")
            found[name.lower()] = version
    return found


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_dev_file_lists_exactly_the_dev_only_packages_and_includes_runtime():
    dev = ROOT / "requirements-dev.txt"
    assert "-r requirements.txt" in dev.read_text().splitlines()
    assert set(pins(dev)) == set(DEV_MODULES)
    assert not set(pins(ROOT / "requirements.txt")) & set(DEV_MODULES)


def test_runtime_code_imports_no_dev_only_package():
    dev_modules = set().union(*DEV_MODULES.values())
    offenders = []
    for folder in ("include", "plugins", "dags"):
        for source in sorted((ROOT / folder).rglob("*.py")):
            bad = imported_modules(source) & dev_modules
            if bad:
                offenders.append(f"{source.relative_to(ROOT)}: {sorted(bad)}")
    assert offenders == []


def test_every_pin_is_in_the_resolved_constraints():
    resolved = pins(ROOT / "constraints.txt")
    for name, version in {**pins(ROOT / "requirements.txt"), **pins(ROOT / "requirements-dev.txt")}.items():
        base = name.split("[")[0]
        assert resolved.get(base) == version, f"{name}=={version} not in constraints.txt"
