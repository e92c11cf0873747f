"""Rule evaluation benchmark: 50 StarQL rules every 30 s over the 10M-record benchmark data.

Run: `python benchmarks/rules.py [--rows 10000000] [--days 30] [--rounds 6] [--interval 30]
[--workers 0]` (`make bench-rules`). The dataset is `benchmarks/query.py`'s (generated once
into `benchmarks/.data/` by its `dataset` function and reused). Five groups of ten rules
(error ratios, regex counts, distinct hosts, recorded counts, windows of 1 to 60 minutes)
run in the real evaluator (`starbase.rules.Evaluator`) on their 30 s schedule for `--rounds`
rounds, with the evaluator's clock set back so that "now" is the end of the dataset (the
queries' `since` windows fall on data). Printed: per round, how long the slowest group took
from its tick to its end (p50/p99 over rounds), each group's evaluation time, each rule's
query time (p50/p99), and the evaluations missed (`starbase_rule_group_iterations_missed_total`).
The machine's 2 cores are shared with other work: absolute figures are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from query import DEFAULT_DATA, END, dataset  # type: ignore[import-not-found]

from starbase.config import default_config
from starbase.rules.evaluator import Evaluator
from starbase.rules.execution import QueryRunner
from starbase.rules.loader import load_rule_files
from starbase.rules.metrics import Registry

TEMPLATES = (
    (
        "alert",
        "ErrorRatio{i}",
        'from otel | since {w}m | stats sum(if(severity >= "error", 1, 0)) / count() as value'
        " by service | where value > 0.{i}",
    ),
    (
        "alert",
        "Timeouts{i}",
        "from otel | since {w}m | where message ~ /timeout|refused/i"
        " | stats count() as value by service | where value > {i}",
    ),
    (
        "alert",
        "FewHosts{i}",
        "from otel | since {w}m | stats count_distinct(host) as value by service"
        " | where value < {i}",
    ),
    (
        "record",
        "records_by_level_{i}",
        "from otel | since {w}m | stats count() by service, severity_text",
    ),
    (
        "record",
        "warn_rate_{i}",
        'from otel | since {w}m | where severity >= "warn" | stats count() / {w}.0 as value'
        " by service",
    ),
)
WINDOWS = (1, 5, 5, 10, 15, 15, 30, 30, 60, 60)


def rule_file(folder: Path, interval_s: int) -> Path:
    groups = []
    for g, (kind, name, expr) in enumerate(TEMPLATES):
        rules = []
        for i, window in enumerate(WINDOWS):
            text = expr.format(i=i + 1, w=window)
            rules.append(f"      - {kind}: {name.format(i=i + 1)}\n        expr: '{text}'\n")
        groups.append(
            f"  - name: group{g}\n    interval: {interval_s}s\n    rules:\n" + "".join(rules)
        )
    path = folder / "bench-rules.yaml"
    path.write_text("groups:\n" + "".join(groups))
    return path


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--interval", type=int, default=30)
    parser.add_argument("--workers", type=int, default=0, help="query worker processes (0: inline)")
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()
    root = dataset(args.data or DEFAULT_DATA / f"otel-{args.rows}", args.rows, args.days)
    config = default_config(root)
    folder = Path(tempfile.mkdtemp(prefix="starbase-bench-rules-"))
    ruleset = load_rule_files([rule_file(folder, args.interval)], config)
    offset = time.time() - END / 1e9  # "now" is the end of the dataset
    metrics = Registry()
    evaluator = Evaluator(
        ruleset,
        QueryRunner(config, workers=args.workers),
        metrics=metrics,
        clock=lambda: time.time() - offset,
    )
    rule_times: list[float] = []
    group_times: dict[str, list[float]] = {g.name: [] for g in ruleset.groups}
    round_lag: dict[int, float] = {}
    original = evaluator.evaluate_group
    started_at = evaluator.clock()

    def timed_group(group, at):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        original(group, at)
        group_times[group.name].append(time.perf_counter() - began)
        index = round((at - started_at) / args.interval)
        round_lag[index] = max(round_lag.get(index, 0.0), evaluator.clock() - at)

    evaluator.evaluate_group = timed_group  # type: ignore[method-assign]
    original_run = evaluator.runner.run

    def timed_run(compiled, now_ns, timeout_s):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        try:
            return original_run(compiled, now_ns, timeout_s)
        finally:
            rule_times.append(time.perf_counter() - began)

    evaluator.runner.run = timed_run  # type: ignore[method-assign]

    async def run() -> None:
        task = asyncio.ensure_future(evaluator.run())
        await asyncio.sleep(args.interval * (args.rounds - 1) + 0.5)
        while len(round_lag) < args.rounds or any(
            len(t) < args.rounds for t in group_times.values()
        ):
            await asyncio.sleep(0.5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    where = f"on the shared Session, --workers {args.workers}"
    print(
        f"{args.rows:,} rows over {args.days} days; 50 rules in 5 groups every {args.interval} s; "
        f"{args.rounds} rounds; queries {where} (2 shared cores: absolute figures are noisy)"
    )
    asyncio.run(run())
    lags = [round_lag[i] for i in sorted(round_lag)][: args.rounds]
    missed = sum(
        metrics.value(
            "starbase_rule_group_iterations_missed_total", rule_group=f"{g.file};{g.name}"
        )
        for g in ruleset.groups
    )
    failures = sum(
        metrics.value(
            "starbase_rule_evaluation_failures_total", rule_group=f"{g.file};{g.name}", reason=r
        )
        for g in ruleset.groups
        for r in ("timeout", "error")
    )
    print(
        f"round (tick to last group done): p50 {statistics.median(lags):.3f} s, "
        f"p99 {percentile(lags, 99):.3f} s, "
        f"each: {', '.join(f'{v:.2f}' for v in lags)}"
    )
    for name, times in group_times.items():
        print(f"  {name}: p50 {statistics.median(times):.3f} s, p99 {percentile(times, 99):.3f} s")
    print(
        f"one rule's query: p50 {statistics.median(rule_times) * 1000:.0f} ms, "
        f"p99 {percentile(rule_times, 99) * 1000:.0f} ms ({len(rule_times)} queries)"
    )
    print(f"missed evaluations: {missed:.0f}; failed rule evaluations: {failures:.0f}")
    evaluator.runner.close()


if __name__ == "__main__":
    main()
