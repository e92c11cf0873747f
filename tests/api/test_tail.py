"""Live tail: rows arrive as commits land (SSE and WebSocket), exactly once; a slow client is
told how many rows were dropped; a WebSocket that never reads is disconnected while the
server keeps serving others, and its slot is given back."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pyarrow as pa
import pytest
from synthetic import generate

from starbase.api.settings import Limits
from starbase.storage import write_batch
from tests.api.conftest import Served, request, served, wait_for


def _rows(count: int, service: str, message: str | None = None) -> pa.Table:
    now = time.time_ns()
    rows = generate(count, start_ns=now - 1_000_000_000, span_ns=1_000_000_000, seed=count)
    rows = rows.set_column(
        rows.schema.get_field_index("service"), "service", pa.array([service] * count)
    )
    if message is not None:
        index = rows.schema.get_field_index("body")
        field = rows.schema.field(index)
        rows = rows.set_column(index, field, pa.array([message] * count, field.type))
    return rows


@pytest.fixture
def tail_data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    write_batch(root, _rows(10, "before"))  # rows committed before the tail starts: not sent
    return root


def _tail_url(server: Served, query: str) -> str:
    return f"{server.url}/api/v1/tail?query={urllib.parse.quote(query)}"


async def _sse_events(url: str, until: Any, timeout: float = 30.0) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    async with (
        aiohttp.ClientSession() as client,
        client.get(url, headers={"Accept": "text/event-stream"}) as reply,
    ):
        assert reply.status == 200
        kind = "message"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = (await asyncio.wait_for(reply.content.readline(), timeout)).decode()
            if line.startswith("event: "):
                kind = line[7:].strip()
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
                if until(events):
                    return events
    raise AssertionError(f"the tail did not deliver in time: {events}")


def _sent(events: list[tuple[str, Any]]) -> list[list[Any]]:
    return [row for kind, data in events if kind == "rows" for row in data["rows"]]


def test_sse_tail_sends_each_committed_row_once(tail_data: Path, tmp_path: Path) -> None:
    server = served(tail_data, tmp_path)
    query = "from otel | where service != 'skip' | fields service, message"
    try:

        async def scenario() -> list[tuple[str, Any]]:
            async def writer() -> None:
                await asyncio.sleep(0.5)
                for batch in (_rows(30, "first"), _rows(5, "skip"), _rows(20, "second")):
                    await asyncio.to_thread(write_batch, tail_data, batch)
                    await asyncio.sleep(0.3)

            task = asyncio.ensure_future(writer())
            events = await _sse_events(_tail_url(server, query), lambda e: len(_sent(e)) >= 50)
            await task
            return events

        events = asyncio.run(scenario())
        assert events[0][0] == "start"
        assert [c["name"] for c in events[0][1]["columns"]] == ["service", "message"]
        services = [row[0] for row in _sent(events)]
        assert services == ["first"] * 30 + ["second"] * 20
        assert all(data["committed_ns"] > 0 for kind, data in events if kind == "rows")
    finally:
        server.stop()


def _frames(sock: socket.socket) -> Iterator[dict[str, Any]]:
    """The JSON text messages of a WebSocket read by hand (server frames are unmasked)."""

    def exactly(count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    while True:
        first, second = exactly(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(exactly(2), "big")
        elif length == 127:
            length = int.from_bytes(exactly(8), "big")
        payload = exactly(length)
        if first & 0x0F == 0x1:
            yield json.loads(payload)


def test_websocket_tail_and_a_slow_client_is_told_what_was_dropped(
    tail_data: Path, tmp_path: Path, never_reading: list[socket.socket]
) -> None:
    server = served(tail_data, tmp_path, limits=Limits(tail_buffer_rows=10))
    big = "y" * 200_000  # 20 rows a commit: ~4 MB, more than the sockets hold
    try:
        _websocket_that_never_reads(server, "from otel | fields service, message", never_reading)
        for k in range(4):  # the client reads nothing meanwhile
            write_batch(tail_data, _rows(20, f"c{k}", big))
            time.sleep(0.6)
        (sock,) = never_reading
        sock.settimeout(30)
        messages: list[dict[str, Any]] = []
        for message in _frames(sock):  # now it reads
            messages.append(message)
            if message["type"] == "dropped" or len(messages) > 10:
                break
        assert messages[0]["type"] == "start"
        (dropped,) = [m for m in messages if m["type"] == "dropped"]
        assert dropped["count"] >= 20 and dropped["count"] % 20 == 0
        assert "too slowly" in dropped["message"]
        services = [r[0] for m in messages if m["type"] == "rows" for r in m["rows"]]
        assert services[:20] == ["c0"] * 20  # rows taken before the client fell behind
    finally:
        server.stop()


def test_tail_refuses_what_it_cannot_run(server: Served) -> None:
    stats = request(
        _tail_url(server, "from otel | stats count()"), headers={"Accept": "text/event-stream"}
    )
    assert stats.status == 400 and stats.json["error"]["code"] == "not_row_only"
    plain = request(_tail_url(server, "from otel"))
    assert plain.status == 400 and plain.json["error"]["code"] == "not_a_stream"
    broken = request(
        _tail_url(server, "from otel | where"), headers={"Accept": "text/event-stream"}
    )
    assert broken.status == 400 and broken.json["diagnostics"]
    missing = request(f"{server.url}/api/v1/tail", headers={"Accept": "text/event-stream"})
    assert missing.status == 400 and missing.json["error"]["code"] == "missing_parameter"


@pytest.fixture
def never_reading(request_url: str = "") -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


def _websocket_that_never_reads(server: Served, query: str, into: list[socket.socket]) -> None:
    """Open a WebSocket by hand, read the handshake's answer, then never read again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    path = "/api/v1/tail?query=" + urllib.parse.quote(query)
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    into.append(sock)


def test_a_websocket_that_never_reads_is_disconnected_and_others_are_served(
    tail_data: Path, tmp_path: Path, never_reading: list[socket.socket]
) -> None:
    limits = Limits(tail_stall_s=1.0, tail_buffer_rows=100, max_tails=1)
    server = served(tail_data, tmp_path, limits=limits)
    try:
        _websocket_that_never_reads(server, "from otel | fields message", never_reading)
        sse = {"Accept": "text/event-stream"}
        held = request(_tail_url(server, "from otel"), headers=sse, timeout=5)
        assert held.status == 429  # the only tail slot is the silent client's
        big = "x" * 100_000
        for _ in range(4):  # ~10 MB a commit: far more than the socket buffers hold
            write_batch(tail_data, _rows(100, "big", big))
            reply = request(f"{server.url}/api/v1/query", "POST", {"query": "from otel | limit 1"})
            assert reply.status == 200  # the server keeps serving others meanwhile
            time.sleep(0.3)

        def slot_free() -> bool:
            try:
                reply = request(_tail_url(server, "from otel | limit 1"), headers=sse, timeout=5)
            except TimeoutError:
                return False
            return reply.status == 400  # not 429: the slot is back (then refused as not row-only)

        wait_for(slot_free, timeout=30, step=0.5)
    finally:
        server.stop()
