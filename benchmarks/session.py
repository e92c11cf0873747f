"""What running queries in worker processes costs, next to running them in the session's process.

Usage: `python benchmarks/session.py [--rows 2000000] [--runs 5]` (or `make bench-session`).
Writes a synthetic OTel table once (`benchmarks/.data/session-ROWS/`), then runs each query
`--runs` times on a `Session` in this process (`workers=0`) and on one with a warm worker
process (`workers=1`, started and used once before timing), and prints per query the median
time to the first record batch, the median total time, rows per second and result bytes per
second for both, and their ratio. Queries: a small result (an aggregate of a few rows, where
only latency matters) and large ones (every row of a few columns; the whole row with its
maps), where the result crosses the process boundary as Arrow IPC.

Also measured: a worker's start (process + imports + first query), the time `cancel()` takes
to free its CPU in the middle of an aggregation (kill + reap), and the first query after a
cancel (the pool's replacement worker). Timings are wall clock on a shared 2-core machine:
read the ratios of one run, repeat to see the spread.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

from starbase.compiler.timestamps import parse_iso
from starbase.config import default_config
from starbase.runtime.errors import QueryCancelled
from starbase.runtime.session import Session

DEFAULT_DATA = Path(__file__).parent / ".data"
QUERIES = (
    ("small: stats by service", "from otel | stats count() as n, avg(severity) as s by service"),
    ("large: 3 columns", "from otel | fields timestamp, service, severity"),
    ("large: whole rows", "from otel"),
)
HEAVY = (
    "from otel | parse message /(?<a>\\w+)\\s+(?<b>\\w+)/"
    " | stats count_distinct(concat(message, tostring(timestamp), a, b)) as n"
)


def dataset(rows: int) -> Path:
    root = DEFAULT_DATA / f"session-{rows}"
    marker = root / ".complete-v2"  # the day layout; an older dataset is written again
    if not marker.exists():
        import shutil

        from synthetic import write_dataset

        shutil.rmtree(root, ignore_errors=True)
        print(f"writing {rows:,} synthetic records to {root} (once)…", flush=True)
        start = parse_iso("2026-11-01T00:00:00Z")
        write_dataset(root, rows, start_ns=start, span_ns=7 * 86_400 * 10**9, seed=3)
        marker.touch()
    return root


def measure(session: Session, text: str, runs: int) -> tuple[float, float, int, int]:
    """Median seconds to the first batch and in all, rows and result bytes."""
    compiled = session.compile(text)
    firsts, totals = [], []
    rows = size = 0
    for _ in range(runs):
        started = time.perf_counter()
        cursor = session.execute(compiled)
        first = None
        rows = size = 0
        for batch in cursor:
            if first is None:
                first = time.perf_counter() - started
            rows += batch.num_rows
            size += batch.nbytes
        totals.append(time.perf_counter() - started)
        firsts.append(first if first is not None else totals[-1])
    return statistics.median(firsts), statistics.median(totals), rows, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    config = default_config(dataset(args.rows))

    started = time.perf_counter()
    workers = Session(config, workers=1)
    workers.run(workers.compile("from otel | limit 1"))
    cold = time.perf_counter() - started
    inline = Session(config)
    inline.run(inline.compile("from otel | limit 1"))

    print(f"\n{args.rows:,} records; medians of {args.runs} runs; in-process vs worker process")
    print(
        f"{'query':<24} {'rows':>10} {'MB':>7} | {'first ms':>9} {'total ms':>9} {'Mrows/s':>8}"
        f" | {'first ms':>9} {'total ms':>9} {'Mrows/s':>8} | {'ratio':>6}"
    )
    for name, text in QUERIES:
        a_first, a_total, rows, size = measure(inline, text, args.runs)
        b_first, b_total, _, _ = measure(workers, text, args.runs)
        print(
            f"{name:<24} {rows:>10,} {size / 1e6:>7.1f} | {a_first * 1e3:>9.1f} "
            f"{a_total * 1e3:>9.1f} {rows / a_total / 1e6:>8.2f} | {b_first * 1e3:>9.1f} "
            f"{b_total * 1e3:>9.1f} {rows / b_total / 1e6:>8.2f} | {b_total / a_total:>5.2f}x"
        )

    cursor = workers.execute(workers.compile(HEAVY))
    time.sleep(1.0)
    (pid,) = workers.worker_pids
    began = time.perf_counter()
    cursor.cancel()
    while Path(f"/proc/{pid}").exists():
        time.sleep(0.001)
    freed = time.perf_counter() - began
    with contextlib.suppress(QueryCancelled):
        cursor.fetch_all()
    began = time.perf_counter()
    workers.run(workers.compile("from otel | stats count() as n"))
    after = time.perf_counter() - began
    print(f"\nworker start (process, imports, first query): {cold * 1e3:.0f} ms")
    print(f"cancel mid-aggregation until the worker's CPU is free: {freed * 1e3:.1f} ms")
    print(f"first query after a cancel (the replacement worker): {after * 1e3:.0f} ms")
    workers.close()
    inline.close()


if __name__ == "__main__":
    main()
