"""Compile-time benchmark: typical StarQL queries through parse → … → plan.

Run with `python benchmarks/compile.py` (or `make bench`). For each query it times the whole
pipeline (`driver.run_pipeline`, warm: the grammar and mappings are loaded first) and parsing
alone, over many runs, and prints the median and 95th percentile in microseconds, then the
overall median. The target is a median under 1 ms per query. Figures only: nothing is
asserted, so a slow machine never fails a build.

    --runs N       timed runs per query (default 300)
    --profile      also print a cProfile of the whole set (the top functions by own time)
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import statistics
import time
from collections.abc import Callable
from functools import partial

from starbase.compiler.driver import Context, run_pipeline
from starbase.compiler.grammar.parser import parse
from starbase.config import Config, SourceConfig

CONFIG = Config(
    (
        SourceConfig("otel", "otel", "/nonexistent/starbase-data"),
        SourceConfig(
            "lambda", "cloudwatch", log_groups=("/aws/lambda/checkout",), region="us-east-1"
        ),
    )
)

QUERIES: dict[str, str] = {
    "simple filter": 'from otel | where service == "checkout" | limit 100',
    "severity + regex": (
        'from otel | where severity >= "warn" and message ~ /timeout|refused/i | limit 50'
    ),
    "since + stats by bin": (
        "from otel | since 1h | stats count() as n by service, bin(timestamp, 5m) as bucket"
        " | sort bucket"
    ),
    "parse + stats": (
        'from otel | parse message "GET * HTTP/*" as path, version'
        " | stats count() as hits, avg(attributes.duration_ms) as avg_ms by path"
        " | sort hits desc"
    ),
    "top-N": (
        'from otel | since 24h | where severity >= "error"'
        " | stats count() as errors by service | sort errors desc | limit 10"
    ),
    "trace lookup": (
        'from otel | where trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"'
        " | fields timestamp, service, span_id, message | sort timestamp"
    ),
    "multi-source": (
        "from otel, lambda | since 1h"
        ' | where severity >= "warn" and message ~ /timeout|refused/i'
        " | stats count() as n, pct(attributes.duration_ms, 95) as p95"
        " by service, bin(timestamp, 5m) as bucket | sort n desc | limit 20"
    ),
    "dedup": "from otel | since 15m | sort timestamp desc | dedup service, host | limit 100",
    "extend + fields": (
        "from otel | extend ms = tonumber(attributes.duration_ms), svc = lower(service)"
        ' | where ms > 250 | fields timestamp, svc, ms, if(ms > 1000, "slow", "ok") as speed'
    ),
    "between + parse regex": (
        'from otel | between "2026-11-27T00:00:00Z" and "2026-11-28T00:00:00Z"'
        " | parse message /user=(?<user>\\w+) status=(?<status>\\d+)/"
        " | where status >= 500 | stats count_distinct(user) as users by status"
    ),
}


def measure(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median and 95th percentile of `runs` calls of `fn`, in microseconds."""
    fn()  # warm
    samples: list[float] = []
    gc.collect()
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1_000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.95 * len(samples)))]


def main(argv: list[str] | None = None) -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--runs", type=int, default=300)
    args.add_argument("--profile", action="store_true")
    options = args.parse_args(argv)
    context = Context(CONFIG)
    run_pipeline(QUERIES["simple filter"], context)  # load the grammar and the mappings

    width = max(len(name) for name in QUERIES)
    print(f"{options.runs} runs per query; times in µs (median / p95); target: median < 1000")
    print(f"{'query':<{width}}  {'compile':>9} {'p95':>9}  {'parse':>9} {'p95':>9}")
    medians: list[float] = []
    parse_medians: list[float] = []
    for name, text in QUERIES.items():
        median, p95 = measure(partial(run_pipeline, text, context), options.runs)
        p_median, p_p95 = measure(partial(parse, text), options.runs)
        medians.append(median)
        parse_medians.append(p_median)
        flag = "  over 1 ms" if median > 1000 else ""
        print(f"{name:<{width}}  {median:9.0f} {p95:9.0f}  {p_median:9.0f} {p_p95:9.0f}{flag}")
    print(
        f"{'overall median':<{width}}  {statistics.median(medians):9.0f} {'':9}"
        f"  {statistics.median(parse_medians):9.0f}"
    )

    if options.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(50):
            for text in QUERIES.values():
                run_pipeline(text, context)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())


if __name__ == "__main__":
    main()
