"""Kinesis Data Firehose HTTP endpoint delivery carrying CloudWatch Logs subscription data.

Requires: nothing beyond the standard library. Guarantees: `decode` reads a Firehose delivery
request (`{"requestId", "timestamp", "records": [{"data": base64}]}`); each record's data is a
CloudWatch Logs subscription payload (gzip — or plain — JSON, possibly several objects in a
row). `DATA_MESSAGE`s are kept exactly as sent (the WAL payload is their JSON list);
`CONTROL_MESSAGE`s are counted and dropped. Anything malformed is a 400 `Problem` naming the
record and field (Firehose retries the whole request, so there is no partial acceptance).
`reply` is the response body Firehose expects: the request id echoed, a timestamp in ms, and
`errorMessage` on failure.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import Any

from starbase.router.problems import Problem, bad_request, gunzip
from starbase.storage.formats import CLOUDWATCH, segment

_GZIP_MAGIC = b"\x1f\x8b"
_MAX_MS = (2**63 - 1) // 1_000_000  # the table partitions on ns


@dataclass(frozen=True)
class FirehoseBatch:
    request_id: str
    payload: bytes  # JSON list of DATA_MESSAGE objects
    events: int
    messages: int  # DATA_MESSAGEs
    controls: int  # CONTROL_MESSAGEs (dropped)


def request_id(body: bytes, header: str | None) -> str:
    """The request id to echo, even for a body we cannot use (header first, then body)."""
    if header:
        return header
    try:
        value = json.loads(body).get("requestId")
    except (ValueError, AttributeError, RecursionError):
        return ""
    return value if isinstance(value, str) else ""


def decode(body: bytes, header_id: str | None, limit: int) -> FirehoseBatch | Problem:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return bad_request(f"malformed JSON: {exc}")
    if not isinstance(document, dict):
        return bad_request("a Firehose request must be a JSON object")
    rid = document.get("requestId")
    if not isinstance(rid, str) or not rid:
        return bad_request("requestId: missing (a non-empty string)")
    if header_id and header_id != rid:
        return bad_request("requestId differs from the X-Amz-Firehose-Request-Id header")
    records = document.get("records")
    if not isinstance(records, list):
        return bad_request("records: missing (a list of {data: base64})")
    kept: list[dict[str, Any]] = []
    events = controls = 0
    budget = limit
    for index, record in enumerate(records):
        data = record.get("data") if isinstance(record, dict) else None
        if not isinstance(data, str):
            return bad_request(f"records[{index}].data: missing (a base64 string)")
        messages = _messages(data, budget)
        if isinstance(messages, Problem):
            return Problem(messages.status, f"records[{index}]: {messages.message}")
        for message in messages:
            checked = _checked(message)
            if isinstance(checked, Problem):
                return Problem(400, f"records[{index}]: {checked.message}")
            if checked is None:
                controls += 1
                continue
            kept.append(checked)
            events += len(checked["logEvents"])
        budget -= len(data)
    payload = json.dumps(kept, separators=(",", ":"), ensure_ascii=False).encode()
    return FirehoseBatch(rid, payload, events, len(kept), controls)


def _messages(data: str, limit: int) -> list[Any] | Problem:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        return bad_request(f"data: not base64 ({exc})")
    if raw.startswith(_GZIP_MAGIC):
        unpacked = gunzip(raw, max(limit, 0))
        if isinstance(unpacked, Problem):
            return unpacked
        raw = unpacked
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        return bad_request(f"data: not UTF-8 JSON ({exc.reason} at byte {exc.start})")
    decoder = json.JSONDecoder()
    found: list[Any] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            break
        try:
            value, position = decoder.raw_decode(text, position)
        except (ValueError, RecursionError) as exc:
            return bad_request(f"data: malformed subscription JSON: {exc}")
        found.append(value)
    if not found:
        return bad_request("data: empty")
    return found


def _checked(message: Any) -> dict[str, Any] | Problem | None:
    """The DATA_MESSAGE itself, None for a CONTROL_MESSAGE, or what is wrong with it."""
    if not isinstance(message, dict):
        return bad_request("a subscription payload must be a JSON object")
    kind = message.get("messageType")
    if kind == "CONTROL_MESSAGE":
        return None
    if kind != "DATA_MESSAGE":
        return bad_request(f"messageType {kind!r} is neither DATA_MESSAGE nor CONTROL_MESSAGE")
    group = message.get("logGroup")
    if not isinstance(group, str) or not group:
        return bad_request("logGroup: missing (a non-empty string)")
    try:
        segment(CLOUDWATCH.key, group)
    except ValueError as exc:
        return bad_request(f"logGroup: {exc}")
    for key in ("logStream", "owner"):
        if message.get(key) is not None and not isinstance(message[key], str):
            return bad_request(f"{key}: must be a string")
    filters = message.get("subscriptionFilters")
    if filters is not None and (
        not isinstance(filters, list) or not all(isinstance(f, str) for f in filters)
    ):
        return bad_request("subscriptionFilters: must be a list of strings")
    log_events = message.get("logEvents")
    if not isinstance(log_events, list):
        return bad_request("logEvents: missing (a list)")
    for index, event in enumerate(log_events):
        problem = _event_problem(event)
        if problem:
            return bad_request(f"logEvents[{index}].{problem}")
    return message


def _event_problem(event: Any) -> str | None:
    if not isinstance(event, dict):
        return "must be an object"
    stamp = event.get("timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int):
        return "timestamp: missing (epoch milliseconds, an integer)"
    if not -_MAX_MS <= stamp <= _MAX_MS:
        return "timestamp: out of range (epoch milliseconds within int64 nanoseconds)"
    if not isinstance(event.get("message"), str):
        return "message: missing (a string)"
    if event.get("id") is not None and not isinstance(event["id"], str):
        return "id: must be a string"
    return None


def reply(rid: str, problem: Problem | None = None) -> bytes:
    """The Firehose response body."""
    body: dict[str, Any] = {"requestId": rid, "timestamp": time.time_ns() // 1_000_000}
    if problem is not None:
        body["errorMessage"] = problem.message
    return json.dumps(body).encode()
