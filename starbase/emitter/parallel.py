"""Several emitter processes as one run, for load generation beyond one Python process.

Requires: `run.run`. Guarantees: `run_parallel(options, processes)` starts `processes` worker
processes (spawned, not forked: sinks start threads); worker i runs `run` with seed
`seed + i`, a share of the rate and of the count (the first workers take the remainder) and
the parent's start time, so together they cover the same simulated span at the asked rate —
each stream deterministic, their union not the records of a one-process run with that seed.
It returns one `Summary` adding up the workers' (the longest wall time) and prints its line,
as a one-process run does. Ctrl-C or SIGTERM reaches every worker, which flushes and reports.
"""

from __future__ import annotations

import io
import multiprocessing
import sys
from dataclasses import replace
from typing import TextIO

from starbase.emitter.run import MODES, Options, Summary, default_start, run
from starbase.emitter.sink import Delivery


def _worker(options: Options) -> Summary:
    return run(options, stream=io.StringIO(), progress=False)  # the parent reports


def shares(options: Options, processes: int) -> list[Options]:
    """Each worker's options (see the module docstring)."""
    start = default_start(options) if options.start_ns is None else options.start_ns
    out = []
    for index in range(processes):
        count = None
        if options.count is not None:
            count = options.count // processes + (1 if index < options.count % processes else 0)
        rate = None if options.rate is None else options.rate / processes
        out.append(
            replace(options, seed=options.seed + index, count=count, rate=rate, start_ns=start)
        )
    return out


def run_parallel(options: Options, processes: int, *, stream: TextIO | None = None) -> Summary:
    parts = shares(options, processes)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        summaries = pool.map(_worker, parts, chunksize=1)
    deliveries = [s.delivery for s in summaries]
    delivery = Delivery(
        sum(d.delivered for d in deliveries),
        sum(d.failed for d in deliveries),
        sum(d.requests for d in deliveries),
        next((d.problem for d in deliveries if d.problem), ""),
    )
    summary = Summary(
        options,
        MODES[options.mode].unit,
        sum(s.emitted for s in summaries),
        delivery,
        max(s.seconds for s in summaries),
        any(s.interrupted for s in summaries),
        parts[0].start_ns or 0,
    )
    print(f"{summary.line()} · {processes} processes", file=stream or sys.stderr)
    return summary
