"""Per-record cost of each stage of the router's OTLP commit path, the decoder in isolation.

Run: `python benchmarks/otlp_decode.py [--requests 110] [--records 1000] [--repeat 5]`
(`make bench-decode`). On the ingest benchmark's requests (benchmarks/ingest.py: ~300 B
records, 4 services per request; 110 requests ≈ one 32 MiB flush), it times, best of
`--repeat`, in µs of CPU per record: parsing a request with upb (the request path), the Python
converter (`convert_otlp.otlp_table`), the compiled decoder alone and with the join into
the stored layout (`native.otlp_table`), partitioning and sorting (`TableFormat.split`), and
Parquet encoding of the partitions. Single-threaded, so the figures hold on a busy machine
better than end-to-end rates do; `--json` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from ingest import make_request
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ExportLogsServiceRequest,
)

from starbase.router import convert_otlp, native
from starbase.router.wal import Entry, Kind
from starbase.storage.formats import OTEL
from starbase.storage.table import APPEND_ZSTD_LEVEL, Table


def best(repeat: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()  # CPU time: steadier than wall time on a shared machine
        work()
        times.append(time.process_time() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=110)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    now = time.time_ns()
    bodies = [make_request(args.records, seed, now) for seed in range(args.requests)]
    entries = [
        Entry(i + 1, now, args.records, Kind.OTLP, None, "", b) for i, b in enumerate(bodies)
    ]
    n = args.requests * args.records
    table = native.otlp_table(entries) if native.available() else convert_otlp.otlp_table(entries)
    parts = [piece.data for piece in OTEL.split(table)]
    encoder = Table.__new__(Table)
    encoder.format = OTEL
    stages: dict[str, Callable[[], Any]] = {
        "upb_parse (request path)": lambda: [
            ExportLogsServiceRequest.FromString(b) for b in bodies
        ],
        "python_convert": lambda: convert_otlp.otlp_table(entries),
    }
    if native.available():
        stages["native_decode (C only)"] = lambda: native._native.decode(
            bodies, [now] * len(bodies)
        )  # type: ignore[union-attr]
        stages["native_convert (C + join)"] = lambda: native.otlp_table(entries)
        stages["native_validate (C)"] = lambda: [native._native.validate(b) for b in bodies]  # type: ignore[union-attr]
    stages["partition_sort (split)"] = lambda: list(OTEL.split(table))
    stages["parquet_encode"] = lambda: [encoder._encode(p, APPEND_ZSTD_LEVEL) for p in parts]
    result: dict[str, Any] = {
        "records": n,
        "bytes_per_record": round(sum(map(len, bodies)) / n, 1),
        "native": native.available(),
    }
    for name, work in stages.items():
        result[name] = round(best(args.repeat, work) / n * 1e6, 3)
    if native.available():
        result["speedup_convert"] = round(
            result["python_convert"] / result["native_convert (C + join)"], 1
        )
    if args.json:
        print(json.dumps(result))
    else:
        print("µs of CPU per record, best of", args.repeat)
        for key, value in result.items():
            print(f"{key:28s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
