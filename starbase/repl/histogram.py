"""The series above the results: matching records per time bucket, or a `stats … by bin()`
result read as a series.

Requires: a `Backend` to run StarQL (the same one the query ran on, so the histogram counts
exactly what the query matched) and the query's compiled form, parameters and clock.
Guarantees: `count_over_time` runs at most two small aggregate queries derived from the
query's own text (`timerange.span_query` when the query's window is open, then
`timerange.histogram_query`), honours the run's cancel event, and returns a `Series` over
the query's window with empty buckets as zeros (None when nothing matched);
`stats_series` reads a `stats … by bin(timestamp, D)` result without running anything.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.compiler import ast
from starbase.compiler.driver import CompiledQuery, compile
from starbase.compiler.types import Type
from starbase.config import Config
from starbase.repl.chart import Series
from starbase.repl.runner import Backend, RunRequest
from starbase.repl.timerange import (
    MINUTE,
    choose_bucket,
    fill_buckets,
    histogram_query,
    query_window,
    span_query,
)

MAX_BUCKET_ROWS = 1_000_000


def count_over_time(
    backend: Backend,
    config: Config,
    compiled: CompiledQuery,
    params: Mapping[str, object],
    now_ns: int,
    cancel: threading.Event,
    width: int,
) -> Series | None:
    """Matching records per bucket, at most `width` buckets over the query's window."""

    def run(text: str) -> pa.Table:
        request = RunRequest(compile(text, config), params, now_ns, MAX_BUCKET_ROWS, cancel)
        return backend.execute(request).table

    window = query_window(compiled, now_ns)
    lower, upper = window.lower, window.upper
    if lower is None or upper is None:
        extent = run(span_query(compiled))
        if extent.num_rows == 0 or not extent.column("n")[0].as_py():
            return None
        first = extent.column("lo").cast(pa.int64())[0].as_py()
        last = extent.column("hi").cast(pa.int64())[0].as_py()
        lower = lower if lower is not None else first
        upper = upper if upper is not None else last + 1
    bucket = choose_bucket(lower, upper, width)
    counts = run(histogram_query(compiled, bucket))
    stamps = counts.column("t").cast(pa.int64()).to_pylist()
    numbers = counts.column("n").to_pylist()
    pairs = [(t, float(n)) for t, n in zip(stamps, numbers, strict=True) if t is not None]
    if not pairs:
        return None
    start, values = fill_buckets(pairs, lower, upper, bucket)
    return Series(start, bucket, tuple(values), "records")


def stats_series(compiled: CompiledQuery, table: pa.Table, now_ns: int) -> Series | None:
    """The chart of a `stats … by bin(timestamp, D)` result: its first numeric column per
    bucket (summed over any other `by` keys), or None when the result is not such a series."""
    stats = [s for s in compiled.ast.stages if isinstance(s, ast.Stats)]
    bins = [
        item.expr
        for s in stats[-1:]
        for item in s.by
        if isinstance(item.expr, ast.Call) and item.expr.name.lower() == "bin"
    ]
    if not bins or table.num_rows == 0:
        return None
    kinds = {c.name: c.type for c in compiled.columns}
    times = [n for n in table.column_names if kinds.get(n) is Type.TIMESTAMP]
    values = [n for n in table.column_names if kinds.get(n) in (Type.INT, Type.FLOAT)]
    if len(times) != 1 or not values:
        return None
    time_name, value_name = times[0], values[0]
    stamps = table.column(time_name).cast(pa.int64()).to_pylist()
    numbers = table.column(value_name).cast(pa.float64()).to_pylist()
    pairs = [(t, v) for t, v in zip(stamps, numbers, strict=True) if t is not None and v]
    width = bins[0].args[1] if len(bins[0].args) == 2 else None
    bucket = width.nanos if isinstance(width, ast.DurationLit) else _smallest_step(stamps)
    if not pairs or bucket <= 0:
        return None
    window = query_window(compiled, now_ns)
    lower = window.lower if window.lower is not None else min(t for t, _ in pairs)
    upper = window.upper if window.upper is not None else max(t for t, _ in pairs) + bucket
    if (upper - lower) // bucket > 20_000:  # an open-ended window: chart the data's extent
        lower, upper = min(t for t, _ in pairs), max(t for t, _ in pairs) + bucket
    start, filled = fill_buckets(pairs, lower, upper, bucket)
    others = [n for n in table.column_names if n not in (time_name, value_name) and n not in values]
    title = f"{value_name} by {time_name}" + (
        f", summed over {', '.join(others)}" if others else ""
    )
    return Series(start, bucket, tuple(filled), title)


def _smallest_step(stamps: list[int | None]) -> int:
    distinct = sorted({t for t in stamps if t is not None})
    steps = [b - a for a, b in itertools.pairwise(distinct) if b > a]
    return min(steps) if steps else MINUTE
