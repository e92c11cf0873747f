"""The backend-neutral intermediate representation: typed expressions and plan nodes.

Requires: `types.Type`. Guarantees: every node is a frozen, hashable dataclass; every
expression knows its result type; column references name columns of the node's input (universal
names above a source's projection, physical names below it). Backends lower exactly these
classes, so adding a backend never touches the passes. `render_expr`/`render_plan` give the
stable text used by `explain` and the golden files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from starbase.compiler.errors import Span
from starbase.compiler.types import Type

# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Lit:
    """A constant. TIMESTAMP and DURATION values are integer nanoseconds."""

    value: str | int | float | bool | None
    type: Type


@dataclass(frozen=True, slots=True)
class Regex:
    """A regex in the portable subset; `flags` ⊆ {i, m, s}."""

    pattern: str
    flags: str = ""
    type: Type = Type.REGEX


@dataclass(frozen=True, slots=True)
class Param:
    """`$name`, bound when the query runs; `type` is what the context expects."""

    name: str
    type: Type
    span: Span | None = field(default=None, compare=False, repr=False)
    role: str = ""  # "severity": the value may also be a level name (bound as its range)


@dataclass(frozen=True, slots=True)
class Now:
    """The query's start time, bound once per run (the same value for every source)."""

    type: Type = Type.TIMESTAMP


@dataclass(frozen=True, slots=True)
class Col:
    name: str
    type: Type


@dataclass(frozen=True, slots=True)
class MapGet:
    """`map[key]` on a map<string,string> column; null when the key is absent."""

    map: Expr
    key: str
    type: Type = Type.STRING


@dataclass(frozen=True, slots=True)
class Call:
    """A scalar function from `functions.SCALARS` (or an internal one, see there)."""

    name: str
    args: tuple[Expr, ...]
    type: Type


@dataclass(frozen=True, slots=True)
class Cast:
    """Conversion to `type`; a string that is not a number becomes null (never an error)."""

    expr: Expr
    type: Type


@dataclass(frozen=True, slots=True)
class Arith:
    op: str  # + - * / %
    left: Expr
    right: Expr
    type: Type


@dataclass(frozen=True, slots=True)
class Neg:
    expr: Expr
    type: Type


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # == != < <= > >=
    left: Expr
    right: Expr
    type: Type = Type.BOOL


@dataclass(frozen=True, slots=True)
class Match:
    """Unanchored regex search; `negated` is `!~`."""

    expr: Expr
    regex: Regex | Param
    negated: bool = False
    type: Type = Type.BOOL


@dataclass(frozen=True, slots=True)
class StrTest:
    """Case-sensitive `contains`, `startswith`, `endswith`; `icontains` ignores case."""

    op: str
    expr: Expr
    needle: Expr
    negated: bool = False
    type: Type = Type.BOOL


@dataclass(frozen=True, slots=True)
class InList:
    expr: Expr
    items: tuple[Expr, ...]
    negated: bool = False
    type: Type = Type.BOOL


@dataclass(frozen=True, slots=True)
class IsNull:
    expr: Expr
    negated: bool = False
    type: Type = Type.BOOL


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]
    type: Type = Type.BOOL


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]
    type: Type = Type.BOOL


@dataclass(frozen=True, slots=True)
class Not:
    expr: Expr
    type: Type = Type.BOOL


@dataclass(frozen=True, slots=True)
class Agg:
    """An aggregate from `functions.AGGREGATES`. `earliest`/`latest` carry the time column as
    their last argument; `pct` carries its percentile as a literal second argument."""

    name: str
    args: tuple[Expr, ...]
    type: Type


@dataclass(frozen=True, slots=True)
class Since:
    """Sugar kept by resolve, removed by normalize: `timestamp >= now() - duration`."""

    duration: Expr
    type: Type = Type.BOOL


@dataclass(frozen=True, slots=True)
class Between:
    """Sugar kept by resolve, removed by normalize: `start <= timestamp < end`."""

    start: Expr
    end: Expr
    type: Type = Type.BOOL


@dataclass(frozen=True, slots=True)
class Search:
    """Sugar kept by resolve, removed by normalize: a bare string or regex searching `message`."""

    needle: Lit | Regex | Param
    type: Type = Type.BOOL


Expr = (
    Lit
    | Regex
    | Param
    | Now
    | Col
    | MapGet
    | Call
    | Cast
    | Arith
    | Neg
    | Compare
    | Match
    | StrTest
    | InList
    | IsNull
    | And
    | Or
    | Not
    | Agg
    | Since
    | Between
    | Search
)

TRUE = Lit(True, Type.BOOL)
FALSE = Lit(False, Type.BOOL)


def children(expr: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of `expr`."""
    match expr:
        case MapGet(m):
            return (m,)
        case Call(_, args) | Agg(_, args):
            return args
        case Cast(e) | Neg(e) | Not(e) | IsNull(e):
            return (e,)
        case Arith(_, left, right) | Compare(_, left, right):
            return (left, right)
        case Match(e, rx):
            return (e, rx)
        case StrTest(_, e, needle):
            return (e, needle)
        case InList(e, items):
            return (e, *items)
        case And(items) | Or(items):
            return items
        case Since(d):
            return (d,)
        case Between(start, end):
            return (start, end)
        case Search(needle):
            return (needle,)
    return ()


def walk(expr: Expr) -> list[Expr]:
    """`expr` and all its descendants, pre-order."""
    out: list[Expr] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(children(node)))
    return out


def columns(expr: Expr) -> frozenset[str]:
    """Names of the columns `expr` reads."""
    return frozenset(e.name for e in walk(expr) if isinstance(e, Col))


def has_aggregate(expr: Expr) -> bool:
    return any(isinstance(e, Agg) for e in walk(expr))


# ---------------------------------------------------------------- time ranges


@dataclass(frozen=True, slots=True)
class TimeBound:
    """An instant: `base` (absolute ns, or None for the run's `now()`) plus `offset` ns; or a
    parameter (bound at run time)."""

    base: int | None = None
    offset: int = 0
    param: str | None = None
    inclusive: bool = True


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The time window a query can touch; None on a side means unbounded."""

    lower: TimeBound | None = None
    upper: TimeBound | None = None


# ---------------------------------------------------------------- plan nodes


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: Type


@dataclass(frozen=True, slots=True)
class NamedExpr:
    name: str
    expr: Expr


@dataclass(frozen=True, slots=True)
class SortKey:
    expr: Expr
    descending: bool = False  # nulls always last (contract §2)


@dataclass(frozen=True, slots=True)
class PartitionFilter:
    """A partition column pruned by the time range or by a predicate on a universal field."""

    column: str
    transform: str  # identity | hour | day
    predicate: Expr | None = None  # over Col(column) for identity partitions
    time_range: TimeRange | None = None  # for time transforms


@dataclass(frozen=True, slots=True)
class SourceRef:
    name: str
    format: str
    stored: bool = False  # kept by Starbase (the source has a location): read by DataFusion


@dataclass(frozen=True, slots=True)
class Sources:
    """The unified rows of the query's sources, in meta-model columns (before map fields)."""

    sources: tuple[SourceRef, ...]
    schema: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class Scan:
    """Read one configured source through its format's physical schema.

    `filter` is a predicate over physical columns that the backend must apply (pushed down);
    `time_range` and `partitions` are hints it may use to skip files or narrow a native query.
    """

    source: str
    format: str
    backend: str
    schema: tuple[Column, ...]
    filter: Expr | None = None
    time_range: TimeRange | None = None
    partitions: tuple[PartitionFilter, ...] = ()


@dataclass(frozen=True, slots=True)
class Project:
    """Exactly these columns, in this order."""

    input: Plan
    items: tuple[NamedExpr, ...]


@dataclass(frozen=True, slots=True)
class Filter:
    input: Plan
    predicate: Expr


@dataclass(frozen=True, slots=True)
class Extend:
    """All input columns, with `items` added (or replacing same-named columns in place)."""

    input: Plan
    items: tuple[NamedExpr, ...]


@dataclass(frozen=True, slots=True)
class Parse:
    """Captures of `pattern` over `expr` become string columns `names` (null when no match).

    `kind` is "glob" (each `*` captures, whole value must match) or "regex" (named groups,
    unanchored). `regex` is the equivalent portable regex for both kinds."""

    input: Plan
    expr: Expr
    kind: str
    pattern: str
    regex: Regex
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Aggregate:
    """Group by `keys`; output columns are the keys then the aggregates, in order."""

    input: Plan
    keys: tuple[NamedExpr, ...]
    aggregates: tuple[NamedExpr, ...]


@dataclass(frozen=True, slots=True)
class Sort:
    input: Plan
    keys: tuple[SortKey, ...]


@dataclass(frozen=True, slots=True)
class Limit:
    input: Plan
    count: int | Param


@dataclass(frozen=True, slots=True)
class Dedup:
    """The first row (in input order) of each distinct `keys` tuple."""

    input: Plan
    keys: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Union:
    """Rows of every input (each with the same columns, in the same order)."""

    inputs: tuple[Plan, ...]


JOIN_KINDS = ("inner", "left")
JOIN_MAX_ROWS = 1_000_000  # the most rows a join's right side may have (docs/reference.md)


@dataclass(frozen=True, slots=True)
class Join:
    """Each row of `input` with every row of `right` whose keys equal its keys (`keys`: pairs
    of (input column, right column); null keys never match); `kind` "left" also keeps input
    rows that match nothing, with nulls for the right's columns. Output: the input's columns,
    then the right's columns other than its keys (resolve makes their names distinct).
    The right side holds at most `max_rows` rows: a run that finds more fails, having read
    no more than `max_rows + 1` of them."""

    input: Plan
    right: Plan
    kind: str
    keys: tuple[tuple[str, str], ...]
    max_rows: int = JOIN_MAX_ROWS


Plan = (
    Sources
    | Scan
    | Project
    | Filter
    | Extend
    | Parse
    | Aggregate
    | Sort
    | Limit
    | Dedup
    | Union
    | Join
)


def plan_inputs(plan: Plan) -> tuple[Plan, ...]:
    if isinstance(plan, Scan | Sources):
        return ()
    if isinstance(plan, Union):
        return plan.inputs
    if isinstance(plan, Join):
        return (plan.input, plan.right)
    return (plan.input,)


# ---------------------------------------------------------------- rewriting


def with_children(expr: Expr, new: tuple[Expr, ...]) -> Expr:
    """`expr` with its direct sub-expressions replaced by `new` (same order as `children`)."""
    match expr:
        case MapGet():
            return replace(expr, map=new[0])
        case Call() | Agg():
            return replace(expr, args=new)
        case Cast() | Neg() | Not() | IsNull():
            return replace(expr, expr=new[0])
        case Arith() | Compare():
            return replace(expr, left=new[0], right=new[1])
        case Match():
            regex = new[1]
            assert isinstance(regex, Regex | Param)
            return replace(expr, expr=new[0], regex=regex)
        case StrTest():
            return replace(expr, expr=new[0], needle=new[1])
        case InList():
            return replace(expr, expr=new[0], items=new[1:])
        case And() | Or():
            return replace(expr, items=new)
        case Since():
            return replace(expr, duration=new[0])
        case Between():
            return replace(expr, start=new[0], end=new[1])
        case Search():
            needle = new[0]
            assert isinstance(needle, Lit | Regex | Param)
            return replace(expr, needle=needle)
    return expr


def transform(expr: Expr, fn: Callable[[Expr], Expr]) -> Expr:
    """Rewrite bottom-up: children first, then `fn` on the rebuilt node."""
    kids = children(expr)
    if kids:
        new = tuple(transform(k, fn) for k in kids)
        if new != kids:
            expr = with_children(expr, new)
    return fn(expr)


def map_plan_exprs(plan: Plan, fn: Callable[[Expr], Expr]) -> Plan:
    """Apply `fn` to every top-level expression of every node of `plan` (inputs first)."""
    inputs = tuple(map_plan_exprs(p, fn) for p in plan_inputs(plan))
    plan = with_inputs(plan, inputs)

    def named(items: tuple[NamedExpr, ...]) -> tuple[NamedExpr, ...]:
        return tuple(NamedExpr(i.name, fn(i.expr)) for i in items)

    match plan:
        case Scan(filter=predicate) if predicate is not None:
            return replace(plan, filter=fn(predicate))
        case Project(_, items) | Extend(_, items):
            return replace(plan, items=named(items))
        case Filter(_, predicate):
            return replace(plan, predicate=fn(predicate))
        case Parse(_, expr):
            return replace(plan, expr=fn(expr))
        case Aggregate(_, keys, aggregates):
            return replace(plan, keys=named(keys), aggregates=named(aggregates))
        case Sort(_, keys):
            return replace(plan, keys=tuple(SortKey(fn(k.expr), k.descending) for k in keys))
        case Dedup(_, keys):
            return replace(plan, keys=tuple(fn(k) for k in keys))
    return plan


def with_inputs(plan: Plan, inputs: tuple[Plan, ...]) -> Plan:
    """`plan` reading from `inputs` instead (same arity as `plan_inputs`)."""
    if isinstance(plan, Scan | Sources) or inputs == plan_inputs(plan):
        return plan
    if isinstance(plan, Union):
        return replace(plan, inputs=inputs)
    if isinstance(plan, Join):
        return replace(plan, input=inputs[0], right=inputs[1])
    return replace(plan, input=inputs[0])


def plan_walk(plan: Plan) -> list[Plan]:
    """`plan` and every node below it, pre-order."""
    out = [plan]
    for child in plan_inputs(plan):
        out.extend(plan_walk(child))
    return out


def node_exprs(plan: Plan) -> tuple[Expr, ...]:
    """The expressions held by this node alone (not its inputs)."""
    match plan:
        case Scan(filter=predicate):
            return () if predicate is None else (predicate,)
        case Project(_, items) | Extend(_, items):
            return tuple(i.expr for i in items)
        case Filter(_, predicate):
            return (predicate,)
        case Parse(_, expr):
            return (expr,)
        case Aggregate(_, keys, aggregates):
            return tuple(i.expr for i in (*keys, *aggregates))
        case Sort(_, keys):
            return tuple(k.expr for k in keys)
        case Dedup(_, keys):
            return keys
    return ()


def output_schema(plan: Plan) -> tuple[Column, ...]:
    """The columns a plan produces, in order."""
    match plan:
        case Sources(_, schema) | Scan(_, _, _, schema):
            return schema
        case Project(_, items):
            return tuple(Column(i.name, i.expr.type) for i in items)
        case Extend(inp, items):
            columns = {c.name: c.type for c in output_schema(inp)}
            columns.update({i.name: i.expr.type for i in items})
            return tuple(Column(n, t) for n, t in columns.items())
        case Parse(inp, _, _, _, _, names):
            columns = {c.name: c.type for c in output_schema(inp)}
            columns.update(dict.fromkeys(names, Type.STRING))
            return tuple(Column(n, t) for n, t in columns.items())
        case Aggregate(_, keys, aggregates):
            return tuple(Column(i.name, i.expr.type) for i in (*keys, *aggregates))
        case Union(inputs):
            return output_schema(inputs[0])
        case Join(inp, right, _, keys):
            dropped = {r for _, r in keys}
            extra = tuple(c for c in output_schema(right) if c.name not in dropped)
            return (*output_schema(inp), *extra)
        case Filter(inp) | Sort(inp) | Limit(inp) | Dedup(inp):
            return output_schema(inp)
    raise TypeError(f"not a plan: {plan!r}")
