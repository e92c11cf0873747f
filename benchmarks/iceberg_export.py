"""Is an Iceberg export of a stored table worth it for Athena/Trino? Measures what it costs.

Run in an environment of its own (pyiceberg is not a Starbase dependency):

    python -m venv /tmp/ice
    /tmp/ice/bin/pip install "pyiceberg[sql-sqlite,pyarrow]" numpy pyyaml pydantic
    PYTHONPATH=. /tmp/ice/bin/python benchmarks/iceberg_export.py --data DATA_FOLDER

The export registers the committed snapshot's Parquet files in an Iceberg table (`add_files`:
metadata only, no data rewritten) in a SQLite catalog with a local warehouse, then plans the
scans Athena/Trino would plan (whole table; a one-hour window on the time column) from the
Iceberg manifests, next to Starbase's own index doing the same. Prints figures only; the
machine is shared, so compare figures of one run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

from starbase.storage.table import open_table

HOUR_NS = 3_600 * 10**9


def median_ms(action: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    table = open_table(args.data, "otel")
    state = table.snapshot()
    files = table.files(state)
    root = args.data / table.format.directory
    paths = [str((Path(root) / f.path).resolve()) for f in files]
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise SystemExit(f"files not found under {root}: {missing[0]}")
    lo = min(f.min_ns for f in files)
    window = (lo + 15 * 24 * HOUR_NS, lo + 15 * 24 * HOUR_NS + HOUR_NS)

    with tempfile.TemporaryDirectory() as warehouse:
        catalog = SqlCatalog(
            "bench", uri=f"sqlite:///{warehouse}/catalog.db", warehouse=f"file://{warehouse}"
        )
        catalog.create_namespace("starbase")
        import pyarrow.parquet as pq

        schema = pq.read_schema(paths[0])
        iceberg = catalog.create_table("starbase.otel", schema=schema)
        started = time.perf_counter()
        iceberg.add_files(paths)
        export_ms = (time.perf_counter() - started) * 1000
        metadata = sum(p.stat().st_size for p in Path(warehouse).rglob("*") if p.is_file())

        one_commit_ms = median_ms(lambda: iceberg.refresh(), 3)

        hour = And(
            GreaterThanOrEqual("time_unix_nano", window[0]),
            LessThan("time_unix_nano", window[1]),
        )
        plan_all = median_ms(lambda: list(catalog.load_table("starbase.otel").scan().plan_files()))
        plan_hour = median_ms(
            lambda: list(catalog.load_table("starbase.otel").scan(row_filter=hour).plan_files())
        )
        hour_files = len(list(iceberg.scan(row_filter=hour).plan_files()))

    def ours_all() -> object:
        reopened = open_table(args.data, "otel")
        return reopened.files(reopened.snapshot())

    def ours_hour() -> object:
        reopened = open_table(args.data, "otel")
        return [
            f
            for f in reopened.files(reopened.snapshot())
            if f.max_ns >= window[0] and f.min_ns < window[1]
        ]

    print(f"table: {state.rows:,} rows in {len(files)} committed files ({args.data})")
    print(
        f"export (add_files, metadata only): {export_ms:,.0f} ms;"
        f" metadata {metadata / 1024:,.0f} KiB"
    )
    print(f"catalog refresh (load the current snapshot): {one_commit_ms:.1f} ms")
    print(
        f"plan, whole table:  Iceberg {plan_all:7.1f} ms"
        f"   Starbase index {median_ms(ours_all):7.1f} ms"
    )
    print(
        f"plan, one hour:     Iceberg {plan_hour:7.1f} ms ({hour_files} files)"
        f"   Starbase index {median_ms(ours_hour):7.1f} ms ({len(ours_hour())} files)"  # type: ignore[arg-type]
    )


if __name__ == "__main__":
    main()
