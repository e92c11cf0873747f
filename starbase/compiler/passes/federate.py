"""federate: give each source of a multi-source query as much of the query as is exact.

Requires: a plan from `prune` (the last stage of the pipeline).
Guarantees: the same rows and output columns as the input;
when the query reads one source, the plan is returned unchanged. Above a `Union` of several
sources (rewritten bottom-up, so the rules compose):

- row stages (`Filter`, `Extend`, `Parse`, `Project`) move into every branch: they act on one
  row at a time, so σ(A ∪ B) = σ(A) ∪ σ(B);
- an `Aggregate` whose aggregates all have exact partial forms is split into a *partial*
  aggregate per branch and a *final* one over their union: `count` → `sum` of counts (0 for no
  rows), `sum`/`min`/`max` → the same again, `avg(x)` → `sum(x)` and `count(x)` per branch,
  then their quotient; aggregates inside arithmetic (`round(sum(x) / count())`) are rewritten
  in place. When any aggregate lacks an exact partial form (`count_distinct`, `pct`,
  `stddev`, `earliest`, `latest`: see docs/reference.md, "Queries over several sources"), the
  aggregate runs once over the unified rows;
- `limit n` over the union, with or without a `sort` just below it, is copied into every
  branch (the first n rows of each branch in that order contain the first n of the union).

The branches are then whole single-source pipelines that a backend may push down (Insights
runs a branch's partial `stats`); what is left above the union runs locally.

    Aggregate: by=[service] aggregates=[n := count(), a := avg(d)]
      Filter: d > 10
        Union: 2 inputs
          Project … Scan: otel
          Project … Scan: lambda
    → Aggregate: by=[service := service] aggregates=[n := coalesce(sum(partial_1), 0),
                                                      a := sum(partial_2) / sum(partial_3)]
        Union: 2 inputs
          Aggregate: by=[service] aggregates=[partial_1 := count(), partial_2 := sum(d),
                                              partial_3 := count(d)]
            Filter: d > 10
              Project … Scan: otel
          Aggregate: …  (the same over lambda)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

from starbase.compiler import ir
from starbase.compiler.types import Type

SPLITTABLE = frozenset({"count", "sum", "min", "max", "avg"})
ROW_STAGES = (ir.Filter, ir.Extend, ir.Parse, ir.Project)


def federate(plan: ir.Plan) -> ir.Plan:
    """Push what is exact into each branch of every union (see the module docstring)."""
    inputs = tuple(federate(p) for p in ir.plan_inputs(plan))
    plan = ir.with_inputs(plan, inputs)
    match plan:
        case ir.Filter(ir.Union(branches)) | ir.Extend(ir.Union(branches)):
            return ir.Union(tuple(ir.with_inputs(plan, (b,)) for b in branches))
        case ir.Parse(ir.Union(branches)) | ir.Project(ir.Union(branches)):
            return ir.Union(tuple(ir.with_inputs(plan, (b,)) for b in branches))
        case ir.Aggregate(ir.Union() as union):
            return split_aggregate(plan, union) or plan
        case ir.Limit(ir.Union(branches), count):
            return ir.Limit(ir.Union(tuple(_limited(b, count) for b in branches)), count)
        case ir.Limit(ir.Sort(ir.Union(branches), keys) as sort, count):
            tops = tuple(_limited(ir.Sort(b, keys), count) for b in branches)
            return ir.Limit(replace(sort, input=ir.Union(tops)), count)
    return plan


def _limited(branch: ir.Plan, count: int | ir.Param) -> ir.Plan:
    if isinstance(branch, ir.Limit) and branch.count == count:
        return branch
    return ir.Limit(branch, count)


def split_aggregate(node: ir.Aggregate, union: ir.Union) -> ir.Aggregate | None:
    """`node` as a final aggregate over partial aggregates of each branch of `union`, or None
    when one of its aggregates has no exact partial form."""
    found = [e for item in node.aggregates for e in ir.walk(item.expr) if isinstance(e, ir.Agg)]
    aggs = list(dict.fromkeys(found))
    if any(a.name not in SPLITTABLE for a in aggs):
        return None
    taken = {k.name for k in node.keys}
    names = (n for n in (f"partial_{i}" for i in itertools.count(1)) if n not in taken)
    partials: list[ir.NamedExpr] = []
    finals: dict[ir.Agg, ir.Expr] = {}
    for agg in aggs:
        finals[agg] = _final(agg, names, partials)
    keys = tuple(ir.NamedExpr(k.name, ir.Col(k.name, k.expr.type)) for k in node.keys)

    def final(expr: ir.Expr) -> ir.Expr:
        return finals[expr] if isinstance(expr, ir.Agg) else expr

    aggregates = tuple(ir.NamedExpr(i.name, ir.transform(i.expr, final)) for i in node.aggregates)
    branches = tuple(ir.Aggregate(b, node.keys, tuple(partials)) for b in union.inputs)
    return ir.Aggregate(ir.Union(branches), keys, aggregates)


def _final(agg: ir.Agg, names: Iterator[str], partials: list[ir.NamedExpr]) -> ir.Expr:
    """The final expression of `agg` over new partial columns (appended to `partials`)."""

    def partial(expr: ir.Agg) -> ir.Col:
        same = next((p for p in partials if p.expr == expr), None)  # sum(x) and avg(x) share
        name = same.name if same is not None else next(names)
        if same is None:
            partials.append(ir.NamedExpr(name, expr))
        return ir.Col(name, expr.type)

    match agg.name:
        case "count":
            total = ir.Agg("sum", (partial(agg),), Type.INT)
            return ir.Call("coalesce", (total, ir.Lit(0, Type.INT)), Type.INT)
        case "avg":
            value = agg.args[0]
            sums = partial(ir.Agg("sum", (value,), _sum_type(value.type)))
            counts = partial(ir.Agg("count", (value,), Type.INT))
            numerator = ir.Agg("sum", (sums,), sums.type)
            denominator = ir.Agg("sum", (counts,), Type.INT)
            return ir.Arith("/", numerator, denominator, Type.FLOAT)
        case _:  # sum, min, max: the same aggregate of the partial results
            column = partial(agg)
            return ir.Agg(agg.name, (column,), agg.type)


def _sum_type(kind: Type) -> Type:
    return kind if kind.numeric else Type.FLOAT
