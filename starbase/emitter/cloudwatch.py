"""CloudWatch mode: Lambda log events put into CloudWatch Logs with boto3's PutLogEvents.

Requires: boto3; an endpoint (AWS, or locally moto's server) and credentials from boto3's usual
chain (environment, profile). Guarantees:
- `client(endpoint, region, profile)` is a `logs` client with standard retries (throttling is
  retried with backoff).
- `CloudWatchSink` creates each log group (`/aws/lambda/<service>`) and log stream the first
  time it sees it (an existing one is fine), buffers events per stream in `batching.Batch`es
  (so every call is within PutLogEvents' limits, in chronological order) and puts a batch when
  the next event would not fit, when it has waited `flush_interval` seconds, and at `close`.
  A group or stream that cannot be created (no credentials, no endpoint) raises `SinkError`.
- Events CloudWatch rejects (too old, too new, expired: `rejectedLogEventsInfo`) and batches
  whose call fails count as failed; everything else as delivered.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from starbase.emitter.batching import Batch, event_size
from starbase.emitter.lambda_logs import LogEvent
from starbase.emitter.sink import Delivery, SinkError

DEFAULT_REGION = "us-east-1"


def client(endpoint: str | None, region: str, profile: str | None = None) -> Any:
    """A CloudWatch Logs client for `endpoint` (None: AWS's own)."""
    import boto3  # type: ignore[import-untyped, unused-ignore]
    from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

    session = boto3.Session(profile_name=profile, region_name=region)
    config = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=5)
    return session.client("logs", endpoint_url=endpoint, config=config)


def rejected_count(info: dict[str, int], size: int) -> int:
    """How many of a batch's `size` events `rejectedLogEventsInfo` says were refused."""
    old = max(info.get("tooOldLogEventEndIndex", -1), info.get("expiredLogEventEndIndex", -1))
    new = info.get("tooNewLogEventStartIndex", size)
    return (old + 1) + (size - new)


class CloudWatchSink:
    """Puts `LogEvent`s into CloudWatch Logs; see the module docstring."""

    def __init__(self, logs: Any, *, flush_interval: float = 2.0) -> None:
        self._logs = logs
        self._flush_interval = flush_interval
        self._next_flush = time.monotonic() + flush_interval
        self._groups: set[str] = set()
        self._batches: dict[tuple[str, str], Batch] = {}
        self._delivered = self._failed = self._calls = 0
        self._problem = ""

    def _open(self, group: str, stream: str) -> Batch:
        exists = self._logs.exceptions.ResourceAlreadyExistsException
        try:
            if group not in self._groups:
                with contextlib.suppress(exists):
                    self._logs.create_log_group(logGroupName=group)
                self._groups.add(group)
            with contextlib.suppress(exists):
                self._logs.create_log_stream(logGroupName=group, logStreamName=stream)
        except Exception as error:
            raise SinkError(f"cannot create log stream {group} {stream}: {error}") from error
        batch = self._batches[group, stream] = Batch()
        return batch

    def _put(self, group: str, stream: str, events: list[LogEvent]) -> None:
        self._calls += 1
        try:
            reply = self._logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[{"timestamp": e.timestamp_ms, "message": e.message} for e in events],
            )
        except Exception as error:  # the call failed after retries: the whole batch is lost
            self._failed += len(events)
            self._problem = f"PutLogEvents on {group}: {error}"
            return
        rejected = rejected_count(reply.get("rejectedLogEventsInfo") or {}, len(events))
        if rejected:
            self._problem = f"{rejected} event(s) of {group} rejected (too old or too new)"
        self._failed += rejected
        self._delivered += len(events) - rejected

    def _flush(self) -> None:
        for (group, stream), batch in self._batches.items():
            if batch.events:
                self._put(group, stream, batch.take())
        self._next_flush = time.monotonic() + self._flush_interval

    def add(self, event: LogEvent) -> None:
        batch = self._batches.get((event.group, event.stream))
        if batch is None:
            batch = self._open(event.group, event.stream)
        size = event_size(event)
        if not batch.fits(event, size):
            self._put(event.group, event.stream, batch.take())
        batch.add(event, size)
        if time.monotonic() >= self._next_flush:
            self._flush()

    def status(self) -> Delivery:
        return Delivery(self._delivered, self._failed, self._calls, self._problem)

    def close(self) -> Delivery:
        self._flush()
        return self.status()
