"""Connections that hold a worker without sending requests, and lines too long to store.

A client could open thousands of idle connections (each a file descriptor and a task of the
worker: past the open-file limit the worker could no longer accept anyone, nor open a WAL
segment), or send its headers a byte at a time forever: both now end. A raw line had no size
limit: one line of 32 MiB became one Arrow string and one Parquet value.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st
from test_router_harness import PROTOBUF, Router, otlp_request, wait_for

from starbase.router import raw
from starbase.router.limits import MAX_RECORD_BYTES
from starbase.router.problems import Problem


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float | None:
    """Seconds until the server closes `sock` (sending `trickle` a byte every 0.2 s), or None."""
    started = time.monotonic()
    sock.settimeout(0.2)
    sent = 0
    while time.monotonic() - started < seconds:
        try:
            if sent < len(trickle):
                sock.sendall(trickle[sent : sent + 1])
                sent += 1
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except OSError:  # reset: closed too
            return time.monotonic() - started
    return None


def test_idle_connections_and_trickled_headers_are_closed(tmp_path: Path) -> None:
    server = Router(tmp_path / "data", "--header-timeout", "1").start()
    try:
        headers = b"POST /v1/logs HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200
        with (
            socket.create_connection(("127.0.0.1", server.port)) as idle,
            socket.create_connection(("127.0.0.1", server.port)) as slow,
        ):
            took = _closed_within(slow, 8, headers)
            assert took is not None and took < 4, took  # headers still arriving: closed
            assert _closed_within(idle, 4) is not None  # never sent anything: closed
        # a client that keeps its connection busy is not affected
        for n in range(3):
            assert server.post("/v1/logs", otlp_request([f"n{n}"]), PROTOBUF)[0] == 200
    finally:
        assert server.stop() == 0


def test_connections_past_the_cap_are_answered_503(tmp_path: Path) -> None:
    server = Router(tmp_path / "data", "--max-connections", "4").start()
    held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(4)]
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as extra:
            extra.settimeout(5)
            reply = extra.recv(4096)
            assert reply.startswith(b"HTTP/1.1 503"), reply
            assert b"Retry-After: " in reply and b"too many connections" in reply
        held.pop().close()
        wait_for(
            lambda: server.post("/v1/logs", otlp_request(["after"]), PROTOBUF)[0] == 200,
            what="a connection once one is free",
        )
    finally:
        for sock in held:
            sock.close()
        assert server.stop() == 0


def test_a_line_longer_than_a_record_may_be_is_refused(tmp_path: Path) -> None:
    server = Router(tmp_path / "data").start()
    try:
        longest = b"x" * MAX_RECORD_BYTES
        status, _, reply = server.post("/v1/raw?source=app", b"ok\n" + longest + b"\n", {})
        assert status == 200, reply
        status, _, reply = server.post("/v1/raw?source=app", b"ok\n" + longest + b"y\n", {})
        assert status == 413 and b"line 2" in reply and b"1048576" in reply, reply
        status, _, reply = server.post("/v1/raw?source=app", b"ok\n\n" + longest + b"yz", {})
        assert status == 413 and b"line 3" in reply, reply  # the last line, unterminated
    finally:
        assert server.stop() == 0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.sampled_from([0, 1, 999, MAX_RECORD_BYTES - 1, MAX_RECORD_BYTES, MAX_RECORD_BYTES + 1]),
        min_size=1,
        max_size=5,
    ),
    st.booleans(),
    st.sampled_from([1000, 4096, raw._SLICE]),
)
def test_the_first_long_line_is_named_wherever_slices_cut(
    sizes: list[int], final_newline: bool, slice_bytes: int
) -> None:
    body = b"\n".join(b"x" * n for n in sizes) + (b"\n" if final_newline else b"")
    with mock.patch.object(raw, "_SLICE", slice_bytes):
        outcome = raw.decode(body, "app")
    long = [(i + 1, n) for i, n in enumerate(sizes) if n > MAX_RECORD_BYTES]
    if not long:
        assert isinstance(outcome, raw.RawBatch) and outcome.lines == len(raw.lines(body))
    else:
        line, size = long[0]
        assert isinstance(outcome, Problem) and outcome.status == 413
        assert outcome.message.startswith(f"line {line} is {size} bytes"), outcome.message
