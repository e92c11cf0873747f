"""Conditions on the severity alone, decided per level word (for `level_from_text`).

Requires: a condition in which every column is read through one `level_from_text(field)` call.
Guarantees: `severity_call` finds that call (None when the condition reads anything else, or
several different severities); `level_words` evaluates the condition with SQL's three-valued
logic for each word of `metamodel.LEVELS` (in table order) and returns the words for which it
is true — exactly the rows a filter keeps, since a severity is the number of the first level
word found (or null). A condition that would also keep rows with no level raises
`NotExpressible`: Insights would need a test for "no level word", which is not kept exact.
"""

from __future__ import annotations

from starbase.backends.cloudwatch.syntax import NotExpressible
from starbase.compiler import ir
from starbase.compiler.types import Type
from starbase.mappings import LEVELS


def severity_call(expr: ir.Expr) -> ir.Call | None:
    """The `level_from_text(…)` call when `expr` is a condition on that severity alone."""
    calls = {e for e in ir.walk(expr) if isinstance(e, ir.Call) and e.name == "level_from_text"}
    if len(calls) != 1:
        return None
    (call,) = calls
    try:
        _truth(expr, call, None)
    except _NotConstant:
        return None
    return call


def level_words(expr: ir.Expr, call: ir.Call) -> list[str]:
    """The level words (lower case) whose severity makes `expr` true."""
    if _truth(expr, call, None) is True:
        raise NotExpressible("a severity condition that holds when there is no level")
    return [word for word, level in LEVELS.items() if _truth(expr, call, level) is True]


class _NotConstant(Exception):
    pass


def _truth(expr: ir.Expr, call: ir.Call, level: int | None) -> bool | None:
    """SQL's three-valued truth of `expr` when `call` (the severity) is `level`."""
    match expr:
        case ir.Lit(value, Type.BOOL):
            return None if value is None else bool(value)
        case ir.And(items):
            values = [_truth(i, call, level) for i in items]
            return False if False in values else None if None in values else True
        case ir.Or(items):
            values = [_truth(i, call, level) for i in items]
            return True if True in values else None if None in values else False
        case ir.Not(inner):
            value = _truth(inner, call, level)
            return None if value is None else not value
        case ir.Compare(op, left, right):
            lhs, rhs = _number(left, call, level), _number(right, call, level)
            if lhs is None or rhs is None:
                return None
            return {
                "==": lhs == rhs,
                "!=": lhs != rhs,
                "<": lhs < rhs,
                "<=": lhs <= rhs,
                ">": lhs > rhs,
                ">=": lhs >= rhs,
            }[op]
        case ir.InList(inner, items, negated):
            subject = _number(inner, call, level)
            options = [_number(i, call, level) for i in items]
            if subject is None:
                return None
            if subject in options:
                return not negated
            return None if None in options else negated
        case ir.IsNull(inner, negated):
            return (_number(inner, call, level) is None) != negated
    raise _NotConstant


def _number(expr: ir.Expr, call: ir.Call, level: int | None) -> float | None:
    if expr == call:
        return level
    match expr:
        case ir.Lit(None):
            return None
        case ir.Lit(int() | float() as value) if not isinstance(value, bool):
            return value
        case ir.Cast(inner):
            return _number(inner, call, level)
    raise _NotConstant
