"""Spark (local) against DataFusion: the query benchmark's questions, same files, same StarQL.

Run: `python benchmarks/spark.py [--rows 1000000] [--days 30] [--runs 3] [--master local[2]]`
(`make bench-spark`). The dataset is the query benchmark's (`query.dataset`: synthetic OTel
logs written through the storage layer and compacted, in `benchmarks/.data/otel-<rows>/`).
Both engines run through a Starbase `Session` (compiling every time); each question runs
once per engine to warm up (Spark's first query also starts its JVM: reported apart), then
`--runs` rounds in which each engine runs it once, so load from other jobs on a shared
machine falls on both alike. Printed: per question the median wall time of each engine, the
ratio Spark/DataFusion, whether the answers have the same row count, and the median ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from query import DEFAULT_DATA, END, dataset
from questions import questions

from starbase.config import default_config
from starbase.runtime.session import Session
from starbase.storage.table import open_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()
    root = dataset(args.data or DEFAULT_DATA / f"otel-{args.rows}", args.rows, args.days)
    table = open_table(root, "otel")
    files = table.files()
    print(f"dataset: {args.rows:,} rows over {args.days} days, {len(files)} files")
    config = default_config(root)
    sessions = {
        "datafusion": Session(config),
        "spark": Session(config, engine="spark", engine_options={"master": args.master}),
    }
    started = time.perf_counter()
    sessions["spark"].run(sessions["spark"].compile("from otel | limit 1"))
    print(f"spark session start and first query: {time.perf_counter() - started:.1f} s")
    first = next(f for f in files if f.rows)
    trace = table.read_file(first).column("trace_id").drop_null()[0].as_py().hex()
    rows: list[tuple[str, float, float, bool]] = []
    for question in questions(END, trace):
        answers = {}
        for name, session in sessions.items():  # warm-up
            answers[name] = session.run(session.compile(question.starql)).num_rows
        samples: dict[str, list[float]] = {name: [] for name in sessions}
        for _ in range(args.runs):
            for name, session in sessions.items():
                began = time.perf_counter()
                session.run(session.compile(question.starql))
                samples[name].append(time.perf_counter() - began)
        df, sp = (statistics.median(samples[n]) * 1e3 for n in ("datafusion", "spark"))
        same = answers["datafusion"] == answers["spark"]
        rows.append((question.name, df, sp, same))
        print(f"  {question.name}: datafusion {df:.0f} ms, spark {sp:.0f} ms", file=sys.stderr)
    print(f"\n{'question':<28} {'DataFusion ms':>14} {'Spark ms':>10} {'Spark/DF':>9}  rows agree")
    for name, df, sp, same in rows:
        print(f"{name:<28} {df:>14.0f} {sp:>10.0f} {sp / df:>8.1f}x  {'yes' if same else 'NO'}")
    ratio = statistics.median(sp / df for _, df, sp, _ in rows)
    print(f"median ratio Spark/DataFusion: {ratio:.1f}x (master {args.master})")
    for session in sessions.values():
        session.close()


if __name__ == "__main__":
    main()
