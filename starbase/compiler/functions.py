"""The function library of StarQL: every function's name, arity, argument and result types.

Requires: `types.Type`. Guarantees: one registry — `SCALARS`, `AGGREGATES` (what users write)
and `INTERNAL` (what passes produce) — that the resolver checks calls against and types
arguments by (`Signature.args`: which arguments become text or numbers, implicitly cast),
that the mappings' capability profiles name, that REPL completion offers (with `doc` and
`example`), and that every backend lowers by name: a backend lacking a function raises a
typed "unsupported" error naming the function and the target (tests/test_backends.py checks
each backend against this registry). Structural checks that are not about types (`exists`
takes a field, `bin` a timestamp and a duration, `pct` a literal percentile) stay in
`resolve`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

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


class Args(StrEnum):
    """How a function's arguments are typed (implicit casts made explicit by `resolve`)."""

    AS_WRITTEN = "as written"
    TEXT = "text"  # every argument as text
    NUMBERS = "numbers"  # every argument as a number (text is cast, null where not numeric)
    TEXT_THEN_NUMBERS = "text, then numbers"  # substr(s, start, len)
    COMMON = "common"  # one type for all: text when any is text
    CONDITION_THEN_COMMON = "a condition, then common"  # if(cond, a, b)
    ORDERED = "ordered"  # min/max: map values (text) compare as numbers


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    min_args: int
    max_args: int | None  # None: variadic
    result: ResultRule
    doc: str
    args: Args = Args.AS_WRITTEN
    example: str = ""  # a call as a user writes it (completion, docs, backend tests)

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
    Signature("lower", 1, 1, _fixed(Type.STRING), "lower case", Args.TEXT, "lower(message)"),
    Signature("upper", 1, 1, _fixed(Type.STRING), "upper case", Args.TEXT, "upper(service)"),
    Signature(
        "length", 1, 1, _fixed(Type.INT), "number of characters", Args.TEXT, "length(message)"
    ),
    Signature(
        "trim",
        1,
        1,
        _fixed(Type.STRING),
        "without leading and trailing whitespace",
        Args.TEXT,
        "trim(message)",
    ),
    Signature(
        "substr",
        2,
        3,
        _fixed(Type.STRING),
        "substring from a 0-based start, of a length",
        Args.TEXT_THEN_NUMBERS,
        "substr(message, 0, 10)",
    ),
    Signature(
        "concat",
        1,
        None,
        _fixed(Type.STRING),
        "the values as text, joined",
        Args.TEXT,
        'concat(service, ":", host)',
    ),
    Signature(
        "replace",
        3,
        3,
        _fixed(Type.STRING),
        "every occurrence of a text replaced",
        Args.TEXT,
        'replace(message, "a", "b")',
    ),
    Signature(
        "coalesce",
        1,
        None,
        _common,
        "the first non-null value",
        Args.COMMON,
        "coalesce(host, service)",
    ),
    Signature(
        "if",
        3,
        3,
        _if,
        "the second value when the condition holds, else the third",
        Args.CONDITION_THEN_COMMON,
        'if(severity >= "error", 1, 0)',
    ),
    Signature("abs", 1, 1, _numeric_like_first, "absolute value", Args.NUMBERS, "abs(severity)"),
    Signature(
        "round",
        1,
        2,
        _fixed(Type.FLOAT),
        "rounded (to a number of decimals)",
        Args.NUMBERS,
        "round(attributes.duration_ms, 1)",
    ),
    Signature(
        "floor",
        1,
        1,
        _fixed(Type.FLOAT),
        "largest whole number not above",
        Args.NUMBERS,
        "floor(attributes.duration_ms)",
    ),
    Signature(
        "ceil",
        1,
        1,
        _fixed(Type.FLOAT),
        "smallest whole number not below",
        Args.NUMBERS,
        "ceil(attributes.duration_ms)",
    ),
    Signature(
        "tostring", 1, 1, _fixed(Type.STRING), "the value as text", example="tostring(severity)"
    ),
    Signature(
        "tonumber",
        1,
        1,
        _fixed(Type.FLOAT),
        "the value as a number, null if not one",
        example="tonumber(attributes.duration_ms)",
    ),
    Signature(
        "exists",
        1,
        1,
        _fixed(Type.BOOL),
        "whether a field is present (not null)",
        example="exists(trace_id)",
    ),
    Signature(
        "now", 0, 0, _fixed(Type.TIMESTAMP), "the time the query started running", example="now()"
    ),
    Signature(
        "bin",
        2,
        2,
        _fixed(Type.TIMESTAMP),
        "timestamp floored to a multiple of a duration",
        example="bin(timestamp, 5m)",
    ),
    Signature(
        "totimestamp",
        1,
        2,
        _fixed(Type.TIMESTAMP),
        "text parsed as a timestamp (ISO 8601, or a named/strftime-like format), null if not",
        Args.TEXT,
        'totimestamp(attributes.time, "%d/%b/%Y:%H:%M:%S %z")',
    ),
    Signature(
        "replace_regex",
        3,
        3,
        _fixed(Type.STRING),
        "every match of a regex replaced (\\1 … name the captures)",
        example='replace_regex(message, /user=\\w+/, "user=?")',
    ),
)

AGGREGATES = _table(
    Signature("count", 0, 1, _fixed(Type.INT), "rows, or non-null values", example="count()"),
    Signature(
        "count_distinct",
        1,
        1,
        _fixed(Type.INT),
        "distinct non-null values (exact)",
        example="count_distinct(trace_id)",
    ),
    Signature("sum", 1, 1, _numeric_like_first, "sum", Args.NUMBERS, "sum(attributes.bytes)"),
    Signature("avg", 1, 1, _fixed(Type.FLOAT), "mean", Args.NUMBERS, "avg(attributes.duration_ms)"),
    Signature("min", 1, 1, _first, "smallest value", Args.ORDERED, "min(timestamp)"),
    Signature("max", 1, 1, _first, "largest value", Args.ORDERED, "max(severity)"),
    Signature(
        "pct",
        2,
        2,
        _fixed(Type.FLOAT),
        "p-th percentile, 0 < p < 100",
        Args.NUMBERS,  # the first argument; p is a literal
        "pct(attributes.duration_ms, 95)",
    ),
    Signature(
        "stddev",
        1,
        1,
        _fixed(Type.FLOAT),
        "sample standard deviation",
        Args.NUMBERS,
        "stddev(attributes.duration_ms)",
    ),
    Signature(
        "earliest", 1, 1, _first, "value at the smallest timestamp", example="earliest(message)"
    ),
    Signature("latest", 1, 1, _first, "value at the largest timestamp", example="latest(message)"),
)

# Functions that exist only inside the IR (produced by passes, never written by users); every
# engine lowers them, native stores may (e.g. Insights parses a regex capture).
INTERNALS = _table(
    Signature("regex_extract", 3, 3, _fixed(Type.STRING), "capture group of the first match"),
    Signature("epoch_to_timestamp", 2, 2, _fixed(Type.TIMESTAMP), "integer epoch in a unit"),
    Signature("level_from_text", 1, 1, _fixed(Type.INT), "OTel severity of the level words"),
    Signature("json_get", 2, 2, _fixed(Type.STRING), "member of a JSON object held as text"),
    Signature("json_to_map", 1, 1, _fixed(Type.MAP), "top-level members of a JSON object"),
    Signature("hex", 1, 1, _fixed(Type.STRING), "bytes (stored ids) as lowercase hex"),
    # raw-line mappings (compiler/raw_fields.py)
    Signature("parse_time", 4, 4, _fixed(Type.TIMESTAMP), "text, format, zone, received ns"),
    Signature("level_number", 3, 3, _fixed(Type.INT), "a level word through a vocabulary"),
    Signature("level_keyword", 2, 2, _fixed(Type.STRING), "syslog severity keyword"),
    Signature("make_map", 0, None, _fixed(Type.MAP), "key, value, … as a map"),
    Signature("map_merge", 3, 3, _fixed(Type.MAP), "keys of a second map (prefixed) added"),
    Signature("logfmt_get", 2, 2, _fixed(Type.STRING), "value of a logfmt key"),
    Signature("logfmt_to_map", 1, 1, _fixed(Type.MAP), "logfmt pairs as a map"),
    Signature("unquote", 2, 2, _fixed(Type.STRING), "a quoted cell's text"),
    Signature("json_flatten", 1, 1, _fixed(Type.MAP), "JSON members, nested keys joined by ."),
    # the `patterns` stage: windows over the whole input
    Signature("mine_template", 1, 1, _fixed(Type.STRING), "the template mined over all rows"),
    Signature("window_total", 1, 1, _fixed(Type.INT), "sum over all rows"),
)
INTERNAL = frozenset(INTERNALS)


def lookup(name: str) -> Signature | None:
    """The signature of `name` in any part of the library (None when unknown)."""
    return SCALARS.get(name) or AGGREGATES.get(name) or INTERNALS.get(name)


def common_type(types: tuple[Type, ...]) -> Type:
    return _common(types)
