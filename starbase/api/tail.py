"""`GET /api/v1/tail?query=TEXT`: live tail over WebSocket or Server-Sent Events.

Requires: the shared `ApiState`, a row-only query (`where`, `since`, `between`, `parse`,
`extend`, `fields`) over stored sources, and `execution.TailReader` (which polls the commit
logs, never the folders). Guarantees:

- The transport is chosen by the request: a WebSocket upgrade, else `Accept:
  text/event-stream` (SSE); anything else is a 400. Compile errors are a 400 with
  diagnostics before any upgrade; a query that is not row-only or reads a source that is not
  stored is a 400 naming why.
- Messages are JSON objects (SSE: `event: <type>` and `data: <json>`): `start` (`columns`),
  then `rows` (`rows`, `committed_ns`: when the newest commit they come from was made) as
  commits land — the head is read every `tail_poll_s` (0.25 s), so rows arrive well within
  2 s of the router's commit —, and `dropped` (`count`, `message`) when rows were dropped
  because the client read too slowly: at most `tail_buffer_rows` rows wait for a client;
  past that new rows are dropped and counted (as Loki reports dropped entries); a client that
  has taken every row gets the next commit's rows whole, whatever their number. SSE sends a
  comment every 15 s so a vanished client is noticed.
- A client that accepts nothing for `tail_stall_s` (a WebSocket that never reads) is
  disconnected (WebSocket close 1008); a failure of the query ends the tail with an `error`
  message. Each tail holds one of the principal's `max_tails` slots until it ends; leaving,
  for any reason, stops its poller and frees its reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from starbase.api import encode
from starbase.api.assist import row_only
from starbase.api.errors import ApiError
from starbase.api.execution import TailReader
from starbase.api.models import check_query_params
from starbase.api.running import check_length
from starbase.api.state import ApiState, principal_of, state_of
from starbase.compiler.driver import CompiledQuery
from starbase.runtime.errors import QueryFailed

log = logging.getLogger("starbase.api")
KEEPALIVE_S = 15.0
ROWS_PER_MESSAGE = 5000
HANG_UP_CHECK_S = 0.5


async def tail(request: web.Request) -> web.StreamResponse:
    state, principal = state_of(request), principal_of(request)
    given = check_query_params(request, {"query": str, "params": str})
    if "query" not in given:
        raise ApiError(400, "missing_parameter", "parameter 'query' is required")
    limits = state.settings.limits
    text = str(given["query"])
    check_length(text, limits)
    params = _params(given.get("params"))
    websocket = request.headers.get("Upgrade", "").lower() == "websocket"
    if not websocket and "text/event-stream" not in request.headers.get("Accept", ""):
        raise ApiError(
            400,
            "not_a_stream",
            "live tail needs a WebSocket upgrade or 'Accept: text/event-stream'",
        )
    session = state.tenants.session(principal.tenant)
    loop = asyncio.get_running_loop()
    compiled: CompiledQuery = await loop.run_in_executor(state.executor, session.compile, text)
    if not row_only(compiled.ast):
        raise ApiError(
            400,
            "not_row_only",
            "live tail runs row-only queries (where, since, between, parse, extend, fields); "
            "stats, sort, limit and dedup need the whole result",
        )
    with state.tails.slot(principal):
        try:
            reader = await loop.run_in_executor(state.executor, TailReader, compiled, params)
        except QueryFailed as exc:
            raise ApiError(400, "not_tailable", str(exc)) from None
        try:
            if websocket:
                return await _websocket(request, state, reader)
            return await _sse(request, state, reader)
        finally:
            reader.close()


def _params(text: str | None) -> dict[str, object]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise ApiError(
            400, "invalid_parameter", "parameter 'params' must be a JSON object"
        ) from None
    if not isinstance(value, dict) or any(isinstance(v, dict | list) for v in value.values()):
        raise ApiError(
            400, "invalid_parameter", "parameter 'params' must be a JSON object of plain values"
        )
    return value


class Outbox:
    """Rows waiting for the client, bounded; what does not fit is counted as dropped."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.rows: deque[list[Any]] = deque()
        self.dropped = 0
        self.committed_ns = 0
        self.ready = asyncio.Event()

    def offer(self, rows: list[list[Any]], committed_ns: int) -> None:
        # a client that has taken everything gets the whole delta (a commit is bounded by the
        # router's flush size); one still behind gets what fits, the rest is counted
        room = len(rows) if not self.rows else max(0, self.capacity - len(self.rows))
        self.rows.extend(rows[:room])
        self.dropped += max(0, len(rows) - room)
        self.committed_ns = committed_ns
        if self.rows or self.dropped:
            self.ready.set()

    def take(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if self.dropped:
            messages.append(
                {
                    "type": "dropped",
                    "count": self.dropped,
                    "message": f"{self.dropped} rows were dropped: the client read too slowly",
                }
            )
            self.dropped = 0
        while self.rows:
            count = min(ROWS_PER_MESSAGE, len(self.rows))
            rows = [self.rows.popleft() for _ in range(count)]
            messages.append({"type": "rows", "rows": rows, "committed_ns": self.committed_ns})
        self.ready.clear()
        return messages


async def _poll(state: ApiState, reader: TailReader, outbox: Outbox) -> None:
    loop = asyncio.get_running_loop()
    while True:
        delta = await loop.run_in_executor(state.executor, reader.poll)
        if delta is not None and delta.table.num_rows:
            rows = await loop.run_in_executor(state.executor, encode.rows, delta.table)
            outbox.offer(rows, delta.committed_ns)
        await asyncio.sleep(state.settings.limits.tail_poll_s)


async def _pump(
    state: ApiState,
    reader: TailReader,
    send: Callable[[dict[str, Any]], Awaitable[None]],
    until: asyncio.Future[Any] | None,
) -> None:
    """Poll and send until the client leaves, stalls, or the query fails."""
    outbox = Outbox(state.settings.limits.tail_buffer_rows)
    columns = [{"name": c.name, "type": c.type.value} for c in reader.compiled.columns]
    stall = state.settings.limits.tail_stall_s
    await asyncio.wait_for(send({"type": "start", "columns": columns}), stall)
    poller = asyncio.ensure_future(_poll(state, reader, outbox))
    ready: asyncio.Future[Any] | None = None
    try:
        while True:
            ready = asyncio.ensure_future(outbox.ready.wait())
            waiters: set[asyncio.Future[Any]] = {ready, poller}
            if until is not None:
                waiters.add(until)
            done, _ = await asyncio.wait(
                waiters, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED
            )
            ready.cancel()
            if until is not None and until in done:
                return
            if poller in done:
                exc = poller.exception()
                message = str(exc) if exc is not None else "the tail stopped"
                await asyncio.wait_for(send({"type": "error", "message": message}), stall)
                return
            pending: list[dict[str, Any]] = [{"type": "keepalive"}]
            if outbox.ready.is_set():
                pending = outbox.take()
            for item in pending:
                await asyncio.wait_for(send(item), stall)
    finally:
        if ready is not None:
            ready.cancel()
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await poller


async def _websocket(
    request: web.Request, state: ApiState, reader: TailReader
) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=64 * 1024)
    await ws.prepare(request)

    async def send(message: dict[str, Any]) -> None:
        await ws.send_str(await _dumps(state, message))

    async def closed() -> None:
        async for message in ws:
            if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break

    listener = asyncio.ensure_future(closed())
    try:
        await _pump(state, reader, send, listener)
    except TimeoutError:
        log.info("live tail: a WebSocket client read nothing for %s s; closing", "stall")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code=1008, message=b"client too slow"), 1.0)
        if request.transport is not None:
            request.transport.abort()
    except (ConnectionError, RuntimeError):
        pass
    finally:
        listener.cancel()
        if not ws.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)
    return ws


async def _sse(request: web.Request, state: ApiState, reader: TailReader) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "keepalive":
            await response.write(b": keepalive\n\n")
            return
        data = await _dumps(state, message)
        await response.write(f"event: {message['type']}\ndata: {data}\n\n".encode())

    gone = asyncio.ensure_future(_hung_up(request))
    try:
        await _pump(state, reader, send, gone)
    except TimeoutError:
        log.info("live tail: an SSE client read nothing; closing")
        if request.transport is not None:
            request.transport.abort()
    except (ConnectionError, RuntimeError):
        pass
    finally:
        gone.cancel()
    return response


async def _dumps(state: ApiState, message: dict[str, Any]) -> str:
    """JSON text of a message; large ones are encoded off the event loop."""
    if len(message.get("rows", ())) < 100:
        return json.dumps(message, ensure_ascii=False)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        state.executor, lambda: json.dumps(message, ensure_ascii=False)
    )


async def _hung_up(request: web.Request) -> None:
    """Returns once the client's connection is closed (SSE has no message to say so)."""
    while request.transport is not None and not request.transport.is_closing():
        await asyncio.sleep(HANG_UP_CHECK_S)
