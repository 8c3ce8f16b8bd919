"""Everything the Redshift path sends passes the conformance harness (tests/redshift_harness.py):
dbt-redshift over the whole project (first, incremental and full-refresh builds, with and without
the vars that `tierflow warehouse build` and the Airflow DAG pass, `dbt run` and `dbt build`), and
the setup SQL in sql/redshift/. A model or macro added to the project is covered by these cases
as it stands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp
from tierflow.paths import PROJECT_ROOT

from tests import redshift_harness as rh

pytestmark = pytest.mark.integration

SLOT = "analytics_audit_blue"
DAG_VARS = json.dumps({"tests_loaded_since": "2026-06-29 00:00:00", "changed_since": "2026-06-29 00:00:00"})
CASES = {
    "run-first": (["run"], False),
    "run-incremental": (["run"], True),
    "run-incremental-vars": (["run", "--vars", DAG_VARS], True),
    "run-full-refresh": (["run", "--full-refresh"], True),
    "build-first": (["build"], False),
    "build-incremental-vars": (["build", "--vars", DAG_VARS], True),
    "build-full-refresh": (["build", "--full-refresh"], True),
}
CHECKED: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def report_checked(request: pytest.FixtureRequest):
    """After the module: how many statements each case sent through the checks, and against how
    many constructs."""
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None and CHECKED:
        cases = ", ".join(f"{case} {n}" for case, n in CHECKED.items())
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nredshift harness: {sum(CHECKED.values())} statements checked against "
                f"{rh.CONSTRUCTS_CHECKED} constructs ({cases})"
            )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """One parse of the project for every case (the cases share its target path)."""
    target = str(tmp_path_factory.mktemp("dbt_redshift"))
    result = rh.run_dbt(["parse"], rh.Recorder(), target)
    assert result.success, result.exception
    return target, json.loads((Path(target) / "manifest.json").read_text())


def models(manifest: dict) -> list[dict]:
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]


@pytest.mark.parametrize("case", list(CASES))
def test_dbt_sends_only_what_redshift_accepts(project: tuple[str, dict], case: str) -> None:
    target, manifest = project
    args, exists = CASES[case]
    recorder = rh.Recorder(rh.catalog_from_manifest(manifest, SLOT, exists=exists))
    result = rh.run_dbt(args, recorder, target)
    failing = [
        f"{r.node.unique_id}: {r.message}" for r in (result.result or []) if r.status in {"error", "fail"}
    ]
    assert result.success and not failing, failing or result.exception
    assert recorder.failures() == {}
    # dbt signs in as every other step does: IAM, as the builder, no password
    assert recorder.connections and all(
        kw["iam"] is True
        and kw["db_user"] == "tierflow_builder"
        and kw["cluster_identifier"] == "tierflow"
        and not kw.get("password")
        for kw in recorder.connections
    ), recorder.connections[:1]
    sent = "\n".join(st.sql for st in recorder.statements)
    for model in models(manifest):  # every model of the project was built, whatever its name
        assert f'"{model["alias"]}"' in sent, model["name"]
    CHECKED[case] = len(recorder.statements)


def test_setup_sql_is_redshift_sql() -> None:
    statements = []
    for path in sorted((PROJECT_ROOT / "sql" / "redshift").glob("*.sql")):
        script = path.read_text().replace(":iam_role", "'arn:aws:iam::123456789012:role/tierflow-spectrum'")
        statements += [(path.name, s) for s in rh.sql_statements(script)]
    assert statements
    assert {f"{name}: {sql[:80]}": rh.problems(sql) for name, sql in statements if rh.problems(sql)} == {}
    CHECKED["sql/redshift"] = len(statements)


ADAPTER_PREFIXES = ("default__", "postgres__", "redshift__")


def dispatched_macros(manifest: dict) -> dict[str, set[str]]:
    """{macro: the adapter prefixes it has} for every macro of the project that dispatches."""
    found: dict[str, set[str]] = {}
    for m in manifest["macros"].values():
        prefix = next((p for p in ADAPTER_PREFIXES if m["name"].startswith(p)), None)
        if m["package_name"] == "tierflow" and prefix:
            found.setdefault(m["name"].removeprefix(prefix), set()).add(prefix)
    return found


def test_each_adapter_dispatches_to_its_own_sql(
    project: tuple[str, dict], warehouse_url: str, tmp_path: Path
) -> None:
    """Every dispatching macro, whatever its name: dbt-redshift inherits postgres__, so each macro
    with a postgres__ version needs its own redshift__ one (or shares default__)."""
    target, manifest = project
    macros = dispatched_macros(manifest)
    assert {"delete_days_not_in", "hash_pii", "long_string"} <= set(macros)
    names = sorted(macros)
    on_redshift = rh.dispatched(names, target, recorder=rh.Recorder())
    on_postgres = rh.dispatched(names, str(tmp_path), warehouse_url=warehouse_url)
    for m, prefixes in macros.items():
        assert on_postgres[m] == ("postgres__" if "postgres__" in prefixes else "default__") + m
        assert on_redshift[m] == ("redshift__" if "redshift__" in prefixes else "default__") + m, prefixes
    assert on_redshift["delete_days_not_in"] == "redshift__delete_days_not_in"


# A varchar without a length (dbt.type_string(), a contract's `varchar`) is VARCHAR(256) on Redshift
# ("Character types", Amazon Redshift Database Developer Guide), as is TEXT.
BARE_VARCHAR = 256
STRING_TYPES = {exp.DataType.Type.VARCHAR, exp.DataType.Type.NVARCHAR, exp.DataType.Type.TEXT}


def raw_string_widths() -> dict[str, int]:
    """{column: its widest varchar in any raw table} from sql/redshift/001_raw_schema.sql."""
    widths: dict[str, int] = {}
    text = (PROJECT_ROOT / "sql" / "redshift" / "001_raw_schema.sql").read_text()
    for statement in rh.sql_statements(text):
        for col in sqlglot.parse_one(statement, read="redshift").find_all(exp.ColumnDef):
            kind = col.args.get("kind")
            if kind is not None and kind.this in STRING_TYPES and kind.expressions:
                widths[col.name] = max(widths.get(col.name, 0), int(kind.expressions[0].name))
    return widths


def string_width(dt: exp.DataType) -> int | None:
    if dt.this not in STRING_TYPES:
        return None
    return (
        int(dt.expressions[0].name) if dt.expressions and dt.this != exp.DataType.Type.TEXT else BARE_VARCHAR
    )


def test_string_widths_hold_every_raw_value(project: tuple[str, dict]) -> None:
    """No model casts a raw string column to a narrower varchar on Redshift, and every contracted
    string column declares a width that holds the raw column of its name."""
    target, manifest = project
    widths = raw_string_widths()
    assert widths["email"] == 640 and widths["app_name"] == 512
    result = rh.run_dbt(
        ["compile"], rh.Recorder(rh.catalog_from_manifest(manifest, SLOT, exists=False)), target
    )
    assert result.success, result.exception
    narrowed = []
    for r in result.result:
        for tree in sqlglot.parse(r.node.compiled_code, read="redshift"):
            for cast in tree.find_all(exp.Cast) if tree is not None else []:
                width, column = string_width(cast.to), cast.this
                if (
                    width is not None
                    and isinstance(column, exp.Column)
                    and width < widths.get(column.name, 0)
                ):
                    narrowed.append(
                        f"{r.node.name}: {column.name} cast to {width} bytes, raw has {widths[column.name]}"
                    )
    for model in models(manifest):
        if not model["config"].get("contract", {}).get("enforced"):
            continue
        for name, column in model["columns"].items():
            declared = exp.DataType.build(column.get("data_type") or "int", dialect="redshift")
            width = string_width(declared)
            if width is not None and (not declared.expressions or width < widths.get(name, 0)):
                narrowed.append(f"{model['name']}.{name}: {column['data_type']} (raw {widths.get(name)})")
    assert narrowed == []
