"""`make demo`: emitter → router → storage → StarQL, end to end on this machine, in about a minute.

Requires: the package and a free local port (no network beyond 127.0.0.1). Guarantees: starts
`starbase router` on a free port of 127.0.0.1 with a fresh temporary data folder, sends the
emitter's `incident` scenario (100,000 OTel records through the OpenTelemetry SDK's OTLP/HTTP
exporter), waits until queries see every acknowledged record, runs showcase queries (errors
by service over time, the degraded service's slowest requests, one failed request's path
across services, a regex parse with stats), prints one `explain` and what a user sees for a
malformed query, starts `starbase serve` over the data (one API call shown; in a terminal it
stays up with the web UI's URL printed until Ctrl+C), then stops the router (SIGTERM) and
removes everything it created. It says
what it is doing as it goes, and exits non-zero if any step fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import starbase
from starbase.compiler.errors import CompileError
from starbase.config import default_config
from starbase.devenv import free_port, spawn, wait_answering
from starbase.runtime.output import render

RECORDS = 100_000
SEED = 7
DEGRADED = "payments"


def showcase() -> list[tuple[str, str, dict[str, object]]]:
    return [
        (
            "Errors by service over time, in 5-minute buckets (the incident starts mid-run)",
            """from otel
| where severity >= "error"
| stats count() as errors by bin(timestamp, 5m) as bucket, service
| where errors >= 5
| sort bucket, errors desc""",
            {},
        ),
        (
            f"The slowest {DEGRADED} calls during the incident",
            """from otel
| where service == $svc and exists(attributes.duration_ms)
| extend ms = tonumber(attributes.duration_ms)
| sort ms desc
| limit 5
| fields timestamp, ms, attributes.order.id, message""",
            {"svc": DEGRADED},
        ),
        (
            "Regex parse + stats: gateway access lines by status, with latency",
            """from otel
| where service == "gateway"
| parse message /^(?<method>[A-Z]+) (?<path>\\S+) (?<status>\\d{3}) (?<took>\\d+)ms$/
| where exists(status)
| stats count() as requests, avg(tonumber(took)) as avg_ms,
    pct(tonumber(took), 99) as p99_ms by status
| sort requests desc""",
            {},
        ),
    ]


TRACE = """from otel
| where trace_id == $trace
| sort timestamp
| fields timestamp, service, severity_text, message"""

FIRST_FAILED = """from otel
| where service == $svc and severity >= "error" and message ~ /timeout/ and exists(trace_id)
| sort timestamp
| limit 1
| fields trace_id, message"""

MALFORMED = 'from otel\n| where severity >= "warn" and\n| stats count() by service'


def main() -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="starbase-demo-") as folder:
        data = Path(folder)
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        step(f"starting the router on {endpoint}, data folder {data}")
        command = [sys.executable, "-m", "starbase", "router", "--data", str(data)]
        command += ["--port", str(port), "--flush-age", "2", "--log-level", "WARNING"]
        log = data / "router.log"
        router = spawn(command, log)
        try:
            try:
                wait_answering(f"{endpoint}/readyz", router, log)
            except OSError as exc:
                raise SystemExit(f"the router did not start: {exc}\n{log.read_text()}") from None
            step(f"emitting the 'incident' scenario: {RECORDS:,} records via the OpenTelemetry SDK")
            emit = [sys.executable, "-m", "starbase", "emit", "--mode", "otlp"]
            emit += ["--scenario", "incident", "--target", DEGRADED, "--rate", "max"]
            emit += ["--count", str(RECORDS), "--duration", "30m", "--seed", str(SEED)]
            emit += ["--endpoint", endpoint]
            if subprocess.run(emit, check=False).returncode != 0:
                raise SystemExit("the emitter did not deliver every record")
            config = default_config(data)
            _wait_visible(config)
            for title, text, params in showcase():
                _show(title, text, params, config)
            first = starbase.compile(FIRST_FAILED, config).run(svc=DEGRADED)
            if first.num_rows:
                trace = str(first["trace_id"][0].as_py())
                _show(
                    f"One failed request across services (trace {trace})",
                    TRACE,
                    {"trace": trace},
                    config,
                )
            title, text, params = showcase()[1]
            step(f"how it ran: explain of “{title}”")
            print(starbase.compile(text, config).explain(params=params))
            step("a malformed query gets a positioned diagnostic with a hint")
            print(MALFORMED + "\n")
            try:
                starbase.compile(MALFORMED)
            except CompileError as exc:
                print(exc.render())
            from starbase import demo_raw

            demo_raw.run(endpoint, data, step)
            _serve(data, endpoint)
        finally:
            step("stopping the router (SIGTERM: it flushes and exits)")
            router.send_signal(signal.SIGTERM)
            code = router.wait(timeout=60)
            print(f"router exited with {code}")
    step(f"done in {time.perf_counter() - started:.0f} s")
    return 0


def _serve(data: Path, router: str) -> None:
    """`starbase serve` over the demo data: one API call shown; in a terminal it stays up (the
    web UI's URL printed) until Ctrl+C."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    step(f"the HTTP API and the web UI: starbase serve on {url}")
    command = [sys.executable, "-m", "starbase", "serve", "--data", str(data)]
    command += ["--port", str(port), "--router", router, "--log-level", "WARNING"]
    log = data / "serve.log"
    server = spawn(command, log)
    try:
        try:
            wait_answering(f"{url}/readyz", server, log)
        except OSError as exc:
            raise SystemExit(f"starbase serve did not start: {exc}\n{log.read_text()}") from None
        body = {"query": 'from otel | where severity >= "error" | stats count() as n by service'}
        json_header = "-H 'Content-Type: application/json'"
        print(f"curl -s {url}/api/v1/query {json_header} -d '{json.dumps(body)}'")
        request = urllib.request.Request(
            f"{url}/api/v1/query",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            answer = json.loads(reply.read())
        print(json.dumps({"columns": answer["columns"], "rows": answer["rows"]}))
        if sys.stdin.isatty() and sys.stdout.isatty():
            print(
                f"\nstarbase serve is running over the demo data: open {url}/ in a browser "
                f"(Explore, Live tail, Admin).\nSend more traffic with: starbase emit "
                f"--endpoint {router} --rate 200\nPress Ctrl+C to stop it and the router and "
                "remove the demo data.",
                flush=True,
            )
            with contextlib.suppress(KeyboardInterrupt):
                while server.poll() is None:
                    time.sleep(0.5)
        else:
            print(
                "\n(not a terminal: stopping it now. Run `make demo` in a terminal to keep the web "
                "UI open, or `starbase serve --data DIR` over a data folder the router writes.)"
            )
    finally:
        server.send_signal(signal.SIGTERM)
        print(f"starbase serve exited with {server.wait(timeout=60)}")


def step(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m" if sys.stdout.isatty() else f"\n==> {text}", flush=True)


def _show(title: str, text: str, params: dict[str, object], config: object) -> None:
    step(title)
    print(text + ("" if not params else f"\n-- with {params}") + "\n")
    compiled = starbase.compile(text, config)  # type: ignore[arg-type]
    began = time.perf_counter()
    table = compiled.run(**params)
    print(render(table, "table") + f"({(time.perf_counter() - began) * 1000:.0f} ms)")


def _wait_visible(config: object) -> None:
    step("waiting until queries see every acknowledged record")
    count = starbase.compile("from otel | stats count() as n", config)  # type: ignore[arg-type]
    began = time.perf_counter()
    seen = 0
    while time.perf_counter() - began < 30:
        seen = int(count.run()["n"][0].as_py())
        if seen >= RECORDS:
            print(
                f"{seen:,} records visible {time.perf_counter() - began:.1f} s after the last ack"
            )
            return
        time.sleep(0.25)
    raise SystemExit(f"only {seen:,} of {RECORDS:,} records visible after 30 s")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
