"""Hypothesis strategies for StarQL: syntax trees, semantically valid queries, mutated text.

- `queries()` builds any `ast.Query` the parser can produce (every stage, expression form and
  literal kind), bounded in depth and size: the input of the formatter round trip.
- `valid_queries()` builds queries over the meta-model (contract §4) that compile through the
  whole pipeline: each stage only names fields in scope at that point, with the right types.
- `mutated_texts()` damages valid query text (characters and tokens deleted, inserted,
  replaced): the input of the "never anything but a CompileError" property.

Trees are built directly (never by parsing), so the parser is tested against them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hypothesis import strategies as st

from starbase.compiler import ast
from starbase.compiler import regex as portable
from starbase.compiler.format import KEYWORDS, format_expr, format_query
from starbase.compiler.grammar.parser import DURATION_NANOS
from starbase.compiler.types import Type
from starbase.config import Config, SourceConfig
from starbase.mappings import LEVELS, UNIVERSAL_FIELDS

# ---------------------------------------------------------------- names

_IDENTIFIER = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True)
_QUOTED_NAME_CHARS = st.characters(
    blacklist_characters="`\n", blacklist_categories=("Cs",), max_codepoint=0x1F600
)
# A name as the user may write it: a plain identifier, a keyword (then backticked), or any
# text a backticked name can hold (spaces, dots, dashes, unicode).
names = st.one_of(
    _IDENTIFIER,
    st.sampled_from(sorted(KEYWORDS)),
    st.sampled_from(["user-agent", "http.status_code", "a b", "über", "@timestamp", "1st", " "]),
    st.text(_QUOTED_NAME_CHARS, min_size=1, max_size=6),
)
# Call names: the parser lower-cases them, and `not`/`true`/`false`/`null` before `(` are
# operators/literals, never calls.
_CALL_NAMES = st.one_of(
    st.sampled_from(
        ["count", "sum", "avg", "pct", "lower", "concat", "if", "bin", "now", "exists", "coalesce"]
    ),
    _IDENTIFIER.map(str.lower).filter(lambda n: n not in KEYWORDS),
)


def field_refs(max_segments: int = 3) -> st.SearchStrategy[ast.FieldRef]:
    return st.lists(names, min_size=1, max_size=max_segments).map(lambda s: ast.FieldRef(tuple(s)))


# ---------------------------------------------------------------- literals

_SPECIAL_CHARS = st.sampled_from(
    ['"', "'", "\\", "\n", "\t", "\r", "\x00", "\x7f", "\u2028", "é", "😀", "/", "`", "#", "|"]
)
strings = st.text(
    st.one_of(st.characters(blacklist_categories=("Cs",)), _SPECIAL_CHARS), max_size=12
).map(ast.StringLit)

INT64_MAX = 2**63 - 1  # a larger integer literal is a compile error (E107)
integers = st.one_of(st.integers(0, 1000), st.integers(0, INT64_MAX)).map(ast.NumberLit)
# operands of generated arithmetic in valid queries: a product of two stays within 64 bits
_small_integers = st.integers(0, 2**31).map(ast.NumberLit)
floats = (
    st.one_of(
        st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
        st.floats(min_value=0, allow_nan=False, allow_infinity=False),  # exponents both ways
        st.sampled_from([1e-7, 2e3, 1.5e300, 5e-324, 0.1, 1.0]),
    )
    .filter(lambda x: str(x)[0] != "-")  # -0.0: a negative number is unary minus
    .map(ast.NumberLit)
)


@st.composite
def durations(draw: st.DrawFn, positive: bool = False) -> ast.DurationLit:
    count = draw(st.integers(1 if positive else 0, 10_000))
    unit = draw(st.sampled_from(sorted(DURATION_NANOS)))
    zeros = draw(st.sampled_from(["", "", "", "0", "00"]))
    return ast.DurationLit(count * DURATION_NANOS[unit], f"{zeros}{count}{unit}")


# Regex building blocks: each is a whole token sequence, so any concatenation tokenizes the
# same way. No `\/` (the parser turns it into `/`) and no raw newline (regexes are one line).
_REGEX_PIECES = st.sampled_from(
    [
        "a",
        "Z",
        "0",
        " ",
        ".",
        "/",
        "//",
        "\\\\",
        "\\\\/",
        "\\d",
        "\\w+",
        "\\s*",
        "\\.",
        "\\n",
        "\\t",
        "[a-z]",
        "[^/]",
        "[/\\]]",
        "(x|y)",
        "(?:ab)?",
        "(?<user>\\w+)",
        "(?<n2>/)",
        "é",
        "#",
        "'",
        '"',
        "`",
        "\\$",
        "{",
        "\\|",
        "x{2,3}",
        "a*?",
        "^",
        "$",
        "|",
    ]
)


def _valid_pattern(pattern: str) -> bool:
    if portable.check(pattern):
        return False
    try:
        re.compile(portable.to_python(pattern))
    except re.error:
        return False
    return True


regex_patterns = st.lists(_REGEX_PIECES, min_size=1, max_size=5).map("".join).filter(_valid_pattern)
regex_flags = st.sets(st.sampled_from("ims")).map(lambda s: "".join(sorted(s)))
regexes = st.builds(ast.RegexLit, regex_patterns, regex_flags)
params = _IDENTIFIER.map(ast.Param)

literals = st.one_of(
    strings,
    integers,
    floats,
    st.booleans().map(ast.BoolLit),
    st.just(ast.NullLit()),
    durations(),
    regexes,
)

# ---------------------------------------------------------------- expressions

BINARY_OPS = (
    *ast.BOOLEAN,
    *ast.COMPARISONS,
    *ast.MATCHES,
    *ast.STRING_TESTS,
    *ast.ARITHMETIC,
)


def _compound(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    return st.one_of(
        st.builds(ast.Unary, st.sampled_from(["-", "not"]), children),
        st.builds(ast.Binary, st.sampled_from(BINARY_OPS), children, children),
        st.builds(
            ast.InList,
            children,
            st.lists(children, min_size=1, max_size=3).map(tuple),
            st.booleans(),
        ),
        st.builds(ast.Call, _CALL_NAMES, st.lists(children, max_size=3).map(tuple)),
    )


def expressions(max_leaves: int = 8) -> st.SearchStrategy[ast.Expr]:
    leaves = st.one_of(literals, params, field_refs())
    return st.recursive(leaves, _compound, max_leaves=max_leaves)


# ---------------------------------------------------------------- stages

_names = names.map(ast.Name)


def _items(exprs: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[tuple[ast.Item, ...]]:
    item = st.builds(ast.Item, exprs, st.none() | _names)
    return st.lists(item, min_size=1, max_size=3).map(tuple)


def stages(exprs: st.SearchStrategy[ast.Expr] | None = None) -> st.SearchStrategy[ast.Stage]:
    """Any stage, a `join` (its subquery of other stages) and a `lookup` included."""
    e = exprs if exprs is not None else expressions()
    keys = st.lists(
        st.builds(
            lambda a, b, same: ast.JoinKey(a, a if same else b), _names, _names, st.booleans()
        ),
        min_size=1,
        max_size=3,
    ).map(tuple)
    options = st.lists(
        st.builds(ast.JoinOption, _names, _names | st.integers(0, 10**7).map(ast.NumberLit)),
        max_size=2,
    ).map(tuple)
    subquery = st.builds(ast.Query, sources, st.lists(_row_stages(e), max_size=2).map(tuple))
    return st.one_of(
        _row_stages(e),
        st.builds(ast.Join, options, subquery, keys),
        st.builds(ast.Lookup, _names, keys),
    )


def _row_stages(e: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Stage]:
    return st.one_of(
        st.builds(ast.Where, e),
        st.builds(ast.Since, durations() | params),
        st.builds(ast.Between, strings | params, strings | params),
        st.builds(
            ast.ParseGlob,
            field_refs(),
            strings,
            st.lists(_names, min_size=1, max_size=3).map(tuple),
        ),
        st.builds(ast.ParseRegex, field_refs(), regexes),
        st.builds(
            ast.Extend,
            st.lists(st.builds(ast.Assignment, _names, e), min_size=1, max_size=3).map(tuple),
        ),
        st.builds(ast.Fields, _items(e)),
        st.builds(ast.Stats, _items(e), _items(e) | st.just(())),
        st.builds(
            ast.Sort,
            st.lists(st.builds(ast.SortKey, e, st.booleans()), min_size=1, max_size=3).map(tuple),
        ),
        st.builds(ast.Limit, st.integers(0, 10**12).map(ast.NumberLit) | params),
        st.builds(ast.Dedup, st.lists(field_refs(), min_size=1, max_size=3).map(tuple)),
    )


sources = st.one_of(
    st.just(ast.From((), star=True)),
    st.lists(names.map(ast.SourceRef), min_size=1, max_size=3).map(lambda s: ast.From(tuple(s))),
)


def queries(max_stages: int = 5, max_leaves: int = 8) -> st.SearchStrategy[ast.Query]:
    """Any query the parser can produce (not necessarily one that resolves)."""
    return st.builds(
        ast.Query,
        sources,
        st.lists(stages(expressions(max_leaves)), max_size=max_stages).map(tuple),
    )


# ---------------------------------------------------------------- valid queries

# Two sources of different formats: `otel` (the default) and `lambda` (CloudWatch).
CONFIG = Config(
    (
        SourceConfig("otel", "otel", "/nonexistent/starbase-data"),
        SourceConfig(
            "lambda", "cloudwatch", log_groups=("/aws/lambda/checkout",), region="us-east-1"
        ),
    )
)
_UNIVERSAL = {f.name: Type(f.type.value) for f in UNIVERSAL_FIELDS}
_KEYS = ["http.status_code", "duration_ms", "user-agent", "k", "error.type", "tenant"]
_FRESH = ["n", "total", "bucket", "user", "status", "my field", "limit", "by", "req-id", "x.y"]
_ISO = st.sampled_from(
    [
        "2026-01-01",
        "2026-11-27T05:00",
        "2026-11-27T05:00:00Z",
        "2026-11-27T05:00:00.123456789+02:00",
        "2026-11-27 06:30:00-05:00",
        "2027-02-28T23:59:59z",
    ]
)
_LEVEL_NAMES = st.sampled_from(sorted(LEVELS)).flatmap(
    lambda n: st.sampled_from([n, n.upper(), n.capitalize()])
)
_SAFE_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="*"), max_size=8
)


@dataclass
class Scope:
    """The columns in scope while a valid query is being built, and their types."""

    columns: dict[str, Type] = field(default_factory=lambda: dict(_UNIVERSAL))
    counter: int = 0
    used: set[str] = field(default_factory=set)  # every fresh name handed out so far
    # `lambda` (a CloudWatch source, fetched once per query) is read: never on a join's side too
    reads_lambda: bool = True

    def of(self, *kinds: Type) -> list[str]:
        return [n for n, t in self.columns.items() if t in kinds]

    def fresh(self, draw: st.DrawFn) -> str:
        self.counter += 1
        base = draw(st.sampled_from(_FRESH))
        name = base
        while name in self.columns or name in self.used:
            self.counter += 1
            name = f"{base}{self.counter}"
        self.used.add(name)
        return name


def _ref(name: str) -> ast.FieldRef:
    return ast.FieldRef((name,))


@st.composite
def _typed_field(draw: st.DrawFn, scope: Scope, *kinds: Type) -> ast.FieldRef | None:
    """A field of one of `kinds` (a map key counts as a string), or None when there is none."""
    options: list[ast.FieldRef] = [_ref(n) for n in scope.of(*kinds)]
    if Type.STRING in kinds:
        for m in scope.of(Type.MAP):
            options.append(ast.FieldRef((m, *draw(st.sampled_from(_KEYS)).split("."))))
    return draw(st.sampled_from(options)) if options else None


def _string_expr(draw: st.DrawFn, scope: Scope, depth: int = 1) -> ast.Expr:
    ref = draw(_typed_field(scope, Type.STRING))
    if ref is None or draw(st.integers(0, 5)) == 0:
        return ast.StringLit(draw(_SAFE_TEXT))
    if depth <= 0:
        return ref
    choice = draw(st.integers(0, 7))
    if choice == 1:
        return ast.Call(draw(st.sampled_from(["lower", "upper", "trim"])), (ref,))
    if choice == 2:
        return ast.Call("concat", (ref, ast.StringLit("-"), _string_expr(draw, scope, 0)))
    if choice == 3:
        return ast.Call("substr", (ref, ast.NumberLit(0), ast.NumberLit(3)))
    if choice == 4:
        return ast.Call("coalesce", (ref, ast.StringLit("none")))
    if choice == 5:
        return ast.Call("replace", (ref, ast.StringLit("a"), ast.StringLit("b")))
    return ref


def _number_expr(draw: st.DrawFn, scope: Scope, depth: int = 1) -> ast.Expr:
    ref = draw(_typed_field(scope, Type.INT, Type.FLOAT))
    if ref is not None and ref.dotted == "severity":  # compares only with levels: see below
        ref = None
    choice = draw(st.integers(0, 8))
    if choice == 0 or (ref is None and choice < 4):
        return draw(_small_integers | floats)
    if choice in (1, 2, 3) and ref is not None:
        return ref
    if choice == 4:
        text = draw(_typed_field(scope, Type.STRING))
        if text is not None:
            return ast.Call(draw(st.sampled_from(["length", "tonumber"])), (text,))
    if depth > 0 and choice == 5:
        op = draw(st.sampled_from(ast.ARITHMETIC))
        return ast.Binary(op, _number_expr(draw, scope, depth - 1), _number_expr(draw, scope, 0))
    if depth > 0 and choice == 6:
        return ast.Unary("-", _number_expr(draw, scope, 0))
    if depth > 0 and choice == 7:
        name = draw(st.sampled_from(["abs", "round", "floor", "ceil"]))
        return ast.Call(name, (_number_expr(draw, scope, 0),))
    return ref if ref is not None else ast.NumberLit(draw(st.integers(0, 100)))


def _comparison(draw: st.DrawFn, scope: Scope, search: bool) -> ast.Expr:
    kinds = ["string", "number", "match", "test", "in", "bool", "param"]
    if scope.columns.get("severity") is Type.INT:
        kinds += ["severity", "severity"]
    if scope.of(Type.TIMESTAMP):
        kinds += ["time"]
    if scope.of(Type.MAP):
        kinds += ["attribute"]
    if search and scope.columns.get("message") is Type.STRING:
        kinds += ["search"]
    if scope.of(Type.STRING, Type.INT, Type.FLOAT, Type.TIMESTAMP, Type.MAP):
        kinds += ["exists"]
    kind = draw(st.sampled_from(kinds))
    op = draw(st.sampled_from(ast.COMPARISONS))
    if kind == "string":
        return ast.Binary(op, _string_expr(draw, scope), ast.StringLit(draw(_SAFE_TEXT)))
    if kind == "number":
        return ast.Binary(op, _number_expr(draw, scope), _number_expr(draw, scope, 0))
    if kind == "match":
        regex = draw(regexes) if draw(st.booleans()) else ast.StringLit("time(out|d out)")
        return ast.Binary(draw(st.sampled_from(ast.MATCHES)), _string_expr(draw, scope), regex)
    if kind == "test":
        test = draw(st.sampled_from(ast.STRING_TESTS))
        return ast.Binary(test, _string_expr(draw, scope), ast.StringLit(draw(_SAFE_TEXT)))
    if kind == "in":
        values = draw(st.lists(_SAFE_TEXT.map(ast.StringLit), min_size=1, max_size=3))
        return ast.InList(_string_expr(draw, scope), tuple(values), draw(st.booleans()))
    if kind == "bool":
        return ast.BoolLit(draw(st.booleans()))
    if kind == "param":
        subject = draw(_typed_field(scope, Type.STRING))
        if subject is None:
            return ast.BoolLit(True)
        return ast.Binary(op, subject, ast.Param(draw(_IDENTIFIER)))
    if kind == "severity":
        if draw(st.booleans()):
            value: ast.Expr = ast.StringLit(draw(_LEVEL_NAMES))
        else:
            value = ast.NumberLit(draw(st.integers(1, 24)))
        if draw(st.integers(0, 3)) == 0:
            levels = draw(st.lists(_LEVEL_NAMES.map(ast.StringLit), min_size=1, max_size=3))
            return ast.InList(_ref("severity"), tuple(levels), draw(st.booleans()))
        if draw(st.booleans()):
            return ast.Binary(op, value, _ref("severity"))  # the literal may stand left
        return ast.Binary(op, _ref("severity"), value)
    if kind == "time":
        stamp = _ref(draw(st.sampled_from(scope.of(Type.TIMESTAMP))))
        if draw(st.booleans()):
            return ast.Binary(op, stamp, ast.StringLit(draw(_ISO)))
        ago = ast.Binary("-", ast.Call("now", ()), draw(durations()))
        return ast.Binary(op, stamp, ago)
    if kind == "attribute":  # a string attribute compared with a number: cast
        attr = draw(_typed_field(scope, Type.STRING))
        assert attr is not None
        return ast.Binary(op, attr, ast.NumberLit(draw(st.integers(0, 600))))
    if kind == "search":
        return draw(st.one_of(_SAFE_TEXT.map(ast.StringLit), regexes))
    ref = draw(_typed_field(scope, Type.STRING, Type.INT, Type.FLOAT, Type.TIMESTAMP, Type.MAP))
    assert ref is not None
    return ast.Call("exists", (ref,))


def _condition(draw: st.DrawFn, scope: Scope, depth: int = 2, search: bool = False) -> ast.Expr:
    """A condition; with `search`, bare strings and regexes (searching `message`) too."""
    choice = draw(st.integers(0, 5)) if depth > 0 else 0
    if choice in (0, 1, 2):
        return _comparison(draw, scope, search)
    if choice == 3:
        return ast.Unary("not", _condition(draw, scope, depth - 1, search))
    op = "and" if choice == 4 else "or"
    left = _condition(draw, scope, depth - 1, search)
    return ast.Binary(op, left, _condition(draw, scope, depth - 1, search))


def _scalar(draw: st.DrawFn, scope: Scope) -> tuple[ast.Expr, Type]:
    """A scalar expression with its type, for extend and fields."""
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return _string_expr(draw, scope), Type.STRING
    if choice == 1:
        expr = _number_expr(draw, scope)
        return expr, Type.FLOAT  # int or float: only its numeric-ness matters below
    if choice == 2:
        cond = _condition(draw, scope, 1)
        return ast.Call("if", (cond, ast.StringLit("y"), ast.StringLit("n"))), Type.STRING
    if choice == 3:
        return _condition(draw, scope, 1), Type.BOOL
    return ast.Call("tostring", (_number_expr(draw, scope),)), Type.STRING


def _implicit(expr: ast.Expr) -> str:
    """The output name of an item without `as` (contract §5)."""
    return expr.dotted if isinstance(expr, ast.FieldRef) else format_expr(expr)


def _name_for(expr: ast.Expr, taken: set[str], draw: st.DrawFn, scope: Scope) -> ast.Name | None:
    """An alias when needed for uniqueness (and sometimes when not)."""
    implicit = _implicit(expr)
    # A name holding a backtick cannot be written back (a quoted name cannot contain one).
    if implicit in taken or "`" in implicit or draw(st.integers(0, 2)) == 0:
        name = scope.fresh(draw)
        while name in taken:
            name = scope.fresh(draw)
        taken.add(name)
        return ast.Name(name)
    taken.add(implicit)
    return None


def _aggregate(draw: st.DrawFn, scope: Scope) -> tuple[ast.Expr, Type]:
    number = _number_expr(draw, scope, 0)
    text = draw(_typed_field(scope, Type.STRING))
    kinds = ["count", "count_x", "sum", "avg", "minmax", "pct", "stddev", "combined"]
    if text is not None:
        kinds += ["distinct", "minmax_text"]
        if scope.columns.get("timestamp") is Type.TIMESTAMP:
            kinds += ["earliest"]
    kind = draw(st.sampled_from(kinds))
    if kind == "count":
        return ast.Call("count", ()), Type.INT
    if kind == "count_x":
        return ast.Call("count", (number,)), Type.INT
    if kind == "distinct":
        assert text is not None
        return ast.Call("count_distinct", (text,)), Type.INT
    if kind in ("sum", "avg", "stddev"):
        return ast.Call(kind, (number,)), Type.FLOAT
    if kind == "minmax":
        return ast.Call(draw(st.sampled_from(["min", "max"])), (number,)), Type.FLOAT
    if kind == "minmax_text":
        assert text is not None
        is_key = len(text.segments) > 1 and scope.columns.get(text.segments[0]) is Type.MAP
        result = Type.FLOAT if is_key else Type.STRING
        return ast.Call(draw(st.sampled_from(["min", "max"])), (text,)), result
    if kind == "pct":
        p = draw(st.one_of(st.integers(1, 99).map(ast.NumberLit), st.just(ast.NumberLit(99.9))))
        return ast.Call("pct", (number, p)), Type.FLOAT
    if kind == "earliest":
        assert text is not None
        which = draw(st.sampled_from(["earliest", "latest"]))
        return ast.Call(which, (text,)), Type.STRING
    total = ast.Binary("/", ast.Call("sum", (number,)), ast.Call("count", ()))
    return ast.Call("round", (total,)), Type.FLOAT


def _stage(draw: st.DrawFn, scope: Scope) -> ast.Stage:
    has_time = scope.columns.get("timestamp") is Type.TIMESTAMP
    kinds = ["where", "where", "extend", "fields", "stats", "sort", "limit", "dedup"]
    if has_time:
        kinds += ["since", "between"]
    if scope.of(Type.STRING, Type.MAP):
        kinds += ["parse_glob", "parse_regex"]
    if scope.of(Type.STRING):
        kinds += ["join"]
    kind = draw(st.sampled_from(kinds))
    if kind == "join":
        return _join_stage(draw, scope)
    if kind == "where":
        return ast.Where(_condition(draw, scope, search=True))
    if kind == "since":
        return ast.Since(draw(durations(positive=True) | params))
    if kind == "between":
        instants = st.lists(_ISO, min_size=2, max_size=2, unique_by=_iso)
        start, end = sorted(draw(instants), key=_iso)
        return ast.Between(ast.StringLit(start), ast.StringLit(end))
    if kind == "parse_glob":
        subject = draw(_typed_field(scope, Type.STRING))
        assert subject is not None
        captures = draw(st.integers(1, 3))
        parts = draw(st.lists(_SAFE_TEXT, min_size=captures + 1, max_size=captures + 1))
        new = tuple(scope.fresh(draw) for _ in range(captures))
        scope.columns.update(dict.fromkeys(new, Type.STRING))
        pattern = ast.StringLit("*".join(parts))
        return ast.ParseGlob(subject, pattern, tuple(ast.Name(n) for n in new))
    if kind == "parse_regex":
        subject = draw(_typed_field(scope, Type.STRING))
        assert subject is not None
        group_names = []
        for _ in range(draw(st.integers(1, 2))):
            scope.counter += 1
            group_names.append(f"g{scope.counter}")  # group names are plain identifiers
        bodies = [draw(st.sampled_from(["\\w+", "[^ /]*", ".*?"])) for _ in group_names]
        body = "=".join(f"(?<{g}>{b})" for g, b in zip(group_names, bodies, strict=True))
        scope.columns.update(dict.fromkeys(group_names, Type.STRING))
        return ast.ParseRegex(subject, ast.RegexLit(body, draw(regex_flags)))
    if kind == "extend":
        assignments = []
        for _ in range(draw(st.integers(1, 2))):
            expr, kind_of = _scalar(draw, scope)
            name = scope.fresh(draw)
            assignments.append(ast.Assignment(ast.Name(name), expr))
            scope.columns[name] = kind_of
        return ast.Extend(tuple(assignments))
    if kind == "fields":
        return _fields_stage(draw, scope)
    if kind == "stats":
        return _stats_stage(draw, scope)
    if kind == "sort":
        keys = []
        for _ in range(draw(st.integers(1, 2))):
            if draw(st.booleans()):
                expr: ast.Expr = _number_expr(draw, scope, 0)
            else:
                expr = _string_expr(draw, scope, 0)
            keys.append(ast.SortKey(expr, draw(st.booleans())))
        return ast.Sort(tuple(keys))
    if kind == "limit":
        return ast.Limit(draw(st.integers(0, 10_000).map(ast.NumberLit) | params))
    refs = [draw(_typed_field(scope, Type.STRING, Type.INT, Type.FLOAT, Type.TIMESTAMP))]
    refs += [draw(_typed_field(scope, Type.STRING, Type.INT, Type.FLOAT, Type.TIMESTAMP))]
    unique = tuple(dict.fromkeys(r for r in refs if r is not None))
    return ast.Dedup(unique) if unique else ast.Limit(ast.NumberLit(10))


def _join_stage(draw: st.DrawFn, scope: Scope) -> ast.Join:
    """`join [kind=…] (from SOURCE | stats count() as V by FIELD as K) on LEFT == K`."""
    left = draw(st.sampled_from(scope.of(Type.STRING)))
    by = draw(st.sampled_from(["service", "host", "trace_id", "message", "log_group"]))
    key, value = scope.fresh(draw), scope.fresh(draw)
    count = ast.Item(ast.Call("count", ()), ast.Name(value))
    stats = ast.Stats((count,), (ast.Item(ast.FieldRef((by,)), ast.Name(key)),))
    name = draw(st.sampled_from(["otel"] if scope.reads_lambda else ["otel", "lambda"]))
    scope.reads_lambda = scope.reads_lambda or name == "lambda"
    source = ast.From((ast.SourceRef(name),))
    kind = draw(st.sampled_from([None, "inner", "left", "leftouter"]))
    options = () if kind is None else (ast.JoinOption(ast.Name("kind"), ast.Name(kind)),)
    scope.columns[value] = Type.INT
    return ast.Join(
        options, ast.Query(source, (stats,)), (ast.JoinKey(ast.Name(left), ast.Name(key)),)
    )


def _fields_stage(draw: st.DrawFn, scope: Scope) -> ast.Fields:
    taken: set[str] = set()
    items: list[ast.Item] = []
    new: dict[str, Type] = {}
    keep = draw(
        st.lists(st.sampled_from(sorted(scope.columns)), min_size=1, max_size=4, unique=True)
    )
    for name in keep:
        ref = _ref(name)
        alias = _name_for(ref, taken, draw, scope)
        items.append(ast.Item(ref, alias))
        new[alias.value if alias else name] = scope.columns[name]
    if draw(st.booleans()):
        expr, kind = _scalar(draw, scope)
        alias = _name_for(expr, taken, draw, scope)
        items.append(ast.Item(expr, alias))
        new[alias.value if alias else _implicit(expr)] = kind
    scope.columns = new
    return ast.Fields(tuple(items))


def _stats_stage(draw: st.DrawFn, scope: Scope) -> ast.Stats:
    taken: set[str] = set()
    new: dict[str, Type] = {}
    by: list[ast.Item] = []
    for _ in range(draw(st.integers(0, 2))):
        if scope.columns.get("timestamp") is Type.TIMESTAMP and draw(st.booleans()):
            width = draw(durations(positive=True))
            key: ast.Expr = ast.Call("bin", (_ref("timestamp"), width))
            kind = Type.TIMESTAMP
        else:
            ref = draw(_typed_field(scope, Type.STRING, Type.INT, Type.FLOAT))
            if ref is None:
                continue
            key = ref
            kind = scope.columns.get(ref.dotted, Type.STRING)
        alias = _name_for(key, taken, draw, scope)
        by.append(ast.Item(key, alias))
        new[alias.value if alias else _implicit(key)] = kind
    aggregates: list[ast.Item] = []
    for _ in range(draw(st.integers(1, 3))):
        expr, kind = _aggregate(draw, scope)
        alias = _name_for(expr, taken, draw, scope)
        aggregates.append(ast.Item(expr, alias))
        new[alias.value if alias else _implicit(expr)] = kind
    scope.columns = new
    return ast.Stats(tuple(aggregates), tuple(by))


def _iso(text: str) -> int:
    from starbase.compiler.timestamps import parse_iso

    return parse_iso(text)


@st.composite
def valid_queries(draw: st.DrawFn, max_stages: int = 5) -> ast.Query:
    """A query over the meta-model that compiles through the whole pipeline (with `CONFIG`)."""
    source = draw(
        st.sampled_from(
            [
                ast.From((ast.SourceRef("otel"),)),
                ast.From((ast.SourceRef("otel"),)),
                ast.From((ast.SourceRef("lambda"),)),
                ast.From((ast.SourceRef("otel"), ast.SourceRef("lambda"))),
                ast.From((), star=True),
            ]
        )
    )
    names = {r.name for r in source.sources} if not source.star else {"lambda"}
    scope = Scope(reads_lambda="lambda" in names)
    built = [_stage(draw, scope) for _ in range(draw(st.integers(0, max_stages)))]
    return ast.Query(source, tuple(built))


def valid_texts(max_stages: int = 5) -> st.SearchStrategy[str]:
    return valid_queries(max_stages).map(format_query)


# ---------------------------------------------------------------- damaged text

_TOKENS = st.sampled_from(
    [
        "|",
        "||",
        "(",
        ")",
        ",",
        ".",
        "=",
        "==",
        "!",
        "~",
        "&&",
        '"',
        "'",
        "`",
        "/",
        "\\",
        "$",
        "#",
        "\n",
        "\t",
        " ",
        "*",
        "-",
        "from",
        "where",
        "stats",
        "by",
        "as",
        "not",
        "in",
        "and",
        "or",
        "sort",
        "desc",
        "limit",
        "since",
        "between",
        "parse",
        "extend",
        "fields",
        "dedup",
        "count()",
        "bin(timestamp, 5m)",
        "pct(x, 100)",
        "0s",
        "5m",
        "1e999",
        "1" * 40,
        "9" * 400,
        "0.5",
        '"\\q"',
        '"\\u12"',
        "/(?=a)/",
        "/a/x",
        "/(/",
        "/\\1/",
        "$p",
        "null",
        "true",
        "severity",
        "timestamp",
        '"2026-02-30"',
        '"warnx"',
        "attributes.a",
        "`",
        "😀",
        "\x00",
        "\u2028",
    ]
)


@st.composite
def mutations(draw: st.DrawFn, text: str) -> str:
    """`text` with one to four random edits."""
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["delete", "insert", "replace", "token", "duplicate"]))
        if edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 6)) :]
        elif edit == "insert":
            text = text[:at] + draw(st.characters(blacklist_categories=("Cs",))) + text[at:]
        elif edit == "replace":
            text = text[:at] + draw(_TOKENS) + text[at + 1 :]
        elif edit == "token":
            text = text[:at] + " " + draw(_TOKENS) + " " + text[at:]
        else:
            end = min(len(text), at + draw(st.integers(1, 12)))
            text = text[:end] + text[at:]
    return text


SAMPLE_QUERIES = (
    'from otel | where severity >= "warn" and message ~ /timeout|refused/i',
    "from otel, lambda\n| since 1h\n| stats count() as n, pct(attributes.duration_ms, 95) as p95"
    " by service, bin(timestamp, 5m) as bucket\n| sort n desc\n| limit 20",
    'from otel | parse message "GET * HTTP/*" as path, version | stats count() by path',
    "from otel | parse message /(?<user>\\w+)@(?<host>[a-z.]+)/ | dedup user",
    'from * | between "2026-01-01" and "2026-01-02T00:00:00Z" | where trace_id == $trace',
    "from otel | extend d = tonumber(attributes.`duration_ms`) * 2, s = lower(service)"
    ' | fields s, d as dd, if(d > 10, "slow", "ok") as speed',
    "from otel | where attributes.http.status_code >= 500 or not exists(host) | limit $n",
    '# comment\nfrom otel | where "timeout" and not /retry/i | sort timestamp desc',
)


def mutated_texts() -> st.SearchStrategy[str]:
    """Valid queries (generated or from `SAMPLE_QUERIES`) damaged by a few edits."""
    base = st.one_of(st.sampled_from(SAMPLE_QUERIES), valid_texts(3))
    return base.flatmap(mutations)


def token_soup() -> st.SearchStrategy[str]:
    """`from otel |` followed by a jumble of StarQL tokens: reaches deep into the grammar."""
    word = st.one_of(_TOKENS, _IDENTIFIER, st.integers(0, 99).map(str))
    return st.lists(word, max_size=12).map(lambda ws: "from otel | " + " ".join(ws))
