"""Time ranges in the REPL: the window a query reads, the shortcuts that set it, and the
query behind the histogram of matching records.

Requires: compiled queries (their AST spans and the `time_range` the pushdown pass puts on
each scan). Guarantees: everything here is pure text and arithmetic, no I/O.
`histogram_query` keeps the stages
that select records (`where`, `since`, `between`, `parse`, `extend`) up to the first stage
that reshapes the rows, and counts them per `bin(timestamp, …)`. `choose_bucket` picks a
round width giving at most `max_buckets` buckets; `fill_buckets` lays counts on that grid
with zeros where nothing matched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starbase.compiler import ast, ir
from starbase.compiler.driver import CompiledQuery
from starbase.compiler.timestamps import format_duration, format_iso

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
BUCKETS = tuple(
    n * unit
    for n, unit in (
        (1, SECOND),
        (5, SECOND),
        (10, SECOND),
        (30, SECOND),
        (1, MINUTE),
        (5, MINUTE),
        (10, MINUTE),
        (15, MINUTE),
        (30, MINUTE),
        (1, HOUR),
        (3, HOUR),
        (6, HOUR),
        (12, HOUR),
        (1, DAY),
        (7, DAY),
        (30, DAY),
    )
)
_SELECTING = (ast.Where, ast.Since, ast.Between, ast.ParseGlob, ast.ParseRegex, ast.Extend)


@dataclass(frozen=True)
class Window:
    """A resolved time window [lower, upper) in ns; None on a side means unbounded."""

    lower: int | None
    upper: int | None
    label: str


def query_window(compiled: CompiledQuery, now_ns: int) -> Window:
    """The window the query's scans read, resolved against `now_ns`."""
    ranges = [
        n.time_range for n in ir.plan_walk(compiled.plan) if isinstance(n, ir.Scan) and n.time_range
    ]
    if not ranges:
        return Window(None, None, "all time")
    lower = _resolve(ranges[0].lower, now_ns)
    upper = _resolve(ranges[0].upper, now_ns)
    bound = ranges[0].lower
    if bound is not None and bound.base is None and bound.param is None and ranges[0].upper is None:
        return Window(lower, now_ns, f"last {format_duration(-bound.offset)}")
    if lower is not None and upper is not None:
        return Window(lower, upper, f"{_short(lower)} → {_short(upper)}")
    if lower is not None:
        return Window(lower, now_ns, f"since {_short(lower)}")
    if upper is not None:
        return Window(None, upper, f"until {_short(upper)}")
    return Window(None, None, "all time")


def _resolve(bound: ir.TimeBound | None, now_ns: int) -> int | None:
    if bound is None or bound.param is not None:
        return None
    return (now_ns if bound.base is None else bound.base) + bound.offset


def _short(ns: int) -> str:
    return format_iso(ns - ns % SECOND).replace("T", " ").removesuffix(":00Z") + "Z"


def histogram_query(compiled: CompiledQuery, bucket_ns: int) -> str:
    """StarQL counting the query's matching records per bucket, as columns `t`, `n`."""
    text = compiled.text
    query = compiled.ast
    parts = [text[query.source.span.start : query.source.span.end]]
    for stage in query.stages:
        if isinstance(stage, ast.Sort):
            continue
        if not isinstance(stage, _SELECTING):
            break
        parts.append(text[stage.span.start : stage.span.end])
    parts.append(f"stats count() as n by bin(timestamp, {format_duration(bucket_ns)}) as t")
    return "\n| ".join(parts)


def span_query(compiled: CompiledQuery) -> str:
    """StarQL for the first and last matching timestamps (`lo`, `hi`) and the count (`n`)."""
    head = histogram_query(compiled, MINUTE).rsplit("\n| ", 1)[0]
    return head + "\n| stats min(timestamp) as lo, max(timestamp) as hi, count() as n"


def choose_bucket(lower: int, upper: int, max_buckets: int) -> int:
    """The smallest round bucket width giving at most `max_buckets` buckets."""
    span = max(upper - lower, 1)
    for width in BUCKETS:
        if span / width <= max_buckets:
            return width
    return BUCKETS[-1]


def fill_buckets(
    pairs: Iterable[tuple[int, float]], lower: int, upper: int, bucket_ns: int
) -> tuple[int, list[float]]:
    """(start of the first bucket, values per bucket) over [lower, upper), zeros filled in."""
    first = lower - lower % bucket_ns
    last = max(upper - 1, lower)
    count = (last - last % bucket_ns - first) // bucket_ns + 1
    values = [0.0] * count
    for start, value in pairs:
        index = (start - first) // bucket_ns
        if 0 <= index < count:
            values[index] += value
    return first, values
