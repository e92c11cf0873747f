"""The function library of StarQL: scalar functions and aggregates, their arity and types.

Requires: `types.Type`. Guarantees: one table that the resolver checks calls against, that the
mappings' capability lists name, and that every backend must cover (a backend lacking one
raises a typed "unsupported" error naming the function and the target). Argument types are
checked by `resolve`; the rules below only compute result types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starbase.compiler.types import Type

ResultRule = Callable[[tuple[Type, ...]], Type]


def _fixed(result: Type) -> ResultRule:
    return lambda _args: result


def _common(args: tuple[Type, ...]) -> Type:
    """The type several values share: the first non-null one, widened to float for numbers."""
    concrete = [t for t in args if t is not Type.NULL]
    if not concrete:
        return Type.NULL
    if all(t.numeric for t in concrete):
        return Type.FLOAT if Type.FLOAT in concrete else Type.INT
    return concrete[0]


def _first(args: tuple[Type, ...]) -> Type:
    return args[0] if args else Type.NULL


def _numeric_like_first(args: tuple[Type, ...]) -> Type:
    return args[0] if args and args[0].numeric else Type.FLOAT


def _if(args: tuple[Type, ...]) -> Type:
    return _common(args[1:])


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    min_args: int
    max_args: int | None  # None: variadic
    result: ResultRule
    doc: str

    @property
    def arity(self) -> str:
        if self.max_args is None:
            return f"{self.min_args} or more arguments"
        if self.min_args == self.max_args:
            return f"{self.min_args} argument" + ("" if self.min_args == 1 else "s")
        return f"{self.min_args} to {self.max_args} arguments"


def _table(*signatures: Signature) -> dict[str, Signature]:
    return {s.name: s for s in signatures}


SCALARS = _table(
    Signature("lower", 1, 1, _fixed(Type.STRING), "lower case"),
    Signature("upper", 1, 1, _fixed(Type.STRING), "upper case"),
    Signature("length", 1, 1, _fixed(Type.INT), "number of characters"),
    Signature("trim", 1, 1, _fixed(Type.STRING), "without leading and trailing whitespace"),
    Signature("substr", 2, 3, _fixed(Type.STRING), "substring from a 0-based start, of a length"),
    Signature("concat", 1, None, _fixed(Type.STRING), "the values as text, joined"),
    Signature("replace", 3, 3, _fixed(Type.STRING), "every occurrence of a text replaced"),
    Signature("coalesce", 1, None, _common, "the first non-null value"),
    Signature("if", 3, 3, _if, "the second value when the condition holds, else the third"),
    Signature("abs", 1, 1, _numeric_like_first, "absolute value"),
    Signature("round", 1, 2, _fixed(Type.FLOAT), "rounded (to a number of decimals)"),
    Signature("floor", 1, 1, _fixed(Type.FLOAT), "largest whole number not above"),
    Signature("ceil", 1, 1, _fixed(Type.FLOAT), "smallest whole number not below"),
    Signature("tostring", 1, 1, _fixed(Type.STRING), "the value as text"),
    Signature("tonumber", 1, 1, _fixed(Type.FLOAT), "the value as a number, null if not one"),
    Signature("exists", 1, 1, _fixed(Type.BOOL), "whether a field is present (not null)"),
    Signature("now", 0, 0, _fixed(Type.TIMESTAMP), "the time the query started running"),
    Signature("bin", 2, 2, _fixed(Type.TIMESTAMP), "timestamp floored to a multiple of a duration"),
)

AGGREGATES = _table(
    Signature("count", 0, 1, _fixed(Type.INT), "rows, or non-null values"),
    Signature("count_distinct", 1, 1, _fixed(Type.INT), "distinct non-null values (exact)"),
    Signature("sum", 1, 1, _numeric_like_first, "sum"),
    Signature("avg", 1, 1, _fixed(Type.FLOAT), "mean"),
    Signature("min", 1, 1, _first, "smallest value"),
    Signature("max", 1, 1, _first, "largest value"),
    Signature("pct", 2, 2, _fixed(Type.FLOAT), "p-th percentile, 0 < p < 100"),
    Signature("stddev", 1, 1, _fixed(Type.FLOAT), "sample standard deviation"),
    Signature("earliest", 1, 1, _first, "value at the smallest timestamp"),
    Signature("latest", 1, 1, _first, "value at the largest timestamp"),
)

# Functions that exist only inside the IR (produced by passes, never written by users):
#   regex_extract(s, pattern, group) -> string   capture `group` of the first match, or null
#   epoch_to_timestamp(n, unit)      -> timestamp integer epoch in `unit` (s|ms|us|ns)
#   level_from_text(s)               -> int       OTel severity number of the level words in s
#   json_get(s, key)                 -> string    member `key` of a JSON object held as text
#   hex(b)                           -> string    bytes (stored ids) as lowercase hex
INTERNAL = frozenset({"regex_extract", "epoch_to_timestamp", "level_from_text", "json_get", "hex"})


def common_type(types: tuple[Type, ...]) -> Type:
    return _common(types)
