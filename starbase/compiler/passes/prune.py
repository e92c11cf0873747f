"""prune: only what is needed is read.

Requires: a plan from `pushdown`. Guarantees: same rows and output columns as its input;
each source's projection computes only the universal fields used above it (or all of them
when the query outputs every column), and each `Scan.schema` lists only the physical
columns its projection and filter read, in the mapping's order.

    Aggregate: by=[service] aggregates=[n := count()]
      Project: [timestamp := …, severity := …, …, resource]   (14 fields)
        Scan: otel columns=[time_unix_nano, …]                (16 columns)
    → Aggregate: by=[service] aggregates=[n := count()]
        Project: [service]
          Scan: otel columns=[service]
"""

from __future__ import annotations

from dataclasses import replace

from starbase.compiler import ir


def prune(tree: ir.Plan) -> ir.Plan:
    """Prune unused columns from every source read."""
    return _prune(tree, frozenset(c.name for c in ir.output_schema(tree)))


def _narrow(node: ir.Plan, needed: frozenset[str]) -> ir.Plan:
    """`node` pruned, and when it is a projection, computing only the `needed` columns (a
    join's right side: the columns it adds that nothing reads are not read either)."""
    if isinstance(node, ir.Project) and not isinstance(node.input, ir.Scan):
        kept = tuple(i for i in node.items if i.name in needed)
        return _prune(ir.Project(node.input, kept), needed)
    return _prune(node, needed)


def _reads(exprs: tuple[ir.Expr, ...]) -> frozenset[str]:
    return frozenset().union(*(ir.columns(e) for e in exprs))


def _prune(node: ir.Plan, needed: frozenset[str]) -> ir.Plan:
    match node:
        case ir.Project(ir.Scan() as scan, items):
            kept = tuple(i for i in items if i.name in needed)
            reads = _reads(tuple(i.expr for i in kept))
            if scan.filter is not None:
                reads |= ir.columns(scan.filter)
            schema = tuple(c for c in scan.schema if c.name in reads)
            return ir.Project(replace(scan, schema=schema), kept)
        case ir.Project(inner, items):
            return ir.Project(_prune(inner, _reads(tuple(i.expr for i in items))), items)
        case ir.Aggregate(inner, keys, aggregates):
            return ir.Aggregate(_prune(inner, _reads(ir.node_exprs(node))), keys, aggregates)
        case ir.Extend(inner, items):
            below = (needed - {i.name for i in items}) | _reads(ir.node_exprs(node))
            return ir.Extend(_prune(inner, below), items)
        case ir.Parse(inner, names=names):
            below = (needed - set(names)) | _reads(ir.node_exprs(node))
            return ir.with_inputs(node, (_prune(inner, below),))
        case ir.Union(inputs):
            return ir.Union(tuple(_prune(i, needed) for i in inputs))
        case ir.Join(left, right, _, keys):
            left_needs = needed | {a for a, _ in keys}
            right_needs = (needed - {c.name for c in ir.output_schema(left)}) | {b for _, b in keys}
            return ir.with_inputs(node, (_prune(left, left_needs), _narrow(right, right_needs)))
        case ir.Filter(inner) | ir.Sort(inner) | ir.Dedup(inner) | ir.Limit(inner):
            return ir.with_inputs(node, (_prune(inner, needed | _reads(ir.node_exprs(node))),))
    return node
