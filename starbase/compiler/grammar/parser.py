"""Text → AST: the StarQL parser (lark LALR) and its user-facing syntax errors.

Requires: `starql.lark` beside this module. Guarantees: `parse(text)` returns an `ast.Query`
whose nodes carry exact spans, or raises `CompileError` with positioned diagnostics written
in the user's words ("expected an expression after '>='"), never grammar-terminal names and
never any other exception. Literal escapes, duration units and the portable regex subset are
checked here, so later passes receive well-formed literals. The LALR tables are built once
per grammar and kept in the user's cache folder (`cache_file`): building them is most of a
cold start's parsing time; lark checks the grammar's hash and rebuilds when it changed.
"""

from __future__ import annotations

import math
import os
import re
import sys
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer
from lark import __version__ as lark_version
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, VisitError

from starbase.compiler import ast
from starbase.compiler import regex as portable
from starbase.compiler.errors import Code, CompileError, Diagnostic, Span, error
from starbase.compiler.grammar import messages

DURATION_NANOS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3_600 * 1_000_000_000,
    "d": 86_400 * 1_000_000_000,
    "w": 7 * 86_400 * 1_000_000_000,
}
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}
_DURATION = re.compile(r"([0-9]+)([a-z]+)")


MAX_STAGES = 20  # stages after `from` (each is a subquery for DataFusion)
MAX_DEPTH = 32  # levels of operators, calls and parentheses in one expression
INT64_MAX = 2**63 - 1
_EXPRESSIONS = (
    ast.StringLit,
    ast.NumberLit,
    ast.BoolLit,
    ast.NullLit,
    ast.DurationLit,
    ast.RegexLit,
    ast.Param,
    ast.FieldRef,
    ast.Unary,
    ast.Binary,
    ast.InList,
    ast.Call,
)


def parse(text: str) -> ast.Query:
    """Parse a whole query."""
    result = _run(text, "start")
    assert isinstance(result, ast.Query)
    stages = all_stages(result)
    if len(stages) > MAX_STAGES:
        problem = error(
            Code.TOO_COMPLEX,
            f"too many stages: a query has at most {MAX_STAGES} after 'from' "
            "(a join's subquery counts its own)",
            stages[MAX_STAGES].span,
            "split the work into several queries",
        )
        raise _with_source(problem, text)
    _check_depth(result, text)
    return result


def all_stages(query: ast.Query) -> list[ast.Stage]:
    """Every stage of `query`, those of join subqueries included, in written order."""
    out: list[ast.Stage] = []
    pending: list[ast.Stage] = list(reversed(query.stages))
    while pending:
        stage = pending.pop()
        out.append(stage)
        if isinstance(stage, ast.Join):
            pending.extend(reversed(stage.query.stages))
    return out


@lru_cache(maxsize=1024)
def parse_expression(text: str) -> ast.Expr:
    """Parse a lone expression (used by mapping files for derived fields, which every compile
    of a query over the source reads again: kept, as the tree is immutable)."""
    result = _run(text, "expr_only")
    _check_depth(result, text)
    return result  # type: ignore[no-any-return]


def _check_depth(tree: object, text: str) -> None:
    """Refuse expressions nested more than MAX_DEPTH levels (an iterative walk: the tree may
    be far deeper than Python's recursion limit). A chain of `and`s or of `or`s is one level,
    so long chains stay welcome."""
    stack: list[tuple[object, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, tuple):
            stack.extend((child, depth) for child in node)
            continue
        if isinstance(node, Span) or not hasattr(node, "__dataclass_fields__"):
            continue
        if isinstance(node, _EXPRESSIONS):
            depth += 1
            if depth > MAX_DEPTH:
                problem = error(
                    Code.TOO_COMPLEX,
                    f"this expression is nested too deeply (at most {MAX_DEPTH} levels of "
                    "operators, calls and parentheses)",
                    node.span,
                    "compute parts of it in an earlier `extend`",
                )
                raise _with_source(problem, text)
            if isinstance(node, ast.Binary) and node.op in ast.BOOLEAN:
                left = node.left
                chained = isinstance(left, ast.Binary) and left.op == node.op
                stack.append((left, depth - 1 if chained else depth))
                stack.append((node.right, depth))
                continue
        stack.extend((getattr(node, name), depth) for name in node.__dataclass_fields__)


def _run(text: str, start: str) -> Any:
    try:
        return _parser(start).parse(text)
    except VisitError as exc:  # a literal check failed inside the builder
        if isinstance(exc.orig_exc, CompileError):
            raise _with_source(exc.orig_exc, text) from None
        raise
    except CompileError as exc:
        raise _with_source(exc, text) from None
    except UnexpectedCharacters as exc:
        accepts = _accepts_before(text, exc.pos_in_stream or 0, start)
        raise CompileError((messages.describe(exc, text, accepts),), text) from None
    except UnexpectedInput as exc:
        raise CompileError((messages.describe(exc, text),), text) from None


def _accepts_before(text: str, pos: int, start: str) -> set[str] | None:
    """The terminals the parser accepts after `text[:pos]`, or None if that cannot be told."""
    try:
        interactive = _parser(start).parse_interactive(text[:pos])
        interactive.exhaust_lexer()
        return set(interactive.accepts())  # type: ignore[no-untyped-call]
    except (UnexpectedInput, VisitError, CompileError):
        return None


def _with_source(exc: CompileError, text: str) -> CompileError:
    return CompileError(exc.diagnostics, text, exc.origin)


@cache
def _parser(start: str) -> Lark:
    grammar = (Path(__file__).parent / "starql.lark").read_text()
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        start=start,
        maybe_placeholders=True,
        transformer=_Builder(),
        cache=cache_file(start) or False,
    )


def cache_file(start: str) -> str | None:
    """Where the parser for `start` is cached ($XDG_CACHE_HOME/starbase, else ~/.cache/…);
    None when that folder cannot be written (the tables are then built every time)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "starbase"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return str(folder / f"starql-{start}-lark{lark_version}-py{python}.lark")


def _tspan(token: Token) -> Span:
    return Span(token.start_pos or 0, token.end_pos or 0, token.line or 1, token.column or 1)


def _span_of(node: Any) -> Span:
    return _tspan(node) if isinstance(node, Token) else node.span


def _cover(children: list[Any]) -> Span:
    """The span from the first to the last child present (tokens or AST nodes)."""
    present = [c for c in children if c is not None]
    first, last = _span_of(present[0]), _span_of(present[-1])
    return Span(first.start, last.end, first.line, first.column)


def _shift(span: Span, offset: int, length: int) -> Span:
    """A sub-span `length` characters long, `offset` characters into a one-line token."""
    return Span(span.start + offset, span.start + offset + length, span.line, span.column + offset)


def unescape_string(token: Token) -> str:
    """The value of a string literal; unknown escapes are compile errors at their position."""
    raw = str(token)[1:-1]
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = raw[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", raw[i + 2 : i + 6]):
            out.append(chr(int(raw[i + 2 : i + 6], 16)))
            i += 6
        else:
            bad = raw[i : i + 2] if nxt != "u" else raw[i : i + 6]
            raise error(
                Code.INVALID_ESCAPE,
                f"invalid escape '{bad}' in string",
                _shift(_tspan(token), 1 + i, len(bad)),
                "valid escapes: \\\\ \\\" \\' \\n \\t \\uXXXX",
            )
    return "".join(out)


def _name_of(token: Token) -> str:
    text = str(token)
    return text[1:-1] if token.type == "QUOTED_NAME" else text


class _Builder(Transformer[Token, Any]):
    """Builds AST nodes straight from grammar rules, inline during the LALR parse.

    Spans come from the first and last child: keywords and closing parentheses are named
    terminals in the grammar precisely so that they reach these callbacks.
    """

    # ---- query and stages
    def start(self, c: list[Any]) -> ast.Query:
        return ast.Query(c[0], tuple(c[1:]), _cover(c))

    def expr_only(self, c: list[Any]) -> ast.Expr:
        return c[0]  # type: ignore[no-any-return]

    def from_star(self, c: list[Any]) -> ast.From:
        return ast.From((), True, _cover(c))

    def from_sources(self, c: list[Any]) -> ast.From:
        return ast.From(tuple(c[1:]), False, _cover(c))

    def source(self, c: list[Token]) -> ast.SourceRef:
        return ast.SourceRef(_name_of(c[0]), _tspan(c[0]))

    def where_stage(self, c: list[Any]) -> ast.Where:
        return ast.Where(c[1], _cover(c))

    def since_stage(self, c: list[Token]) -> ast.Since:
        token = c[1]
        value: ast.DurationLit | ast.Param
        if token.type == "PARAM":
            value = ast.Param(str(token)[1:], _tspan(token))
        else:
            value = _duration(token)
        return ast.Since(value, _cover(c))

    def between_stage(self, c: list[Any]) -> ast.Between:
        return ast.Between(c[1], c[2], _cover(c))

    def parse_glob(self, c: list[Any]) -> ast.ParseGlob:
        return ast.ParseGlob(c[1], c[2], tuple(c[3:]), _cover(c))

    def parse_regex(self, c: list[Any]) -> ast.ParseRegex:
        return ast.ParseRegex(c[1], c[2], _cover(c))

    def extend_stage(self, c: list[Any]) -> ast.Extend:
        return ast.Extend(tuple(c[1:]), _cover(c))

    def assignment(self, c: list[Any]) -> ast.Assignment:
        return ast.Assignment(c[0], c[1], _cover(c))

    def fields_stage(self, c: list[Any]) -> ast.Fields:
        return ast.Fields(tuple(c[1:]), _cover(c))

    def stats_stage(self, c: list[Any]) -> ast.Stats:
        items = c[1:]
        cut = next((i for i, x in enumerate(items) if isinstance(x, Token) or x is None), None)
        if cut is None:
            return ast.Stats(tuple(items), (), _cover(c))
        by = tuple(x for x in items[cut + 1 :] if x is not None)
        return ast.Stats(tuple(items[:cut]), by, _cover(c))

    def sort_stage(self, c: list[Any]) -> ast.Sort:
        return ast.Sort(tuple(c[1:]), _cover(c))

    def sort_key(self, c: list[Any]) -> ast.SortKey:
        direction: Token | None = c[1]
        return ast.SortKey(c[0], direction is not None and direction.type == "DESC", _cover(c))

    def limit_stage(self, c: list[Token]) -> ast.Limit:
        token = c[1]
        count: ast.NumberLit | ast.Param
        if token.type == "PARAM":
            count = ast.Param(str(token)[1:], _tspan(token))
        else:
            value = _integer(str(token), token)
            if value > INT64_MAX:
                raise error(
                    Code.INVALID_LIMIT,
                    f"limit must be at most {INT64_MAX}",
                    _tspan(token),
                )
            count = ast.NumberLit(value, _tspan(token))
        return ast.Limit(count, _cover(c))

    def dedup_stage(self, c: list[Any]) -> ast.Dedup:
        return ast.Dedup(tuple(c[1:]), _cover(c))

    def patterns_stage(self, c: list[Any]) -> ast.Patterns:
        return ast.Patterns(c[1], _cover(c))

    def parse_structured(self, c: list[Any]) -> ast.ParseStructured:
        return ast.ParseStructured(c[1], str(c[2]), c[3], _cover(c))

    def subquery(self, c: list[Any]) -> ast.Query:
        return ast.Query(c[0], tuple(c[1:]), _cover(c))

    def join_stage(self, c: list[Any]) -> ast.Join:
        options = tuple(x for x in c[1:] if isinstance(x, ast.JoinOption))
        query = next(x for x in c if isinstance(x, ast.Query))
        keys = tuple(x for x in c if isinstance(x, ast.JoinKey))
        return ast.Join(options, query, keys, _cover(c))

    def join_option(self, c: list[Any]) -> ast.JoinOption:
        return ast.JoinOption(c[0], c[1], _cover(c))

    def lookup_stage(self, c: list[Any]) -> ast.Lookup:
        return ast.Lookup(c[1], tuple(c[3:]), _cover(c))

    def join_key(self, c: list[Any]) -> ast.JoinKey:
        right = c[1] if c[1] is not None else c[0]
        return ast.JoinKey(c[0], right, _cover(c))

    def item(self, c: list[Any]) -> ast.Item:
        return ast.Item(c[0], c[1], _cover(c))

    def name(self, c: list[Token]) -> ast.Name:
        return ast.Name(_name_of(c[0]), _tspan(c[0]))

    # ---- expressions
    def or_(self, c: list[Any]) -> ast.Binary:
        return ast.Binary("or", c[0], c[1], _cover(c))

    def and_(self, c: list[Any]) -> ast.Binary:
        return ast.Binary("and", c[0], c[1], _cover(c))

    def not_(self, c: list[Any]) -> ast.Unary:
        return ast.Unary("not", c[1], _cover(c))

    def neg(self, c: list[Any]) -> ast.Unary:
        return ast.Unary("-", c[1], _cover(c))

    def binary(self, c: list[Any]) -> ast.Binary:
        return ast.Binary(str(c[1]), c[0], c[2], _cover(c))

    def compare_op(self, c: list[Token]) -> Token:
        return c[0]

    add_op = compare_op
    mul_op = compare_op

    def in_list(self, c: list[Any]) -> ast.InList:
        return ast.InList(c[0], tuple(c[1:-1]), False, _cover(c))

    def not_in_list(self, c: list[Any]) -> ast.InList:
        return ast.InList(c[0], tuple(c[2:-1]), True, _cover(c))

    def call(self, c: list[Any]) -> ast.Call:
        name: Token = c[0]
        args = tuple(x for x in c[1:-1] if x is not None)
        return ast.Call(str(name).lower(), args, _cover(c), _tspan(name))

    def field_path(self, c: list[Token]) -> ast.FieldRef:
        return ast.FieldRef(tuple(_name_of(t) for t in c), _cover(c))

    parse_field = field_path

    def string(self, c: list[Token]) -> ast.StringLit:
        return ast.StringLit(unescape_string(c[0]), _tspan(c[0]))

    def number(self, c: list[Token]) -> ast.NumberLit:
        token = c[0]
        if token.type == "INT":
            integer = _integer(str(token), token)
            if integer > INT64_MAX:
                raise error(
                    Code.INVALID_NUMBER,
                    f"this integer is too large (at most {INT64_MAX}, a 64-bit integer)",
                    _tspan(token),
                    "write it as a decimal number (e.g. 1.5e20) if it need not be exact",
                )
            return ast.NumberLit(integer, _tspan(token))
        value = float(token)
        if math.isinf(value):
            raise error(Code.INVALID_NUMBER, "this number is too large", _tspan(token))
        return ast.NumberLit(value, _tspan(token))

    def duration(self, c: list[Token]) -> ast.DurationLit:
        return _duration(c[0])

    def regex(self, c: list[Token]) -> ast.RegexLit:
        return _regex(c[0])

    def param(self, c: list[Token]) -> ast.Param:
        return ast.Param(str(c[0])[1:], _tspan(c[0]))

    def true(self, c: list[Token]) -> ast.BoolLit:
        return ast.BoolLit(True, _tspan(c[0]))

    def false(self, c: list[Token]) -> ast.BoolLit:
        return ast.BoolLit(False, _tspan(c[0]))

    def null(self, c: list[Token]) -> ast.NullLit:
        return ast.NullLit(_tspan(c[0]))


def _duration(token: Token) -> ast.DurationLit:
    match = _DURATION.fullmatch(str(token))
    assert match is not None
    nanos = _integer(match.group(1), token) * DURATION_NANOS[match.group(2)]
    return ast.DurationLit(nanos, str(token), _tspan(token))


def _integer(digits: str, token: Token) -> int:
    try:
        return int(digits)
    except ValueError:  # Python refuses to convert more than 4300 digits
        raise error(Code.INVALID_NUMBER, "this number has too many digits", _tspan(token)) from None


def _regex(token: Token) -> ast.RegexLit:
    text = str(token)
    close = text.rindex("/")
    body, flags = text[1:close], text[close + 1 :]
    span = _tspan(token)
    for i, flag in enumerate(flags):
        if flag not in portable.FLAGS or flag in flags[:i]:
            problem = "unknown regex flag" if flag not in portable.FLAGS else "repeated regex flag"
            raise error(
                Code.INVALID_REGEX_FLAG,
                f"{problem} '{flag}'",
                _shift(span, close + 1 + i, 1),
                "flags are i (ignore case), m (multi-line) and s (dot matches newline)",
            )
    problems = portable.check(body)
    if problems:
        raise CompileError(
            tuple(
                Diagnostic(
                    Code.NON_PORTABLE_REGEX,
                    p.message,
                    _shift(span, 1 + p.offset, p.length),
                    (p.hint,),
                )
                for p in problems
            )
        )
    pattern = portable.unescape_slashes(body)
    try:
        re.compile(portable.to_python(pattern))
    except re.error as exc:
        where = portable.body_offset(body, exc.pos or 0)
        raise error(
            Code.INVALID_REGEX,
            f"invalid regex: {exc.msg}",
            _shift(span, 1 + min(where, len(body) - 1), 1),
        ) from None
    return ast.RegexLit(pattern, "".join(sorted(flags)), span)
