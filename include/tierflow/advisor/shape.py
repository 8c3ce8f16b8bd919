"""Whether a query shape can be promoted to a pre-aggregated model, and what that model and the
rewritten query are.

A promotable shape is one SELECT over one table with decomposable aggregates (count, sum, min, max,
avg as sum/count), GROUP BY plain columns and a WHERE that is a conjunction of columns compared with
constants. Each filtered column joins the grain (a timestamp compared by range joins as its day), so
the model answers every literal set at once; the rewrite re-aggregates it under the same filters.
Everything else is refused with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from tierflow.advisor.fingerprint import CANONICAL, Fingerprint, lift_literals

NON_DETERMINISTIC = (exp.Rand, exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime)
NON_DETERMINISTIC_NAMES = {
    "random",
    "now",
    "clock_timestamp",
    "statement_timestamp",
    "timeofday",
    "gen_random_uuid",
    "getdate",
    "sysdate",
    "uuid",
}
TIMESTAMP_TYPES = ("timestamp", "timestamp without time zone", "timestamp with time zone", "timestamptz")
RANGE_OPS = (exp.GT, exp.GTE, exp.LT, exp.LTE)
DAY_SUFFIX = "_day"


class NotPromotable(Exception):
    """The shape cannot be answered exactly from a pre-aggregate; the message says why."""


@dataclass
class Dimension:
    name: str  # the model's column
    expr: str  # its definition over the source table
    column: str  # the source column
    filtered: bool  # lifted from WHERE (never NULL in the rows the query reads)
    grouped: bool  # a GROUP BY column of the query
    day: bool = False  # a timestamp column lifted as its day


@dataclass
class Measure:
    name: str
    expr: str  # the model's aggregate, e.g. sum(amount)


@dataclass
class Shape:
    """A promotable shape: the source table, the model's grain and measures, and the rewrite template
    (placeholders as in the fingerprint) over ``{model}``."""

    schema: str
    table: str
    dimensions: list[Dimension]
    measures: list[Measure]
    rewrite_template: str
    day_params: set[str] = field(default_factory=set)
    tree: exp.Select | None = None  # the query, literals lifted
    # each placeholder's column and role: "eq" (= or IN), "low" or "high" (a range bound)
    params: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def grain(self) -> list[str]:
        return [d.name for d in self.dimensions]

    @property
    def time_dimension(self) -> str | None:
        return next((d.name for d in self.dimensions if d.day), None)


def analyse(fp: Fingerprint, column_types: dict[str, str]) -> Shape:  # noqa: C901 -- to burn down
    """The promotable shape of ``fp`` (its table's columns and types in ``column_types``), or
    :class:`NotPromotable` with the reason."""
    if fp.tree is None:
        raise NotPromotable("the query does not parse")
    tree, _ = lift_literals(fp.tree)
    if not isinstance(tree, exp.Select):
        raise NotPromotable("not a single SELECT (set operations are not promoted)")
    _refuse_unsupported(tree)
    table = _single_table(tree)
    group_cols = _group_columns(tree)
    filters = _filters(tree.args.get("where"))
    dims: dict[str, Dimension] = {}
    for col in group_cols:
        dims[col] = Dimension(col, col, col, filtered=False, grouped=True)
    day_params: set[str] = set()
    for col, node, params in filters:
        typ = column_types.get(col)
        if typ is None:
            raise NotPromotable(f"column {col} is not in {table.db}.{table.name}")
        is_range = isinstance(node, (*RANGE_OPS, exp.Between))
        if is_range and typ.lower().startswith(TIMESTAMP_TYPES) and col not in dims:
            if isinstance(node, (exp.GT, exp.LTE)) or isinstance(node, exp.Between):
                raise NotPromotable(f"the range on timestamp {col} is not a half-open day range (>= and <)")
            name = col + DAY_SUFFIX
            dims.setdefault(name, Dimension(name, f"cast({col} as date)", col, True, False, day=True))
            day_params.update(params)
        elif col in dims:
            dims[col].filtered = True
        else:
            dims[col] = Dimension(col, col, col, filtered=True, grouped=False)
    measures = _measures(tree)
    shape = Shape(table.db, table.name, list(dims.values()), measures, "", day_params, tree)
    for col, node, params in filters:
        for name, role in zip(params, _roles(node, len(params)), strict=True):
            shape.params[name] = (col, role)
    _name_measures(shape)
    shape.rewrite_template = rewrite(shape)
    return shape


def _refuse_unsupported(tree: exp.Select) -> None:
    for node in tree.walk():
        if isinstance(node, exp.Distinct) and isinstance(node.parent, exp.AggFunc):
            raise NotPromotable("count(distinct) across the grain cannot be re-aggregated")
        if isinstance(node, NON_DETERMINISTIC) or (
            isinstance(node, exp.Anonymous) and str(node.this).lower() in NON_DETERMINISTIC_NAMES
        ):
            raise NotPromotable(f"non-deterministic function {node.sql(dialect=CANONICAL)}")
        if isinstance(node, exp.Window):
            raise NotPromotable("window function over the lifted dimension")
    if tree.args.get("distinct"):
        raise NotPromotable("SELECT DISTINCT is not an aggregate that can be promoted")
    if tree.args.get("having"):
        raise NotPromotable("HAVING is not promoted")
    if tree.args.get("with") or any(True for _ in tree.find_all(exp.Subquery)):
        raise NotPromotable("subqueries and CTEs are not promoted")
    if tree.args.get("joins"):
        raise NotPromotable("joins are not promoted")
    if not any(True for _ in tree.find_all(exp.AggFunc)):
        raise NotPromotable("not an aggregate query")


def _single_table(tree: exp.Select) -> exp.Table:
    source = tree.args.get("from") or tree.args.get("from_")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or not table.db:
        raise NotPromotable("reads no schema-qualified table")
    return table


def _column(node: exp.Expression) -> str | None:
    return node.name if isinstance(node, exp.Column) else None


def _group_columns(tree: exp.Select) -> list[str]:
    group = tree.args.get("group")
    cols = []
    for item in group.expressions if group else []:
        if isinstance(item, exp.Literal) and item.is_int:  # GROUP BY 1
            item = tree.expressions[int(item.this) - 1]
            item = item.this if isinstance(item, exp.Alias) else item
        name = _column(item)
        if name is None:
            raise NotPromotable(f"GROUP BY {item.sql(dialect=CANONICAL)} is not a column")
        cols.append(name)
    return cols


def _filters(where: exp.Where | None) -> list[tuple[str, exp.Expression, list[str]]]:
    """Each conjunct as (column, predicate, its placeholders)."""
    if where is None:
        return []
    out = []
    for pred in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        params = [str(p.this) for p in pred.find_all(exp.Placeholder)]
        if isinstance(pred, (exp.EQ, exp.NEQ, *RANGE_OPS)):
            col, other = pred.this, pred.expression
            if not isinstance(col, exp.Column):
                col, other = other, col
            if isinstance(col, exp.Column) and isinstance(other, exp.Placeholder):
                out.append((col.name, pred, params))
                continue
        if isinstance(pred, exp.In) and isinstance(pred.this, exp.Column) and not pred.args.get("query"):
            if all(isinstance(e, exp.Placeholder) for e in pred.expressions):
                out.append((pred.this.name, pred, params))
                continue
        if isinstance(pred, exp.Between) and isinstance(pred.this, exp.Column):
            if isinstance(pred.args["low"], exp.Placeholder) and isinstance(
                pred.args["high"], exp.Placeholder
            ):
                out.append((pred.this.name, pred, params))
                continue
        raise NotPromotable(f"filter {pred.sql(dialect=CANONICAL)} is not a column compared with a constant")
    return out


def _roles(pred: exp.Expression, count: int) -> list[str]:
    if isinstance(pred, exp.Between):
        return ["low", "high"]
    if isinstance(pred, RANGE_OPS):
        low = isinstance(pred, (exp.GT, exp.GTE)) == isinstance(pred.this, exp.Column)
        return ["low" if low else "high"]
    return ["eq"] * count


def _measures(tree: exp.Select) -> list[Measure]:
    measures = [Measure("n_rows", "count(*)")]
    seen = {"count(*)"}
    for agg in tree.find_all(exp.AggFunc):
        if not isinstance(agg, (exp.Count, exp.Sum, exp.Min, exp.Max, exp.Avg)):
            raise NotPromotable(f"aggregate {agg.sql(dialect=CANONICAL)} is not decomposable")
        if any(isinstance(a, exp.AggFunc) for a in agg.this.find_all(exp.AggFunc)):
            raise NotPromotable("nested aggregates are not promoted")
        for measure in _parts(agg):
            if measure.expr not in seen:
                seen.add(measure.expr)
                measures.append(measure)
    return measures


def _arg(agg: exp.AggFunc) -> str:
    return agg.this.sql(dialect=CANONICAL)


def _parts(agg: exp.AggFunc) -> list[Measure]:
    index = abs(hash(_arg(agg))) % 10**6  # replaced by stable names in _name_measures
    if isinstance(agg, exp.Count):
        if isinstance(agg.this, exp.Star):
            return []
        return [Measure(f"count_{index}", f"count({_arg(agg)})")]
    if isinstance(agg, exp.Avg):
        return [
            Measure(f"sum_{index}", f"sum({_arg(agg)})"),
            Measure(f"count_{index}", f"count({_arg(agg)})"),
        ]
    kind = type(agg).__name__.lower()
    return [Measure(f"{kind}_{index}", f"{kind}({_arg(agg)})")]


def _measure_named(shape: Shape, expr: str) -> str:
    for m in shape.measures:
        if m.expr == expr:
            return m.name
    raise KeyError(expr)


def _reaggregate(agg: exp.AggFunc, shape: Shape) -> exp.Expression:
    arg = None if isinstance(agg.this, exp.Star) else _arg(agg)

    def measure(kind: str) -> str:
        return _measure_named(shape, "count(*)" if arg is None else f"{kind}({arg})")

    if isinstance(agg, exp.Count):
        text = f"coalesce(cast(sum({measure('count')}) as bigint), 0)"
    elif isinstance(agg, exp.Avg):
        text = f"sum({measure('sum')}) / nullif(sum({measure('count')}), 0)"
    else:
        kind = type(agg).__name__.lower()
        text = f"{'sum' if kind == 'sum' else kind}({measure(kind)})"
    return sqlglot.parse_one(text, read=CANONICAL)


def rewrite(shape: Shape) -> str:
    """The query over ``{model}``: same output columns, filters on the grain, aggregates re-aggregated
    from the measures (by their current names)."""
    if shape.tree is None:
        raise ValueError("a shape without its parsed query cannot be rewritten")
    out = shape.tree.copy()
    out.set("from", exp.From(this=exp.to_table("__model__")))
    out.set("from_", exp.From(this=exp.to_table("__model__")))
    selects = []
    for item in out.expressions:
        if isinstance(item, exp.Alias) or not any(True for _ in item.find_all(exp.AggFunc)):
            selects.append(item)
        else:  # keep the name the engine gives an unaliased aggregate (sum, count, avg...)
            selects.append(
                exp.alias_(item, type(item).__name__.lower() if isinstance(item, exp.AggFunc) else "?column?")
            )
    out.set("expressions", selects)
    for agg in list(out.find_all(exp.AggFunc)):
        agg.replace(_reaggregate(agg, shape))
    days = {d.column: d.name for d in shape.dimensions if d.day}
    where = out.args.get("where")
    if where is not None:
        for col in list(where.find_all(exp.Column)):
            if col.name in days:
                col.replace(exp.column(days[col.name]))
        for ph in list(where.find_all(exp.Placeholder)):
            if str(ph.this) in shape.day_params:
                ph.replace(exp.Cast(this=ph.copy(), to=exp.DataType.build("date")))
    return out.sql(dialect=CANONICAL).replace("__model__", "{model}")


def _name_measures(shape: Shape) -> None:
    counters: dict[str, int] = {}
    for m in shape.measures[1:]:
        kind = m.expr.split("(", 1)[0]
        counters[kind] = counters.get(kind, 0) + 1
        m.name = f"{kind}_{counters[kind]}"
