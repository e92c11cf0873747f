"""The router's test harness: a real `starbase router` subprocess on a free port of 127.0.0.1,
plain HTTP requests to it, and readers of what landed in the tables. No mocks.

The other router test modules import from here (`from test_router_harness import …`); the two
tests below check the harness itself (start, health, graceful stop).
"""

from __future__ import annotations

import http.client
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ExportLogsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    AnyValue,
)

from starbase.storage.ids import to_hex
from starbase.storage.table import open_table

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Router:
    """`python -m starbase.cli router` with fast flushes; `start`, `post`, `stop`, `kill`."""

    def __init__(
        self,
        data: Path,
        *options: str,
        workers: int = 1,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data = data
        self.options = options
        self.workers = workers
        self.port = port or free_port()
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data.parent / f"router-{self.port}.log"
        self.metrics_token = _metrics_token(options)

    def start(self, timeout: float = 30.0) -> Router:
        """Spawn the router and wait until it answers /healthz."""
        self.start_process()
        return self.wait_up(timeout)

    def start_process(self) -> None:
        command = [
            sys.executable, "-m", "starbase.cli", "router", "--data", str(self.data),
            "--port", str(self.port), "--workers", str(self.workers), "--flush-age", "0.2",
            "--log-level", "WARNING", *self.options,
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=log, env={**os.environ, **self.env}
            )

    def wait_up(self, timeout: float) -> Router:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"router exited {self.proc.returncode}: {self.output()}")
            try:
                if self.get("/healthz")[0] == 200 and self._all_workers_up():
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"router not up after {timeout}s: {self.output()}")

    def _all_workers_up(self) -> bool:
        if self.workers == 1:
            return True
        text = self.scrape()
        return all(f'store_up{{worker="{w}"}}' in text for w in range(self.workers))

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            reply = connection.getresponse()
            return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
        finally:
            connection.close()

    def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        return self.request("POST", path, body, headers)

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path)

    def scrape(self) -> str:
        """/metrics, with a token that may read it when tokens are configured."""
        headers = {"Authorization": f"Bearer {self.metrics_token}"} if self.metrics_token else {}
        status, _, body = self.request("GET", "/metrics", headers=headers)
        assert status == 200, body
        return body.decode()

    def metric(self, name: str, **labels: str) -> float:
        """The sum over workers of one series of /metrics."""
        total = 0.0
        for line in self.scrape().splitlines():
            if not line.startswith(f"starbase_router_{name}{{"):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def stop(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL the router and wait until its workers (killed with it) stop answering, so
        that the next router started on this port is the only one that can answer."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.02)
        raise AssertionError(f"a worker still answers on port {self.port} after SIGKILL")


def _metrics_token(options: tuple[str, ...]) -> str | None:
    """A configured token not bound to a tenant, or a --metrics-token (None: none needed)."""
    for option, value in itertools.pairwise(options):
        if option == "--metrics-token" or (option == "--token" and "=" not in value):
            return value
    return None


def otlp_request(
    bodies: list[str],
    service: str = "checkout",
    *,
    time_ns: int | None = None,
    attributes: dict[str, Any] | None = None,
) -> bytes:
    """An ExportLogsServiceRequest of one record per body (protobuf)."""
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.add(key="service.name", value=AnyValue(string_value=service))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "tests"
    start = time_ns if time_ns is not None else time.time_ns()
    for index, body in enumerate(bodies):
        record = scope_logs.log_records.add()
        record.time_unix_nano = start + index
        record.severity_number = 9
        record.body.string_value = body
        for key, value in (attributes or {}).items():
            item = record.attributes.add(key=key)
            if isinstance(value, bool):
                item.value.bool_value = value
            elif isinstance(value, int):
                item.value.int_value = value
            elif isinstance(value, float):
                item.value.double_value = value
            else:
                item.value.string_value = str(value)
    return bytes(request.SerializeToString())


def table_rows(location: Path, format_name: str) -> pa.Table:
    """Every committed row of a local table (read through its commit log), with the cluster
    key under its legacy partition name too (service, group, source) and ids as hex."""
    table = open_table(location, format_name)
    fmt = table.format
    files = table.files()
    if not files:
        rows = fmt.schema.empty_table()
    else:
        rows = pa.concat_tables(table.read_file(f) for f in files)
    for name in fmt.ids:
        rows = rows.set_column(rows.schema.get_field_index(name), name, to_hex(rows[name]))
    if fmt.key not in rows.column_names:
        rows = rows.append_column(fmt.key, rows[fmt.cluster])
    return rows


def wait_for(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def router(tmp_path: Path) -> Iterator[Router]:
    """A started single-worker router on `tmp_path / "data"`, stopped afterwards."""
    server = Router(tmp_path / "data").start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.stop()


def test_health_ready_and_metrics(router: Router) -> None:
    assert router.get("/healthz")[0] == 200
    assert router.get("/readyz")[0] == 200
    status, headers, body = router.get("/metrics")  # open: no token configured
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert 'starbase_router_store_up{worker="0"}' in body.decode()


def test_graceful_stop_commits_and_warns_when_open(tmp_path: Path) -> None:
    server = Router(tmp_path / "data", "--flush-age", "60").start()
    status, _, _ = server.post("/v1/logs", otlp_request(["a", "b", "c"]), PROTOBUF)
    assert status == 200
    assert table_rows(tmp_path / "data", "otel").num_rows == 0  # not yet due
    assert server.stop() == 0
    assert table_rows(tmp_path / "data", "otel").num_rows == 3
    assert "anyone who can reach the port can write" in server.output()
