"""Peak memory of one router worker per hostile request (docs/router.md, "Memory bound").

Run: `python benchmarks/router_hostile.py [--only NAME]`. Starts `starbase router --workers 1`
(default limits, `--flush-age 0.5` so each accepted request is committed at once) on a fresh
data folder; for each input below it resets the worker's peak resident set (`/proc/PID/
clear_refs` = 5, so VmHWM restarts from the current RSS), sends the request (or two at once,
for the `x2` rows: both decode threads busy), waits until what was accepted is committed, and
prints the status, the time and the worker's peak RSS. The inputs are the shapes that cost the
most per byte (empty records, empty attributes, resource attributes repeated on every record,
`{}` JSON, gzip bombs, many gzip members, newlines) at or near the limits, next to the
realistic worst cases (32 MiB of ~300-byte records over protobuf, JSON at its parse limit).
`--composite` measures the worst moment instead: a 32 MiB commit while two ~19 MiB OTLP/JSON
bodies decode. Prints figures only.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ingest import free_port, make_request, wait_ready

MiB = 1024 * 1024
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def field(tag: int, payload: bytes) -> bytes:
    length, varint = len(payload), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        varint.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([tag]) + bytes(varint) + payload


def realistic(size: int) -> bytes:
    one = make_request(1000, 1, time.time_ns())
    return one * (size // len(one))


def empty_records(count: int) -> bytes:
    return field(0x0A, field(0x12, b"\x12\x00" * count))


def attribute_records(records: int, attributes: int) -> bytes:
    record = field(0x12, b"\x32\x00" * attributes)
    return field(0x0A, field(0x12, record * records))


def resource_repeated(resource_attributes: int, records: int) -> bytes:
    resource = field(0x0A, b"\x0a\x00" * resource_attributes)
    return field(0x0A, resource + field(0x12, b"\x12\x00" * records))


def json_records(count: int) -> bytes:
    logs = ",".join(["{}"] * count)
    return f'{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{logs}]}}]}}]}}'.encode()


def realistic_json(size: int) -> bytes:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
        ExportLogsServiceRequest,
    )

    document = json_format.MessageToDict(
        ExportLogsServiceRequest.FromString(make_request(1000, 1, time.time_ns()))
    )
    for resource_logs in document["resourceLogs"]:
        for scope_logs in resource_logs["scopeLogs"]:
            for record in scope_logs["logRecords"]:
                for key in ("traceId", "spanId"):
                    if key in record:
                        record[key] = base64.b64decode(record[key]).hex()
    one = document["resourceLogs"]
    copies = max(1, size // len(json.dumps(document)))
    return json.dumps({"resourceLogs": one * copies}).encode()


def firehose(messages: list[bytes]) -> bytes:
    records = [{"data": base64.b64encode(m).decode()} for m in messages]
    return json.dumps({"requestId": "bench", "records": records}).encode()


def subscription_events(count: int) -> bytes:
    events = ",".join(f'{{"timestamp":{1_790_000_000_000 + i},"message":""}}' for i in range(count))
    return (
        '{"messageType":"DATA_MESSAGE","logGroup":"/bench","logStream":"s",'
        f'"logEvents":[{events}]}}'
    ).encode()


GZIP = {"Content-Encoding": "gzip"}
RAW = "/v1/raw?source=bench"
Input = tuple[str, str, Callable[[], bytes], dict[str, str]]
INPUTS: list[Input] = [
    ("realistic protobuf, 32 MiB (~110k records)", "/v1/logs",
     lambda: realistic(32 * MiB - 4096), PROTOBUF),
    ("realistic OTLP/JSON, 16 MiB", "/v1/logs", lambda: realistic_json(16 * MiB), JSON),
    ("empty records, 4 MiB (2.1M records)", "/v1/logs", lambda: empty_records(2 * MiB), PROTOBUF),
    ("empty records, 200k (the limit)", "/v1/logs", lambda: empty_records(200_000), PROTOBUF),
    ("empty attributes, 32 x 1 MiB records", "/v1/logs",
     lambda: attribute_records(32, 500_000), PROTOBUF),
    ("empty attributes, 6.4M (the limit)", "/v1/logs",
     lambda: attribute_records(16, 400_000), PROTOBUF),
    ("resource of 400k attributes x 200k records", "/v1/logs",
     lambda: resource_repeated(400_000, 200_000), PROTOBUF),
    ("OTLP/JSON of {} records, 4 MiB", "/v1/logs", lambda: json_records(1_300_000), JSON),
    ("OTLP/JSON of {} records, 200k", "/v1/logs", lambda: json_records(200_000), JSON),
    ("newlines, 32 MiB", RAW, lambda: b"\n" * (32 * MiB), {}),
    ("newlines, 200k (the limit)", RAW, lambda: b"\n" * 200_000, {}),
    ("gzip bomb, 32 MiB of zeros", RAW, lambda: gzip.compress(b"0" * (32 * MiB)), GZIP),
    ("150k empty gzip members", RAW,
     lambda: gzip.compress(b"") * 150_000 + gzip.compress(b"x\n"), GZIP),
    ("Firehose: 4 gzip bombs of 10 MiB", "/firehose",
     lambda: firehose([gzip.compress(b'{"messageType":"CONTROL_MESSAGE"}' + b" " * 10 * MiB)] * 4),
     {}),
    ("Firehose: 200k empty events", "/firehose",
     lambda: firehose([gzip.compress(subscription_events(200_000))]), {}),
]  # fmt: skip
KILL_ABOVE = 3 * 1024 * MiB  # the machine is shared: a worker past this is killed, not waited for


def peak(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def post(port: int, path: str, body: bytes, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request("POST", path, body=body, headers=headers)
        reply = connection.getresponse()
        reply.read()
        return reply.status
    finally:
        connection.close()


def queued(port: int) -> float:
    """Acknowledged records not yet committed (0 once the commit is done)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    prefix = "starbase_router_queue_records{"
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


def measure(item: Input, copies: int) -> str:
    """Start a fresh router, send `copies` of the input at once, return one line of figures."""
    name, path, build, headers = item
    body = build()
    folder = Path(tempfile.mkdtemp(prefix="starbase-hostile-"))
    port = free_port()
    command = [
        sys.executable, "-m", "starbase.cli", "router", "--data", str(folder / "data"),
        "--port", str(port), "--workers", "1", "--flush-age", "0.5", "--log-level", "ERROR",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed = threading.Event()
    try:
        wait_ready(port, proc)
        time.sleep(0.5)
        idle = rss(proc.pid)
        Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
        started = time.monotonic()
        statuses: list[int] = []

        def send() -> None:
            try:
                statuses.append(post(port, path, body, headers))
            except OSError:
                statuses.append(0)

        def watchdog() -> None:
            while proc.poll() is None:
                if rss(proc.pid) > KILL_ABOVE:
                    killed.set()
                    proc.kill()
                time.sleep(0.02)

        threading.Thread(target=watchdog, daemon=True).start()
        threads = [threading.Thread(target=send) for _ in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.monotonic() - started
        deadline = time.monotonic() + 300
        while not killed.is_set() and queued(port) and time.monotonic() < deadline:
            time.sleep(0.2)  # until what was accepted is committed
        time.sleep(0.3)
        top = "> 3 GiB: killed" if killed.is_set() else f"{peak(proc.pid) / MiB:.0f} MiB"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
    label = name + (" (x2 at once)" if copies == 2 else "")
    status = "/".join(str(s) for s in sorted(statuses))
    return f"{label:48} {len(body):>10} {status:>7} {took:>8.2f} {idle / MiB:>6.0f} {top:>9}"


def composite(json_mib: int = 19) -> str:
    """The worst moment by construction: a 32 MiB protobuf body is acknowledged (its commit
    starts), then two large realistic OTLP/JSON bodies decode at once."""
    big, js = realistic(32 * MiB - 4096), realistic_json(json_mib * MiB)
    folder = Path(tempfile.mkdtemp(prefix="starbase-hostile-"))
    port = free_port()
    command = [
        sys.executable, "-m", "starbase.cli", "router", "--data", str(folder / "data"),
        "--port", str(port), "--workers", "1", "--flush-age", "0.3", "--log-level", "ERROR",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, proc)
        time.sleep(0.5)
        Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
        statuses = [post(port, "/v1/logs", big, PROTOBUF)]
        time.sleep(0.2)
        threads = [
            threading.Thread(target=lambda: statuses.append(post(port, "/v1/logs", js, JSON)))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        while queued(port):
            time.sleep(0.2)
        time.sleep(0.3)
        top = peak(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
    return (
        f"32 MiB protobuf committing + 2 x {len(js) / MiB:.1f} MiB OTLP/JSON decoding: "
        f"{statuses}, peak RSS {top / MiB:.0f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run the inputs whose name contains this")
    parser.add_argument("--twice", action="store_true", help="also send each input twice at once")
    parser.add_argument("--composite", action="store_true", help="only the worst moment")
    args = parser.parse_args()
    if args.composite:
        print(composite())
        return 0
    print(f"{'input':48} {'bytes':>10} {'status':>7} {'seconds':>8} {'idle':>6} {'peak RSS':>9}")
    for item in INPUTS:
        if args.only and args.only not in item[0]:
            continue
        for copies in (1, 2) if args.twice else (1,):
            print(measure(item, copies), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
