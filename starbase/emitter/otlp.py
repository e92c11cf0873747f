"""OTLP mode: records emitted through the real OpenTelemetry Python SDK.

Requires: opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http. Guarantees:
- One `LoggerProvider` per service resource (`service.name`, `service.version`, `host.name`,
  `service.namespace`, `deployment.environment`) — as each replica of each service would have
  — with a `BatchLogRecordProcessor` (batches of `batch_size`, a 200 ms schedule) feeding an
  `OTLPLogExporter` over HTTP/protobuf to `endpoint`, with `Authorization: Bearer <token>` when
  a token is given. One logger per instrumentation scope.
- Each record keeps its timestamp (also the observed timestamp, so a seeded run is
  reproducible through the pipeline), severity number and text, body, attributes, and trace
  and span ids (through a non-recording span in the emit context; none for background work).
- Nothing is dropped silently: `add` blocks while `max_in_flight` records are emitted but not
  yet exported or failed, which keeps every processor's queue below its capacity. Exports
  are counted (a failed export — after the exporter's own retries, which honour
  Retry-After on 429/503 — counts its whole batch as failed). `close` flushes every provider,
  then shuts them down, each step on all providers at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from opentelemetry import trace
from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from starbase.emitter.records import Record
from starbase.emitter.sink import Delivery
from starbase.emitter.system import ENVIRONMENT, NAMESPACE, SEVERITY_TEXT

DEFAULT_ENDPOINT = "http://127.0.0.1:4318/v1/logs"
DEFAULT_BATCH_SIZE = 1_000
_SCHEDULE_DELAY_MS = 200
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NO_TRACE = Context()
_SEVERITY = {number: SeverityNumber(number) for number in SEVERITY_TEXT}

ExporterFactory = Callable[[], LogRecordExporter]


class _Counter:
    """Records emitted, exported and failed; `wait_for_room` is the backpressure."""

    def __init__(self, max_in_flight: int) -> None:
        self.max_in_flight = max_in_flight
        self.emitted = self.exported = self.failed = self.exports = 0
        self.problem = ""
        self._changed = threading.Condition()

    def wait_for_room(self) -> None:
        if self.emitted - self.exported - self.failed < self.max_in_flight:
            return
        with self._changed:
            while self.emitted - self.exported - self.failed >= self.max_in_flight:
                self._changed.wait(0.5)

    def done(self, count: int, ok: bool, problem: str = "") -> None:
        with self._changed:
            if ok:
                self.exported += count
            else:
                self.failed += count
                self.problem = problem or "an export failed after the exporter's retries"
            self.exports += 1
            self._changed.notify_all()


class CountingExporter(LogRecordExporter):
    """Wraps an exporter and counts what it exported and what failed."""

    def __init__(self, inner: LogRecordExporter, counter: _Counter) -> None:
        self._inner = inner
        self._counter = counter

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        try:
            result = self._inner.export(batch)
        except Exception as error:
            self._counter.done(len(batch), ok=False, problem=f"export raised {error!r}")
            return LogRecordExportResult.FAILURE
        self._counter.done(len(batch), ok=result is LogRecordExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))


def http_exporter(
    endpoint: str = DEFAULT_ENDPOINT, token: str | None = None, timeout: float = 10.0
) -> ExporterFactory:
    """A factory of OTLP/HTTP protobuf exporters to `endpoint` (one per provider: each
    processor exports from its own thread); `timeout` bounds an export, retries included."""
    headers = {"Authorization": f"Bearer {token}"} if token else None

    def make() -> LogRecordExporter:
        return OTLPLogExporter(endpoint=endpoint, headers=headers, timeout=timeout)

    return make


def resource_of(record: Record) -> Resource:
    return Resource.create(
        {
            "service.name": record.service,
            "service.namespace": NAMESPACE,
            "service.version": record.version,
            "host.name": record.host,
            "deployment.environment": ENVIRONMENT,
        }
    )


class OtlpSink:
    """Sends `Record`s through the SDK; see the module docstring."""

    def __init__(
        self,
        exporter: ExporterFactory,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_in_flight: int | None = None,
    ) -> None:
        self._exporter = exporter
        self._batch_size = batch_size
        in_flight = max_in_flight if max_in_flight is not None else max(16 * batch_size, 8_192)
        self._counter = _Counter(in_flight)
        self._queue_size = 2 * in_flight
        self._providers: dict[str, LoggerProvider] = {}
        self._loggers: dict[tuple[str, str], Logger] = {}
        self._contexts: dict[int, Context] = {}

    def _logger(self, record: Record) -> Logger:
        provider = self._providers.get(record.host)
        if provider is None:
            provider = LoggerProvider(resource=resource_of(record), shutdown_on_exit=False)
            processor = BatchLogRecordProcessor(
                CountingExporter(self._exporter(), self._counter),
                schedule_delay_millis=_SCHEDULE_DELAY_MS,
                max_export_batch_size=self._batch_size,
                max_queue_size=self._queue_size,
            )
            provider.add_log_record_processor(processor)
            self._providers[record.host] = provider
        logger = provider.get_logger(record.scope, record.version)
        self._loggers[record.host, record.scope] = logger
        return logger

    def _context(self, record: Record) -> Context:
        if not record.trace_id:
            return _NO_TRACE
        context = self._contexts.get(record.span_id)
        if context is None:
            if len(self._contexts) > 50_000:
                self._contexts.clear()
            span = NonRecordingSpan(
                SpanContext(record.trace_id, record.span_id, is_remote=False, trace_flags=_SAMPLED)
            )
            context = self._contexts[record.span_id] = trace.set_span_in_context(span)
        return context

    def add(self, record: Record) -> None:
        self._counter.wait_for_room()
        logger = self._loggers.get((record.host, record.scope)) or self._logger(record)
        self._counter.emitted += 1
        logger.emit(
            timestamp=record.time_ns,
            observed_timestamp=record.time_ns,
            context=self._context(record),
            severity_number=_SEVERITY[record.severity],
            severity_text=SEVERITY_TEXT[record.severity],
            body=record.body,
            attributes=record.attributes,
        )

    def status(self) -> Delivery:
        counter = self._counter
        return Delivery(counter.exported, counter.failed, counter.exports, counter.problem)

    def close(self) -> Delivery:
        """Flush every provider (all at once), then shut them down (all at once)."""
        for step in (LoggerProvider.force_flush, LoggerProvider.shutdown):
            threads = [threading.Thread(target=step, args=(p,)) for p in self._providers.values()]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        return self.status()
