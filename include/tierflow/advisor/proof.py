"""The equivalence proof: the original query and its rewrite run on the warehouse for several
literal sets, and must return the same multiset of rows; both are timed.

Values are compared exactly, except that numerics compare by value (``2100.00`` equals ``2100``):
the rewrite's sums carry the scale of the stored measure, not of the original's.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tierflow.advisor.fingerprint import bind
from tierflow.advisor.shape import Shape


@dataclass
class LiteralSetResult:
    literals: list[str | None]
    equal: bool
    rows: int
    original_ms: float
    rewrite_ms: float
    error: str | None = None


@dataclass
class Proof:
    sets: list[LiteralSetResult] = field(default_factory=list)

    @property
    def equivalent(self) -> bool:
        return bool(self.sets) and all(s.equal for s in self.sets)

    @property
    def original_ms(self) -> float:
        return sum(s.original_ms for s in self.sets) / len(self.sets) if self.sets else 0.0

    @property
    def rewrite_ms(self) -> float:
        return sum(s.rewrite_ms for s in self.sets) / len(self.sets) if self.sets else 0.0


def _value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return v.normalize() if v.is_finite() else v
    if isinstance(v, float) and v.is_integer():
        return Decimal(int(v))
    return v


def rows_of(conn: Any, sql: str, repeat: int = 1) -> tuple[Counter, float]:
    """The result as a multiset of normalised rows, and the best of ``repeat`` timings in ms."""
    best = float("inf")
    rows: list[tuple] = []
    for _ in range(repeat):
        start = time.perf_counter()
        rows = conn.execute(sql).fetchall()
        best = min(best, (time.perf_counter() - start) * 1000)
    return Counter(tuple(_value(v) for v in row) for row in rows), best


def prove(
    conn: Any,
    template: str,
    shape: Shape,
    relation: str,
    literal_sets: list[tuple[str | None, ...]],
    *,
    repeat: int = 1,
) -> Proof:
    """Run the original (``template`` bound) and the rewrite over ``relation`` for each literal set."""
    proof = Proof()
    rewrite = shape.rewrite_template.replace("{model}", relation)
    for literals in literal_sets:
        try:
            original, original_ms = rows_of(conn, bind(template, literals), repeat)
            rewritten, rewrite_ms = rows_of(conn, bind(rewrite, literals), repeat)
        except Exception as exc:  # noqa: BLE001 - a failing replay disproves, with the reason
            conn.rollback()
            proof.sets.append(LiteralSetResult(list(literals), False, 0, 0.0, 0.0, str(exc).strip()[:300]))
            continue
        proof.sets.append(
            LiteralSetResult(
                list(literals), original == rewritten, sum(original.values()), original_ms, rewrite_ms
            )
        )
    return proof


def drawn_literal_sets(conn: Any, shape: Shape, count: int) -> list[tuple[str, ...]]:
    """Literal sets drawn from the data when the history kept none (pg_stat_statements shows ``$n``):
    equality parameters take the column's commonest values, range bounds consecutive slices of it
    (days for a day dimension)."""
    placeholders = sorted(shape.params, key=lambda p: int(p[1:]))
    columns: dict[str, list[str]] = {}
    sets: list[list[str]] = [[] for _ in range(count)]
    for name in placeholders:
        col, role = shape.params[name]
        if role == "eq":
            if col not in columns:
                columns[col] = [
                    _sql_literal(r[0])
                    for r in conn.execute(
                        f"SELECT {col} FROM {shape.source} WHERE {col} IS NOT NULL "  # noqa: S608
                        f"GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT {count}"
                    ).fetchall()
                ]
            values = columns[col] or ["NULL"]
            for i in range(count):
                sets[i].append(values[i % len(values)])
        else:
            day = name in shape.day_params
            expr = f"cast({col} as date)" if day else col
            fractions = ", ".join(f"{i / (count + 1):.4f}" for i in range(count + 2))
            cuts = (
                conn.execute(
                    f"SELECT percentile_disc(ARRAY[{fractions}]) WITHIN GROUP (ORDER BY {expr}) "  # noqa: S608
                    f"FROM {shape.source}"
                ).fetchone()[0]
                or []
            )
            for i in range(count):
                index = i if role == "low" else i + 2
                sets[i].append(_sql_literal(cuts[min(index, len(cuts) - 1)]) if cuts else "NULL")
    return [tuple(s) for s in sets]


def _sql_literal(value: Any) -> str:
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"
