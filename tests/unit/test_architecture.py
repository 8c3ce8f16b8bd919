"""docs/architecture.md's module map says what the import contracts in pyproject.toml enforce.

The map's table gives each part of ``include/tierflow`` a layer (1 is the top); the ``layers``
contract lists the same parts in the same layers, and every part of the library is in one.
"""

from __future__ import annotations

import re
import tomllib

import pytest
from tierflow.paths import PROJECT_ROOT

ARCHITECTURE = PROJECT_ROOT / "docs" / "architecture.md"
PACKAGE = PROJECT_ROOT / "include" / "tierflow"


def map_layers(text: str) -> list[set[str]]:
    """The parts of each layer of the module map, top layer first."""
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    layers: dict[int, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].isdigit():
            continue
        names = {name.rstrip("/") for name in re.findall(r"`([^`]+)`", cells[1])}
        layers.setdefault(int(cells[0]), set()).update(names)
    assert sorted(layers) == list(range(1, len(layers) + 1)), f"layers numbered 1..n: {sorted(layers)}"
    return [layers[n] for n in sorted(layers)]


def contracts() -> list[dict]:
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert config["root_package"] == "tierflow"
    return config["contracts"]


def contract_layers() -> list[list[str]]:
    (layers,) = [c for c in contracts() if c["type"] == "layers"]
    assert layers["containers"] == ["tierflow"]
    return [re.split(r"\s*[|:]\s*", layer.strip()) for layer in layers["layers"]]


def library_parts() -> set[str]:
    """Every top-level module and package of tierflow."""
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    return modules | packages


def test_map_parses_into_layers() -> None:
    layers = map_layers(ARCHITECTURE.read_text())
    assert len(layers) >= 5
    assert layers[0] == {"cli"}
    assert {"archive", "warehouse", "hot", "report", "devdata", "stores", "policy", "config"} <= set().union(
        *layers
    )


def test_map_and_layers_contract_name_the_same_parts_in_the_same_layers() -> None:
    documented = map_layers(ARCHITECTURE.read_text())
    enforced = [set(layer) for layer in contract_layers()]
    assert documented == enforced


def test_parts_of_one_layer_are_independent_as_the_map_says() -> None:
    (layers,) = [c for c in contracts() if c["type"] == "layers"]
    assert not [layer for layer in layers["layers"] if ":" in layer], (
        "the map says one layer's parts are independent"
    )


def test_every_part_of_the_library_has_a_layer() -> None:
    placed = set().union(*map_layers(ARCHITECTURE.read_text()))
    assert library_parts() - placed == set(), "add the new part to the module map and the layers contract"
    assert placed - library_parts() == set(), "the module map names parts the library does not have"


def test_each_protected_tier_is_a_package_of_the_map() -> None:
    placed = set().union(*map_layers(ARCHITECTURE.read_text()))
    protected = [c for c in contracts() if c["type"] == "protected"]
    assert protected, "the tiers' internals are protected"
    for contract in protected:
        for expression in contract["protected_modules"]:
            tier = expression.removeprefix("tierflow.").removesuffix(".*")
            assert tier in placed and (PACKAGE / tier / "__init__.py").exists(), expression
            assert f"tierflow.{tier}" in contract["allowed_importers"]
            assert "tierflow.cli" in contract["allowed_importers"]


def test_no_airflow_contract_covers_the_whole_library() -> None:
    (forbidden,) = [c for c in contracts() if c["id"] == "no-airflow"]
    assert forbidden["source_modules"] == ["tierflow"]
    assert "airflow" in forbidden["forbidden_modules"]


@pytest.mark.parametrize(
    ("table", "layers"),
    [
        ("| 1 | `cli/` | x | y |\n| 2 | `a`, `b/` | x | y |", [{"cli"}, {"a", "b"}]),
        ("| Layer | Part |\n|---|---|\n| 1 | `cli` | x |\n| 1 | `more` | x |", [{"cli", "more"}]),
    ],
)
def test_map_parser_reads_a_table(table: str, layers: list[set[str]]) -> None:
    assert map_layers(f"## Module map\n\n{table}\n\n## Next\n| 9 | `not_in_the_map` |") == layers
