"""PutLogEvents batches: the limits CloudWatch Logs puts on one call, as a small buffer.

Requires: `lambda_logs.LogEvent`. Guarantees: a `Batch` accepts events of one log stream in
chronological order and `fits` says whether one more keeps it within every limit of a
PutLogEvents call — at most 10,000 events, at most 1,048,576 bytes counting each message's
UTF-8 size plus 26 bytes, and at most 24 hours between its first and last event. `batches`
splits any chronological sequence of one stream's events into such batches, in order, each
as large as the limits allow. An event alone always fits (messages are far below 256 KB).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from starbase.emitter.lambda_logs import LogEvent

MAX_EVENTS = 10_000
MAX_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_SPAN_MS = 24 * 3_600 * 1_000


def event_size(event: LogEvent) -> int:
    """The bytes an event counts for in a batch."""
    return len(event.message.encode()) + EVENT_OVERHEAD


class Batch:
    """Events of one stream waiting to be put."""

    __slots__ = ("bytes", "events")

    def __init__(self) -> None:
        self.events: list[LogEvent] = []
        self.bytes = 0

    def fits(self, event: LogEvent, size: int) -> bool:
        if not self.events:
            return True
        return (
            len(self.events) < MAX_EVENTS
            and self.bytes + size <= MAX_BYTES
            and event.timestamp_ms - self.events[0].timestamp_ms <= MAX_SPAN_MS
        )

    def add(self, event: LogEvent, size: int) -> None:
        self.events.append(event)
        self.bytes += size

    def take(self) -> list[LogEvent]:
        """The events, leaving the batch empty."""
        events, self.events, self.bytes = self.events, [], 0
        return events


def batches(events: Iterable[LogEvent]) -> Iterator[list[LogEvent]]:
    """One stream's chronological events cut into PutLogEvents batches."""
    batch = Batch()
    for event in events:
        size = event_size(event)
        if not batch.fits(event, size):
            yield batch.take()
        batch.add(event, size)
    if batch.events:
        yield batch.take()
