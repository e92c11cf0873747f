"""The StarQL syntax tree: frozen dataclasses, each node carrying its source span.

Requires: nothing but `errors.Span`. Guarantees: nodes are immutable and hashable; equality
ignores spans (`span` is excluded from comparison), so two parses of equivalent text compare
equal; the tree mirrors the surface syntax (no desugaring — that is the normalize pass's job).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from starbase.compiler.errors import Span

NO_SPAN = Span(0, 0, 1, 1)  # spans never take part in equality: see the module docstring


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class StringLit:
    value: str
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class NumberLit:
    value: int | float
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class BoolLit:
    value: bool
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class NullLit:
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class DurationLit:
    """A duration such as `5m`; `nanos` is exact, `text` is how it was written."""

    nanos: int
    text: str
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RegexLit:
    pattern: str
    flags: str = ""
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Param:
    """A query parameter `$name`, bound when the compiled query runs."""

    name: str
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field path as written: `attributes.http.status_code` is three segments."""

    segments: tuple[str, ...]
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)

    @property
    def dotted(self) -> str:
        return ".".join(self.segments)


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "not"
    operand: Expr
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Binary:
    """Arithmetic, boolean, comparison and string-test operators; `op` as written."""

    op: str
    left: Expr
    right: Expr
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class InList:
    operand: Expr
    items: tuple[Expr, ...]
    negated: bool = False
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Expr, ...]
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)
    name_span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


Literal = StringLit | NumberLit | BoolLit | NullLit | DurationLit | RegexLit
Expr = Literal | Param | FieldRef | Unary | Binary | InList | Call

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
MATCHES = ("~", "!~")
STRING_TESTS = ("contains", "icontains", "startswith", "endswith")
ARITHMETIC = ("+", "-", "*", "/", "%")
BOOLEAN = ("and", "or")


# ---------------------------------------------------------------- stage parts


@dataclass(frozen=True, slots=True)
class Name:
    """An output name after `as`, a `parse` capture or an `extend` target."""

    value: str
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Item:
    """`EXPR [as NAME]` in `fields`, `stats` and `by`."""

    expr: Expr
    alias: Name | None = None
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Assignment:
    """`NAME = EXPR` in `extend`."""

    name: Name
    expr: Expr
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SortKey:
    expr: Expr
    descending: bool = False
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SourceRef:
    name: str
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


# ---------------------------------------------------------------- stages


@dataclass(frozen=True, slots=True)
class From:
    """`from a, b` or `from *` (then `sources` is empty and `star` is true)."""

    sources: tuple[SourceRef, ...]
    star: bool = False
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Where:
    condition: Expr
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Since:
    duration: DurationLit | Param
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Between:
    start: Expr
    end: Expr
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ParseGlob:
    field: FieldRef
    pattern: StringLit
    names: tuple[Name, ...]
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ParseRegex:
    field: FieldRef
    regex: RegexLit
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Extend:
    assignments: tuple[Assignment, ...]
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Fields:
    items: tuple[Item, ...]
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Stats:
    aggregates: tuple[Item, ...]
    by: tuple[Item, ...] = ()
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Sort:
    keys: tuple[SortKey, ...]
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Limit:
    count: NumberLit | Param
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Dedup:
    fields: tuple[FieldRef, ...]
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class JoinKey:
    """`on NAME` (the same field on both sides) or `on LEFT == RIGHT`."""

    left: Name
    right: Name
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class JoinOption:
    """`kind=left`, `maxrows=1000` before a join's subquery."""

    name: Name
    value: Name | NumberLit
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Join:
    """`join [OPTION=VALUE …] (SUBQUERY) on KEY, …`."""

    options: tuple[JoinOption, ...]
    query: Query
    keys: tuple[JoinKey, ...]
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Lookup:
    """`lookup TABLE on KEY, …`: a left join with a table named in the configuration."""

    table: Name
    keys: tuple[JoinKey, ...]
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Patterns:
    """`patterns F`: rows grouped by the template mined from F (pattern, count, ratio, sample)."""

    field: FieldRef
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ParseStructured:
    """`parse F json as NAME` / `parse F logfmt as NAME`: NAME is a map of F's keys."""

    field: FieldRef
    kind: str  # json | logfmt
    name: Name
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)


Stage = (
    Where
    | Since
    | Between
    | ParseGlob
    | ParseRegex
    | Extend
    | Fields
    | Stats
    | Sort
    | Limit
    | Dedup
    | Join
    | Lookup
    | Patterns
    | ParseStructured
)


@dataclass(frozen=True, slots=True)
class Query:
    """A whole pipeline: the `from` stage, then the rest in written order."""

    source: From
    stages: tuple[Stage, ...] = ()
    span: Span = dataclasses.field(default=NO_SPAN, compare=False, repr=False)
