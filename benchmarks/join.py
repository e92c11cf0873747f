"""Join benchmark: StarQL `lookup`/`join` against DuckDB on the same files, same answer.

Run: `python benchmarks/join.py [--rows 10000000] [--right 100000] [--runs 3] [--data DIR]`
(`make bench-join`). The left side is the query benchmark's dataset (synthetic OTel logs,
`--rows` rows written once through the storage layer, compacted: `query.dataset`); the right
side is a Parquet table of `--right` trace ids taken from those rows (every one matches), each
with a label. Two questions, each answered by StarQL through a `Session` (compiled every run)
and by DuckDB over the same files:

- lookup: every row with its trace's label, a left join (`lookup traces on trace_id`), counted;
- join: the rows of traces that have an error, an inner join with a subquery of
  `--right`-ish rows (`join (from otel | where severity >= "error" | …) on trace_id`).

Each question runs once per engine to warm up, then `--runs` rounds in which each engine runs
it once, so that load from other jobs on a shared machine falls on both alike. Printed: median
wall and process CPU seconds per engine and the ratio StarQL/DuckDB; the answers must agree.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from query import DEFAULT_DATA, dataset

from starbase.config import config_from_dict
from starbase.runtime.session import Session
from starbase.storage.formats import OTEL


def right_table(root: Path, duck: duckdb.DuckDBPyConnection, rows: int) -> Path:
    """`rows` distinct trace ids of the data with a label each, as Parquet (written once)."""
    path = root / f"traces-{rows}.parquet"
    if not path.exists():
        ids = duck.sql(
            "SELECT DISTINCT trace_id FROM logs WHERE trace_id IS NOT NULL "
            f"ORDER BY hash(trace_id) LIMIT {rows}"
        ).to_arrow_table()
        labels = pa.array([f"label-{i % 97}" for i in range(ids.num_rows)], pa.string())
        pq.write_table(pa.table({"trace_id": ids.column(0), "label": labels}), path)
    return path


def measure(action: Callable[[], object]) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    answer = action()
    return time.perf_counter() - wall, time.process_time() - cpu, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--right", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    root = dataset(args.data / f"otel-{args.rows}", args.rows, args.days)
    duck = duckdb.connect()
    glob = str(root / OTEL.directory / "v2" / "**" / "*.parquet")  # the table's files
    duck.execute(
        f"""CREATE VIEW logs AS SELECT * REPLACE (lower(hex(trace_id)) AS trace_id)
            FROM read_parquet('{glob}', hive_partitioning = true,
            hive_types = {{'day': VARCHAR, 'by': VARCHAR}})"""
    )
    traces = right_table(root, duck, args.right)
    config = config_from_dict(
        {
            "sources": {"otel": {"format": "otel", "location": str(root)}},
            "lookups": {
                "traces": {
                    "path": str(traces),
                    "columns": {"trace_id": "string", "label": "string"},
                }
            },
        }
    )
    session = Session(config)
    errors = duck.sql("SELECT count(*) FROM logs WHERE severity_number >= 17").fetchall()[0]
    questions = {
        "lookup": (
            "from otel | lookup traces on trace_id | stats count() as n, count(label) as matched",
            f"""SELECT count(*) AS n, count(t.label) AS matched FROM logs l
                LEFT JOIN read_parquet('{traces}') t ON l.trace_id = t.trace_id""",
        ),
        "join": (
            'from otel | join (from otel | where severity >= "error" | fields trace_id, '
            "span_id) on trace_id | stats count() as n",
            """SELECT count(*) AS n FROM logs l JOIN (SELECT trace_id, span_id FROM logs
                WHERE severity_number >= 17) r ON l.trace_id = r.trace_id""",
        ),
    }
    print(
        f"left {args.rows:,} rows; lookup right side {args.right:,} rows; join right side "
        f"{errors[0] if errors else '?':,} rows (errors); median of {args.runs} runs; "
        "2 shared cores: compare the ratios, not the seconds"
    )
    print(f"{'question':<8} {'engine':<8} {'wall s':>8} {'cpu s':>8}  answer")
    for name, (starql, sql) in questions.items():
        engines = {
            "starql": lambda q=starql: session.run(session.compile(q)).to_pylist(),
            "duckdb": lambda s=sql: duck.sql(s).to_arrow_table().to_pylist(),
        }
        answers = {e: run() for e, run in engines.items()}  # warm-up, and the answers
        if answers["starql"] != answers["duckdb"]:
            sys.exit(f"{name}: the answers differ: {answers}")
        walls: dict[str, list[float]] = {e: [] for e in engines}
        cpus: dict[str, list[float]] = {e: [] for e in engines}
        for _ in range(args.runs):
            for engine, run in engines.items():
                wall, cpu, _answer = measure(run)
                walls[engine].append(wall)
                cpus[engine].append(cpu)
        for engine in engines:
            print(
                f"{name:<8} {engine:<8} {statistics.median(walls[engine]):>8.2f} "
                f"{statistics.median(cpus[engine]):>8.2f}  {answers[engine]}"
            )
        ratio = statistics.median(walls["starql"]) / statistics.median(walls["duckdb"])
        print(f"{name:<8} starql/duckdb wall ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
