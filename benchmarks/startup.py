"""How long the `starbase` command takes to start: `--help`, and a query over a small table.

Usage: `python benchmarks/startup.py [--runs 15]` (or `make bench-startup`). Runs each command
`--runs` times after one warm-up (the OS file cache and Starbase's parser cache are then warm,
as for a user who has run Starbase before), like hyperfine, and prints the median, the
fastest and the 90th percentile wall time, and the median CPU time (user + system of the
process: what the command costs, less sensitive than wall time to other work on the
machine), next to the interpreter's own start (`python -c pass`) measured the same way in
the same run. The query reads a 1,000-record table written to a temporary folder. The
machine is shared: compare the figures of one run with each other, not across runs.

Targets (issue 13): `starbase --help` ≤ 0.25 s, `starbase query` on a small table ≤ 0.6 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from starbase.compiler.timestamps import parse_iso

BIN = Path(sys.executable).parent


def timed(command: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each run of `command`."""
    subprocess.run(command, capture_output=True, check=True)  # warm-up
    walls, cpus = [], []
    for _ in range(runs):
        before = os.times()
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        walls.append(time.perf_counter() - started)
        after = os.times()
        cpus.append(
            after.children_user
            - before.children_user
            + after.children_system
            - before.children_system
        )
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    starbase = str(BIN / "starbase")
    with tempfile.TemporaryDirectory() as folder:
        from synthetic import write_dataset

        start = parse_iso("2026-11-20T00:00:00Z")
        write_dataset(Path(folder), 1_000, start_ns=start, span_ns=3_600 * 10**9, seed=1)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "starbase --help": [starbase, "--help"],
            "starbase compile": [starbase, "compile", "from otel | where severity >= 'warn'"],
            "starbase query (1k rows)": [
                starbase,
                "query",
                "--data",
                folder,
                "from otel | stats count() as n by service",
            ],
        }
        results = {name: timed(command, args.runs) for name, command in commands.items()}
    print(
        f"{'command':<26} {'median s':>9} {'min s':>7} {'p90 s':>7} {'CPU s':>7}"
        f"   (wall, then median CPU; {args.runs} runs each)"
    )
    for name, (walls, cpus) in results.items():
        ordered = sorted(walls)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        print(
            f"{name:<26} {statistics.median(walls):>9.3f} {ordered[0]:>7.3f} {p90:>7.3f}"
            f" {statistics.median(cpus):>7.3f}"
        )


if __name__ == "__main__":
    main()
