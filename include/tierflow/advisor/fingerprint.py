"""Query fingerprints: one name per query shape, whatever its constants, engine or spelling.

A query is parsed with sqlglot in the dialect of the engine that ran it, its literals (and the
``$n`` parameters pg_stat_statements shows in their place) are lifted out into numbered
placeholders, identifiers are normalised as the engine resolves them, and the tree is written back
in one canonical dialect. The fingerprint is a hash of that text; the lifted literals are the sample.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

CANONICAL = "postgres"
PLACEHOLDER_PREFIX = "p"
# pg_stat_statements prints "$1,$2": spaced, so the tokenizer does not read "$1,$" as a dollar quote
_PARAM = re.compile(r"\$(\d+)")


@dataclass(frozen=True)
class Fingerprint:
    """A query's shape: ``template`` is canonical SQL with ``:p0, :p1 ...`` for the literals, and
    ``literals`` the values lifted out of this one query as SQL literals (``'text'``, ``12``; None
    where the engine had already replaced them by parameters)."""

    fingerprint: str
    template: str
    literals: tuple[str | None, ...]
    tree: exp.Expression | None

    @property
    def parsed(self) -> bool:
        return self.tree is not None


def _literal_value(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Literal):
        return node.sql(dialect=CANONICAL)  # 'text' stays quoted, 12 does not
    return None  # a parameter: the engine kept the shape only


def _liftable(node: exp.Expression) -> bool:
    if not isinstance(node, (exp.Literal, exp.Parameter)):
        return False
    if isinstance(node, exp.Literal) and isinstance(node.parent, exp.Parameter):
        return False  # the "1" of "$1"
    if isinstance(node.parent, exp.Group) or (
        isinstance(node.parent, exp.Ordered) and isinstance(node.parent.parent, exp.Order)
    ):
        return False  # GROUP BY 1, ORDER BY 2: positions, not values
    # LIMIT/OFFSET counts, type arguments (varchar(10)) and interval units are part of the shape
    return node.find_ancestor(exp.Limit, exp.Offset, exp.DataType, exp.Interval) is None


def lift_literals(tree: exp.Expression) -> tuple[exp.Expression, list[str | None]]:
    """A copy of ``tree`` with each literal replaced by ``:pN`` (IN lists collapse to one), and the values."""
    tree = tree.copy()
    values: list[str | None] = []
    for node in list(tree.find_all(exp.In)):
        items = node.expressions
        if items and all(_liftable(i) for i in items):
            joined = [_literal_value(i) for i in items]
            text = None if any(v is None for v in joined) else "\x1f".join(str(v) for v in joined)
            marker = exp.Placeholder(this=f"{PLACEHOLDER_PREFIX}in")
            node.set("expressions", [marker])
            marker.meta["value"] = text
    for node in list(tree.walk(bfs=False)):
        if isinstance(node, exp.Placeholder) and node.this == f"{PLACEHOLDER_PREFIX}in":
            name = f"{PLACEHOLDER_PREFIX}{len(values)}"
            values.append(node.meta.get("value"))
            node.set("this", name)
        elif _liftable(node):
            name = f"{PLACEHOLDER_PREFIX}{len(values)}"
            values.append(_literal_value(node))
            node.replace(exp.Placeholder(this=name))
    return tree, values


def canonical(tree: exp.Expression, dialect: str) -> exp.Expression:
    """Identifiers as the engine resolves them (unquoted and case-insensitive ones lowercased)."""
    tree = normalize_identifiers(tree.copy(), dialect=dialect)
    for ident in tree.find_all(exp.Identifier):
        if ident.this == ident.this.lower():
            ident.set("quoted", False)
    return tree


@lru_cache(maxsize=65536)
def fingerprint(sql: str, dialect: str = CANONICAL) -> Fingerprint:
    """The fingerprint of one query as the engine of ``dialect`` received it."""
    try:
        trees = [t for t in sqlglot.parse(_PARAM.sub(r" $\1 ", sql), read=dialect) if t is not None]
    except SqlglotError:
        trees = []
    if len(trees) != 1:
        text = " ".join(sql.split()).lower()
        return Fingerprint(_digest("unparsed:" + text), text, (), None)
    tree = canonical(trees[0], dialect)
    lifted, values = lift_literals(tree)
    template = lifted.sql(dialect=CANONICAL)
    return Fingerprint(_digest(template), template, tuple(values), tree)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def bind(template: str, literals: tuple[str | None, ...] | list[str | None]) -> str:
    """The template with its placeholders replaced by ``literals`` (SQL literals, as lifted);
    used to replay a seen query."""
    tree = sqlglot.parse_one(template, read=CANONICAL)
    for node in list(tree.find_all(exp.Placeholder)):
        index = int(str(node.this)[len(PLACEHOLDER_PREFIX) :])
        value = literals[index]
        if value is None:
            raise ValueError(f"no literal for {node.this}")
        parts = str(value).split("\x1f")
        if isinstance(node.parent, exp.In) and len(parts) > 1:
            parent = node.parent
            parent.set("expressions", [_as_literal(p) for p in parts])
        else:
            node.replace(_as_literal(str(value)))
    return tree.sql(dialect=CANONICAL)


def _as_literal(value: str) -> exp.Expression:
    return sqlglot.parse_one(value, read=CANONICAL)
