"""pushdown: move row filters into the source scans and derive what lets a backend prune.

Requires: a plan from `map_fields` (each source a `Project` of universal fields over a
`Scan`), and the mapping of each source. Guarantees: a filter conjunct moves below `Extend`,
`Parse` and `Sort` when it reads none of the columns they define, below a `Join` into its
left side when it reads only that side's columns (exact for inner and left joins), and into
every source's `Scan.filter` rewritten over physical columns (then it is removed above: the
result is the same rows); each `Scan` gets the `time_range` implied by its filter's
`timestamp` bounds and one `PartitionFilter` per partition column of its mapping that the
filter constrains. Time ranges and partitions are hints only: the exact predicate is always
kept in `Scan.filter`.

    Filter: timestamp >= now() - 1h and service == "checkout"
      Project: [timestamp := epoch_to_timestamp(time_unix_nano, "ns"), service, …]
        Scan: otel
    → Project: […]
        Scan: otel filter=epoch_to_timestamp(time_unix_nano, "ns") >= now() - 1h and …
              time=[now() - 1h, ∞) partition hour (hour): … partition service (identity): …
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from starbase.compiler import ir
from starbase.compiler.passes.normalize import normalize_expr, simplify_condition
from starbase.compiler.types import Type
from starbase.mappings import Mapping
from starbase.mappings.raw import RECEIVED_SKEW_NS

RAW_FORMAT = "raw"

MappingLookup = Callable[[str], Mapping]


def pushdown(plan: ir.Plan, mapping_for: MappingLookup) -> ir.Plan:
    """Push filters toward the scans (see the module docstring)."""
    inputs = tuple(pushdown(p, mapping_for) for p in ir.plan_inputs(plan))
    plan = ir.with_inputs(plan, inputs)
    if not isinstance(plan, ir.Filter):
        return plan
    kept: list[ir.Expr] = []
    below = plan.input
    for conjunct in _conjuncts(plan.predicate):
        moved = _push(conjunct, below, mapping_for)
        if moved is None:
            kept.append(conjunct)
        else:
            below = moved
    if not kept:
        return below
    return ir.Filter(below, kept[0] if len(kept) == 1 else ir.And(tuple(kept)))


def _conjuncts(predicate: ir.Expr) -> tuple[ir.Expr, ...]:
    return predicate.items if isinstance(predicate, ir.And) else (predicate,)


def _push(conjunct: ir.Expr, plan: ir.Plan, mapping_for: MappingLookup) -> ir.Plan | None:
    """`plan` with `conjunct` applied inside it, or None if it cannot move below `plan`."""
    reads = ir.columns(conjunct)
    match plan:
        case ir.Extend(inner, items) if not reads & {i.name for i in items}:
            return _push_or_wrap(conjunct, inner, plan, mapping_for)
        case ir.Parse(inner, names=names) if not reads & set(names):
            return _push_or_wrap(conjunct, inner, plan, mapping_for)
        case ir.Sort(inner):
            return _push_or_wrap(conjunct, inner, plan, mapping_for)
        case ir.Filter(inner, predicate):
            moved = _push(conjunct, inner, mapping_for)
            return None if moved is None else ir.Filter(moved, predicate)
        case ir.Union(branches):
            pushed = tuple(_into_source(conjunct, b, mapping_for) for b in branches)
            if any(p is None for p in pushed):
                return None
            return ir.Union(tuple(p for p in pushed if p is not None))
        case ir.Join(left, right) if reads <= {c.name for c in ir.output_schema(left)}:
            moved = _push(conjunct, left, mapping_for)  # a condition on the left rows alone
            return ir.with_inputs(plan, (moved or ir.Filter(left, conjunct), right))
        case ir.Project(ir.Scan()):
            return _into_source(conjunct, plan, mapping_for)
        case ir.Project(inner, items):  # `fields`: rewrite over the columns it reads
            renamed = substitute(conjunct, {i.name: i.expr for i in items})
            if ir.has_aggregate(renamed):
                return None
            return _push_or_wrap(renamed, inner, plan, mapping_for)
    return None


def _push_or_wrap(
    conjunct: ir.Expr, inner: ir.Plan, node: ir.Plan, mapping_for: MappingLookup
) -> ir.Plan:
    moved = _push(conjunct, inner, mapping_for)
    return ir.with_inputs(node, (moved if moved is not None else ir.Filter(inner, conjunct),))


def _into_source(conjunct: ir.Expr, branch: ir.Plan, mapping_for: MappingLookup) -> ir.Plan | None:
    if not (isinstance(branch, ir.Project) and isinstance(branch.input, ir.Scan)):
        return None
    scan = branch.input
    mapping = mapping_for(scan.format)
    fields = {i.name: i.expr for i in branch.items}
    physical = simplify_condition(_unless_null(substitute(conjunct, fields)))
    if ir.has_aggregate(physical):
        return None
    if physical == ir.TRUE:  # e.g. `source == "otel"` on the otel source itself
        return branch
    predicate = physical if scan.filter is None else _and(scan.filter, physical)
    new_scan = replace(
        scan, filter=predicate, time_range=time_range(predicate, fields.get("timestamp"))
    )
    new_scan = _with_partitions(new_scan, mapping, fields, conjunct)
    return ir.Project(new_scan, branch.items)


def substitute(expr: ir.Expr, fields: dict[str, ir.Expr]) -> ir.Expr:
    """`expr` with columns replaced by the expressions that compute them, constants folded
    (a field a source lacks is a null literal, so `host == "web-1"` folds to null there)."""

    def swap(node: ir.Expr) -> ir.Expr:
        if isinstance(node, ir.Col) and node.name in fields:
            return fields[node.name]
        if (
            isinstance(node, ir.MapGet)
            and isinstance(node.map, ir.Call)
            and node.map.name == "json_to_map"  # one member of a JSON object, not the whole map
        ):
            key = ir.Lit(node.key, Type.STRING)
            return ir.Call("json_get", (*node.map.args, key), Type.STRING)
        return node

    return normalize_expr(ir.transform(expr, swap))


def _unless_null(condition: ir.Expr) -> ir.Expr:
    """A filter condition with each comparison of `if(c, x, null)` (a field that a mapping
    nulls out, e.g. OTel's unspecified severity 0) written `c and (the comparison of x)`,
    which prunes by `x`'s statistics. Exact under `and`/`or` in a filter: the comparison is
    null exactly where the rewrite is false, and a filter drops both."""
    match condition:
        case ir.And(items):
            return ir.And(tuple(_unless_null(i) for i in items))
        case ir.Or(items):
            return ir.Or(tuple(_unless_null(i) for i in items))
        case ir.Compare(op, ir.Call("if", (test, value, ir.Lit(None))), right):
            return ir.And((test, ir.Compare(op, value, right)))
        case ir.InList(ir.Call("if", (test, value, ir.Lit(None))), items, negated):
            return ir.And((test, ir.InList(value, items, negated)))
    return condition


def _and(left: ir.Expr, right: ir.Expr) -> ir.Expr:
    return ir.And((*_conjuncts(left), *_conjuncts(right)))


# ---------------------------------------------------------------- time ranges


def time_range(predicate: ir.Expr, timestamp: ir.Expr | None) -> ir.TimeRange | None:
    """Bounds on the source's timestamp expression implied by the conjuncts of `predicate`."""
    if timestamp is None:
        return None
    lower: ir.TimeBound | None = None
    upper: ir.TimeBound | None = None
    for conjunct in _conjuncts(predicate):
        if not (isinstance(conjunct, ir.Compare) and conjunct.left == timestamp):
            continue
        bound = time_bound(conjunct.right)
        if bound is None:
            continue
        op = conjunct.op
        if op in (">", ">=", "=="):
            lower = _tighter(lower, _inclusive(bound, op != ">"), prefer_max=True)
        if op in ("<", "<=", "=="):
            upper = _tighter(upper, _inclusive(bound, op != "<"), prefer_max=False)
    if lower is None and upper is None:
        return None
    return ir.TimeRange(lower, upper)


def time_bound(expr: ir.Expr) -> ir.TimeBound | None:
    """The instant a normalized time expression stands for (literal, `now() ± offset`,
    `$param`), or None."""
    match expr:
        case ir.Lit(int() as nanos, Type.TIMESTAMP):
            return ir.TimeBound(base=nanos)
        case ir.Now():
            return ir.TimeBound()
        case ir.Arith(op, ir.Now(), ir.Lit(int() as offset, Type.DURATION)) if op in "+-":
            return ir.TimeBound(offset=offset if op == "+" else -offset)
        case ir.Param(name, Type.TIMESTAMP):
            return ir.TimeBound(param=name)
    return None


def _inclusive(bound: ir.TimeBound, inclusive: bool) -> ir.TimeBound:
    return ir.TimeBound(bound.base, bound.offset, bound.param, inclusive)


def _tighter(current: ir.TimeBound | None, new: ir.TimeBound, *, prefer_max: bool) -> ir.TimeBound:
    """The narrower of two bounds when they are comparable; else keep the first (a hint)."""
    if current is None:
        return new
    same_kind = (
        current.param is None
        and new.param is None
        and ((current.base is None) == (new.base is None))
    )
    if not same_kind:
        return current
    a = (current.base or 0) + current.offset
    b = (new.base or 0) + new.offset
    if a == b:
        return current if not current.inclusive else new
    return new if (b > a) == prefer_max else current


# ---------------------------------------------------------------- partitions


def _received_window(events: ir.TimeRange) -> ir.TimeRange | None:
    """The receive times that lines with events in `events` can have: raw lines are
    partitioned by the day they were received, which is never before the event (less
    `RECEIVED_SKEW_NS` for clocks ahead of the router's) but may be any time later (late
    delivery, replayed files) — so only the lower bound prunes."""
    lower = events.lower
    if lower is None:
        return None
    return ir.TimeRange(replace(lower, offset=lower.offset - RECEIVED_SKEW_NS), None)


def _with_partitions(
    scan: ir.Scan,
    mapping: Mapping,
    fields: dict[str, ir.Expr],
    conjunct: ir.Expr,
) -> ir.Scan:
    partitions = list(scan.partitions)
    for part in mapping.partitions:
        if part.transform in ("hour", "day"):
            partitions = [p for p in partitions if p.column != part.column]
            window = scan.time_range
            if window is not None and mapping.format == RAW_FORMAT:
                window = _received_window(window)
            if window is not None:
                partitions.append(
                    ir.PartitionFilter(part.column, part.transform, time_range=window)
                )
            continue
        if ir.columns(conjunct) != {part.field}:
            continue
        source_expr = fields.get(part.field)
        column = ir.Col(part.column, Type.STRING)
        if source_expr != column:
            continue
        rewritten = substitute(conjunct, {part.field: column})
        old = next((p for p in partitions if p.column == part.column), None)
        merged = (
            rewritten if old is None or old.predicate is None else _and(old.predicate, rewritten)
        )
        partitions = [p for p in partitions if p.column != part.column]
        partitions.append(ir.PartitionFilter(part.column, part.transform, predicate=merged))
    order = {p.column: i for i, p in enumerate(mapping.partitions)}
    partitions.sort(key=lambda p: order.get(p.column, len(order)))
    return replace(scan, partitions=tuple(partitions))
