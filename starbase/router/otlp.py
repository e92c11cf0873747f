"""OTLP/HTTP logs requests: decode, check, and the replies the OTLP specification asks for.

Requires: upb protobuf and `opentelemetry-proto`. Guarantees: `decode` takes a body already
decompressed and its Content-Type (`application/x-protobuf` or `application/json`) and returns
an `OtlpBatch` whose payload is always protobuf (what the WAL keeps) or a `Problem` naming
what is wrong (415 for another content type, 400 for malformed protobuf or JSON or when every
record is invalid). Records that cannot be stored — a time past int64, a `service.name` too
long for a partition folder — are dropped one by one and counted for `partial_success`; the
rest is accepted. Replies (`success_body`, `problem_body`) are in the request's encoding:
`ExportLogsServiceResponse` on success, a `google.rpc.Status` on failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from starbase.router.anyvalue import service_name
from starbase.router.otlp_json import parse_json
from starbase.router.problems import Problem, bad_request
from starbase.storage.formats import OTEL, segment

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_INT64_MAX = 2**63 - 1
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 413: 3, 415: 3, 429: 8, 503: 14}


@dataclass(frozen=True)
class OtlpBatch:
    payload: bytes  # ExportLogsServiceRequest, protobuf, without the rejected records
    records: int  # accepted
    rejected: int = 0
    message: str = ""  # why records were rejected (partial_success.error_message)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode(body: bytes, content_type: str | None) -> OtlpBatch | Problem:
    kind = media_type(content_type)
    if kind in (PROTOBUF, "application/protobuf"):
        try:
            request = ExportLogsServiceRequest.FromString(body)
        except (DecodeError, RuntimeError) as exc:
            return bad_request(f"malformed protobuf ExportLogsServiceRequest: {exc}")
        return _checked(request, body)
    if kind == JSON:
        parsed = parse_json(body)
        if isinstance(parsed, Problem):
            return parsed
        return _checked(parsed, None)
    return Problem(415, f"Content-Type must be {PROTOBUF} or {JSON}, not {kind or 'absent'!r}")


def _checked(request: Any, body: bytes | None) -> OtlpBatch | Problem:
    """Drop the records that cannot be stored; count the rest."""
    accepted = rejected = 0
    reasons: list[str] = []
    changed = False
    for rindex in reversed(range(len(request.resource_logs))):
        resource_logs = request.resource_logs[rindex]
        count = sum(len(s.log_records) for s in resource_logs.scope_logs)
        try:
            segment(OTEL.key, service_name(resource_logs.resource))
        except ValueError as exc:
            reasons.append(f"resourceLogs[{rindex}]: service.name: {exc}")
            rejected += count
            del request.resource_logs[rindex]
            changed = True
            continue
        for sindex, scope_logs in enumerate(resource_logs.scope_logs):
            records = scope_logs.log_records
            if not records:
                continue
            # one pass: a OR b has the top bit set iff one of them does (fixed64 > int64 max)
            latest = max([r.time_unix_nano | r.observed_time_unix_nano for r in records])
            if latest <= _INT64_MAX:
                accepted += len(records)
                continue
            for index in reversed(range(len(records))):
                record = records[index]
                if max(record.time_unix_nano, record.observed_time_unix_nano) > _INT64_MAX:
                    reasons.append(
                        f"resourceLogs[{rindex}].scopeLogs[{sindex}].logRecords[{index}]: "
                        "timeUnixNano past 2262-04-11 (int64 nanoseconds)"
                    )
                    del records[index]
                    rejected += 1
                    changed = True
            accepted += len(records)
    if rejected and not accepted:
        return bad_request(f"every record was rejected: {'; '.join(reversed(reasons[-5:]))}")
    payload = request.SerializeToString() if changed or body is None else body
    message = "; ".join(reversed(reasons[-5:])) + (
        f" (and {len(reasons) - 5} more)" if len(reasons) > 5 else ""
    )
    return OtlpBatch(payload, accepted, rejected, message)


def success_body(batch: OtlpBatch, kind: str) -> bytes:
    """The ExportLogsServiceResponse for `batch` in the request's encoding."""
    if kind == JSON:
        if not batch.rejected:
            return b"{}"
        partial = {"rejectedLogRecords": str(batch.rejected), "errorMessage": batch.message}
        return json.dumps({"partialSuccess": partial}).encode()
    response = ExportLogsServiceResponse()
    if batch.rejected:
        response.partial_success.rejected_log_records = batch.rejected
        response.partial_success.error_message = batch.message
    return bytes(response.SerializeToString())


def problem_body(problem: Problem, kind: str) -> tuple[bytes, str]:
    """A google.rpc.Status for `problem` in the request's encoding (plain text otherwise)."""
    code = _GRPC_CODES.get(problem.status, 2)
    if kind == JSON:
        return json.dumps({"code": code, "message": problem.message}).encode(), JSON
    if kind == PROTOBUF:
        return bytes(Status(code=code, message=problem.message).SerializeToString()), PROTOBUF
    return problem.message.encode(), "text/plain; charset=utf-8"
