"""Firehose mode: CloudWatch Logs subscription payloads delivered as Kinesis Data Firehose does
to an HTTP endpoint (`<router>/firehose`).

Requires: `lambda_logs.LogEvent`, `http_post`. Guarantees:
- `data_message`/`control_message` build CloudWatch Logs subscription payloads (`messageType`
  `DATA_MESSAGE` with owner, logGroup, logStream, subscriptionFilters and logEvents
  `[{id, timestamp, message}]`; or `CONTROL_MESSAGE`, the health check CloudWatch sends);
  `encode` gzips a payload's JSON and base64s it, as one Firehose record's `data`; `decode`
  inverts it.
- `delivery_request` builds the HTTP endpoint delivery request: JSON `{"requestId",
  "timestamp", "records": [{"data"}]}` with headers `X-Amz-Firehose-Request-Id` (the same id),
  `X-Amz-Firehose-Access-Key` (when given), `X-Amz-Firehose-Protocol-Version`,
  `X-Amz-Firehose-Source-Arn` and `Content-Type: application/json`; `read_request` decodes
  one back into payloads.
- `FirehoseSink` groups events per log stream into payloads of up to `events_per_payload`,
  packs payloads into requests of up to `records_per_request` records and `max_request_bytes`,
  posts them with `http_post.post` (retrying 429/503 per Retry-After), and sends a CONTROL_MESSAGE
  record in its first request and every `control_every` requests after. Events in a
  request that was acknowledged count as delivered, others as failed; control messages are
  not counted.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from starbase.emitter import http_post
from starbase.emitter.lambda_logs import LogEvent
from starbase.emitter.sink import Delivery
from starbase.emitter.system import ACCOUNT_ID

SUBSCRIPTION_FILTER = "starbase-to-firehose"
SOURCE_ARN = f"arn:aws:firehose:us-east-1:{ACCOUNT_ID}:deliverystream/starbase-logs"
CONTROL_TEXT = "CWL CONTROL MESSAGE: Checking health of destination Firehose."

Payload = dict[str, Any]


def event_id(timestamp_ms: int, sequence: int) -> str:
    """A 56-digit event id like CloudWatch's, unique per (timestamp, sequence)."""
    return f"{timestamp_ms:013d}{sequence % 10**43:043d}"


def data_message(group: str, stream: str, events: Sequence[tuple[str, int, str]]) -> Payload:
    """A DATA_MESSAGE payload for `events` as (id, timestamp ms, message)."""
    return {
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT_ID,
        "logGroup": group,
        "logStream": stream,
        "subscriptionFilters": [SUBSCRIPTION_FILTER],
        "logEvents": [{"id": i, "timestamp": t, "message": m} for i, t, m in events],
    }


def control_message(timestamp_ms: int) -> Payload:
    return {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [{"id": "", "timestamp": timestamp_ms, "message": CONTROL_TEXT}],
    }


def encode(payload: Payload) -> str:
    """One Firehose record's `data`: base64 of the gzipped JSON payload."""
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.b64encode(gzip.compress(raw, compresslevel=6)).decode("ascii")


def decode(data: str) -> Payload:
    payload: Payload = json.loads(gzip.decompress(base64.b64decode(data)))
    return payload


def delivery_request(
    records: Sequence[str], access_key: str | None, request_id: str, timestamp_ms: int
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one Firehose HTTP endpoint delivery request."""
    body = json.dumps(
        {
            "requestId": request_id,
            "timestamp": timestamp_ms,
            "records": [{"data": r} for r in records],
        },
        separators=(",", ":"),
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Amz-Firehose-Request-Id": request_id,
        "X-Amz-Firehose-Protocol-Version": "1.0",
        "X-Amz-Firehose-Source-Arn": SOURCE_ARN,
        "User-Agent": "Amazon Kinesis Data Firehose Agent/1.0",
    }
    if access_key:
        headers["X-Amz-Firehose-Access-Key"] = access_key
    return body, headers


def read_request(body: bytes, headers: Mapping[str, str]) -> list[Payload]:
    """The payloads of a delivery request; checks the request id matches its header."""
    document = json.loads(body)
    if document["requestId"] != headers.get("X-Amz-Firehose-Request-Id"):
        raise ValueError("requestId does not match X-Amz-Firehose-Request-Id")
    return [decode(record["data"]) for record in document["records"]]


class FirehoseSink:
    """Delivers `LogEvent`s to a Firehose HTTP endpoint; see the module docstring."""

    def __init__(
        self,
        url: str,
        access_key: str | None = None,
        *,
        events_per_payload: int = 500,
        records_per_request: int = 100,
        max_request_bytes: int = 1 << 20,
        control_every: int = 500,
        flush_interval: float = 1.0,
        post: http_post.Post = http_post.post,
    ) -> None:
        self._url, self._key, self._poster = url, access_key, http_post.Poster(post)
        self._events_per_payload = events_per_payload
        self._records_per_request = records_per_request
        self._max_bytes = max_request_bytes
        self._control_every = control_every
        self._flush_interval = flush_interval
        self._next_flush = time.monotonic() + flush_interval
        self._streams: dict[tuple[str, str], list[LogEvent]] = {}
        self._records: list[tuple[str, int]] = []  # (data, events in it)
        self._bytes = 0
        self._sequence = 0
        self._requests = 0

    def add(self, event: LogEvent) -> None:
        key = event.group, event.stream
        pending = self._streams.setdefault(key, [])
        pending.append(event)
        if len(pending) >= self._events_per_payload:
            self._seal(key)
        if time.monotonic() >= self._next_flush:
            self.flush()

    def _seal(self, key: tuple[str, str]) -> None:
        events = self._streams.pop(key)
        rows = []
        for event in events:
            rows.append(
                (event_id(event.timestamp_ms, self._sequence), event.timestamp_ms, event.message)
            )
            self._sequence += 1
        data = encode(data_message(key[0], key[1], rows))
        if self._records and (
            len(self._records) >= self._records_per_request
            or self._bytes + len(data) + 12 > self._max_bytes
        ):
            self._send()
        self._records.append((data, len(events)))
        self._bytes += len(data) + 12

    def _send(self) -> None:
        records = self._records
        self._records, self._bytes = [], 0
        data = [r for r, _ in records]
        now_ms = int(time.time() * 1000)
        if self._requests % self._control_every == 0:
            data.insert(0, encode(control_message(now_ms)))
        body, headers = delivery_request(data, self._key, str(uuid.uuid4()), now_ms)
        self._requests += 1
        self._poster.send(self._url, body, headers, sum(n for _, n in records))

    def flush(self) -> None:
        """Seal every stream's events and send everything pending."""
        for key in list(self._streams):
            self._seal(key)
        if self._records:
            self._send()
        self._next_flush = time.monotonic() + self._flush_interval

    def status(self) -> Delivery:
        return self._poster.status()

    def close(self) -> Delivery:
        self.flush()
        return self.status()
