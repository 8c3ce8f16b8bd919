"""The dbt model of a promoted shape (``dbt/models/marts/promoted/``), its schema file, and the
lookup of models that already answer a shape.

The model stores the shape's grain and decomposable measures; incremental on its day dimension
when it has one (each build redoes the lookback's days), a table otherwise; contract enforced,
grain unique, lifted filter columns not null. Its ``meta.advisor`` block names the source, grain and
measures, which is how a later run knows the model answers a shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tierflow.advisor.shape import Shape, rewrite
from tierflow.paths import DBT_DIR

PROMOTED_DIR = DBT_DIR / "models" / "marts" / "promoted"
MODELS_DIR = DBT_DIR / "models"
ANALYTICS = "analytics"


@dataclass(frozen=True)
class ModelFiles:
    name: str
    sql: str
    yml: str

    def paths(self, root: Path = PROMOTED_DIR) -> tuple[Path, Path]:
        return root / f"{self.name}.sql", root / f"_{self.name}.yml"


def model_name(shape: Shape, fingerprint: str) -> str:
    return f"promoted_{shape.table}_{fingerprint[:8]}"


def dbt_relation(schema: str, table: str, models_dir: Path = MODELS_DIR) -> str | None:
    """The Jinja that names ``schema.table`` in the dbt project: a source of ``raw`` or a published
    mart in ``analytics``; None when the project does not know it."""
    if schema == ANALYTICS and any(models_dir.rglob(f"{table}.sql")):
        return f"{{{{ ref('{table}') }}}}"
    for path in models_dir.rglob("_*sources.yml"):
        for source in (yaml.safe_load(path.read_text()) or {}).get("sources", []):
            if source.get("schema") == schema and any(t["name"] == table for t in source.get("tables", [])):
                return f"{{{{ source('{source['name']}', '{table}') }}}}"
    return None


def select_sql(
    shape: Shape, relation: str, *, lookback: bool = False, casts: dict[str, str] | None = None
) -> str:
    """The model's SELECT over ``relation`` (with the incremental lookback filter: dbt Jinja);
    ``casts`` gives measures their declared type (a bounded numeric, which Redshift needs: its
    bare ``numeric`` has no decimals)."""
    casts = casts or {}
    dims = [d.name if d.expr == d.name else f"{d.expr} as {d.name}" for d in shape.dimensions]
    measures = [
        f"cast({m.expr} as {casts[m.name]}) as {m.name}" if m.name in casts else f"{m.expr} as {m.name}"
        for m in shape.measures
    ]
    items = ",\n    ".join(dims + measures)
    where = [f"{d.column} is not null" for d in shape.dimensions if d.filtered and not d.grouped]
    day = next((d for d in shape.dimensions if d.day), None)
    if lookback and day is not None:
        where.append(f"{{{{ tierflow.in_lookback('{day.expr}', '{day.name}') }}}}")
    where_sql = ("\nwhere " + "\n  and ".join(where)) if where else ""
    group = ", ".join(str(i + 1) for i in range(len(dims)))
    return f"select\n    {items}\nfrom {relation}{where_sql}\n" + (f"group by {group}\n" if group else "")


def model_sql(shape: Shape, relation: str, fingerprint: str, casts: dict[str, str] | None = None) -> str:
    time_dim = shape.time_dimension
    if time_dim:
        config = (
            "{{ config(\n    materialized='incremental',\n    incremental_strategy='delete+insert',\n"
            f"    unique_key=['{time_dim}'],\n    on_schema_change='fail',\n) }}}}"
        )
    else:
        config = "{{ config(materialized='table') }}"
    return (
        f"{config}\n"
        f"-- Promoted by `tierflow advise` from query shape {fingerprint}: {shape.source} pre-aggregated\n"
        f"-- by {', '.join(shape.grain) or 'nothing'}; analysts read it through sql/promoted/{fingerprint}.sql.\n"
        + select_sql(shape, relation, lookback=True, casts=casts)
    )


def model_yml(shape: Shape, name: str, fingerprint: str, types: dict[str, str]) -> str:
    columns = []
    for d in shape.dimensions:
        col: dict[str, Any] = {"name": d.name, "data_type": types[d.name]}
        if d.filtered and not d.grouped:
            col["constraints"] = [{"type": "not_null"}]
        columns.append(col)
    for m in shape.measures:
        col = {"name": m.name, "data_type": types[m.name]}
        if m.name == "n_rows":
            col["data_tests"] = ["not_null"]
        columns.append(col)
    model: dict[str, Any] = {
        "name": name,
        "description": f"Pre-aggregate of {shape.source} for query shape {fingerprint} (tierflow advise).",
        "config": {
            "contract": {"enforced": True},
            "meta": {
                "advisor": {
                    "fingerprint": fingerprint,
                    "source": shape.source,
                    "grain": shape.grain,
                    "measures": {m.name: m.expr for m in shape.measures},
                }
            },
        },
        "columns": columns,
    }
    if shape.grain:
        model["data_tests"] = [{"unique_combination": {"arguments": {"columns": shape.grain}}}]
    return yaml.safe_dump({"version": 2, "models": [model]}, sort_keys=False)


def existing_models(models_dir: Path = MODELS_DIR) -> list[dict[str, Any]]:
    """Every model whose schema file carries ``meta.advisor``: {name, source, grain, measures}."""
    out = []
    for path in sorted(models_dir.rglob("*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []) or []:
            meta = ((model.get("config") or {}).get("meta") or model.get("meta") or {}).get("advisor")
            if meta:
                out.append({"name": model["name"], **meta})
    return out


def answering_model(shape: Shape, models: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A model over the same source whose grain covers the shape's and which stores its measures
    (under the names the rewrite then uses)."""
    need = {m.expr for m in shape.measures}
    for model in models:
        if model["source"] != shape.source or not set(shape.grain) <= set(model["grain"]):
            continue
        if need <= set(model["measures"].values()):
            return model
    return None


def adopt_names(shape: Shape, model: dict[str, Any]) -> None:
    """Rename the shape's measures to the existing model's columns."""
    by_expr = {expr: name for name, expr in model["measures"].items()}
    for m in shape.measures:
        m.name = by_expr[m.expr]
    shape.rewrite_template = rewrite(shape)
