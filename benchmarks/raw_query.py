"""Query-time extraction over raw lines vs the same fields pre-parsed into columns.

One command: `python -m benchmarks.raw_query [--lines N]` (default 1,000,000). Writes N nginx
access lines as a raw source (Starbase's raw table) and the same records as OTel rows whose
`status` is an attribute column already, then times `stats count() by attributes.status` and a
filtered count on both, best of 3, and prints each time and the ratio (raw / pre-parsed). Both
run in one process on the same DataFusion engine; absolute times are noisy on a shared
machine, the ratio less so.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyarrow as pa

import starbase
from starbase.config import load_config
from starbase.storage.table import open_table

MAPPING = r"""
kind: raw
name: nginx
shapes:
  - name: access
    parse:
      kind: grok
      pattern: >-
        ^%{IPORHOST:client} \S+ %{USER:user} \[%{HTTPDATE:time}\]
        "%{WORD:method} %{NOTSPACE:path} %{DATA:protocol}" %{INT:status} %{INT:bytes}
    timestamp: {field: time, format: apache}
"""
QUERIES = (
    "stats count() by attributes.status",
    'where attributes.status == "404" | stats count()',
    'where timestamp >= "2026-10-10T13:30:00Z" | stats count()',
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    n = parser.parse_args().lines
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        now = time.time_ns()
        statuses = [404 if i % 7 == 0 else 200 for i in range(n)]
        lines = [
            f"10.0.{i % 250}.{i % 200} - - [10/Oct/2026:13:{(i // 60) % 60:02d}:{i % 60:02d} +0000] "  # noqa: E501
            f'"GET /api/{i % 1000} HTTP/1.1" {statuses[i]} {i % 5000} "-" "curl/8"'
            for i in range(n)
        ]
        raw = pa.table(
            {
                "received_time_unix_nano": pa.array([now] * n, pa.int64()),
                "line": lines,
                "source": ["nginx"] * n,
            }
        )
        open_table(root, "raw").append(raw)
        del raw, lines
        base = 1_791_640_800 * 1_000_000_000  # 2026-10-10T13:20:00Z
        otel = pa.table(
            {
                "time_unix_nano": pa.array(
                    [
                        base + ((i // 60) % 60) * 60_000_000_000 + (i % 60) * 1_000_000_000
                        for i in range(n)
                    ],
                    pa.int64(),
                ),
                "body": [f"GET /api/{i % 1000}" for i in range(n)],
                "log_attributes": pa.array(
                    [[("status", str(s))] for s in statuses], pa.map_(pa.string(), pa.string())
                ),
                "service": ["nginx"] * n,
            }
        )
        open_table(root, "otel").append(otel)
        del otel
        (root / "nginx.yaml").write_text(MAPPING)
        (root / "starbase.toml").write_text(
            f'[sources.nginx]\nformat = "raw"\nlocation = "{root}"\nmapping = "nginx.yaml"\n\n'
            f'[sources.otel]\nformat = "otel"\nlocation = "{root}"\n'
        )
        config = load_config(root / "starbase.toml")
        print(f"{n:,} nginx lines: raw (extracted at query time) vs pre-parsed (OTel columns)")
        for query in QUERIES:
            times = {}
            for source in ("nginx", "otel"):
                compiled = starbase.compile(f"from {source} | {query}", config)
                best = float("inf")
                for _ in range(3):
                    began = time.perf_counter()
                    compiled.run()
                    best = min(best, time.perf_counter() - began)
                times[source] = best
            ratio = times["nginx"] / times["otel"]
            print(
                f"  {query:<55} raw {times['nginx'] * 1000:8.0f} ms   "
                f"pre-parsed {times['otel'] * 1000:7.0f} ms   ratio {ratio:5.1f}x"
            )


if __name__ == "__main__":
    main()
