"""The advisor's report: the query history grouped by fingerprint, ranked by calls x mean cost,
each shape promoted (model, rewrite, proof, saving) or refused with the reason; and ``apply``.

``advise`` changes nothing: the proof builds the model's SELECT into a session temporary table,
which disappears with the connection. ``apply`` writes the model files under
dbt/models/marts/promoted/ and the rewrite under sql/promoted/; the next ``tierflow warehouse build``
builds, tests and publishes the model like every other mart.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tierflow.advisor import model as models
from tierflow.advisor.fingerprint import Fingerprint, fingerprint
from tierflow.advisor.history import ATHENA, POSTGRES, REDSHIFT, TIERFLOW, QueryRun, quiet
from tierflow.advisor.proof import Proof, drawn_literal_sets, prove
from tierflow.advisor.shape import NotPromotable, Shape, analyse
from tierflow.clock import utc_now
from tierflow.log import get_logger
from tierflow.paths import SQL_DIR

log = get_logger("tierflow.advisor.advise")

PROMOTED_SQL_DIR = SQL_DIR / "promoted"
WAREHOUSE_SOURCES = {POSTGRES, REDSHIFT}
PROOF_SETS = 5
_MIDNIGHT = re.compile(r"^'\d{4}-\d{2}-\d{2}( 00:00(:00(\.0+)?)?)?'$")


@dataclass
class Group:
    """All the runs of one fingerprint."""

    fp: Fingerprint
    calls: int = 0
    total_ms: float = 0.0
    scanned_bytes: int = 0
    sources: set[str] = field(default_factory=set)
    samples: list[tuple[str | None, ...]] = field(default_factory=list)
    example_sql: str = ""

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0


@dataclass
class Candidate:
    fingerprint: str
    calls: int
    total_ms: float
    mean_ms: float
    example_sql: str
    sources: list[str]
    tables: list[str]
    promotable: bool
    reason: str | None = None
    samples: list[list[str | None]] = field(default_factory=list)
    model_name: str | None = None
    model_sql: str | None = None
    model_yml: str | None = None
    existing_model: bool = False
    rewrite_sql: str | None = None
    equivalent: bool | None = None
    literal_sets: int = 0
    original_ms: float | None = None
    rewrite_ms: float | None = None
    refresh_ms: float | None = None
    saving_ms: float | None = None
    refresh_basis: str | None = None
    scanned_bytes: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def group_runs(runs: list[QueryRun]) -> dict[str, Group]:
    groups: dict[str, Group] = {}
    for run in runs:
        fp = fingerprint(run.sql, run.dialect)
        g = groups.get(fp.fingerprint)
        if g is None:
            g = groups[fp.fingerprint] = Group(fp, example_sql=run.sql)
        g.calls += run.calls
        g.total_ms += run.total_ms
        g.scanned_bytes += run.scanned_bytes or 0
        g.sources.add(run.source)
        if fp.literals and all(v is not None for v in fp.literals) and fp.literals not in g.samples:
            g.samples.append(fp.literals)
            if g.fp.literals and any(v is None for v in g.fp.literals):
                g.fp, g.example_sql = fp, run.sql  # an example with its literals
    return groups


def rank(groups: dict[str, Group], *, min_calls: int = 1, top: int | None = None) -> list[Group]:
    """Shapes run at least ``min_calls`` times, by calls x mean cost (their total time) descending."""
    ranked = sorted(
        (g for g in groups.values() if g.calls >= min_calls), key=lambda g: (-g.total_ms, g.fp.fingerprint)
    )
    return ranked[:top] if top else ranked


def _tables(fp: Fingerprint) -> list[str]:
    if fp.tree is None:
        return []
    from sqlglot import exp

    return sorted({".".join(p for p in (t.db, t.name) if p) for t in fp.tree.find_all(exp.Table)})


def column_types(conn: Any, schema: str, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s",
        (schema, table),
    ).fetchall()
    return {name: typ for name, typ in rows}


def advise(
    conn: Any | None,
    runs: list[QueryRun],
    *,
    min_calls: int = 1,
    top: int | None = None,
    window_days: float = 7.0,
    builds_per_day: float = 1.0,
    since: datetime | None = None,
    proof_sets: int = PROOF_SETS,
    repeat: int = 1,
    models_dir: Path | None = None,
) -> list[Candidate]:
    """The ranked report. ``conn`` is a connection to the local warehouse (None: no shape is
    checked against it and none is promoted); ``models_dir`` the dbt models searched for one that
    already answers a shape; ``since`` the window's start, for the build history's refresh cost
    (``refresh``; default: ``window_days`` before now)."""
    from tierflow.advisor.refresh import refresh_basis

    if conn is not None:
        quiet(conn)
    basis = refresh_basis(conn, since or utc_now() - timedelta(days=window_days), window_days)
    existing = models.existing_models(models_dir or models.MODELS_DIR)
    out = []
    for g in rank(group_runs(runs), min_calls=min_calls, top=top):
        cand = Candidate(
            fingerprint=g.fp.fingerprint,
            calls=g.calls,
            total_ms=round(g.total_ms, 3),
            mean_ms=round(g.mean_ms, 3),
            example_sql=g.example_sql,
            sources=sorted(g.sources),
            tables=_tables(g.fp),
            promotable=False,
            samples=[list(s) for s in g.samples[:proof_sets]],
            scanned_bytes=g.scanned_bytes or None,
        )
        try:
            _promote(conn, g, cand, existing, proof_sets, repeat, models_dir or models.MODELS_DIR)
        except NotPromotable as exc:
            cand.promotable, cand.reason = False, str(exc)
        if cand.promotable and cand.original_ms and cand.rewrite_ms is not None:
            saved = g.total_ms * max(0.0, 1 - cand.rewrite_ms / cand.original_ms)
            refresh = 0.0
            if not cand.existing_model:
                refresh = basis.cost_ms(cand.refresh_ms or 0.0, builds_per_day)
                cand.refresh_basis = basis.describe(builds_per_day)
            cand.saving_ms = round(saved - refresh, 3)
        log.info(
            "advisor.candidate", fingerprint=cand.fingerprint, promotable=cand.promotable, reason=cand.reason
        )
        out.append(cand)
    return out


def _promote(  # noqa: C901 -- to burn down
    conn: Any | None,
    g: Group,
    cand: Candidate,
    existing: list[dict],
    proof_sets: int,
    repeat: int,
    models_dir: Path,
) -> None:
    if not g.sources & WAREHOUSE_SOURCES:
        engine = (
            "Athena" if ATHENA in g.sources else "DuckDB (tierflow query)" if TIERFLOW in g.sources else "?"
        )
        raise NotPromotable(f"runs on the archive through {engine}; promotion builds warehouse models")
    if conn is None:
        raise NotPromotable("no local PostgreSQL warehouse to prove the rewrite on")
    if g.fp.tree is None:
        raise NotPromotable("the query does not parse")
    tables = _tables(g.fp)
    if len(tables) != 1 or "." not in tables[0]:
        raise NotPromotable(
            "reads no single schema-qualified table" if len(tables) != 1 else "table not schema-qualified"
        )
    schema, table = tables[0].split(".", 1)
    types = column_types(conn, schema, table)
    if not types:
        raise NotPromotable(f"{schema}.{table} is not in the warehouse")
    shape = analyse(g.fp, types)
    for sample in g.samples:
        for name in shape.day_params:
            value = sample[int(name[1:])]
            if value is not None and not _MIDNIGHT.match(value):
                raise NotPromotable(f"the bound {value} on {shape.params[name][0]} is not a whole day")
    relation = models.dbt_relation(schema, table, models_dir)
    if relation is None:
        raise NotPromotable(f"{schema}.{table} is neither a dbt source nor a published mart")
    literal_sets = list(g.samples[:proof_sets])
    if len(literal_sets) < proof_sets:
        literal_sets += drawn_literal_sets(conn, shape, proof_sets - len(literal_sets))
    answering = models.answering_model(shape, existing)
    if answering is not None and _relation_exists(conn, models.ANALYTICS, answering["name"]):
        models.adopt_names(shape, answering)
        cand.model_name, cand.existing_model = answering["name"], True
        target = f"{models.ANALYTICS}.{answering['name']}"
    else:
        cand.model_name = models.model_name(shape, g.fp.fingerprint)
        target, cand.refresh_ms, col_types = _build_temp(conn, shape, cand.model_name)
        casts = _bounded_numerics(conn, target, col_types, {m.name for m in shape.measures})
        col_types.update(casts)
        cand.model_sql = models.model_sql(shape, relation, g.fp.fingerprint, casts)
        cand.model_yml = models.model_yml(shape, cand.model_name, g.fp.fingerprint, col_types)
    cand.rewrite_sql = shape.rewrite_template.replace("{model}", f"{models.ANALYTICS}.{cand.model_name}")
    proof = prove(conn, g.fp.template, shape, target, literal_sets, repeat=repeat)
    _record_proof(cand, proof)
    cand.promotable = proof.equivalent
    if not proof.equivalent:
        failed = next(s for s in proof.sets if not s.equal)
        raise NotPromotable(
            f"the rewrite differs from the original for literals {failed.literals}"
            + (f": {failed.error}" if failed.error else "")
        )


def _record_proof(cand: Candidate, proof: Proof) -> None:
    cand.equivalent = proof.equivalent
    cand.literal_sets = len(proof.sets)
    cand.original_ms = round(proof.original_ms, 3)
    cand.rewrite_ms = round(proof.rewrite_ms, 3)


def _relation_exists(conn: Any, schema: str, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (f"{schema}.{name}",)).fetchone()
    return row[0] is not None


def _bounded_numerics(conn: Any, table: str, types: dict[str, str], measures: set[str]) -> dict[str, str]:
    """``numeric(38, s)`` for each unbounded numeric measure, ``s`` the largest scale it holds."""
    names = [n for n, t in types.items() if t == "numeric" and n in measures]
    if not names:
        return {}
    scales = conn.execute(
        "SELECT " + ", ".join(f"coalesce(max(scale({n})), 0)" for n in names) + f" FROM {table}"  # noqa: S608
    ).fetchone()
    return {n: f"numeric(38,{int(s)})" for n, s in zip(names, scales, strict=True)}


def _build_temp(conn: Any, shape: Shape, name: str) -> tuple[str, float, dict[str, str]]:
    """The model's full build as a temporary table (gone with the session); its build time and
    column types (for the contract)."""
    temp = f"advisor_{name}"[:63]
    conn.execute(f"DROP TABLE IF EXISTS pg_temp.{temp}")
    start = time.perf_counter()
    conn.execute(f"CREATE TEMPORARY TABLE {temp} AS {models.select_sql(shape, shape.source)}")
    conn.execute(f"ANALYZE {temp}")
    build_ms = (time.perf_counter() - start) * 1000
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (f"pg_temp.{temp}",),
    ).fetchall()
    return f"pg_temp.{temp}", build_ms, {n: t for n, t in rows}


def apply(candidate: Candidate, *, models_dir: Path | None = None, sql_dir: Path | None = None) -> list[Path]:
    """Write the candidate's model, schema file and rewrite; returns the paths written."""
    if not candidate.promotable:
        raise NotPromotable(candidate.reason or "not promotable")
    sql_dir = sql_dir or PROMOTED_SQL_DIR
    sql_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if not candidate.existing_model:
        if not (candidate.model_name and candidate.model_sql and candidate.model_yml):
            raise ValueError(f"candidate {candidate.fingerprint} has no model to write")
        files = models.ModelFiles(candidate.model_name, candidate.model_sql, candidate.model_yml)
        sql_path, yml_path = files.paths(models_dir or models.PROMOTED_DIR)
        sql_path.parent.mkdir(parents=True, exist_ok=True)
        sql_path.write_text(files.sql)
        yml_path.write_text(files.yml)
        written += [sql_path, yml_path]
    rewrite = sql_dir / f"{candidate.fingerprint}.sql"
    rewrite.write_text(
        f"-- Rewrite of query shape {candidate.fingerprint} onto {models.ANALYTICS}.{candidate.model_name}\n"
        f"-- (proven on {candidate.literal_sets} literal sets). Placeholders %(pN)s take the literals of:\n"
        + "".join(f"--   {line}\n" for line in candidate.example_sql.strip().splitlines())
        + f"{candidate.rewrite_sql}\n"
    )
    written.append(rewrite)
    return written


def since_of(text: str, now: datetime) -> datetime:
    """``7d``, ``12h``, ``30m`` before ``now``."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([dhm])", text.strip())
    if not match:
        raise ValueError(f"--since {text!r}: expected a number and d, h or m (7d, 12h)")
    unit = {"d": "days", "h": "hours", "m": "minutes"}[match.group(2)]
    return now - timedelta(**{unit: float(match.group(1))})
