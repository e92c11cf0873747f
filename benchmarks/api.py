"""API benchmark: `starbase serve` against the same queries run in-process, on the same files.

Run: `python benchmarks/api.py [--rows 10000000] [--days 30] [--runs 5] [--clients 50]`
(`make bench-api`). The dataset is the query benchmark's (`benchmarks/query.py`'s `dataset`,
generated once into `benchmarks/.data/`). Prints figures only:

1. time to the first row of a 1-hour query: through the API (NDJSON, first line received)
   vs in-process (the same execution API's first batch), medians of `--runs` interleaved runs,
   and their ratio;
2. streaming throughput of a 10M-row result, NDJSON and Arrow IPC, in rows/s, vs reading the
   same result in-process, with the server's peak resident memory (VmHWM) before and after;
3. live-tail delay (from the router's commit, stamped in the commit log, to the SSE client
   receiving the rows) p50/p99, with the emitter sending 5,000 records/s to a real router;
4. `--clients` concurrent clients running a mix of queries (JSON page of a 1-hour window,
   stats over 1 hour and 6 hours, histogram, compile): p50/p99 latency and the error count.

The machine's 2 cores are shared by other work: absolute figures are noisy; the ratios come
from the same run. The server runs with `--max-concurrent` raised to the client count (all
clients share the anonymous principal) and the default 4 engines.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

sys.path.insert(0, str(Path(__file__).parent))
from query import DEFAULT_DATA, END, HOUR, dataset

from starbase.api.execution import Session
from starbase.compiler.timestamps import format_iso
from starbase.config import default_config
from starbase.devenv import free_port, spawn, wait_answering

HERE = Path(__file__).parent


class Server:
    def __init__(self, data: Path, log: Path, *extra: str) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "starbase", "serve", "--data", str(data)]
        command += ["--port", str(self.port), "--log-level", "WARNING", *extra]
        self.process = spawn(command, log)
        wait_answering(f"http://127.0.0.1:{self.port}/readyz", self.process, log, timeout=60)

    def peak_rss_mib(self) -> float:
        return _status(self.process.pid, "VmHWM") / 1024

    def rss_mib(self) -> float:
        return _status(self.process.pid, "VmRSS") / 1024

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)

    def post(self, path: str, body: dict[str, Any], accept: str = "application/json") -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        connection.request(
            "POST",
            path,
            json.dumps(body),
            {"Content-Type": "application/json", "Accept": accept},
        )
        return connection, connection.getresponse()


def _status(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return 0.0


def window(hours: int) -> tuple[str, str]:
    return format_iso(END - hours * HOUR), format_iso(END)


def first_row_api(server: Server, text: str) -> float:
    started = time.perf_counter()
    connection, reply = server.post("/api/v1/query", {"query": text}, "application/x-ndjson")
    reply.readline()
    took = time.perf_counter() - started
    connection.close()
    return took


def first_row_local(session: Session, text: str) -> float:
    started = time.perf_counter()
    cursor = session.execute(session.compile(text))
    next(iter(cursor))
    took = time.perf_counter() - started
    cursor.cancel()
    return took


def ttfr(server: Server, session: Session, runs: int) -> None:
    lo, hi = window(1)
    text = f'from otel | between "{lo}" and "{hi}"'
    first_row_api(server, text)
    first_row_local(session, text)
    api, local = [], []
    for _ in range(runs):
        api.append(first_row_api(server, text))
        local.append(first_row_local(session, text))
    a, b = statistics.median(api), statistics.median(local)
    print(f"\n1. time to first row, 1-hour query ({runs} runs, medians)")
    print(f"   API (NDJSON)   {a * 1000:8.1f} ms")
    print(f"   in-process     {b * 1000:8.1f} ms")
    print(f"   API/in-process {a / b:8.2f}x")


def stream_ndjson(server: Server, text: str) -> tuple[int, float]:
    started = time.perf_counter()
    connection, reply = server.post("/api/v1/query", {"query": text}, "application/x-ndjson")
    rows = 0
    while chunk := reply.read(1 << 20):
        rows += chunk.count(b"\n")
    connection.close()
    return rows, time.perf_counter() - started


def stream_arrow(server: Server, text: str) -> tuple[int, float]:
    started = time.perf_counter()
    connection, reply = server.post(
        "/api/v1/query", {"query": text}, "application/vnd.apache.arrow.stream"
    )
    rows = 0
    with pa.ipc.open_stream(reply) as reader:
        for batch in reader:
            rows += batch.num_rows
    connection.close()
    return rows, time.perf_counter() - started


def stream_local(session: Session, text: str) -> tuple[int, float]:
    started = time.perf_counter()
    rows = sum(batch.num_rows for batch in session.execute(session.compile(text)))
    return rows, time.perf_counter() - started


def throughput(server: Server, session: Session) -> None:
    text = "from otel | fields timestamp, service, severity, message"
    print("\n2. streaming a 10M-row result (timestamp, service, severity, message)")
    print(
        f"   server RSS before: {server.rss_mib():.0f} MiB "
        f"(peak so far {server.peak_rss_mib():.0f} MiB)"
    )
    for name, run in (
        ("in-process", lambda: stream_local(session, text)),
        ("Arrow IPC ", lambda: stream_arrow(server, text)),
        ("NDJSON    ", lambda: stream_ndjson(server, text)),
    ):
        rows, took = run()
        print(f"   {name} {rows:>11,} rows in {took:6.1f} s = {rows / took:>10,.0f} rows/s", end="")
        if name.strip() != "in-process":
            print(f"   server peak RSS {server.peak_rss_mib():.0f} MiB")
        else:
            print()


def tail_delay(seconds: float, rate: int) -> None:
    with tempfile.TemporaryDirectory(prefix="starbase-bench-tail-") as folder:
        data = Path(folder)
        port = free_port()
        router_url = f"http://127.0.0.1:{port}"
        router = spawn(
            [
                sys.executable,
                "-m",
                "starbase",
                "router",
                "--data",
                str(data),
                "--port",
                str(port),
                "--workers",
                "1",
                "--log-level",
                "WARNING",
            ],
            data / "router.log",
        )
        wait_answering(f"{router_url}/readyz", router, data / "router.log")
        server = Server(data, data / "serve.log")
        delays: list[float] = []
        rows = 0
        stop = threading.Event()

        def listen() -> None:
            nonlocal rows
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            connection.request(
                "GET", "/api/v1/tail?query=from%20otel", headers={"Accept": "text/event-stream"}
            )
            reply = connection.getresponse()
            while not stop.is_set():
                line = reply.readline()
                if not line:
                    break
                if line.startswith(b"data: "):
                    received = time.time_ns()
                    message = json.loads(line[6:])
                    if message["type"] == "rows":
                        delays.append((received - message["committed_ns"]) / 1e9)
                        rows += len(message["rows"])
            connection.close()

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        time.sleep(1.0)
        count = int(seconds * rate)
        emit = [sys.executable, "-m", "starbase", "emit", "--endpoint", router_url, "--quiet"]
        emit += ["--rate", str(rate), "--count", str(count)]
        began = time.perf_counter()
        subprocess.run(emit, check=True)
        sent_rate = count / (time.perf_counter() - began)
        deadline = time.monotonic() + 30
        while rows < count and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        server.stop()
        router.send_signal(signal.SIGTERM)
        router.wait(timeout=60)
    delays.sort()
    print(
        f"\n3. live tail, emitter at {rate:,} records/s "
        f"({sent_rate:,.0f} achieved), {count:,} records"
    )
    print(f"   rows received {rows:,} in {len(delays)} messages (one per commit)")
    if delays:
        p50 = delays[len(delays) // 2]
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        print(
            f"   delay after the router's commit: p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms"
        )


def concurrent(server: Server, clients: int, per_client: int) -> None:
    lo1, hi = window(1)
    lo6, _ = window(6)
    mix: list[tuple[str, dict[str, Any]]] = [
        ("/api/v1/query", {"query": f'from otel | between "{lo1}" and "{hi}" | limit 100'}),
        (
            "/api/v1/query",
            {"query": f'from otel | between "{lo1}" and "{hi}" | stats count() as n by service'},
        ),
        (
            "/api/v1/query",
            {
                "query": f'from otel | between "{lo6}" and "{hi}" | where severity >= "error"'
                " | stats count() as n by service"
            },
        ),
        (
            "/api/v1/histogram",
            {"query": "from otel", "range": {"from": lo1, "to": hi}, "buckets": 60},
        ),
        (
            "/api/v1/compile",
            {"query": 'from otel | where severity >= "warn" | stats count() by service'},
        ),
    ]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        for i in range(per_client):
            path, body = mix[(k + i) % len(mix)]
            started = time.perf_counter()
            try:
                connection, reply = server.post(path, body)
                content = reply.read()
                status = reply.status
                connection.close()
            except OSError as exc:
                status, content = 0, str(exc).encode()
            took = time.perf_counter() - started
            with lock:
                latencies.append(took)
                if status != 200:
                    errors.append(f"{status}: {content[:200]!r}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"\n4. {clients} concurrent clients x {per_client} mixed requests "
        f"({len(latencies)} in {wall:.1f} s)"
    )
    print(
        f"   latency p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms"
    )
    print(f"   errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))


def on_data(args: argparse.Namespace) -> None:
    """Parts 1, 2 and 4: over the 10M-record dataset."""
    root = dataset(args.data or DEFAULT_DATA / f"otel-{args.rows}", args.rows, args.days)
    print(f"dataset: {args.rows:,} rows over {args.days} days in {root}")
    log = Path(tempfile.mkdtemp(prefix="starbase-bench-api-")) / "serve.log"
    server = Server(root, log, "--max-concurrent", str(max(args.clients, 4)))
    session = Session(default_config(root))
    steps: dict[str, Callable[[], None]] = {
        "1": lambda: ttfr(server, session, args.runs),
        "2": lambda: throughput(server, session),
        "4": lambda: concurrent(server, args.clients, args.per_client),
    }
    try:
        for key in "124":
            if key in args.only:
                steps[key]()
    finally:
        server.stop()
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--per-client", type=int, default=4)
    parser.add_argument("--tail-seconds", type=float, default=20.0)
    parser.add_argument("--tail-rate", type=int, default=5000)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument(
        "--only", default="1234", help="which parts to run (digits 1-4; default all)"
    )
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()} (shared with other work: absolute times are noisy)")
    if set(args.only) & set("124"):
        on_data(args)
    if "3" in args.only:
        tail_delay(args.tail_seconds, args.tail_rate)


if __name__ == "__main__":
    main()
