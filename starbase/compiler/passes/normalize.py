"""normalize: one canonical spelling for every typed plan.

Requires: a plan from `resolve` (sugar allowed). Guarantees: no `Since`, `Between`, `Search`
or `exists()` remains (they become comparisons on `timestamp`, `contains`/`~` on `message` and
`IsNull`); constant sub-expressions are folded (exactly: integers and nanoseconds never pass
through floats); times are absolute literals or `now() ± offset` with one folded offset, and a
compared column stands on the left; boolean conditions are flat `And`/`Or` in negation normal
form (`not` only on a boolean column), without repeated terms; adjacent filters are merged and
always-true filters dropped; inside a filter a null operand of and/or counts as false.
The pass is idempotent: normalize(normalize(p)) == normalize(p).

    where not (severity < 13 or message contains "x") | since 1h
    → Filter: severity >= 13 and message not contains "x" and timestamp >= now() - 1h
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from starbase.compiler import ir
from starbase.compiler.types import Type

_INVERSE = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_TIMESTAMP = ir.Col("timestamp", Type.TIMESTAMP)
_MESSAGE = ir.Col("message", Type.STRING)


def normalize(plan: ir.Plan) -> ir.Plan:
    """Canonical form of `plan` (see the module docstring)."""
    plan = ir.map_plan_exprs(plan, normalize_expr)
    return _merge_filters(plan)


def normalize_expr(expr: ir.Expr) -> ir.Expr:
    """Canonical form of one expression."""
    return ir.transform(expr, _rewrite)


def _rewrite(expr: ir.Expr) -> ir.Expr:
    match expr:
        case ir.Since(duration):
            return _rewrite(
                ir.Compare(
                    ">=", _TIMESTAMP, _rewrite(ir.Arith("-", ir.Now(), duration, Type.TIMESTAMP))
                )
            )
        case ir.Between(start, end):
            return _rewrite(
                ir.And((ir.Compare(">=", _TIMESTAMP, start), ir.Compare("<", _TIMESTAMP, end)))
            )
        case ir.Search(ir.Regex() as regex):
            return ir.Match(_MESSAGE, regex)
        case ir.Search(needle):
            if isinstance(needle, ir.Param):
                needle = ir.Param(needle.name, Type.STRING, needle.span)
            return ir.StrTest("contains", _MESSAGE, needle)
        case ir.Call("exists", (arg,)):
            return ir.IsNull(arg, negated=True)
        case ir.Not(inner):
            return _negate(inner)
        case ir.And() | ir.Or():
            return _flatten(expr)
        case ir.Compare():
            return _compare(expr)
        case ir.Arith():
            return _arith(expr)
        case ir.Neg(ir.Lit(value, kind)) if isinstance(value, int | float):
            return ir.Lit(-value, kind)
        case ir.Neg(ir.Neg(inner)):
            return inner
        case ir.Cast(ir.Lit(value, _), Type.FLOAT) if isinstance(value, int | float | str):
            return _cast_literal(value)
        case ir.Call("lower" | "upper" | "length" | "trim", (ir.Lit(str() as text, _),)):
            if expr.name == "length":
                return ir.Lit(len(text), Type.INT)
            folded = {"lower": text.lower(), "upper": text.upper(), "trim": text.strip()}
            return ir.Lit(folded[expr.name], Type.STRING)
    return expr


def _negate(inner: ir.Expr) -> ir.Expr:
    """`not inner`, pushed down to the leaves (exact under SQL's three-valued logic)."""
    match inner:
        case ir.Lit(bool() as value, _):
            return ir.Lit(not value, Type.BOOL)
        case ir.Lit(None, _):
            return inner
        case ir.Not(x):
            return x
        case ir.And(items):
            return _flatten(ir.Or(tuple(_negate(i) for i in items)))
        case ir.Or(items):
            return _flatten(ir.And(tuple(_negate(i) for i in items)))
        case ir.Compare(op, left, right):
            return ir.Compare(_INVERSE[op], left, right)
        case ir.Match() | ir.StrTest() | ir.InList() | ir.IsNull():
            return _toggle(inner)
    return ir.Not(inner)


def _toggle(expr: ir.Match | ir.StrTest | ir.InList | ir.IsNull) -> ir.Expr:
    from dataclasses import replace

    return replace(expr, negated=not expr.negated)


def _flatten(expr: ir.And | ir.Or) -> ir.Expr:
    is_and = isinstance(expr, ir.And)
    absorbing, neutral = (ir.FALSE, ir.TRUE) if is_and else (ir.TRUE, ir.FALSE)
    items: list[ir.Expr] = []
    for item in expr.items:
        parts = item.items if isinstance(item, type(expr)) else (item,)
        for part in parts:
            if part == absorbing:
                return absorbing
            if part != neutral and part not in items:
                items.append(part)
    if not items:
        return neutral
    if len(items) == 1:
        return items[0]
    return ir.And(tuple(items)) if is_and else ir.Or(tuple(items))


def _compare(expr: ir.Compare) -> ir.Expr:
    op, left, right = expr.op, expr.left, expr.right
    if _is_constant(left) and not _is_constant(right):
        op, left, right = _FLIP[op], right, left
    if isinstance(left, ir.Lit) and isinstance(right, ir.Lit):
        if left.value is None or right.value is None:
            return ir.Lit(None, Type.BOOL)
        try:
            return ir.Lit(_COMPARE[op](left.value, right.value), Type.BOOL)
        except TypeError:
            return ir.Compare(op, left, right)
    return ir.Compare(op, left, right)


def _is_constant(expr: ir.Expr) -> bool:
    return isinstance(expr, ir.Lit | ir.Param | ir.Now) or (
        isinstance(expr, ir.Arith) and _is_constant(expr.left) and _is_constant(expr.right)
    )


def _arith(expr: ir.Arith) -> ir.Expr:
    op, left, right = expr.op, expr.left, expr.right
    # now() - a - b  →  now() - (a + b): one offset per instant
    if (
        isinstance(left, ir.Arith)
        and isinstance(left.left, ir.Now)
        and isinstance(left.right, ir.Lit)
        and isinstance(right, ir.Lit)
        and right.type is Type.DURATION
    ):
        offset = _signed(left.op, left.right) + _signed(op, right)
        return _now_plus(offset)
    if isinstance(left, ir.Now) and isinstance(right, ir.Lit) and right.type is Type.DURATION:
        return _now_plus(_signed(op, right))
    if not (isinstance(left, ir.Lit) and isinstance(right, ir.Lit)):
        return expr
    a, b = left.value, right.value
    if a is None or b is None:
        return ir.Lit(None, expr.type)
    if not (isinstance(a, int | float) and isinstance(b, int | float)):
        return expr
    if isinstance(a, bool) or isinstance(b, bool):
        return expr
    if op in "/%" and b == 0:
        return ir.Lit(None, expr.type)  # division by zero is null, as the backends make it
    if op == "%" and isinstance(a, int) and isinstance(b, int):
        rest = abs(a) % abs(b)  # exact: truncated, as SQL does (the sign of the dividend)
        return ir.Lit(-rest if a < 0 else rest, expr.type)
    try:
        if op == "/":
            result: int | float = a / b
        else:
            operation = {"+": operator.add, "-": operator.sub, "*": operator.mul, "%": math.fmod}
            result = operation[op](a, b)
        if expr.type in (Type.INT, Type.TIMESTAMP, Type.DURATION):
            return ir.Lit(int(result), expr.type)
        folded = float(result)
    except OverflowError:  # an integer beyond the float range: left for the backend
        return expr
    # inf and nan have no literal (in StarQL or SQL): such a constant is left unfolded
    return ir.Lit(folded, Type.FLOAT if op == "/" else expr.type) if math.isfinite(folded) else expr


def _signed(op: str, value: ir.Lit) -> int:
    assert isinstance(value.value, int)
    return value.value if op == "+" else -value.value


def _now_plus(offset: int) -> ir.Expr:
    if offset == 0:
        return ir.Now()
    op = "+" if offset > 0 else "-"
    return ir.Arith(op, ir.Now(), ir.Lit(abs(offset), Type.DURATION), Type.TIMESTAMP)


def _cast_literal(value: int | float | str) -> ir.Lit:
    try:
        number = float(value)
    except ValueError:
        return ir.Lit(None, Type.FLOAT)
    return ir.Lit(number, Type.FLOAT)


def simplify_condition(expr: ir.Expr) -> ir.Expr:
    """A condition as a filter sees it: a row is kept only when it is true, so a null operand
    of the (negation-normal) and/or tree acts as false: `x or null` keeps what `x` keeps."""
    match expr:
        case ir.Lit(None, _):
            return ir.FALSE
        case ir.And(items) | ir.Or(items):
            return _flatten(type(expr)(tuple(simplify_condition(i) for i in items)))
    return expr


def _merge_filters(plan: ir.Plan) -> ir.Plan:
    inputs = tuple(_merge_filters(p) for p in ir.plan_inputs(plan))
    plan = ir.with_inputs(plan, inputs)
    if isinstance(plan, ir.Filter):
        if isinstance(plan.input, ir.Filter):
            merged = _flatten(ir.And((plan.input.predicate, plan.predicate)))
            plan = ir.Filter(plan.input.input, merged)
        plan = ir.Filter(plan.input, simplify_condition(plan.predicate))
        if plan.predicate == ir.TRUE:
            return plan.input
    return plan
