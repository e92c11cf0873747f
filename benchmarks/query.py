"""Query benchmark: StarQL vs the same SQL hand-written on DataFusion vs DuckDB, same files.

Run: `python benchmarks/query.py [--rows 10000000] [--days 30] [--runs 5] [--data DIR]`
(`make bench-query`). The dataset (synthetic OTel logs in the stored layout, hive-partitioned
by hour and service) is generated once into `benchmarks/.data/` and reused. Each query runs
once to warm up, then `--runs` times each way, interleaved; the table shows medians and the
ratios StarQL/DataFusion and StarQL/DuckDB. StarQL timings include compiling (parse through
SQL) on every run. The 1-hour-window query's bytes scanned come from DataFusion's EXPLAIN
ANALYZE metrics and are compared with the dataset's size on disk. Prints figures only.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

import starbase
from starbase.compiler.timestamps import format_iso, parse_iso
from starbase.config import default_config
from starbase.runtime.engine import new_session
from starbase.storage.formats import OTEL as STORED_FORMAT
from synthetic import write_dataset
from starbase.storage.table import open_table

END = parse_iso("2026-11-01T00:00:00Z")
HOUR = 3_600 * 10**9
DEFAULT_DATA = Path(__file__).parent / ".data"


def queries(start: int, end: int, trace_id: str) -> list[tuple[str, str, str, str]]:
    """(name, StarQL, hand-written DataFusion SQL, DuckDB SQL) over the same question."""
    window_lo, window_hi = end - 30 * HOUR, end - 29 * HOUR
    lo_iso, hi_iso = format_iso(window_lo), format_iso(window_hi)
    hour_lo, hour_hi = lo_iso[:13], format_iso(window_hi - 1)[:13]
    duck_src = "logs"
    return [
        (
            "count by service",
            "from otel | stats count() as n by service",
            "SELECT service, count(*) AS n FROM otel GROUP BY service",
            f"SELECT service, count(*) AS n FROM {duck_src} GROUP BY service",
        ),
        (
            "severity filter",
            'from otel | where severity >= "error" | stats count() as n by service, severity',
            "SELECT service, severity_number, count(*) AS n FROM otel "
            "WHERE severity_number >= 17 GROUP BY service, severity_number",
            f"SELECT service, severity_number, count(*) AS n FROM {duck_src} "
            "WHERE severity_number >= 17 GROUP BY service, severity_number",
        ),
        (
            "regex search",
            "from otel | where message ~ /timeout|refused/i | stats count() as n",
            "SELECT count(*) AS n FROM otel WHERE regexp_like(body, '(?i)timeout|refused')",
            f"SELECT count(*) AS n FROM {duck_src} "
            "WHERE regexp_matches(body, '(?i)timeout|refused')",
        ),
        (
            "parse + stats",
            'from otel | where service == "gateway"'
            ' | parse message "* * * *" as method, path, status, took'
            " | stats count() as n by status | sort n desc",
            "SELECT regexp_match(body, '^(.*?) (.*?) (.*?) (.*?)$')[3] AS status, count(*) AS n "
            "FROM otel WHERE service = 'gateway' GROUP BY 1 ORDER BY n DESC",
            f"SELECT regexp_extract(body, '^(.*?) (.*?) (.*?) (.*?)$', 3) AS status, count(*) AS n "
            f"FROM {duck_src} WHERE service = 'gateway' GROUP BY 1 ORDER BY n DESC",
        ),
        (
            "time buckets",
            'from otel | where severity >= "warn" | stats count() as n by bin(timestamp, 1h) as h'
            " | sort h",
            "SELECT date_bin(INTERVAL '1 hour', to_timestamp_nanos(time_unix_nano), "
            "to_timestamp_nanos(0)) AS h, count(*) AS n FROM otel WHERE severity_number >= 13 "
            "GROUP BY 1 ORDER BY h",
            f"SELECT time_bucket(INTERVAL 1 HOUR, make_timestamp(time_unix_nano // 1000)) AS h, "
            f"count(*) AS n FROM {duck_src} WHERE severity_number >= 13 GROUP BY 1 ORDER BY h",
        ),
        (
            "top-N",
            "from otel | stats avg(attributes.duration_ms) as avg_ms by service, host"
            " | sort avg_ms desc | limit 5",
            "SELECT service, resource_attributes['host.name'] AS host, "
            "avg(try_cast(log_attributes['duration_ms'] AS DOUBLE)) AS avg_ms FROM otel "
            "GROUP BY 1, 2 ORDER BY avg_ms DESC NULLS LAST LIMIT 5",
            f"SELECT service, resource_attributes['host.name'] AS host, "
            f"avg(try_cast(log_attributes['duration_ms'] AS DOUBLE)) AS avg_ms FROM {duck_src} "
            f"GROUP BY 1, 2 ORDER BY avg_ms DESC NULLS LAST LIMIT 5",
        ),
        (
            "trace lookup",
            f'from otel | where trace_id == "{trace_id}" | fields timestamp, service, message'
            " | sort timestamp",
            "SELECT to_timestamp_nanos(time_unix_nano) AS timestamp, service, body AS message "
            f"FROM otel WHERE trace_id = '{trace_id}' ORDER BY timestamp",
            f"SELECT time_unix_nano AS timestamp, service, body AS message FROM {duck_src} "
            f"WHERE trace_id = '{trace_id}' ORDER BY timestamp",
        ),
        (
            "1-hour window",
            f'from otel | between "{lo_iso}" and "{hi_iso}" | stats count() as n, '
            "pct(attributes.duration_ms, 95) as p95 by service",
            "SELECT service, count(*) AS n, percentile_cont(0.95) WITHIN GROUP "
            "(ORDER BY try_cast(log_attributes['duration_ms'] AS DOUBLE)) AS p95 FROM otel "
            f"WHERE time_unix_nano >= {window_lo} AND time_unix_nano < {window_hi} "
            f"AND hour >= '{hour_lo}' AND hour <= '{hour_hi}' GROUP BY service",
            f"SELECT service, count(*) AS n, quantile_cont(try_cast(log_attributes['duration_ms'] "
            f"AS DOUBLE), 0.95) AS p95 FROM {duck_src} WHERE time_unix_nano >= {window_lo} "
            f"AND time_unix_nano < {window_hi} AND hour >= '{hour_lo}' AND hour <= '{hour_hi}' "
            "GROUP BY service",
        ),
        (
            "errors last day",
            f'from otel | between "{format_iso(end - 24 * HOUR)}" and "{format_iso(end)}"'
            ' | where severity >= "error" | stats count() as n by service | sort n desc',
            "SELECT service, count(*) AS n FROM otel WHERE time_unix_nano >= "
            f"{end - 24 * HOUR} AND time_unix_nano < {end} AND severity_number >= 17 "
            f"AND hour >= '{format_iso(end - 24 * HOUR)[:13]}' AND hour <= "
            f"'{format_iso(end - 1)[:13]}' GROUP BY service ORDER BY n DESC",
            f"SELECT service, count(*) AS n FROM {duck_src} WHERE time_unix_nano >= "
            f"{end - 24 * HOUR} AND time_unix_nano < {end} AND severity_number >= 17 "
            f"AND hour >= '{format_iso(end - 24 * HOUR)[:13]}' AND hour <= "
            f"'{format_iso(end - 1)[:13]}' GROUP BY service ORDER BY n DESC",
        ),
    ]


def dataset(root: Path, rows: int, days: int) -> Path:
    marker = root / f"rows={rows},days={days},layout=index.done"
    if marker.exists():
        return root
    if root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True)
    started = time.perf_counter()
    write_dataset(root, rows, start_ns=END - days * 24 * HOUR, span_ns=days * 24 * HOUR, seed=1)
    # As the router's background compaction leaves it: every partition merged into compacted/.
    table = open_table(root, "otel")
    table.compact()
    table.vacuum(grace_s=0)
    print(f"generated {rows:,} rows in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    marker.touch()
    return root


def timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()
    root = dataset(args.data or DEFAULT_DATA / f"otel-{args.rows}", args.rows, args.days)
    table_dir = root / STORED_FORMAT.directory / "compacted"  # everything, after compaction
    files = list(table_dir.rglob("*.parquet"))
    total_bytes = sum(f.stat().st_size for f in files)
    print(f"dataset: {args.rows:,} rows, {len(files):,} files, {total_bytes / 2**20:.1f} MiB")

    config = default_config(root)
    hand = new_session()  # the same session settings as Starbase's engine
    hand.register_listing_table(
        "otel",
        str(table_dir) + "/",
        table_partition_cols=[("hour", pa.string()), ("service", pa.string()), ("g", pa.string())],
        file_extension=".parquet",
        schema=STORED_FORMAT.schema,
    )
    duck = duckdb.connect()
    duck.execute(
        "CREATE VIEW logs AS SELECT * FROM read_parquet("
        f"'{table_dir}/**/*.parquet', hive_partitioning = true)"
    )
    trace_id = duck.sql("SELECT trace_id FROM logs WHERE trace_id IS NOT NULL LIMIT 1").fetchall()[
        0
    ][0]

    start = END - args.days * 24 * HOUR
    rows_out = []
    engine_query = starbase.compile("from otel | limit 1", config)
    engine_query.run()  # create the engine once; runs below share its session
    for name, starql, df_sql, duck_sql in queries(start, END, trace_id):

        def run_starql(text: str = starql) -> None:
            compiled = starbase.compile(text, config)
            compiled._engines.update(engine_query._engines)
            compiled.run()

        ways = {
            "starql": run_starql,
            "datafusion": lambda q=df_sql: hand.sql(q).to_arrow_table(),
            "duckdb": lambda q=duck_sql: duck.sql(q).to_arrow_table(),
        }
        for action in ways.values():  # warm-up
            action()
        samples: dict[str, list[float]] = {w: [] for w in ways}
        for _ in range(args.runs):
            for way, action in ways.items():
                samples[way].append(timed(action))
        medians = {w: statistics.median(s) * 1000 for w, s in samples.items()}
        rows_out.append((name, medians))

    print(
        f"\n{'query':<18} {'StarQL ms':>10} {'DataFusion':>11} {'DuckDB':>9} "
        f"{'vs DF':>7} {'vs DuckDB':>10}"
    )
    for name, m in rows_out:
        print(
            f"{name:<18} {m['starql']:>10.1f} {m['datafusion']:>11.1f} {m['duckdb']:>9.1f} "
            f"{m['starql'] / m['datafusion']:>6.2f}x {m['starql'] / m['duckdb']:>9.2f}x"
        )
    ratios_df = [m["starql"] / m["datafusion"] for _, m in rows_out]
    ratios_duck = [m["starql"] / m["duckdb"] for _, m in rows_out]
    print(
        f"{'median ratio':<18} {'':>10} {'':>11} {'':>9} "
        f"{statistics.median(ratios_df):>6.2f}x {statistics.median(ratios_duck):>9.2f}x"
    )

    name, starql, _, _ = queries(start, END, trace_id)[7]
    compiled = starbase.compile(starql, config)
    analyzed = compiled._engine().explain(compiled.plan, {}, analyze=True)
    scanned = sum(
        _size(n, unit) for n, unit in re.findall(r"bytes_scanned=([\d.]+) ?([KMGT]?)", analyzed)
    )
    opened = sum(int(n) for n in re.findall(r"files_opened=(\d+)", analyzed))
    print(
        f"\n{name}: EXPLAIN ANALYZE bytes_scanned={scanned:,.0f} of {total_bytes:,} bytes on disk"
        f" = 1/{total_bytes / max(scanned, 1):,.0f} of the dataset; files_opened={opened}"
        f" of {len(files):,}"
    )


def _size(number: str, unit: str) -> float:
    return float(number) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[unit]


if __name__ == "__main__":
    main()
