"""Fixtures for `starbase serve`: the real server (aiohttp, real sockets on 127.0.0.1) running
in a thread of the test process, over a data folder of synthetic OTel records, and a small
HTTP client that never raises on a status.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from synthetic import generate, write_dataset

from starbase.api.app import RUNNER_OPTIONS, build_app
from starbase.api.settings import Limits, ServeSettings
from starbase.config import default_config
from starbase.devenv import free_port
from tests.conftest import DATASET_SEED, DATASET_SPAN, DATASET_START

TENANT_ROWS = 300


class Served:
    """A running server: its URL and the settings it runs with; `stop()` shuts it down."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.app = build_app(settings)
        self.runner = web.AppRunner(self.app, **RUNNER_OPTIONS)  # type: ignore[arg-type]
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        if not ready.wait(30):
            raise RuntimeError("the server did not start")

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        self.loop.run_until_complete(site.start())
        ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        future = asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop)
        future.result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    json: Any = field(default=None)


def request(
    url: str,
    method: str = "GET",
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> Reply:
    data = raw
    sent = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            status, got, content = reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        status, got, content = error.code, dict(error.headers), error.read()
    parsed = None
    if got.get("Content-Type", "").startswith("application/json"):
        parsed = json.loads(content)
    return Reply(status, got, content, parsed)


def served(data: Path, tmp: Path, **overrides: Any) -> Served:
    limits = overrides.pop("limits", Limits())
    settings = ServeSettings(
        config=overrides.pop("config", default_config(data)),
        state_dir=tmp / "state",
        limits=limits,
        **overrides,
    )
    return Served(settings)


@pytest.fixture(scope="session")
def api_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared synthetic dataset (as `otel_data`), plus TENANT_ROWS rows of tenant `acme`
    whose service is `acme-only`: a data folder the router could have written."""
    root = tmp_path_factory.mktemp("api-data")
    write_dataset(root, 20_000, start_ns=DATASET_START, span_ns=DATASET_SPAN, seed=DATASET_SEED)
    from starbase.storage import write_batch

    rows = generate(TENANT_ROWS, start_ns=DATASET_START, span_ns=3_600_000_000_000, seed=3)
    rows = rows.set_column(
        rows.schema.get_field_index("service"), "service", _repeat("acme-only", rows.num_rows)
    )
    write_batch(root / "tenants" / "acme", rows)
    return root


def _repeat(value: str, count: int) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    return pa.array([value] * count, pa.string())


@pytest.fixture(scope="session")
def server(api_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """An open server (no token) over `api_data` with the default limits."""
    running = served(api_data, tmp_path_factory.mktemp("serve"))
    yield running
    running.stop()


def wait_for(predicate: Any, timeout: float = 20.0, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")
