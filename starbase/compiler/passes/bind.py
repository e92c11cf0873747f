"""Binding: a compiled plan plus this run's parameters and clock → a plan with only literals.

Requires: a plan from the compiler and the values of its `$parameters`. Guarantees: every
`Param` becomes a literal of the type its context expects (timestamps from ISO-8601 text,
`datetime` or integer nanoseconds; durations from StarQL text such as "5m", `timedelta` or
integer nanoseconds; regexes checked against the portable subset; numbers finite — `inf` and
`nan` are refused, and typed as text they stay text), `now()` becomes one instant
shared by every source of the run, constants are folded again, and time ranges become
absolute. A missing or unusable value is a `CompileError` (E501/E502) naming the parameter.
Values are never spliced as text: they become typed IR literals that backends render.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import replace

from starbase.compiler import ir
from starbase.compiler import regex as portable
from starbase.compiler.errors import Code, error
from starbase.compiler.grammar.parser import DURATION_NANOS
from starbase.compiler.passes.normalize import normalize_expr
from starbase.compiler.passes.resolve import level_range
from starbase.compiler.timestamps import parse_iso
from starbase.compiler.types import Type
from starbase.mappings import LEVEL_HINT, LEVELS

_DURATION = re.compile(r"([0-9]+)(ns|us|ms|s|m|h|d|w)")


def value_from_text(raw: str, expected: str) -> object:
    """A parameter value typed as text (command line, REPL), read for the type it is expected
    to have (`parameters`): times, durations and regexes stay text for `bind` to parse;
    otherwise `true`/`false` and numbers are read as such, anything else stays text."""
    if expected in ("regex", "timestamp", "duration"):
        return raw
    if raw in ("true", "false"):
        return raw == "true"
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        number = float(raw)
    except ValueError:
        return raw
    return number if math.isfinite(number) else raw  # `inf`, `nan`: text, never a number


def parameters(plan: ir.Plan) -> dict[str, Type]:
    """The parameters a plan needs, with the type each is expected to have."""
    found: dict[str, Type] = {}
    for node in ir.plan_walk(plan):
        exprs = list(ir.node_exprs(node))
        if isinstance(node, ir.Limit) and isinstance(node.count, ir.Param):
            exprs.append(node.count)
        if isinstance(node, ir.Scan):
            for bound in _bounds(node):
                if bound.param is not None:
                    found.setdefault(bound.param, Type.TIMESTAMP)
        for expr in exprs:
            for e in ir.walk(expr):
                if isinstance(e, ir.Param):
                    found.setdefault(e.name, e.type)
    return found


def bind(plan: ir.Plan, values: Mapping[str, object], now_ns: int) -> ir.Plan:
    """`plan` with parameters and `now()` replaced by literals (see the module docstring)."""
    for name in parameters(plan):
        value = values.get(name)
        if isinstance(value, float) and not math.isfinite(value):
            raise error(
                Code.INVALID_PARAMETER,
                f"parameter ${name} must be a finite number, not {value!r}",
            )
    plan = _severity_levels(_numeric_comparisons(plan, values), values)
    expected = parameters(plan)
    missing = sorted(set(expected) - set(values))
    if missing:
        raise error(
            Code.UNBOUND_PARAMETER,
            f"no value for parameter ${missing[0]}",
            None,
            "bind it with --param "
            + " --param ".join(f"{m}=VALUE" for m in missing)
            + " (command line) or .run("
            + ", ".join(f"{m}=…" for m in missing)
            + ") (Python)",
        )
    literals = {name: _literal(name, values[name], kind) for name, kind in expected.items()}

    def substitute(expr: ir.Expr) -> ir.Expr:
        if isinstance(expr, ir.Param):
            return literals[expr.name]
        if isinstance(expr, ir.Now):
            return ir.Lit(now_ns, Type.TIMESTAMP)
        return expr

    def bind_expr(expr: ir.Expr) -> ir.Expr:
        return normalize_expr(ir.transform(expr, substitute))

    bound = ir.map_plan_exprs(plan, bind_expr)
    return _bind_nodes(bound, literals, now_ns)


def _severity_levels(plan: ir.Plan, values: Mapping[str, object]) -> ir.Plan:
    """`severity OP $level` with a level name bound compares with the level's range, exactly
    as `severity OP "warn"` does; a quoted number is the number."""

    def fix(expr: ir.Expr) -> ir.Expr:
        if not (
            isinstance(expr, ir.Compare)
            and isinstance(expr.right, ir.Param)
            and expr.right.role == "severity"
        ):
            return expr
        value = values.get(expr.right.name)
        if not isinstance(value, str):
            return expr
        if value.strip().isdecimal():
            return ir.Compare(expr.op, expr.left, ir.Lit(int(value), Type.INT))
        low = LEVELS.get(value.strip().lower())
        if low is None:
            raise error(
                Code.INVALID_PARAMETER,
                f"parameter ${expr.right.name} must be a level name or a number 1–24, "
                f"not {value!r}",
                None,
                LEVEL_HINT,
            )
        return level_range(expr.op, expr.left, low)

    return ir.map_plan_exprs(plan, lambda expr: normalize_expr(ir.transform(expr, fix)))


def _numeric_comparisons(plan: ir.Plan, values: Mapping[str, object]) -> ir.Plan:
    """`text OP $p` with a number bound to `$p` compares as numbers, exactly as `text OP 100`
    does (contract §3: a string compared with a number is cast to a number)."""

    def number(expr: ir.Expr) -> int | float | None:
        if isinstance(expr, ir.Param) and expr.type is Type.STRING:
            value = values.get(expr.name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
        return None

    def text(expr: ir.Expr) -> bool:
        return expr.type is Type.STRING and not isinstance(expr, ir.Param)

    def fix(expr: ir.Expr) -> ir.Expr:
        if not isinstance(expr, ir.Compare):
            return expr
        left, right = number(expr.left), number(expr.right)
        if right is not None and text(expr.left):
            return ir.Compare(expr.op, ir.Cast(expr.left, Type.FLOAT), ir.Lit(right, Type.FLOAT))
        if left is not None and text(expr.right):
            return ir.Compare(expr.op, ir.Lit(left, Type.FLOAT), ir.Cast(expr.right, Type.FLOAT))
        return expr

    return ir.map_plan_exprs(plan, lambda expr: ir.transform(expr, fix))


def _bind_nodes(plan: ir.Plan, literals: Mapping[str, ir.Expr], now_ns: int) -> ir.Plan:
    inputs = tuple(_bind_nodes(p, literals, now_ns) for p in ir.plan_inputs(plan))
    plan = ir.with_inputs(plan, inputs)
    if isinstance(plan, ir.Limit) and isinstance(plan.count, ir.Param):
        count = literals[plan.count.name]
        assert isinstance(count, ir.Lit) and isinstance(count.value, int)
        return replace(plan, count=count.value)
    if isinstance(plan, ir.Scan):
        time_range = _absolute(plan.time_range, literals, now_ns)
        partitions = tuple(
            replace(p, time_range=_absolute(p.time_range, literals, now_ns))
            for p in plan.partitions
        )
        return replace(plan, time_range=time_range, partitions=partitions)
    return plan


def _bounds(scan: ir.Scan) -> list[ir.TimeBound]:
    ranges = [scan.time_range, *(p.time_range for p in scan.partitions)]
    return [b for r in ranges if r is not None for b in (r.lower, r.upper) if b is not None]


def _absolute(
    time_range: ir.TimeRange | None, literals: Mapping[str, ir.Expr], now_ns: int
) -> ir.TimeRange | None:
    if time_range is None:
        return None

    def fix(bound: ir.TimeBound | None) -> ir.TimeBound | None:
        if bound is None:
            return None
        if bound.param is not None:
            value = literals[bound.param]
            assert isinstance(value, ir.Lit) and isinstance(value.value, int)
            return ir.TimeBound(value.value + bound.offset, 0, None, bound.inclusive)
        base = now_ns if bound.base is None else bound.base
        return ir.TimeBound(base + bound.offset, 0, None, bound.inclusive)

    return ir.TimeRange(fix(time_range.lower), fix(time_range.upper))


def _literal(name: str, value: object, kind: Type) -> ir.Expr:
    def bad(expected: str) -> Exception:
        return error(
            Code.INVALID_PARAMETER,
            f"parameter ${name} must be {expected}, not {value!r}",
        )

    if value is None:
        return ir.Lit(None, kind if kind is not Type.NULL else Type.NULL)
    if kind is Type.TIMESTAMP:
        if isinstance(value, dt.datetime):
            stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            micros = int(stamp.timestamp()) * 1_000_000 + stamp.microsecond
            return ir.Lit(micros * 1_000, Type.TIMESTAMP)
        if isinstance(value, int) and not isinstance(value, bool):
            return ir.Lit(value, Type.TIMESTAMP)
        if isinstance(value, str):
            try:
                return ir.Lit(parse_iso(value), Type.TIMESTAMP)
            except ValueError as exc:
                raise bad(f"an ISO-8601 instant ({exc})") from None
        raise bad("a timestamp")
    if kind is Type.DURATION:
        if isinstance(value, dt.timedelta):
            return ir.Lit(
                (value.days * 86_400 + value.seconds) * 10**9 + value.microseconds * 1000,
                Type.DURATION,
            )
        if isinstance(value, int) and not isinstance(value, bool):
            return ir.Lit(value, Type.DURATION)
        if isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
            return ir.Lit(int(match.group(1)) * DURATION_NANOS[match.group(2)], Type.DURATION)
        raise bad('a duration such as "5m"')
    if kind is Type.REGEX:
        if not isinstance(value, str):
            raise bad("a regex pattern string")
        problems = portable.check(value)
        if problems:
            raise bad(f"a portable regex ({problems[0].message})")
        try:
            re.compile(portable.to_python(value))
        except re.error as exc:
            raise bad(f"a valid regex ({exc})") from None
        return ir.Regex(value)
    if kind is Type.INT:
        if isinstance(value, int) and not isinstance(value, bool):
            return ir.Lit(value, Type.INT)
        raise bad("a whole number")
    if kind is Type.FLOAT:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return ir.Lit(value, Type.FLOAT if isinstance(value, float) else Type.INT)
        raise bad("a number")
    if kind is Type.BOOL:
        if isinstance(value, bool):
            return ir.Lit(value, Type.BOOL)
        raise bad("true or false")
    if kind is Type.STRING:
        if isinstance(value, str):
            return ir.Lit(value, Type.STRING)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return ir.Lit(str(value), Type.STRING)  # `message contains $code` with code=404
        raise bad("a string")
    # NULL: the context did not constrain the type; take the value's own
    if isinstance(value, bool):
        return ir.Lit(value, Type.BOOL)
    if isinstance(value, int):
        return ir.Lit(value, Type.INT)
    if isinstance(value, float):
        return ir.Lit(value, Type.FLOAT)
    if isinstance(value, str):
        return ir.Lit(value, Type.STRING)
    raise bad("a string, number or boolean")
