"""Log events that mean the same in CloudWatch and in the OTel table, and moto to hold them.

`generate` makes Lambda-like events: JSON messages (`{"level": …, "msg": …, "trace_id": …}`)
and plain-text lines (`ERROR payment declined took 35ms user=bo`), each with a unique
millisecond timestamp (never in the first second of an hour, see `HOUR_GUARD_MS`). They are
built so that every meta-model field the `cloudwatch` mapping derives agrees with what the
OTel row states directly:

- `severity` / `severity_text`: the level word is the first level word of the message (the
  JSON `level` key comes first; plain lines start with it), and the OTel row carries its
  number (`LEVELS`) and the word as written;
- `service`: the log group is `/aws/lambda/<service>`, the OTel partition is `<service>`;
- `message`: the OTel body is the CloudWatch message, byte for byte;
- `trace_id`, `span_id`: JSON `"trace_id"`/`"span_id"` members (lowercase hex), the same
  values in the OTel columns; plain lines have none, nor do their OTel rows;
- `attributes.KEY`: the JSON message's top-level members (numbers as written), the same map
  in the OTel row; plain lines have no attributes;
- `timestamp`: whole milliseconds in both.

`load_cloudwatch` puts them into moto's CloudWatch Logs with PutLogEvents (chronological
batches per stream, within 24 hours each); `otel_table` is the same events as OTel rows for
`otel_layout.write_batch`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

import boto3
import pyarrow as pa
from conftest import free_port, moto_server  # noqa: F401 - shared with the test modules

from starbase.mappings import LEVELS

SERVICES = ("checkout", "payments", "search")
REGION = "us-east-1"
CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}
HOUR_MS = 3_600_000
HOUR_GUARD_MS = 1_000  # no event in the first second of an hour (StartQuery's whole seconds)
MAP = pa.map_(pa.string(), pa.string())
USERS = ("ann", "bo", "cy", "di")
WORDS = ("charge", "lookup", "render", "refund", "index")
LEVEL_WORDS = ("DEBUG", "INFO", "INFO", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL")


@dataclass(frozen=True)
class Event:
    timestamp_ms: int
    service: str
    stream: str
    message: str
    level: str  # as written in the message
    trace_id: str | None
    span_id: str | None
    attributes: dict[str, str] | None


def logs_client(endpoint: str, region: str = REGION) -> Any:
    """A boto3 client for moto's CloudWatch Logs. moto keeps its state per process, account
    and region (not per server), so each test module uses a region of its own."""
    return boto3.client(
        "logs",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=CREDENTIALS["access_key_id"],
        aws_secret_access_key=CREDENTIALS["secret_access_key"],
    )


def generate(n: int, seed: int, start_ms: int, end_ms: int) -> list[Event]:
    """`n` events with distinct timestamps in [start_ms, end_ms) (see the module docstring)."""
    rng = random.Random(seed)
    stamps: set[int] = set()
    while len(stamps) < n:
        stamp = rng.randrange(start_ms, end_ms)
        if stamp % HOUR_MS >= HOUR_GUARD_MS:
            stamps.add(stamp)
    events = []
    for stamp in sorted(stamps):
        service = rng.choice(SERVICES)
        stream = f"2026/11/27/[$LATEST]{rng.choice(['a1', 'b2'])}"
        level = rng.choice(LEVEL_WORDS)
        word = rng.choice(WORDS)
        ms = rng.randrange(1, 2_000)
        outcome = rng.choice(["ok", "upstream timeout", "connection refused", "declined", "ok"])
        if rng.random() < 0.6:
            events.append(_json_event(rng, stamp, service, stream, level, word, ms, outcome))
        else:
            user = f" user={rng.choice(USERS)}" if rng.random() < 0.5 else ""
            message = f"{level} {word} {outcome} took {ms}ms{user}"
            events.append(Event(stamp, service, stream, message, level, None, None, None))
    return events


def _json_event(
    rng: random.Random,
    stamp: int,
    service: str,
    stream: str,
    level: str,
    word: str,
    ms: int,
    outcome: str,
) -> Event:
    written = level.lower() if rng.random() < 0.5 else level
    members: dict[str, Any] = {"level": written, "msg": f"{word} {outcome}", "duration_ms": ms}
    trace = span = None
    if rng.random() < 0.7:
        trace = f"{rng.getrandbits(128):032x}"
        members["trace_id"] = trace
        if rng.random() < 0.5:
            span = f"{rng.getrandbits(64):016x}"
            members["span_id"] = span
    if rng.random() < 0.5:
        members["user"] = rng.choice(USERS)
    if rng.random() < 0.3:
        members["cost"] = round(rng.random() * 10, 2)
    message = json.dumps(members)
    attributes = {k: v if isinstance(v, str) else json.dumps(v) for k, v in members.items()}
    return Event(stamp, service, stream, message, written, trace, span, attributes)


def load_cloudwatch(client: Any, events: list[Event], prefix: str = "/aws/lambda/") -> None:
    """Create `/aws/lambda/<service>` groups and their streams, and put every event."""
    by_stream: dict[tuple[str, str], list[Event]] = {}
    for event in events:
        by_stream.setdefault((prefix + event.service, event.stream), []).append(event)
    groups = {group for group, _ in by_stream}
    for group in sorted(groups):
        client.create_log_group(logGroupName=group)
    for (group, stream), items in sorted(by_stream.items()):
        client.create_log_stream(logGroupName=group, logStreamName=stream)
        batch: list[Event] = []
        for event in sorted(items, key=lambda e: e.timestamp_ms):
            if batch and (
                len(batch) == 5_000 or event.timestamp_ms - batch[0].timestamp_ms >= 20 * HOUR_MS
            ):
                _put(client, group, stream, batch)
                batch = []
            batch.append(event)
        if batch:
            _put(client, group, stream, batch)


def _put(client: Any, group: str, stream: str, batch: list[Event]) -> None:
    response = client.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": e.timestamp_ms, "message": e.message} for e in batch],
    )
    rejected = response.get("rejectedLogEventsInfo")
    assert not rejected, f"CloudWatch rejected events: {rejected}"


def otel_table(events: list[Event]) -> pa.Table:
    """The events as OTel rows (the meta-model fields agree, see the module docstring)."""
    return pa.table(
        {
            "time_unix_nano": pa.array([e.timestamp_ms * 1_000_000 for e in events], pa.int64()),
            "observed_time_unix_nano": pa.array(
                [e.timestamp_ms * 1_000_000 + 1_000 for e in events], pa.int64()
            ),
            "severity_number": pa.array([LEVELS[e.level.lower()] for e in events], pa.int32()),
            "severity_text": [e.level for e in events],
            "body": [e.message for e in events],
            "log_attributes": pa.array(
                [list(e.attributes.items()) if e.attributes else None for e in events], MAP
            ),
            "resource_attributes": pa.array([[("service.name", e.service)] for e in events], MAP),
            "trace_id": [e.trace_id for e in events],
            "span_id": [e.span_id for e in events],
        }
    )
