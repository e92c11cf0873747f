"""IR → stable, readable text for `explain`, the per-stage trace and the golden files.

Requires: IR expressions and plans. Guarantees: the same IR always renders to the same text;
plans render one node a line, children indented two spaces (like DataFusion's
`display_indent`); expressions render close to StarQL, with implicit casts shown as
`float(x)`, map lookups as `attributes["key"]`, timestamps as RFC 3339 UTC.
"""

from __future__ import annotations

from starbase.compiler import ir
from starbase.compiler.format import format_name, format_regex, format_string
from starbase.compiler.timestamps import format_duration, format_iso
from starbase.compiler.types import Type


def render_expr(expr: ir.Expr) -> str:
    return _expr(expr, top=True)


def _expr(expr: ir.Expr, top: bool = False) -> str:
    text = _bare(expr)
    compound = isinstance(
        expr, ir.Compare | ir.Arith | ir.And | ir.Or | ir.Match | ir.StrTest | ir.InList
    )
    return f"({text})" if compound and not top else text


def _bare(expr: ir.Expr) -> str:
    match expr:
        case ir.Lit(value, kind):
            return _literal(value, kind)
        case ir.Regex(pattern, flags):
            return format_regex(pattern, flags)
        case ir.Param(name, kind):
            return f"${name}:{kind}"
        case ir.Now():
            return "now()"
        case ir.Col(name):
            return format_name(name)
        case ir.MapGet(m, key):
            return f"{_expr(m)}[{format_string(key)}]"
        case ir.Call(name, args) | ir.Agg(name, args):
            return f"{name}({', '.join(_expr(a, top=True) for a in args)})"
        case ir.Cast(inner, kind):
            return f"{kind}({_expr(inner, top=True)})"
        case ir.Arith(op, left, right) | ir.Compare(op, left, right):
            return f"{_expr(left)} {op} {_expr(right)}"
        case ir.Neg(inner):
            return f"-{_expr(inner)}"
        case ir.Match(inner, regex, negated):
            return f"{_expr(inner)} {'!~' if negated else '~'} {_expr(regex)}"
        case ir.StrTest(op, inner, needle, negated):
            return f"{_expr(inner)} {'not ' if negated else ''}{op} {_expr(needle)}"
        case ir.InList(inner, items, negated):
            values = ", ".join(_expr(i, top=True) for i in items)
            return f"{_expr(inner)} {'not in' if negated else 'in'} ({values})"
        case ir.IsNull(inner, negated):
            return f"{_expr(inner)} is {'not ' if negated else ''}null"
        case ir.And(items):
            return " and ".join(_expr(i) for i in items)
        case ir.Or(items):
            return " or ".join(_expr(i) for i in items)
        case ir.Not(inner):
            return f"not {_expr(inner)}"
        case ir.Since(duration):
            return f"since({_expr(duration, top=True)})"
        case ir.Between(start, end):
            return f"between({_expr(start, top=True)}, {_expr(end, top=True)})"
        case ir.Search(needle):
            return f"search({_expr(needle, top=True)})"
    raise TypeError(f"not an expression: {expr!r}")


def _literal(value: object, kind: Type) -> str:
    if value is None:
        return "null"
    if kind is Type.TIMESTAMP:
        assert isinstance(value, int)
        return f"timestamp({format_string(format_iso(value))})"
    if kind is Type.DURATION:
        assert isinstance(value, int)
        return format_duration(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return format_string(value)
    return repr(value)


def render_bound(bound: ir.TimeBound | None) -> str:
    if bound is None:
        return "∞"
    if bound.param is not None:
        base = f"${bound.param}"
    elif bound.base is None:
        base = "now()"
    else:
        base = format_iso(bound.base)
    if bound.offset:
        sign = "-" if bound.offset < 0 else "+"
        base += f" {sign} {format_duration(abs(bound.offset))}"
    return base


def render_range(time_range: ir.TimeRange) -> str:
    lower, upper = time_range.lower, time_range.upper
    left = "[" if lower is None or lower.inclusive else "("
    right = "]" if upper is not None and upper.inclusive else ")"
    return f"{left}{render_bound(lower)}, {render_bound(upper)}{right}"


def render_plan(plan: ir.Plan) -> str:
    """One node a line, inputs indented below their consumer."""
    lines: list[str] = []
    _plan(plan, 0, lines)
    return "\n".join(lines)


def _named(items: tuple[ir.NamedExpr, ...]) -> str:
    parts = []
    for item in items:
        text = render_expr(item.expr)
        same = isinstance(item.expr, ir.Col) and item.expr.name == item.name
        parts.append(text if same else f"{format_name(item.name)} := {text}")
    return "[" + ", ".join(parts) + "]"


def _node(plan: ir.Plan) -> str:
    match plan:
        case ir.Sources(sources):
            return "Sources: " + ", ".join(f"{s.name} ({s.format})" for s in sources)
        case ir.Scan():
            parts = [f"Scan: {plan.source} ({plan.format} via {plan.backend})"]
            parts.append("columns=[" + ", ".join(format_name(c.name) for c in plan.schema) + "]")
            if plan.filter is not None:
                parts.append(f"filter={render_expr(plan.filter)}")
            if plan.time_range is not None:
                parts.append(f"time={render_range(plan.time_range)}")
            for p in plan.partitions:
                detail = (
                    render_range(p.time_range)
                    if p.time_range is not None
                    else render_expr(p.predicate)
                    if p.predicate is not None
                    else "?"
                )
                parts.append(f"partition {p.column} ({p.transform}): {detail}")
            return " ".join(parts)
        case ir.Project(_, items):
            return f"Project: {_named(items)}"
        case ir.Filter(_, predicate):
            return f"Filter: {render_expr(predicate)}"
        case ir.Extend(_, items):
            return f"Extend: {_named(items)}"
        case ir.Parse(_, expr, kind, pattern, regex, names):
            shown = format_string(pattern) if kind == "glob" else _expr(regex)
            return f"Parse ({kind}): {render_expr(expr)} {shown} as [{', '.join(names)}]"
        case ir.Aggregate(_, keys, aggregates):
            return f"Aggregate: by={_named(keys)} aggregates={_named(aggregates)}"
        case ir.Sort(_, keys):
            rendered = (render_expr(k.expr) + (" desc" if k.descending else "") for k in keys)
            return "Sort: " + ", ".join(rendered)
        case ir.Limit(_, count):
            return f"Limit: {count if isinstance(count, int) else render_expr(count)}"
        case ir.Dedup(_, keys):
            return "Dedup: " + ", ".join(render_expr(k) for k in keys)
        case ir.Union(inputs):
            return f"Union: {len(inputs)} inputs"
        case ir.Join(_, _, kind, keys, max_rows):
            on = ", ".join(
                format_name(a) if a == b else f"{format_name(a)} == {format_name(b)}"
                for a, b in keys
            )
            return f"Join ({kind}): on {on} right at most {max_rows} rows"
    raise TypeError(f"not a plan: {plan!r}")


def _plan(plan: ir.Plan, depth: int, lines: list[str]) -> None:
    lines.append("  " * depth + _node(plan))
    for child in ir.plan_inputs(plan):
        _plan(child, depth + 1, lines)
