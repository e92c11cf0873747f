"""What the model produces: log records, grouped into spans (one service's part of a request),
grouped into requests (one trace).

Requires: nothing. Guarantees: immutable tuples, cheap to build (hundreds of thousands a second)
and comparable with `==` (determinism tests compare runs record for record). Times are ns since
the Unix epoch; a `trace_id`/`span_id` of 0 means "no trace context" (background work).
"""

from __future__ import annotations

from typing import NamedTuple

AttrValue = str | int | float | bool


class Record(NamedTuple):
    """One log record as a service writes it."""

    time_ns: int
    service: str
    host: str
    version: str
    scope: str  # the instrumentation scope (logger name)
    severity: int  # OTel severity number
    body: str
    attributes: dict[str, AttrValue]
    trace_id: int
    span_id: int


class Span(NamedTuple):
    """One service's part of a request, on one replica: in CloudWatch mode, one invocation."""

    service: str
    host: str
    version: str
    span_id: int
    start_ns: int
    end_ns: int
    records: list[Record]


class Request(NamedTuple):
    """One request through the system (or one piece of background work, `trace_id` 0).
    Every record of it is at or after `start_ns`."""

    trace_id: int
    start_ns: int
    spans: list[Span]

    def records(self) -> list[Record]:
        """Its records, span by span."""
        return [record for span in self.spans for record in span.records]
