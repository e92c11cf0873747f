"""Storage benchmark: commit latency, files and bytes per day, planning at 10k files, bytes/record.

Run: `python benchmarks/storage.py [--rate 1000] [--flush 10] [--minutes 60]` (`make
bench-storage`). Prints figures only; everything runs in a temporary folder.

1. Ingest at `--rate` records/s as the router does it: one append (commit) per `--flush`
   seconds of synthetic OTel records (5 services), for `--minutes` of data time. Reports commit
   latency (p50/p95/max), files and bytes before and after `compact`, scaled to a day.
2. Bytes per record at rest after compaction vs the same records as OTLP/JSON (the OTLP JSON
   mapping, one request per 1,000 records of one service, as SDK exporters batch) and as
   OTLP protobuf: for the synthetic records of step 1, and for `--emitted` records of the
   emitter's `incident` scenario sent through the OpenTelemetry SDK to a real router (trace
   ids shared by the services of a request, as in real systems).
3. Planning with 10,000 files in the table (100 commits x 100 days): reading the index
   head, folding the file list (from the commit log, then from a checkpoint), and DataFusion
   registering + planning + running a full count and a 1-hour count through Starbase's view.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from synthetic import generate

from starbase.backends.datafusion.engine import new_session
from starbase.backends.datafusion.tables import register
from starbase.compiler.timestamps import parse_iso
from starbase.config import default_config
from starbase.devenv import free_port, spawn, wait_answering
from starbase.storage.ids import to_hex
from starbase.storage.table import Table, open_table

S = 1_000_000_000
HOUR = 3_600 * S
START = parse_iso("2026-11-20T00:00:00Z")
STARBASE = [sys.executable, "-m", "starbase"]


def ingest(root: Path, rate: int, flush_s: int, minutes: int, level: int) -> None:
    table = open_table(root, "otel")
    latencies = []
    batches = minutes * 60 // flush_s
    records = rate * flush_s
    for k in range(batches):
        lo = START + k * flush_s * S
        batch = generate(records, start_ns=lo, span_ns=flush_s * S, seed=k)
        started = time.perf_counter()
        table.append(batch, writer="bench", seq=k)
        latencies.append(time.perf_counter() - started)
    files = table.files()
    size = sum(f.bytes for f in files)
    per_day = 24 * 60 / minutes
    ms = sorted(x * 1000 for x in latencies)
    print(f"## ingest: {rate:,} records/s, one commit per {flush_s} s, {minutes} min of data")
    print(
        f"commit latency ({len(ms)} commits of {records:,} records): p50 {ms[len(ms) // 2]:.1f} ms,"
        f" p95 {ms[int(len(ms) * 0.95)]:.1f} ms, max {ms[-1]:.1f} ms"
    )
    print(
        f"before compaction: {len(files):,} files, {size / 2**20:.1f} MiB"
        f" -> per day {len(files) * per_day:,.0f} files, {size * per_day / 2**30:.2f} GiB"
    )
    started = time.perf_counter()
    report = table.compact(level=level)
    took = time.perf_counter() - started
    table.vacuum(grace_s=0)
    files = table.files()
    size = sum(f.bytes for f in files)
    rows = table.snapshot().rows
    print(
        f"after compaction ({took:.1f} s): {len(files):,} files, {size / 2**20:.1f} MiB"
        f" -> per day {len(files) * per_day:,.0f} files, {size * per_day / 2**30:.2f} GiB;"
        f" {size / rows:.1f} bytes/record at rest ({rows:,} records)"
    )
    print(
        f"compaction read {report.bytes_in / 2**20:.1f} MiB, wrote {report.bytes_out / 2**20:.1f}"
    )
    encodings(table, size / rows)


def encodings(table: Table, parquet_per_record: float) -> None:
    """OTLP/JSON and OTLP protobuf sizes of the compacted records."""
    sample = pa.concat_tables(table.read_file(f) for f in table.files())
    for name in ("trace_id", "span_id"):  # as OTLP/JSON spells them: hex
        sample = sample.set_column(sample.schema.get_field_index(name), name, to_hex(sample[name]))
    json_bytes = proto_bytes = 0
    rows = sample.to_pylist()
    by_service: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        resource = dict(row["resource_attributes"] or [])
        by_service.setdefault(str(resource.get("service.name")), []).append(row)
    for group in by_service.values():
        for start in range(0, len(group), 1000):
            chunk = group[start : start + 1000]
            json_bytes += len(json.dumps(otlp_json(chunk), separators=(",", ":")).encode())
            proto_bytes += len(otlp_proto(chunk).SerializeToString())
    n = len(rows)
    print(f"## bytes per record ({n:,} records, all of the compacted files)")
    print(
        f"OTLP/JSON {json_bytes / n:.0f} B, OTLP protobuf {proto_bytes / n:.0f} B,"
        f" Parquet at rest {parquet_per_record:.1f} B -> JSON/Parquet"
        f" {json_bytes / n / parquet_per_record:.1f}x, protobuf/Parquet"
        f" {proto_bytes / n / parquet_per_record:.1f}x"
    )


def _kv_json(pairs: list[tuple[str, str]] | None) -> list[dict[str, object]]:
    return [{"key": k, "value": {"stringValue": v}} for k, v in pairs or []]


def otlp_json(rows: list[dict[str, object]]) -> dict[str, object]:
    """An ExportLogsServiceRequest in the OTLP JSON encoding (hex ids, int64 as strings)."""
    first = rows[0]
    records = []
    for r in rows:
        record: dict[str, object] = {
            "timeUnixNano": str(r["time_unix_nano"]),
            "observedTimeUnixNano": str(r["observed_time_unix_nano"]),
            "severityNumber": r["severity_number"],
            "severityText": r["severity_text"],
            "body": {"stringValue": r["body"]},
            "attributes": _kv_json(r["log_attributes"]),  # type: ignore[arg-type]
            "flags": r["flags"],
        }
        if r["trace_id"]:
            record["traceId"] = r["trace_id"]
            record["spanId"] = r["span_id"]
        records.append(record)
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": _kv_json(first["resource_attributes"])},  # type: ignore[arg-type]
                "schemaUrl": first["resource_schema_url"],
                "scopeLogs": [
                    {
                        "scope": {"name": first["scope_name"], "version": first["scope_version"]},
                        "logRecords": records,
                    }
                ],
            }
        ]
    }


def _kv_proto(pairs: list[tuple[str, str]] | None) -> list[common_pb2.KeyValue]:
    return [
        common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v))
        for k, v in pairs or []
    ]


def otlp_proto(rows: list[dict[str, object]]) -> logs_service_pb2.ExportLogsServiceRequest:
    first = rows[0]
    records = [
        logs_pb2.LogRecord(
            time_unix_nano=r["time_unix_nano"],  # type: ignore[arg-type]
            observed_time_unix_nano=r["observed_time_unix_nano"],  # type: ignore[arg-type]
            severity_number=r["severity_number"],  # type: ignore[arg-type]
            severity_text=r["severity_text"],  # type: ignore[arg-type]
            body=common_pb2.AnyValue(string_value=r["body"]),  # type: ignore[arg-type]
            attributes=_kv_proto(r["log_attributes"]),  # type: ignore[arg-type]
            trace_id=bytes.fromhex(str(r["trace_id"] or "")),
            span_id=bytes.fromhex(str(r["span_id"] or "")),
            flags=r["flags"],  # type: ignore[arg-type]
        )
        for r in rows
    ]
    from opentelemetry.proto.resource.v1 import resource_pb2

    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(
                resource=resource_pb2.Resource(
                    attributes=_kv_proto(first["resource_attributes"])  # type: ignore[arg-type]
                ),
                scope_logs=[
                    logs_pb2.ScopeLogs(
                        scope=common_pb2.InstrumentationScope(
                            name=str(first["scope_name"]), version=str(first["scope_version"])
                        ),
                        log_records=records,
                    )
                ],
            )
        ]
    )


def planning(root: Path) -> None:
    table = open_table(root, "otel")
    services = ("gateway", "checkout", "payments", "auth", "inventory")
    for k in range(100):  # each commit: 100 days = 100 files
        batch = generate(
            2_000, start_ns=START, span_ns=100 * 24 * HOUR, seed=1000 + k, services=services
        )
        table.append(batch)
    print("## planning with 10,000 files (100 commits x 100 days, 200k records)")
    print(f"files in the index: {len(table.files()):,}")
    fresh = open_table(root, "otel")
    head = _best(lambda: open_table(root, "otel").snapshot())
    fold = _best(lambda: open_table(root, "otel").files())
    fresh.vacuum(grace_s=3_600)  # writes a checkpoint, deletes nothing
    checkpointed = _best(lambda: open_table(root, "otel").files())
    print(
        f"index head {head * 1000:.1f} ms; file list from 100 commits {fold * 1000:.1f} ms,"
        f" from a checkpoint {checkpointed * 1000:.1f} ms"
    )
    datafusion(root, "10,000 files")
    fresh.compact()
    fresh.vacuum(grace_s=0)
    datafusion(root, f"after compact, {len(fresh.files())} files")


def datafusion(root: Path, label: str) -> None:
    source = default_config(root).sources[0]
    for name, sql in (
        ("full count", "SELECT count(*) FROM otel"),
        (
            "1-hour count",
            f"SELECT count(*) FROM otel WHERE day = '2026-11-20' AND time_unix_nano >= "
            f"{START + 5 * HOUR} AND time_unix_nano < {START + 6 * HOUR}",
        ),
    ):
        ctx = new_session()
        started = time.perf_counter()
        register(ctx, source)
        frame = ctx.sql(sql)
        frame.execution_plan()
        planned = time.perf_counter() - started
        run = _best(lambda f=frame: f.collect())
        print(f"{label}, {name}: register + plan {planned * 1000:.0f} ms, run {run * 1000:.0f} ms")


def _best(action: object, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def realistic(root: Path, records: int, level: int) -> None:
    """Bytes at rest for the emitter's `incident` traffic, as the router stores it."""
    port = free_port()
    log = root / "router.log"
    router = spawn([*STARBASE, "router", "--data", str(root), "--port", str(port)], log)
    try:
        wait_answering(f"http://127.0.0.1:{port}/readyz", router, log)
        emit = [*STARBASE, "emit", "--scenario", "incident", "--quiet", "--rate", "max"]
        emit += ["--count", str(records), "--duration", "1h", "--seed", "3"]
        subprocess.run([*emit, "--endpoint", f"http://127.0.0.1:{port}"], check=True)
    finally:
        router.send_signal(signal.SIGTERM)
        router.wait(timeout=120)
    table = open_table(root, "otel")
    started = time.perf_counter()
    table.compact(level=level)
    took = time.perf_counter() - started
    table.vacuum(grace_s=0)
    files = table.files()
    size = sum(f.bytes for f in files)
    rows = table.snapshot().rows
    print(f"compaction at zstd level {level}: {took:.1f} s")
    print(f"## emitter traffic ({rows:,} records of the incident scenario through the router)")
    print(f"after compaction: {len(files)} files, {size / rows:.1f} bytes/record at rest")
    encodings(table, size / rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=1_000, help="records/s (default 1,000)")
    parser.add_argument("--flush", type=int, default=10, help="seconds per commit (default 10)")
    parser.add_argument("--minutes", type=int, default=60, help="data time to ingest")
    parser.add_argument(
        "--emitted", type=int, default=200_000, help="emitter records for bytes/record"
    )
    parser.add_argument("--level", type=int, default=9, help="compaction zstd level")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as emitted_dir:
        realistic(Path(emitted_dir), args.emitted, args.level)
    with tempfile.TemporaryDirectory() as ingest_dir:
        ingest(Path(ingest_dir), args.rate, args.flush, args.minutes, args.level)
    with tempfile.TemporaryDirectory() as plan_dir:
        planning(Path(plan_dir))


if __name__ == "__main__":
    main()
