"""Per-record cost of each stage of the router's OTLP commit path, the decoder in isolation.

Run: `python benchmarks/otlp_decode.py [--requests 110] [--records 1000] [--repeat 5]`
(`make bench-decode`). On the ingest benchmark's requests (benchmarks/ingest.py: ~300 B
records, 4 services per request; 110 requests ≈ one 32 MiB flush), it times, best of
`--repeat`, in µs of CPU per record: the request path's checks (`otlp.decode`: the compiled
one-walk check, and the Python record-by-record checks over a upb parse), the Python converter
(`convert_otlp.otlp_table`), the compiled one in wire order and in the stored files' order
(`native.otlp_table`), `TableFormat.split` on a batch already in file order and on one that
must be sorted, and Parquet encoding of the partitions at the append level and at zstd 1/3/6/9
(with the bytes per record each gives: compaction's trade-off). Single-threaded, so the figures
hold on a busy machine better than end-to-end rates do. Then compaction's cost: the records
appended 10 requests a commit, compacted at zstd 1/3/6/9 (CPU µs per record of all threads, and
bytes per record written). Then the other ways records arrive, per record on the same
records (`--no-other-formats` skips them): OTLP/JSON through the request path (`otlp.decode`:
JSON parse, the compiled walk to protobuf, then the protobuf checks — and the same with the
reference, protobuf's json_format per record; what the WAL keeps is protobuf, so its commit
is the compiled one above), with `json.loads` alone for scale; and
Firehose deliveries of CloudWatch subscription messages (100 events a message, the records'
bodies as messages): `firehose.decode` on the request path and `convert.cloudwatch_table` at
commit. `--json` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).parent))

from ingest import make_request
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ExportLogsServiceRequest,
)

from starbase.router import convert_otlp, native, otlp
from starbase.router.limits import Budget
from starbase.router.wal import Entry, Kind
from starbase.storage.formats import OTEL
from starbase.storage.table import APPEND_ZSTD_LEVEL, Table, open_table


def _without_native(work: Callable[[], Any]) -> Any:
    with mock.patch.object(native, "_native", None):
        return work()


def best(repeat: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()  # CPU time: steadier than wall time on a shared machine
        work()
        times.append(time.process_time() - started)
    return min(times)


def compaction_costs(entries: list[Entry], per_request: int) -> dict[int, tuple[float, float]]:
    """`Table.compact` of the records appended 10 requests a commit, at each zstd level: CPU µs
    per record (all threads: reading, sorting, statistics, encoding) and bytes per record."""
    costs = {}
    with tempfile.TemporaryDirectory() as folder:
        appended = Path(folder) / "appended"
        table = open_table(appended, "otel")
        for seq, start in enumerate(range(0, len(entries), 10), 1):
            batch = native.otlp_table(entries[start : start + 10], ordered=True)
            table.append(batch, writer="bench", seq=seq)
        for level in (1, 3, 6, 9):
            copy = Path(folder) / f"level-{level}"
            shutil.copytree(appended, copy)
            fresh = open_table(copy, "otel")
            started = time.process_time()
            report = fresh.compact(level=level)
            cpu = time.process_time() - started
            n = len(entries) * per_request
            costs[level] = (round(cpu / n * 1e6, 2), round(report.bytes_out / n, 1))
    return costs


def other_formats(bodies: list[bytes], records: int, repeat: int) -> dict[str, float]:
    """µs of CPU per record of OTLP/JSON's request path and of Firehose's request path and
    commit, on the records of `bodies` (see the module docstring)."""
    import base64
    import gzip

    from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]

    from starbase.router import convert, firehose

    documents = []
    for body in bodies:
        request = json_format.MessageToDict(ExportLogsServiceRequest.FromString(body))
        for resource_logs in request["resourceLogs"]:
            for scope_logs in resource_logs["scopeLogs"]:
                for record in scope_logs["logRecords"]:
                    for name in ("traceId", "spanId"):
                        record[name] = base64.b64decode(record[name]).hex()
        documents.append(json.dumps(request).encode())
    deliveries = []
    for body in bodies:
        request = ExportLogsServiceRequest.FromString(body)
        events = [
            {"id": str(i), "timestamp": r.time_unix_nano // 10**6, "message": r.body.string_value}
            for rl in request.resource_logs
            for sl in rl.scope_logs
            for i, r in enumerate(sl.log_records)
        ]
        messages = [
            {
                "messageType": "DATA_MESSAGE",
                "owner": "123456789012",
                "logGroup": f"/aws/lambda/fn{k % 8}",
                "logStream": "2026/12/06/[$LATEST]abc",
                "subscriptionFilters": ["to-starbase"],
                "logEvents": events[k : k + 100],
            }
            for k in range(0, len(events), 100)
        ]
        data = [
            {"data": base64.b64encode(gzip.compress(json.dumps(m).encode(), 1)).decode()}
            for m in messages
        ]
        deliveries.append(json.dumps({"requestId": "r", "timestamp": 1, "records": data}))
    wal = []
    for seq, delivery in enumerate(deliveries, 1):
        batch = firehose.decode(delivery.encode(), None, 1 << 30, Budget(10**6, 60.0))
        assert isinstance(batch, firehose.FirehoseBatch), batch
        wal.append(Entry(seq, 0, batch.events, Kind.CLOUDWATCH, None, "", batch.payload))
    n = len(bodies) * records
    admission = otlp.Admission(time.time_ns())
    stages: dict[str, Callable[[], Any]] = {
        "otlp_json: json.loads alone": lambda: [json.loads(d) for d in documents],
        "otlp_json: request path": lambda: [
            otlp.decode(d, otlp.JSON, Budget(10**6, 60.0), admission) for d in documents
        ],
        "otlp_json: request path, json_format": lambda: _without_native(
            lambda: [otlp.decode(d, otlp.JSON, Budget(10**6, 60.0), admission) for d in documents]
        ),
        "firehose: request path": lambda: [
            firehose.decode(d.encode(), None, 1 << 30, Budget(10**6, 60.0)) for d in deliveries
        ],
        "firehose: commit convert": lambda: convert.cloudwatch_table(wal),
    }
    return {name: round(best(repeat, work) / n * 1e6, 3) for name, work in stages.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=110)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--no-compaction", dest="compaction", action="store_false",
        help="skip the compaction figures (each level compacts a fresh copy of the table)",
    )  # fmt: skip
    parser.add_argument("--no-other-formats", dest="other_formats", action="store_false")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    now = time.time_ns()
    bodies = [make_request(args.records, seed, now) for seed in range(args.requests)]
    entries = [
        Entry(i + 1, now, args.records, Kind.OTLP, None, "", b) for i, b in enumerate(bodies)
    ]
    n = args.requests * args.records
    table = native.otlp_table(entries) if native.available() else convert_otlp.otlp_table(entries)
    ordered = native.otlp_table(entries, ordered=True)
    parts = [piece.data for piece in OTEL.split(table)]
    encoder = Table.__new__(Table)
    encoder.format = OTEL
    admission = otlp.Admission(now)

    def request_path() -> None:
        for body in bodies:
            otlp.decode(body, otlp.PROTOBUF, Budget(10**6, 60.0), admission)

    stages: dict[str, Callable[[], Any]] = {
        "upb_parse (request path)": lambda: [
            ExportLogsServiceRequest.FromString(b) for b in bodies
        ],
        "request_checks (otlp.decode)": request_path,
        "python_convert": lambda: convert_otlp.otlp_table(entries),
    }
    if native.available():
        stages["request_checks, Python"] = lambda: _without_native(request_path)
        stages["native_validate (C)"] = lambda: [native._native.validate(b) for b in bodies]  # type: ignore[union-attr]
        stages["native_convert (wire order)"] = lambda: native.otlp_table(entries)
        stages["native_convert (file order)"] = lambda: native.otlp_table(entries, ordered=True)
        stages["split (batch in file order)"] = lambda: list(OTEL.split(ordered))
    stages["split (partition + sort)"] = lambda: list(OTEL.split(table))
    stages["parquet_encode (appends)"] = lambda: [
        encoder._encode(p, APPEND_ZSTD_LEVEL, count_ids=False) for p in parts
    ]
    for level in (1, 3, 6, 9):
        stages[f"parquet_encode zstd {level}"] = lambda level=level: [
            encoder._encode(p, level) for p in parts
        ]
    result: dict[str, Any] = {
        "records": n,
        "bytes_per_record": round(sum(map(len, bodies)) / n, 1),
        "native": native.available(),
    }
    for name, work in stages.items():
        result[name] = round(best(args.repeat, work) / n * 1e6, 3)
    if native.available():
        result["speedup_convert"] = round(
            result["python_convert"] / result["native_convert (file order)"], 1
        )
    result["parquet_bytes_per_record"] = {
        level: round(sum(len(encoder._encode(p, level)) for p in parts) / n, 1)
        for level in (1, 3, 6, 9)
    }
    if args.compaction:
        result["compaction (µs/record, B/record)"] = compaction_costs(entries, args.records)
    if args.other_formats:
        result |= other_formats(bodies[:10], args.records, args.repeat)
    if args.json:
        print(json.dumps(result))
    else:
        print("µs of CPU per record, best of", args.repeat)
        for key, value in result.items():
            print(f"{key:28s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
