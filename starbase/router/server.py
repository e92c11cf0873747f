"""The HTTP side of one worker: endpoints, admission (auth, limits, backpressure), durable acks.

Requires: a `GroupCommit` whose `on_done` is `Ingest.on_durable`, the worker's `Flusher`,
`Wal` and `Metrics`. Guarantees, per request: auth first (401/403), then backpressure (503 +
Retry-After when acknowledged-but-uncommitted bytes or the WAL are over their limit — e.g. the
store is unreachable — or the WAL cannot be written; 429 + Retry-After when bodies in flight
are over theirs), then the body limit (413), decoding (4xx naming the problem), and a 2xx only
after the records' WAL entry is fsynced (group commit). Nothing but decoding and a WAL append
happens on the request path. `/healthz` is liveness, `/readyz` readiness (503 with the reason),
`/metrics` the Prometheus text of every worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from starbase.router import auth, firehose, otlp, raw
from starbase.router.config import RouterConfig
from starbase.router.flusher import Flusher
from starbase.router.groupcommit import GroupCommit
from starbase.router.metrics import STATUSES, Metrics
from starbase.router.problems import Problem, decompress, too_large
from starbase.router.wal import Entry, Kind, Record, Wal

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Token = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class Ingest:
    def __init__(
        self,
        config: RouterConfig,
        wal: Wal,
        flusher: Flusher,
        metrics: Metrics,
    ) -> None:
        self.config = config
        self.wal = wal
        self.flusher = flusher
        self.metrics = metrics
        self.group: GroupCommit | None = None  # set once the WAL is replayed
        self.inflight = 0

    # ------------------------------------------------------------------ WAL completion

    def on_durable(
        self, entries: list[Entry], tokens: list[object], error: BaseException | None
    ) -> None:
        """Called by the WAL thread after each group's fsync (see groupcommit)."""
        if error is None:
            self.flusher.add(entries)
            self.metrics.inc("wal_fsyncs_total")
            self.metrics.set("wal_bytes", self.wal.size)
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for token in tokens:
            assert isinstance(token, tuple)
            loop: asyncio.AbstractEventLoop = token[0]
            by_loop.setdefault(loop, []).append(token[1])
        for loop, futures in by_loop.items():
            loop.call_soon_threadsafe(_resolve, futures, error)

    async def _durable(self, record: Record) -> Problem | None:
        assert self.group is not None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        try:
            self.group.submit(record, (loop, future))
            await future
        except (OSError, RuntimeError) as exc:
            return Problem(503, f"the write-ahead log failed: {exc}", self.config.retry_after_s)
        return None

    # ------------------------------------------------------------------ admission

    def pressure(self) -> Problem | None:
        """Why a new request must wait (503/429 with Retry-After), or None."""
        retry = self.config.retry_after_s
        if self.group is None:
            return Problem(503, "starting: replaying the write-ahead log", retry)
        if self.group.failed is not None:
            return Problem(503, f"the write-ahead log failed: {self.group.failed}", retry)
        if self.flusher.buffered_bytes >= self.config.max_buffer_bytes:
            why = (
                f"the store is unreachable ({self.flusher.store_error})"
                if self.flusher.store_error
                else "commits to the store are behind"
            )
            return Problem(
                503,
                f"{why}: {self.flusher.buffered_bytes} bytes acknowledged and not yet committed "
                f"(limit {self.config.max_buffer_bytes})",
                retry,
            )
        if self.wal.size >= self.config.max_wal_bytes:
            return Problem(503, f"the write-ahead log is full ({self.wal.size} bytes)", retry)
        if self.inflight >= self.config.max_inflight_bytes:
            return Problem(
                429,
                f"too much data in flight ({self.inflight} bytes, limit "
                f"{self.config.max_inflight_bytes})",
                retry,
            )
        return None

    async def _body(self, request: web.Request) -> bytes | Problem:
        limit = self.config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return too_large("request body", limit)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return too_large("request body", limit)
        decoded = decompress(body, request.headers.get("Content-Encoding"), limit)
        return decoded

    # ------------------------------------------------------------------ endpoints

    async def logs(self, request: web.Request) -> web.StreamResponse:
        received = time.time_ns()
        kind = otlp.media_type(request.headers.get("Content-Type"))
        kind = otlp.PROTOBUF if kind == "application/protobuf" else kind
        outcome = await self._admit(
            request, auth.bearer(self.config, request.headers.get("Authorization"))
        )
        if isinstance(outcome, Problem):
            return self._otlp_problem(outcome, kind)
        tenant, body, size = outcome
        try:
            batch = otlp.decode(body, request.headers.get("Content-Type"))
            if isinstance(batch, Problem):
                return self._otlp_problem(batch, kind)
            if batch.records:
                record = Record(received, batch.records, Kind.OTLP, tenant, "", batch.payload)
                problem = await self._durable(record)
                if problem is not None:
                    return self._otlp_problem(problem, kind)
        finally:
            self.inflight -= size
        self.metrics.inc("records_in_total", batch.records, format="otel")
        self.metrics.inc("bytes_in_total", request.content_length or len(body), format="otel")
        self.metrics.inc("rejected_records_total", batch.rejected, format="otel")
        self._count("logs", 200)
        return web.Response(
            body=otlp.success_body(batch, kind),
            content_type=otlp.JSON if kind == otlp.JSON else otlp.PROTOBUF,
        )

    async def firehose(self, request: web.Request) -> web.StreamResponse:
        received = time.time_ns()
        header_id = request.headers.get("X-Amz-Firehose-Request-Id")
        key = request.headers.get("X-Amz-Firehose-Access-Key")
        grant = auth.firehose(self.config, key)
        content_type = otlp.media_type(request.headers.get("Content-Type"))
        if not isinstance(grant, Problem) and content_type not in ("", otlp.JSON):
            grant = Problem(415, f"Content-Type must be {otlp.JSON}, not {content_type!r}")
        outcome = await self._admit(request, grant)
        if isinstance(outcome, Problem):
            return self._firehose_problem(outcome, header_id or "")
        tenant, body, size = outcome
        try:
            batch = firehose.decode(body, header_id, self.config.max_body_bytes)
            if isinstance(batch, Problem):
                return self._firehose_problem(batch, firehose.request_id(body, header_id))
            if batch.events:
                record = Record(received, batch.events, Kind.CLOUDWATCH, tenant, "", batch.payload)
                problem = await self._durable(record)
                if problem is not None:
                    return self._firehose_problem(problem, batch.request_id)
        finally:
            self.inflight -= size
        self.metrics.inc("records_in_total", batch.events, format="cloudwatch")
        self.metrics.inc("bytes_in_total", request.content_length or len(body), format="cloudwatch")
        self._count("firehose", 200)
        return web.Response(body=firehose.reply(batch.request_id), content_type=otlp.JSON)

    async def raw(self, request: web.Request) -> web.StreamResponse:
        received = time.time_ns()
        outcome = await self._admit(
            request, auth.bearer(self.config, request.headers.get("Authorization"))
        )
        if isinstance(outcome, Problem):
            return self._text_problem(outcome, "raw")
        tenant, body, size = outcome
        try:
            batch = raw.decode(body, request.query.get("source"))
            if isinstance(batch, Problem):
                return self._text_problem(batch, "raw")
            if batch.lines:
                record = Record(
                    received, batch.lines, Kind.RAW, tenant, batch.source, batch.payload
                )
                problem = await self._durable(record)
                if problem is not None:
                    return self._text_problem(problem, "raw")
        finally:
            self.inflight -= size
        self.metrics.inc("records_in_total", batch.lines, format="raw")
        self.metrics.inc("bytes_in_total", request.content_length or len(body), format="raw")
        self._count("raw", 200)
        return web.json_response({"lines": batch.lines})

    async def _admit(
        self, request: web.Request, grant: auth.Grant | Problem
    ) -> tuple[str | None, bytes, int] | Problem:
        """Auth, backpressure and the body: (tenant, decoded body, bytes held in flight)."""
        if isinstance(grant, Problem):
            return grant
        problem = self.pressure()
        if problem is not None:
            return problem
        reserved = request.content_length or 0  # counted while the body is read
        self.inflight += reserved
        try:
            body = await self._body(request)
        finally:
            self.inflight -= reserved
        if isinstance(body, Problem):
            return body
        self.inflight += len(body)  # released by the handler once durable (or refused)
        return grant.tenant, body, len(body)

    # ------------------------------------------------------------------ health and metrics

    async def healthz(self, _request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok\n")

    async def readyz(self, _request: web.Request) -> web.StreamResponse:
        problem = self.pressure()
        if problem is None and self.flusher.store_error:
            problem = Problem(503, f"the store is unreachable: {self.flusher.store_error}")
        if problem is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=problem.message + "\n")

    async def prometheus(self, _request: web.Request) -> web.StreamResponse:
        self.metrics.set("inflight_bytes", self.inflight)
        self.metrics.set("wal_bytes", self.wal.size)
        return web.Response(
            text=self.metrics.render(),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    # ------------------------------------------------------------------ replies

    def _count(self, endpoint: str, status: int) -> None:
        code = str(status)
        self.metrics.inc(
            "requests_total", endpoint=endpoint, status=code if code in STATUSES else "500"
        )

    def _headers(self, problem: Problem) -> dict[str, str]:
        if problem.retry_after_s is None:
            return {}
        return {"Retry-After": str(problem.retry_after_s)}

    def _otlp_problem(self, problem: Problem, kind: str) -> web.Response:
        self._count("logs", problem.status)
        body, content_type = otlp.problem_body(problem, kind)
        return web.Response(
            status=problem.status,
            body=body,
            headers={"Content-Type": content_type, **self._headers(problem)},
        )

    def _firehose_problem(self, problem: Problem, rid: str) -> web.Response:
        self._count("firehose", problem.status)
        return web.Response(
            status=problem.status,
            body=firehose.reply(rid, problem),
            headers={"Content-Type": otlp.JSON, **self._headers(problem)},
        )

    def _text_problem(self, problem: Problem, endpoint: str) -> web.Response:
        self._count(endpoint, problem.status)
        return web.Response(
            status=problem.status, text=problem.message + "\n", headers=self._headers(problem)
        )


def application(ingest: Ingest) -> web.Application:
    app = web.Application(client_max_size=ingest.config.max_body_bytes)
    app.router.add_post("/v1/logs", ingest.logs)
    app.router.add_post("/firehose", ingest.firehose)
    app.router.add_post("/v1/raw", ingest.raw)
    app.router.add_get("/healthz", ingest.healthz)
    app.router.add_get("/readyz", ingest.readyz)
    app.router.add_get("/metrics", ingest.prometheus)
    return app


def _resolve(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(OSError(str(error)))
