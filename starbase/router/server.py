"""The HTTP side of one worker: endpoints, admission (auth, limits, backpressure), durable acks.

Requires: a `GroupCommit` whose `on_done` is `Ingest.on_durable`, the worker's `Flusher`,
`Wal` and `Metrics`. Guarantees, per request: auth first (401/403), then backpressure (503 +
Retry-After when acknowledged-but-uncommitted bytes or the WAL are over their limit — e.g. the
store is unreachable — or the WAL cannot be written; 429 + Retry-After when bodies in flight
are over theirs), then the body: read as it arrives (only bytes received count as in flight),
413 past `max_body`, 408 if it does not arrive within `body_timeout_s` plus one second per
`body_min_rate` bytes received (a trickling client cannot hold the worker). Decoding (gunzip,
parse, checks: 4xx naming the problem, 413 past a limit of `limits`) runs in a small thread
pool, never on the event loop, so a body slow to decode does not hold up other clients; a 2xx
comes only after the records' WAL entry is fsynced (group commit). `/healthz` is liveness (503
when the WAL writer or the flusher cannot go on: restart), `/readyz` readiness (503 with the
reason), `/metrics` the Prometheus text of every worker (token-protected, see `auth.metrics`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from aiohttp import web

from starbase.router import auth, firehose, otlp, raw
from starbase.router.config import RouterConfig
from starbase.router.flusher import Flusher
from starbase.router.groupcommit import GroupCommit
from starbase.router.limits import Budget, Overrun
from starbase.router.metrics import STATUSES, Metrics
from starbase.router.problems import Problem, decompress, too_large
from starbase.router.wal import Entry, Kind, Record, Wal
from starbase.storage.otel_layout import NS_PER_DAY

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DECODE_THREADS = 2  # decodes run concurrently per worker (each bounded by `limits`)
log = logging.getLogger("starbase.router")


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
        self.decoders = ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode")

    # ------------------------------------------------------------------ WAL completion

    def on_durable(
        self, entries: list[Entry], tokens: list[object], error: BaseException | None
    ) -> None:
        """Called by the WAL thread after each group's fsync (see groupcommit)."""
        try:
            if error is None:
                self.flusher.add(entries)
                self.metrics.inc("wal_fsyncs_total")
                self.metrics.set("wal_bytes", self.wal.size)
        finally:
            by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for token in tokens:
                assert isinstance(token, tuple)
                loop: asyncio.AbstractEventLoop = token[0]
                by_loop.setdefault(loop, []).append(token[1])
            for loop, futures in by_loop.items():
                loop.call_soon_threadsafe(_resolve, futures, error)

    async def _durable(self, record: Record) -> Problem | None:
        assert self.group is not None
        if len(record.payload) > self.config.max_body_bytes:  # re-encoded larger than sent
            return too_large("the request's stored form", self.config.max_body_bytes)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        try:
            self.group.submit(record, (loop, future))
            await future
        except ValueError as exc:
            return too_large(f"the request's log entry ({exc})", self.config.max_body_bytes)
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
            return Problem(
                503, f"the write-ahead log cannot be written: {self.group.failed}", retry
            )
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
            return self._busy()
        return None

    def _busy(self) -> Problem:
        return Problem(
            429,
            f"too much data in flight ({self.inflight} bytes, limit "
            f"{self.config.max_inflight_bytes})",
            self.config.retry_after_s,
        )

    async def _read(self, request: web.Request, held: list[int]) -> bytes | Problem:
        """The body as sent, counted in flight as it arrives (`held[0]`: bytes counted)."""
        config = self.config
        limit = config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return replace(too_large("request body", limit), close=True)
        loop = asyncio.get_running_loop()
        started = loop.time()
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(config.body_timeout_s) as deadline:
                while True:
                    chunk = await request.content.readany()
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > limit:
                        return replace(too_large("request body", limit), close=True)
                    chunks.append(chunk)
                    self.inflight += len(chunk)
                    held[0] += len(chunk)
                    if self.inflight > config.max_inflight_bytes:
                        return replace(self._busy(), close=True)
                    deadline.reschedule(
                        started + config.body_timeout_s + size / config.body_min_rate
                    )
        except TimeoutError:
            return Problem(
                408,
                f"the request body did not arrive in time ({size} bytes received; a body "
                f"must arrive within {config.body_timeout_s:g} s plus 1 s per "
                f"{config.body_min_rate} bytes)",
                close=True,
            )
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _admit(
        self, request: web.Request, grant: auth.Grant | Problem, held: list[int]
    ) -> tuple[str | None, bytes] | Problem:
        """Auth, backpressure and the body as sent: (tenant, body)."""
        if isinstance(grant, Problem):
            return grant
        problem = self.pressure()
        if problem is not None:
            return problem
        body = await self._read(request, held)
        if isinstance(body, Problem):
            return body
        return grant.tenant, body

    async def _decode(self, work: Callable[[Budget], Any]) -> Any:
        """Run `work(budget)` in the decode pool: its result, or a Problem (413 past a limit)."""
        config = self.config

        def run() -> Any:
            budget = Budget(config.max_records, config.max_decode_cpu_s)
            try:
                return work(budget)
            except Overrun as exc:
                return exc.problem

        return await asyncio.get_running_loop().run_in_executor(self.decoders, run)

    def _hold(self, held: list[int], size: int) -> None:
        """Count the decoded form in flight instead of the body as sent."""
        self.inflight += size - held[0]
        held[0] = size

    # ------------------------------------------------------------------ endpoints

    async def logs(self, request: web.Request) -> web.StreamResponse:
        received = time.time_ns()
        content_type = request.headers.get("Content-Type")
        kind = otlp.media_type(content_type)
        kind = otlp.PROTOBUF if kind == "application/protobuf" else kind
        held = [0]
        try:
            outcome = await self._admit(
                request, auth.bearer(self.config, request.headers.get("Authorization")), held
            )
            if isinstance(outcome, Problem):
                return self._otlp_problem(outcome, kind)
            tenant, body = outcome
            encoding = request.headers.get("Content-Encoding")

            def work(budget: Budget) -> otlp.OtlpBatch | Problem:
                data = decompress(body, encoding, self.config.max_body_bytes, budget.tick)
                if isinstance(data, Problem):
                    return data
                admission = otlp.Admission(
                    received,
                    self.flusher.cutoffs.cutoff_ns(tenant, Kind.OTLP),
                    self.config.max_partitions,
                )
                return otlp.decode(data, content_type, budget, admission)

            batch = await self._decode(work)
            if isinstance(batch, Problem):
                return self._otlp_problem(batch, kind)
            self._hold(held, len(batch.payload))
            if batch.records:
                record = Record(
                    received,
                    batch.records,
                    Kind.OTLP,
                    tenant,
                    "",
                    batch.payload,
                    batch.partitions,
                )
                problem = await self._durable(record)
                if problem is not None:
                    return self._otlp_problem(problem, kind)
        finally:
            self.inflight -= held[0]
        self.metrics.inc("records_in_total", batch.records, format="otel")
        self.metrics.inc("bytes_in_total", len(body), format="otel")
        self.metrics.inc("rejected_records_total", batch.rejected, format="otel")
        self.metrics.inc("expired_records_total", batch.expired, format="otel")
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
        held = [0]
        try:
            outcome = await self._admit(request, grant, held)
            if isinstance(outcome, Problem):
                return self._firehose_problem(outcome, header_id or "")
            tenant, body = outcome
            encoding = request.headers.get("Content-Encoding")

            def work(budget: Budget) -> tuple[firehose.FirehoseBatch | Problem, str]:
                limit = self.config.max_body_bytes
                data = decompress(body, encoding, limit, budget.tick)
                if isinstance(data, Problem):
                    return data, header_id or ""
                cutoff = self.flusher.cutoffs.cutoff_ns(tenant, Kind.CLOUDWATCH)
                decoded = firehose.decode(
                    data,
                    header_id,
                    limit,
                    budget,
                    None if cutoff is None else -(-cutoff // 1_000_000),
                    self.config.max_partitions,
                )
                rid = decoded.request_id if not isinstance(decoded, Problem) else ""
                return decoded, rid or firehose.request_id(data, header_id)

            batch, rid = await self._decode(work)
            if isinstance(batch, Problem):
                return self._firehose_problem(batch, rid)
            self._hold(held, len(batch.payload))
            if batch.events:
                record = Record(
                    received,
                    batch.events,
                    Kind.CLOUDWATCH,
                    tenant,
                    "",
                    batch.payload,
                    batch.partitions,
                )
                problem = await self._durable(record)
                if problem is not None:
                    return self._firehose_problem(problem, batch.request_id)
        finally:
            self.inflight -= held[0]
        if batch.expired:
            log.warning(
                "firehose request %s: %d events older than the retention cutoff dropped",
                batch.request_id,
                batch.expired,
            )
        self.metrics.inc("records_in_total", batch.events, format="cloudwatch")
        self.metrics.inc("bytes_in_total", len(body), format="cloudwatch")
        self.metrics.inc("expired_records_total", batch.expired, format="cloudwatch")
        self._count("firehose", 200)
        return web.Response(body=firehose.reply(batch.request_id), content_type=otlp.JSON)

    async def raw(self, request: web.Request) -> web.StreamResponse:
        received = time.time_ns()
        held = [0]
        try:
            outcome = await self._admit(
                request, auth.bearer(self.config, request.headers.get("Authorization")), held
            )
            if isinstance(outcome, Problem):
                return self._text_problem(outcome, "raw")
            tenant, body = outcome
            encoding = request.headers.get("Content-Encoding")
            source = request.query.get("source")

            def work(budget: Budget) -> raw.RawBatch | Problem:
                data = decompress(body, encoding, self.config.max_body_bytes, budget.tick)
                if isinstance(data, Problem):
                    return data
                return raw.decode(data, source, budget)

            batch = await self._decode(work)
            if isinstance(batch, Problem):
                return self._text_problem(batch, "raw")
            self._hold(held, len(batch.payload))
            if batch.lines:
                record = Record(
                    received,
                    batch.lines,
                    Kind.RAW,
                    tenant,
                    batch.source,
                    batch.payload,
                    frozenset({received // NS_PER_DAY}),
                )
                problem = await self._durable(record)
                if problem is not None:
                    return self._text_problem(problem, "raw")
        finally:
            self.inflight -= held[0]
        self.metrics.inc("records_in_total", batch.lines, format="raw")
        self.metrics.inc("bytes_in_total", len(body), format="raw")
        self._count("raw", 200)
        return web.json_response({"lines": batch.lines})

    # ------------------------------------------------------------------ health and metrics

    async def healthz(self, _request: web.Request) -> web.StreamResponse:
        """Liveness: 503 when this worker cannot go on by itself (an orchestrator restarts it)."""
        if self.group is not None and self.group.broken is not None:
            return web.Response(
                status=503, text=f"the write-ahead log is broken: {self.group.broken}\n"
            )
        if self.group is not None and not self.group.alive:
            return web.Response(status=503, text="the write-ahead log writer stopped\n")
        if not self.flusher.alive:
            return web.Response(status=503, text="the flusher stopped\n")
        return web.Response(text="ok\n")

    async def readyz(self, _request: web.Request) -> web.StreamResponse:
        problem = self.pressure()
        if problem is None and self.flusher.store_error:
            problem = Problem(503, f"the store is unreachable: {self.flusher.store_error}")
        if problem is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=problem.message + "\n")

    async def prometheus(self, request: web.Request) -> web.StreamResponse:
        grant = auth.metrics(self.config, request.headers.get("Authorization"))
        if isinstance(grant, Problem):
            return web.Response(status=grant.status, text=grant.message + "\n")
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

    def _reply(self, problem: Problem, body: bytes, content_type: str) -> web.Response:
        headers = {"Content-Type": content_type}
        if problem.retry_after_s is not None:
            headers["Retry-After"] = str(problem.retry_after_s)
        response = web.Response(status=problem.status, body=body, headers=headers)
        if problem.close:  # the rest of the body is not read: do not wait for it
            response.force_close()
        return response

    def _otlp_problem(self, problem: Problem, kind: str) -> web.Response:
        self._count("logs", problem.status)
        return self._reply(problem, *otlp.problem_body(problem, kind))

    def _firehose_problem(self, problem: Problem, rid: str) -> web.Response:
        self._count("firehose", problem.status)
        return self._reply(problem, firehose.reply(rid, problem), otlp.JSON)

    def _text_problem(self, problem: Problem, endpoint: str) -> web.Response:
        self._count(endpoint, problem.status)
        text = (problem.message + "\n").encode()
        return self._reply(problem, text, "text/plain; charset=utf-8")


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
