"""Real Alertmanager and Prometheus for the tests (Debian's `prometheus-alertmanager` and
`prometheus` packages, which `.ci/run` installs), each on a free port of 127.0.0.1 with its
data in the test's folder, and a webhook receiver of the test's own. No mocks.

`Alertmanager(folder, webhook_url).start()` routes every alert to the webhook at once
(group_wait 0s, group_interval 1s) and sends resolutions; `Webhook` collects what it posts;
`Prometheus(folder, scrape_configs).start()` scrapes every 1s; `RulesProcess` runs
`starbase rules run` as a subprocess. Tests that need a binary that is missing are skipped
locally and fail on CI (`require`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from starbase.devenv import free_port

ALERTMANAGER = "prometheus-alertmanager"
PROMETHEUS = "prometheus"
PROMTOOL = "promtool"


def require(binary: str) -> str:
    """The binary's path; missing: a failure on CI (it must be installed), else a skip."""
    found = shutil.which(binary)
    if found is None:
        message = (
            f"{binary} is not installed (apt-get install {binary.split('-')[0]}…; .ci/run does)"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())


def get_text(url: str, headers: dict[str, str] | None = None) -> str:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return str(reply.read().decode())


class Webhook:
    """An HTTP server of the test's own that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with hook._lock:
                    hook.posts.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def alerts(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every alert of every notification (`status`: firing or resolved)."""
        with self._lock:
            posts = list(self.posts)
        return [a for p in posts for a in p.get("alerts", []) if status in (None, a["status"])]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Process:
    name = "process"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / f"{self.name}-{self.port}.log"

    def _spawn(self, command: list[str], ready: str, timeout: float = 30.0) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}: {self.output()}")
            try:
                with urllib.request.urlopen(self.url + ready, timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{self.name} not up after {timeout}s: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Alertmanager(_Process):
    name = "alertmanager"

    def __init__(self, folder: Path, webhook_url: str, port: int | None = None) -> None:
        super().__init__(folder)
        if port is not None:
            self.port, self.url = port, f"http://127.0.0.1:{port}"
        self.webhook_url = webhook_url

    def start(self) -> Alertmanager:
        binary = require(ALERTMANAGER)
        config = {
            "route": {
                "receiver": "test",
                "group_by": ["alertname", "service"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "test",
                    "webhook_configs": [{"url": self.webhook_url, "send_resolved": True}],
                }
            ],
        }
        path = self.folder / f"alertmanager-{self.port}.yml"
        self.folder.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config))
        self._spawn(
            [
                binary,
                f"--config.file={path}",
                f"--storage.path={self.folder / f'am-{self.port}'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            "/-/ready",
        )
        return self

    def alerts(self) -> list[dict[str, Any]]:
        """Alertmanager's own view (`GET /api/v2/alerts`)."""
        return list(get_json(f"{self.url}/api/v2/alerts"))


class Prometheus(_Process):
    name = "prometheus"

    def __init__(self, folder: Path, scrape_configs: list[dict[str, Any]]) -> None:
        super().__init__(folder)
        self.scrape_configs = scrape_configs

    def start(self) -> Prometheus:
        binary = require(PROMETHEUS)
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": self.scrape_configs,
        }
        path = self.folder / f"prometheus-{self.port}.yml"
        self.folder.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config))
        self._spawn(
            [
                binary,
                f"--config.file={path}",
                f"--storage.tsdb.path={self.folder / f'tsdb-{self.port}'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            "/-/ready",
        )
        return self

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of PromQL `expr`."""
        from urllib.parse import quote

        answer = get_json(f"{self.url}/api/v1/query?query={quote(expr)}")
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])


class RulesProcess(_Process):
    """`starbase rules run` as a subprocess."""

    name = "rules"

    def __init__(self, folder: Path, *arguments: str, port: int | None = None) -> None:
        super().__init__(folder)
        if port is not None:
            self.port, self.url = port, f"http://127.0.0.1:{port}"
        self.arguments = arguments

    def start(self) -> RulesProcess:
        self._spawn(
            [
                sys.executable,
                "-m",
                "starbase",
                "rules",
                "run",
                "--listen",
                f"127.0.0.1:{self.port}",
                *self.arguments,
            ],
            "/healthz",
        )
        return self

    def api(self, path: str) -> Any:
        return get_json(self.url + path)


class ServeProcess(_Process):
    """`starbase serve` as a subprocess (its readiness: `/healthz`)."""

    name = "serve"

    def __init__(self, folder: Path, *arguments: str) -> None:
        super().__init__(folder)
        self.arguments = arguments

    def start(self) -> ServeProcess:
        self._spawn(
            [sys.executable, "-m", "starbase", "serve", "--port", str(self.port), *self.arguments],
            "/healthz",
        )
        return self
