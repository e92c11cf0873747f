"""AST → canonical StarQL text.

Requires: an `ast.Query` or `ast.Expr`. Guarantees: `parse(format_query(q)) == q` for every
tree the parser can produce (spans aside); parentheses only where precedence needs them;
strings in double quotes; names backticked when they are not plain identifiers or collide
with keywords. `format_expr` is also the naming rule of contract §5 for unnamed columns.
"""

from __future__ import annotations

import re

from starbase.compiler import ast

STAGE_KEYWORDS = (
    "where",
    "since",
    "between",
    "parse",
    "extend",
    "fields",
    "stats",
    "sort",
    "limit",
    "dedup",
    "join",
    "lookup",
    "patterns",
)
KEYWORDS = frozenset(
    (*STAGE_KEYWORDS, "from", "not", "and", "or", "in", "true", "false", "null", "as", "by", "on")
) | frozenset(("asc", "desc", *ast.STRING_TESTS))
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "not": 3,
    **{op: 4 for op in (*ast.COMPARISONS, *ast.MATCHES, *ast.STRING_TESTS)},
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
}
_NEG, _ATOM = 7, 8
_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}


def format_query(query: ast.Query, *, explicit: bool = False) -> str:
    """The canonical text of a whole query: one stage a line, `| ` before each stage.

    With `explicit`, every compound sub-expression is parenthesized (shows the parse tree)."""
    stages = (format_stage(s, explicit=explicit) for s in query.stages)
    return "\n| ".join([_from(query.source), *stages])


def format_stage(stage: ast.Stage, *, explicit: bool = False) -> str:
    def format_expr(expr: ast.Expr) -> str:
        return _Printer(explicit).expr(expr)

    def _item(item: ast.Item) -> str:
        text = format_expr(item.expr)
        return f"{text} as {format_name(item.alias.value)}" if item.alias else text

    match stage:
        case ast.Where(condition):
            return f"where {format_expr(condition)}"
        case ast.Since(duration):
            return f"since {format_expr(duration)}"
        case ast.Between(start, end):
            return f"between {format_expr(start)} and {format_expr(end)}"
        case ast.ParseGlob(field, pattern, names):
            captures = ", ".join(format_name(n.value) for n in names)
            return f"parse {format_expr(field)} {format_expr(pattern)} as {captures}"
        case ast.ParseRegex(field, regex):
            return f"parse {format_expr(field)} {format_expr(regex)}"
        case ast.Extend(assignments):
            parts = (f"{format_name(a.name.value)} = {format_expr(a.expr)}" for a in assignments)
            return "extend " + ", ".join(parts)
        case ast.Fields(items):
            return "fields " + ", ".join(_item(i) for i in items)
        case ast.Stats(aggregates, by):
            text = "stats " + ", ".join(_item(i) for i in aggregates)
            return text + (" by " + ", ".join(_item(i) for i in by) if by else "")
        case ast.Sort(keys):
            return "sort " + ", ".join(
                format_expr(k.expr) + (" desc" if k.descending else "") for k in keys
            )
        case ast.Limit(count):
            return f"limit {format_expr(count)}"
        case ast.Dedup(fields):
            return "dedup " + ", ".join(format_expr(f) for f in fields)
        case ast.Patterns(field):
            return "patterns " + format_expr(field)
        case ast.ParseStructured(field, kind, name):
            return f"parse {format_expr(field)} {kind} as {format_name(name.value)}"
        case ast.Join(options, query, keys):
            inner = " | ".join(
                [_from(query.source), *(format_stage(s, explicit=explicit) for s in query.stages)]
            )
            written = "".join(f"{_option(o)} " for o in options)
            return f"join {written}({inner}) on {_keys(keys)}"
        case ast.Lookup(table, keys):
            return f"lookup {format_name(table.value)} on {_keys(keys)}"
    raise TypeError(f"not a stage: {stage!r}")


def _option(option: ast.JoinOption) -> str:
    value = option.value
    shown = format_name(value.value) if isinstance(value, ast.Name) else str(value.value)
    return f"{format_name(option.name.value)}={shown}"


def _keys(keys: tuple[ast.JoinKey, ...]) -> str:
    return ", ".join(
        format_name(k.left.value)
        if k.left.value == k.right.value
        else f"{format_name(k.left.value)} == {format_name(k.right.value)}"
        for k in keys
    )


def format_expr(expr: ast.Expr) -> str:
    """Canonical text of an expression (also the default name of an unnamed column)."""
    return _Printer(False).expr(expr)


def format_name(name: str) -> str:
    """`name` as StarQL writes it: bare when it is a plain, non-keyword identifier."""
    if _IDENTIFIER.fullmatch(name) and name.lower() not in KEYWORDS:
        return name
    return f"`{name}`"


def format_string(value: str) -> str:
    out = []
    for ch in value:
        if ch in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[ch])
        elif ch < " " or ch == "\x7f" or ch in "\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def format_regex(pattern: str, flags: str) -> str:
    escaped = re.sub(r"\\.|/", lambda m: "\\/" if m.group(0) == "/" else m.group(0), pattern)
    return f"/{escaped}/{flags}"


def _from(stage: ast.From) -> str:
    if stage.star:
        return "from *"
    return "from " + ", ".join(format_name(s.name) for s in stage.sources)


def _precedence(expr: ast.Expr) -> int:
    match expr:
        case ast.Binary(op):
            return _PRECEDENCE[op]
        case ast.InList():
            return 4
        case ast.Unary(op):
            return 3 if op == "not" else _NEG
    return _ATOM


class _Printer:
    """Prints expressions; `explicit` parenthesizes every compound sub-expression."""

    def __init__(self, explicit: bool) -> None:
        self.explicit = explicit

    def wrap(self, expr: ast.Expr, parenthesize: bool) -> str:
        text = self.expr(expr)
        compound = _precedence(expr) < _ATOM
        return f"({text})" if parenthesize or (self.explicit and compound) else text

    def expr(self, expr: ast.Expr) -> str:
        return self._expr(expr)

    def _expr(self, expr: ast.Expr) -> str:
        _wrap, _expr = self.wrap, self.expr
        match expr:
            case ast.StringLit(value):
                return format_string(value)
            case ast.NumberLit(value):
                return repr(value) if isinstance(value, float) else str(value)
            case ast.BoolLit(value):
                return "true" if value else "false"
            case ast.NullLit():
                return "null"
            case ast.DurationLit(_, text):
                return text
            case ast.RegexLit(pattern, flags):
                return format_regex(pattern, flags)
            case ast.Param(name):
                return f"${name}"
            case ast.FieldRef(segments):
                return ".".join(format_name(s) for s in segments)
            case ast.Call(name, args):
                return f"{name}({', '.join(_expr(a) for a in args)})"
            case ast.Unary("not", operand):
                return "not " + _wrap(operand, _precedence(operand) < 3)
            case ast.Unary(_, operand):
                return "-" + _wrap(operand, _precedence(operand) < _NEG)
            case ast.InList(operand, items, negated):
                keyword = "not in" if negated else "in"
                inner = ", ".join(_expr(i) for i in items)
                return f"{_wrap(operand, _precedence(operand) <= 4)} {keyword} ({inner})"
            case ast.Binary(op) if op in ast.BOOLEAN:
                return self._chain(expr)
            case ast.Binary(op, left, right):
                level = _PRECEDENCE[op]
                if level == 4:  # comparisons do not chain
                    lhs, rhs = (
                        _wrap(left, _precedence(left) <= 4),
                        _wrap(right, _precedence(right) <= 4),
                    )
                    return f"{lhs} {op} {rhs}"
                return (
                    f"{_wrap(left, _precedence(left) < level)} {op} "
                    f"{_wrap(right, _precedence(right) <= level)}"
                )
        raise TypeError(f"not an expression: {expr!r}")

    def _chain(self, expr: ast.Binary) -> str:
        """`a or b or c …`, nested to the left by the parser, printed without recursion (a
        chain may be far longer than Python's recursion limit) exactly as nesting would."""
        operands: list[ast.Expr] = []
        node: ast.Expr = expr
        while isinstance(node, ast.Binary) and node.op == expr.op:
            operands.append(node.right)
            node = node.left
        level = _PRECEDENCE[expr.op]
        text = self.wrap(node, _precedence(node) < level)
        for i, operand in enumerate(reversed(operands)):
            text = f"{text} {expr.op} {self.wrap(operand, _precedence(operand) <= level)}"
            if self.explicit and i < len(operands) - 1:
                text = f"({text})"
        return text
