"""Ingest benchmark: realistic OTLP/protobuf batches into `starbase router` over loopback HTTP.

Run: `python benchmarks/ingest.py [--workers 2] [--clients 8] [--duration 20] [--records 1000]`
(`make bench-ingest`). The router runs as a subprocess (`starbase router`, durable acks: every
2xx is fsynced in its WAL) on a fresh data folder; the load generator is one asyncio process on
the same machine sending pre-encoded requests (1,000 records of ~300 B each: 8 services, 5-8
attributes of mixed types, trace context, bodies of varied length) on `--clients` keep-alive
connections, each waiting for its reply before sending again. Reported: acknowledged records/s
during the run; request latency p50/p99; the router's peak RSS (all its processes); CPU seconds
used by the router and by the load generator; then the time until every acknowledged record is
committed to the table (read from `/metrics`) and the end-to-end rate that gives, and the
records committed per CPU-second of the router (load and drain: the figure that holds when
other work shares the machine; 2 cores sustain at most twice it). With
`--gzip` the bodies are sent gzip-compressed; with `--json-bodies` as OTLP/JSON (the same
records, ≈ 700 B each). `--py-spy FILE` records a py-spy profile of the
router (needs `py-spy` on PATH). `--converter python|compiled|both` (default both) runs the
router with `--otlp-converter python` (the pure-Python reference), `compiled`, or each in
turn on the same requests, side by side; `--rounds N` repeats that N times, alternating, and
prints each round (the machine's load changes between runs: compare within a round; the 1-minute
load average and the cores the router got are printed with each run). After the drain, a
StarQL `stats count()` over the data folder checks that every committed record is visible to
queries. Prints figures only; `--json` prints them as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ExportLogsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    AnyValue,
)

SERVICES = ("checkout", "payments", "search", "gateway", "catalog", "auth", "cart", "shipping")
ROUTES = ("/api/v1/orders", "/api/v1/cart/items", "/api/v1/search", "/api/v1/users/me")
WORDS = [
    "timeout",
    "refused",
    "retry",
    "cache",
    "miss",
    "hit",
    "upstream",
    "db",
    "query",
    "slow",
    "ok",
    "ready",
    "pool",
]


def make_request(records: int, seed: int, now_ns: int) -> bytes:
    """One ExportLogsServiceRequest of `records` records (~300 B each), protobuf."""
    rnd = random.Random(seed)
    request = ExportLogsServiceRequest()
    services = rnd.sample(SERVICES, 4)
    per = records // len(services)
    for index, service in enumerate(services):
        count = per if index < len(services) - 1 else records - per * (len(services) - 1)
        resource_logs = request.resource_logs.add()
        resource = resource_logs.resource
        for key, value in (
            ("service.name", service),
            ("service.version", f"1.{rnd.randrange(9)}.{rnd.randrange(20)}"),
            ("host.name", f"{service}-{rnd.randrange(16**6):06x}-{rnd.randrange(99)}"),
            ("deployment.environment", "production"),
            ("cloud.region", "eu-west-1"),
        ):
            resource.attributes.add(key=key, value=AnyValue(string_value=value))
        scope_logs = resource_logs.scope_logs.add()
        scope_logs.scope.name = f"com.shop.{service}"
        scope_logs.scope.version = "2.3.1"
        for i in range(count):
            record = scope_logs.log_records.add()
            record.time_unix_nano = now_ns + i * 997
            record.observed_time_unix_nano = record.time_unix_nano + 1500
            level = rnd.choices((9, 13, 17, 5), weights=(80, 10, 5, 5))[0]
            record.severity_number = level
            record.severity_text = {5: "DEBUG", 9: "INFO", 13: "WARN", 17: "ERROR"}[level]
            route = rnd.choice(ROUTES)
            status = rnd.choices((200, 201, 404, 500, 503), weights=(85, 5, 5, 3, 2))[0]
            duration = rnd.lognormvariate(3, 1)
            words = " ".join(rnd.choices(WORDS, k=rnd.randrange(2, 9)))
            record.body.string_value = (
                f"{rnd.choice(('GET', 'POST', 'PUT'))} {route}/{rnd.randrange(10**7)} {status} "
                f"{duration:.1f}ms user=u{rnd.randrange(10**6)} {words}"
            )
            attributes = record.attributes
            attributes.add(key="http.route", value=AnyValue(string_value=route))
            attributes.add(key="http.status_code", value=AnyValue(int_value=status))
            attributes.add(key="duration_ms", value=AnyValue(double_value=round(duration, 3)))
            attributes.add(key="user.id", value=AnyValue(string_value=f"u{rnd.randrange(10**6)}"))
            request_id = f"{rnd.getrandbits(64):016x}"
            attributes.add(key="request.id", value=AnyValue(string_value=request_id))
            if status >= 500:
                attributes.add(key="error.type", value=AnyValue(string_value="UpstreamError"))
            if rnd.random() < 0.3:
                attributes.add(key="cache.hit", value=AnyValue(bool_value=rnd.random() < 0.5))
            record.trace_id = rnd.randbytes(16)
            record.span_id = rnd.randbytes(8)
            record.flags = 1
    return bytes(request.SerializeToString())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Client:
    """One keep-alive HTTP/1.1 connection sending pre-built requests."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, wire: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(wire)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body


def json_body(body: bytes) -> bytes:
    """The OTLP/JSON spelling of a protobuf request: hex ids, enums as numbers."""
    import base64

    from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]

    request = ExportLogsServiceRequest.FromString(body)
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_logs in document["resourceLogs"]:
        for scope_logs in resource_logs["scopeLogs"]:
            for record in scope_logs["logRecords"]:
                for name in ("traceId", "spanId"):
                    record[name] = base64.b64decode(record[name]).hex()
    return json.dumps(document).encode()


def wire_request(body: bytes, port: int, compress: bool, media: str) -> bytes:
    if compress:
        body = gzip.compress(body, 1)
    head = (
        f"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: {media}\r\n"
        + ("Content-Encoding: gzip\r\n" if compress else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def load(port: int, wires: list[bytes], records: int, clients: int, seconds: float) -> Any:
    latencies: list[float] = []
    acked = throttled = failed = 0
    reasons: set[str] = set()
    deadline = time.perf_counter() + seconds

    async def one(index: int) -> None:
        nonlocal acked, throttled, failed
        client = Client("127.0.0.1", port)
        n = index
        while time.perf_counter() < deadline:
            wire = wires[n % len(wires)]
            n += clients
            started = time.perf_counter()
            status, headers, reply = await client.send(wire)
            if status == 200:
                latencies.append(time.perf_counter() - started)
                acked += records
            elif status in (429, 503):
                throttled += 1
                reasons.add(f"{status} {reply[-120:]!r}")
                await asyncio.sleep(float(headers.get("retry-after", "1")))
            else:
                failed += 1
        if client.writer is not None:
            client.writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(clients)))
    for reason in sorted(reasons)[:5]:
        print("throttled:", reason, file=sys.stderr)
    return acked, time.perf_counter() - started, latencies, throttled, failed


def metrics(port: int) -> dict[str, float]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        if 'format="otel"' in name_labels or "{" not in name_labels or "format" not in name_labels:
            totals[name] = totals.get(name, 0.0) + float(value)
    return totals


def process_tree(pid: int) -> list[int]:
    children = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    return [pid, *(int(c) for c in children)]


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            pass
    return total


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except FileNotFoundError:
            pass
    return total


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the router exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise SystemExit("the router did not become ready")


def main() -> int:
    args = arguments()
    now = time.time_ns()
    bodies = [make_request(args.records, seed, now) for seed in range(args.distinct)]
    if args.otlp_json:
        bodies = [json_body(b) for b in bodies]
    converters = ["python", "compiled"] if args.converter == "both" else [args.converter]
    results = {}
    for round_ in range(1, args.rounds + 1):
        order = converters if round_ % 2 else converters[::-1]
        measured = {name: measure(args, bodies, name, f"{name}-{round_}") for name in order}
        results |= {f"{name} #{round_}": measured[name] for name in converters}
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"{'':30s} " + " ".join(f"{name:>12s}" for name in results))
    for key in next(iter(results.values())):
        print(f"{key:30s} " + " ".join(f"{r[key]!s:>12s}" for r in results.values()))
    return 0


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--distinct", type=int, default=32, help="distinct request bodies")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--json-bodies", dest="otlp_json", action="store_true", help="OTLP/JSON")
    parser.add_argument("--data", type=Path, help="data folder (default: a temporary one)")
    parser.add_argument("--router-arg", action="append", default=[], help="extra router option")
    parser.add_argument(
        "--py-spy",
        type=Path,
        help="record a py-spy profile here (.svg, or .txt for collapsed stacks)",
    )
    parser.add_argument(
        "--no-drain", action="store_true", help="do not wait for the commits after the load"
    )
    parser.add_argument(
        "--converter", choices=("python", "compiled", "both"), default="both",
        help="the router's OTLP converter (default: both, one run each)",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=1, help="repeat, alternating the order")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def py_spy() -> str:
    """py-spy on PATH, else beside this Python (installed in the venv)."""
    return shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))


def visible_rows(data: Path) -> int:
    """Records a StarQL query counts in the data folder (`starbase query`, as a user would)."""
    done = subprocess.run(
        [sys.executable, "-m", "starbase.cli", "query", "--data", str(data), "-o", "ndjson",
         "from otel | stats count() as n"],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    return int(json.loads(done.stdout.splitlines()[0])["n"])


def measure(
    args: argparse.Namespace, bodies: list[bytes], converter: str, label: str = ""
) -> dict[str, Any]:
    """One router run on a fresh data folder with `converter`; its figures."""
    label = label or converter
    mean_size = statistics.mean(len(b) for b in bodies)
    port = free_port()
    media = "application/json" if args.otlp_json else "application/x-protobuf"
    wires = [wire_request(b, port, args.gzip, media) for b in bodies]
    data = args.data / converter if args.data else Path(tempfile.mkdtemp(prefix="starbase-bench-"))
    command = [
        sys.executable, "-m", "starbase.cli", "router", "--data", str(data),
        "--port", str(port), "--workers", str(args.workers), "--log-level", "WARNING",
        "--otlp-converter", converter, *args.router_arg,
    ]  # fmt: skip
    router = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    spy: subprocess.Popen[bytes] | None = None
    try:
        wait_ready(port, router)
        pids = process_tree(router.pid)
        if args.py_spy:
            profile = args.py_spy.with_name(f"{args.py_spy.stem}-{label}{args.py_spy.suffix}")
            spy = subprocess.Popen(
                [py_spy(), "record", "--subprocesses", "-r", "200", "-o", str(profile),
                 "-f", "raw" if args.py_spy.suffix == ".txt" else "flamegraph",
                 "--pid", str(router.pid), "-d", str(int(args.duration) + 1)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        cpu_before = cpu_seconds(pids)
        self_before = time.process_time()
        peak_rss = 0

        async def run() -> Any:
            nonlocal peak_rss
            task = asyncio.create_task(load(port, wires, args.records, args.clients, args.duration))
            while not task.done():
                peak_rss = max(peak_rss, rss_bytes(pids))
                await asyncio.sleep(0.25)
            return task.result()

        acked, elapsed, latencies, throttled, failed = asyncio.run(run())
        router_cpu = cpu_seconds(pids) - cpu_before
        load_cpu = time.process_time() - self_before
        drain_started = time.perf_counter()
        committed = 0.0
        while not args.no_drain and time.perf_counter() - drain_started < 300:
            committed = metrics(port).get("starbase_router_records_committed_total", 0.0)
            if committed >= acked:
                break
            peak_rss = max(peak_rss, rss_bytes(pids))
            time.sleep(0.1)
        drain = time.perf_counter() - drain_started
        total_cpu = cpu_seconds(pids) - cpu_before
        load_average = os.getloadavg()[0]
    finally:
        router.send_signal(signal.SIGTERM)
        router.wait(timeout=120)
        if spy is not None:
            spy.wait(timeout=60)
    try:
        visible = visible_rows(data) if not args.no_drain else None
    finally:
        if args.data is None:
            shutil.rmtree(data, ignore_errors=True)
    latencies.sort()
    result = {
        "workers": args.workers,
        "clients": args.clients,
        "records_per_request": args.records,
        "bytes_per_record": round(mean_size / args.records, 1),
        "gzip": args.gzip,
        "otlp_json": args.otlp_json,
        "seconds": round(elapsed, 2),
        "acked_records": acked,
        "acked_records_per_s": round(acked / elapsed),
        "acked_mb_per_s": round(acked * mean_size / args.records / elapsed / 1e6, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else None,
        "throttled_requests": throttled,
        "failed_requests": failed,
        "router_peak_rss_mb": round(peak_rss / 2**20),
        "router_cpu_s": round(router_cpu, 1),
        "loadgen_cpu_s": round(load_cpu, 1),
        "drain_s_after_load": round(drain, 2),
        "committed_records": int(committed),
        "visible_to_a_query": visible,
        "end_to_end_records_per_s": round(committed / (elapsed + drain)),
        # robust on a shared machine: what one core commits, all router work included
        "router_cpu_s_load_and_drain": round(total_cpu, 1),
        "committed_per_router_cpu_s": round(committed / total_cpu) if total_cpu else None,
        "router_cores_used": round(total_cpu / (elapsed + drain), 2),
        "load_average_1m": round(load_average, 1),
    }
    return result


if __name__ == "__main__":
    sys.exit(main())
