"""The shop as Lambda functions: requests rendered as the log events Lambda writes.

Requires: `records`, `system`. Guarantees: `LambdaLogs()` is a stateful view (it remembers
which execution environments have started, for cold starts) turning a request into
`LogEvent`s, each span being one invocation of the function `/aws/lambda/<service>`:
- `START RequestId: <id> Version: <n>`, then the span's records, then `END RequestId: <id>`
  and `REPORT RequestId: <id>\\tDuration: … ms\\tBilled Duration: … ms\\tMemory Size: … MB\\t
  Max Memory Used: … MB\\t` (plus `Init Duration: … ms\\t` on an environment's first
  invocation), with Lambda's trailing newlines;
- records in the function's log format: `json` (`{"timestamp", "level", "message",
  "requestId", "traceId", "spanId", "service", …attributes}`), `python` (`[LEVEL]\\t<time>\\t
  <request id>\\t<message>\\n`, Python's level names) or `node` (`<time>\\t<request id>\\t
  LEVEL\\t<message>\\n`);
- one log stream per execution environment (replica): `YYYY/MM/DD/[<version>]<32 hex>`, the
  date of its first invocation. Request ids are UUIDs derived from the trace and span ids.
Everything is a pure function of the requests seen, so seeded runs stay reproducible.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from typing import NamedTuple

from starbase.emitter.records import Record, Request, Span
from starbase.emitter.system import BY_NAME, SEVERITY_TEXT, WARN

_PYTHON_LEVEL = {**SEVERITY_TEXT, WARN: "WARNING"}
_MASK128 = (1 << 128) - 1
_MIX = 0x9E3779B97F4A7C15F39CC0605CEDC835


class LogEvent(NamedTuple):
    """One CloudWatch Logs event: where it goes and what it says."""

    time_ns: int
    group: str
    stream: str
    message: str

    @property
    def timestamp_ms(self) -> int:
        return self.time_ns // 1_000_000


def log_group(service: str) -> str:
    return f"/aws/lambda/{service}"


def request_id(trace_id: int, span_id: int) -> str:
    """A UUID-shaped Lambda request id, a function of the trace and span ids."""
    bits = (trace_id ^ (span_id * _MIX)) & _MASK128
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{text[16:20]}-{text[20:]}"


def iso_ms(time_ns: int) -> str:
    """`2026-11-20T10:00:00.123Z`."""
    seconds, rest = divmod(time_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1_000_000:03d}Z"


def render(record: Record, log_format: str, rid: str) -> str:
    """A record as the function's logger writes it."""
    if log_format == "json":
        document: dict[str, object] = {
            "timestamp": iso_ms(record.time_ns),
            "level": SEVERITY_TEXT[record.severity],
            "message": record.body,
            "requestId": rid,
            "service": record.service,
        }
        if record.trace_id:
            document["traceId"] = f"{record.trace_id:032x}"
            document["spanId"] = f"{record.span_id:016x}"
        document.update(record.attributes)
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    if log_format == "python":
        level = _PYTHON_LEVEL[record.severity]
        return f"[{level}]\t{iso_ms(record.time_ns)}\t{rid}\t{record.body}\n"
    return f"{iso_ms(record.time_ns)}\t{rid}\t{SEVERITY_TEXT[record.severity]}\t{record.body}\n"


class LambdaLogs:
    """Requests → Lambda log events (see the module docstring)."""

    def __init__(self) -> None:
        self._streams: dict[str, str] = {}  # host -> stream name (its environment has started)

    def __call__(self, request: Request) -> list[LogEvent]:
        events: list[LogEvent] = []
        for span in request.spans:
            events.extend(self.invocation(request.trace_id, span))
        return events

    def invocation(self, trace_id: int, span: Span) -> list[LogEvent]:
        """One invocation's events, START to REPORT."""
        service = BY_NAME[span.service]
        lambda_version = service.lambda_versions[span.version != service.versions[0]]
        group = log_group(span.service)
        stream = self._streams.get(span.host)
        cold = stream is None
        if stream is None:
            day = time.strftime("%Y/%m/%d", time.gmtime(span.start_ns // 1_000_000_000))
            digest = hashlib.blake2b(span.host.encode(), digest_size=16).hexdigest()
            stream = self._streams[span.host] = f"{day}/[{lambda_version}]{digest}"
        rid = request_id(trace_id, span.span_id)
        end_ns = max([span.end_ns, *(r.time_ns for r in span.records)])
        events = [
            LogEvent(
                span.start_ns, group, stream, f"START RequestId: {rid} Version: {lambda_version}\n"
            )
        ]
        log_format = service.log_format
        events.extend(
            LogEvent(r.time_ns, group, stream, render(r, log_format, rid)) for r in span.records
        )
        duration = (end_ns - span.start_ns) / 1e6
        used = service.memory_mb // 4 + span.span_id % (service.memory_mb // 3)
        report = (
            f"REPORT RequestId: {rid}\tDuration: {duration:.2f} ms\t"
            f"Billed Duration: {max(1, math.ceil(duration))} ms\t"
            f"Memory Size: {service.memory_mb} MB\tMax Memory Used: {used} MB\t"
        )
        if cold:
            report += (
                f"Init Duration: {150 + span.span_id % 600 + (span.span_id % 100) / 100:.2f} ms\t"
            )
        events.append(LogEvent(end_ns, group, stream, f"END RequestId: {rid}\n"))
        events.append(LogEvent(end_ns, group, stream, report + "\n"))
        return events
