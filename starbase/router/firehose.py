"""Kinesis Data Firehose HTTP endpoint delivery carrying CloudWatch Logs subscription data.

Requires: nothing beyond the standard library. Guarantees: `decode` reads a Firehose delivery
request (`{"requestId", "timestamp", "records": [{"data": base64}]}`); each record's data is a
CloudWatch Logs subscription payload (gzip — or plain — JSON, possibly several objects in a
row). `DATA_MESSAGE`s are kept exactly as sent, one JSON object per line of the WAL payload
(a JSON list, so that the flusher can read it message by message); `CONTROL_MESSAGE`s are
counted and dropped; events older than the table's retention cutoff are dropped and counted
(`expired`: Firehose has no partial acceptance, and refusing the delivery would also refuse its
fresh events). Anything malformed is a 400 `Problem` naming the record and field (Firehose
retries the whole request). Bounded (413): the records' data after gunzip together at most
`limit` bytes, as is the payload; each JSON document parsed only if `limits.check_json`
allows it; events counted into the request's `Budget`; at most `max_partitions` distinct
days (a file each). `reply` is the response body Firehose expects: the request id
echoed, a timestamp in ms, and `errorMessage` on failure.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from starbase.router.limits import Budget, Overrun, check_json, unlimited
from starbase.router.problems import Problem, bad_request, gunzip, too_large
from starbase.storage.formats import CLOUDWATCH, segment

_GZIP_MAGIC = b"\x1f\x8b"
_MAX_MS = (2**63 - 1) // 1_000_000  # the table partitions on ns
_MS_PER_DAY = 86_400_000
_SPACE = re.compile(r"\s*")


@dataclass(frozen=True)
class FirehoseBatch:
    request_id: str
    payload: bytes  # JSON list of DATA_MESSAGE objects, one per line
    events: int
    messages: int  # DATA_MESSAGEs
    controls: int  # CONTROL_MESSAGEs (dropped)
    expired: int = 0  # events older than the retention cutoff (dropped)
    partitions: frozenset[int] = frozenset()  # days (ns // NS_PER_DAY) touched


def request_id(body: bytes, header: str | None) -> str:
    """The request id to echo, even for a body we cannot use (header first, then body)."""
    if header:
        return header
    try:
        check_json(body, "the Firehose request")
        value = json.loads(body).get("requestId")
    except Exception:  # Overrun, ValueError, AttributeError, RecursionError: no id to echo
        return ""
    return value if isinstance(value, str) else ""


def decode(
    body: bytes,
    header_id: str | None,
    limit: int,
    budget: Budget | None = None,
    cutoff_ms: int | None = None,
    max_partitions: int = 1000,
) -> FirehoseBatch | Problem:
    try:
        return _decode(body, header_id, limit, budget or unlimited(), cutoff_ms, max_partitions)
    except Overrun as exc:
        return exc.problem


def _decode(
    body: bytes,
    header_id: str | None,
    limit: int,
    budget: Budget,
    cutoff_ms: int | None,
    max_partitions: int,
) -> FirehoseBatch | Problem:
    check_json(body, "the Firehose request")
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
    kept: list[bytes] = []
    events = controls = expired = 0
    decompressed = size = 0
    partitions: set[int] = set()
    for index, record in enumerate(records):
        budget.tick()
        data = record.get("data") if isinstance(record, dict) else None
        if not isinstance(data, str):
            return bad_request(f"records[{index}].data: missing (a base64 string)")
        raw = _data(data, limit - decompressed, limit, budget)
        if isinstance(raw, Problem):
            return Problem(raw.status, f"records[{index}]: {raw.message}")
        decompressed += len(raw)
        check_json(raw, f"records[{index}].data")
        messages = _messages(raw)
        del raw
        if isinstance(messages, Problem):
            return Problem(messages.status, f"records[{index}]: {messages.message}")
        for message in messages:
            checked = _checked(message)
            if isinstance(checked, Problem):
                return Problem(400, f"records[{index}]: {checked.message}")
            if checked is None:
                controls += 1
                continue
            budget.records(len(checked["logEvents"]))
            if cutoff_ms is not None:
                fresh = [e for e in checked["logEvents"] if e["timestamp"] >= cutoff_ms]
                expired += len(checked["logEvents"]) - len(fresh)
                if not fresh:
                    continue
                checked["logEvents"] = fresh
            partitions.update(e["timestamp"] // _MS_PER_DAY for e in checked["logEvents"])
            if len(partitions) > max_partitions:
                return Problem(
                    413,
                    f"records[{index}]: more than {max_partitions} days (a file each) in one "
                    "request (--max-partitions): send smaller batches",
                )
            line = json.dumps(checked, separators=(",", ":"), ensure_ascii=False).encode()
            size += len(line) + 2
            if size > limit:
                return too_large("the stored form of the request", limit)
            kept.append(line)
            events += len(checked["logEvents"])
    payload = b"[\n" + b",\n".join(kept) + b"\n]" if kept else b"[]"
    return FirehoseBatch(rid, payload, events, len(kept), controls, expired, frozenset(partitions))


def _data(data: str, room: int, limit: int, budget: Budget) -> bytes | Problem:
    """A record's data, base64-decoded and gunzipped (at most `room` bytes of `limit`)."""
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        return bad_request(f"data: not base64 ({exc})")
    if raw.startswith(_GZIP_MAGIC):
        unpacked = gunzip(raw, max(room, 0), budget.tick)
        if isinstance(unpacked, Problem) and unpacked.status == 413:
            return too_large("the records' decompressed data", limit)
        return unpacked
    return raw if len(raw) <= room else too_large("the records' decompressed data", limit)


def _messages(raw: bytes) -> list[Any] | Problem:
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        return bad_request(f"data: not UTF-8 JSON ({exc.reason} at byte {exc.start})")
    decoder = json.JSONDecoder()
    found: list[Any] = []
    position = 0
    while True:
        position = _SPACE.match(text, position).end()  # type: ignore[union-attr]
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
