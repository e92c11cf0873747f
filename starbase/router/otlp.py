"""OTLP/HTTP logs requests: decode, check, and the replies the OTLP specification asks for.

Requires: upb protobuf and `opentelemetry-proto`. Guarantees: `decode` takes a body already
decompressed, its Content-Type (`application/x-protobuf` or `application/json`), the request's
`Budget` and its `Admission` (the table's retention cutoff, the partition cap) and returns an
`OtlpBatch` whose payload is always protobuf (what the WAL keeps) or a `Problem` naming what is
wrong (415 for another content type, 400 for malformed protobuf or JSON or when every record
is invalid, 413 past a limit). The body is read in pieces (`otlp_wire`), so its shape cannot
make decoding take more memory than a piece. Records that cannot be stored are dropped one by
one and counted for `partial_success`, the rest is accepted: a time past int64, a time before
the table's retention cutoff (`expired`), a record (or resource, or scope) larger than
`MAX_RECORD_BYTES`, a `service.name` that cannot name a partition folder, and records that
would make the request touch more than `max_partitions` day partitions (a file each). Attribute
values are counted into the budget (`limits.VALUES_PER_RECORD`): a 413 past their limit. Replies
(`success_body`, `problem_body`) are in the request's encoding: `ExportLogsServiceResponse` on
success, a `google.rpc.Status` on failure.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ExportLogsServiceResponse,
)

from starbase.router import native, otlp_wire
from starbase.router.anyvalue import service_name
from starbase.router.limits import MAX_RECORD_BYTES, Budget, Overrun, unlimited
from starbase.router.otlp_json import json_payload
from starbase.router.problems import Problem, bad_request
from starbase.storage.formats import OTEL, segment
from starbase.storage.otel_layout import MAX_SEGMENT_BYTES, NS_PER_DAY, hour_key

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_INT64_MAX = 2**63 - 1
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 408: 4, 413: 3, 415: 3, 429: 8, 503: 14}
_REASONS_KEPT = 5
_SERVICE_KEY = f"{OTEL.key}="  # a service folder: the key, then the name %-escaped


@dataclass(frozen=True)
class Admission:
    """What records are checked against besides their own validity (per request)."""

    received_ns: int  # the time of a record that has neither time nor observed time
    cutoff_ns: int | None = None  # the table's retention: records before it are expired
    max_partitions: int = 1000  # distinct day partitions (files) one request may touch


@dataclass(frozen=True)
class OtlpBatch:
    payload: bytes  # ExportLogsServiceRequest, protobuf, without the rejected records
    records: int  # accepted
    rejected: int = 0
    message: str = ""  # why records were rejected (partial_success.error_message)
    expired: int = 0  # of the rejected: older than the retention cutoff
    partitions: frozenset[int] = frozenset()  # days (ns // NS_PER_DAY) touched


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode(
    body: bytes,
    content_type: str | None,
    budget: Budget | None = None,
    admission: Admission | None = None,
) -> OtlpBatch | Problem:
    kind = media_type(content_type)
    budget = budget or unlimited()
    admission = admission or Admission(time.time_ns())
    try:
        if kind in (PROTOBUF, "application/protobuf"):
            return _checked(body, budget, admission)
        if kind == JSON:
            payload = json_payload(body, budget)
            if isinstance(payload, Problem):
                return payload
            return _checked(payload, budget, admission)
    except Overrun as exc:
        return exc.problem
    return Problem(415, f"Content-Type must be {PROTOBUF} or {JSON}, not {kind or 'absent'!r}")


@dataclass
class _Verdict:
    """Accumulates what `_checked` accepts and rejects."""

    admission: Admission
    accepted: int = 0
    rejected: int = 0
    expired: int = 0
    reasons: list[str] = field(default_factory=list)  # the first few
    reason_count: int = 0
    partitions: set[int] = field(default_factory=set)
    resources: set[int] = field(default_factory=set)
    scopes: set[tuple[int, int]] = field(default_factory=set)
    records: list[int] = field(default_factory=list)

    def reject(self, count: int, reason: str) -> None:
        self.rejected += count
        self.reason_count += 1
        if len(self.reasons) < _REASONS_KEPT:
            self.reasons.append(reason)

    def message(self) -> str:
        more = self.reason_count - len(self.reasons)
        return "; ".join(self.reasons) + (f" (and {more} more)" if more > 0 else "")


def _checked(body: bytes, budget: Budget, admission: Admission) -> OtlpBatch | Problem:
    """Drop the records that cannot be stored; count the rest."""
    whole = _accepted_whole(body, budget, admission)
    if whole is not None:
        return whole
    verdict = _Verdict(admission)
    services: dict[int, str | None] = {}
    # A small body's own attributes are bounded by its size (2 bytes each at least): when the
    # bound fits the budget easily, no need to count them record by record.
    bounded = len(body) <= otlp_wire.WHOLE_PARSE_BYTES and len(body) <= budget.max_values
    if bounded:
        budget.values(len(body) // 2)
    try:
        for piece in otlp_wire.pieces(body, budget, MAX_RECORD_BYTES):
            if piece.resource_index in verdict.resources or (
                (piece.resource_index, piece.scope_index) in verdict.scopes
            ):
                verdict.rejected += piece.count
                continue
            if piece.too_large is not None:
                _too_large(piece, verdict)
                continue
            if piece.resource_index not in services:
                services[piece.resource_index] = _service(piece, verdict)
            if services[piece.resource_index] is None:
                verdict.resources.add(piece.resource_index)
                verdict.rejected += piece.count
                continue
            if piece.records:
                _count_values(piece, budget, own=not bounded)
                _check_records(piece, verdict)
    except (otlp_wire.WireError, DecodeError, RuntimeError) as exc:
        return bad_request(f"malformed protobuf ExportLogsServiceRequest: {exc}")
    if verdict.rejected and not verdict.accepted:
        return bad_request(f"every record was rejected: {verdict.message()}")
    payload = body
    if verdict.rejected:
        payload = otlp_wire.without(body, verdict.resources, verdict.scopes, verdict.records)
    return OtlpBatch(
        payload,
        verdict.accepted,
        verdict.rejected,
        verdict.message(),
        verdict.expired,
        frozenset(verdict.partitions),
    )


def _accepted_whole(body: bytes, budget: Budget, admission: Admission) -> OtlpBatch | None:
    """The answer for a body whose every record is accepted, from the compiled decoder's one
    walk (`native.check`); None — decide record by record below — for a body over
    `WHOLE_PARSE_BYTES`, a malformed one, one that goes past a limit or has a record to reject
    (or anything unusual), and without the decoder. Exactly what `_checked` answers then
    (tests/test_native_otlp.py checks it), for a fraction of the CPU."""
    if len(body) > otlp_wire.WHOLE_PARSE_BYTES:
        return None
    try:
        summary = native.check(body, admission.received_ns)
    except DecodeError:
        return None
    if summary is None:
        return None
    records, own, shared, latest, low, service, unusual, days = summary
    bounded = len(body) <= budget.max_values  # as `_checked` counts values
    values = (len(body) // 2 if bounded else own) + shared
    cutoff = admission.cutoff_ns
    if (
        budget.counted + records > budget.max_records
        or budget.values_counted + values > budget.max_values
        or latest > _INT64_MAX
        or (cutoff is not None and records and low < cutoff)
        or days is None
        or len(days) > admission.max_partitions
        or unusual
        or len(_SERVICE_KEY) + 3 * service > MAX_SEGMENT_BYTES  # may not fit a folder name
    ):
        return None
    if records:
        budget.tick()
    budget.records(records)
    budget.values(values)
    return OtlpBatch(body, records, partitions=frozenset(days))


def _service(piece: otlp_wire.Piece, verdict: _Verdict) -> str | None:
    name = service_name(piece.resource_logs.resource)
    try:
        segment(OTEL.key, name)
    except ValueError as exc:
        verdict.reject(0, f"resourceLogs[{piece.resource_index}]: service.name: {exc}")
        return None
    return name


def _too_large(piece: otlp_wire.Piece, verdict: _Verdict) -> None:
    where = f"resourceLogs[{piece.resource_index}]"
    limit = f"larger than {MAX_RECORD_BYTES} bytes"
    if piece.too_large == "resource":
        verdict.resources.add(piece.resource_index)
        verdict.reject(piece.count, f"{where}: the resource is {limit}")
    elif piece.too_large == "scope":
        verdict.scopes.add((piece.resource_index, piece.scope_index))
        verdict.reject(piece.count, f"{where}.scopeLogs[{piece.scope_index}]: the scope is {limit}")
    else:
        verdict.records.append(piece.number)
        verdict.reject(
            1,
            f"{where}.scopeLogs[{piece.scope_index}].logRecords[{piece.first}]: "
            f"the record is {limit}",
        )


def _count_values(piece: otlp_wire.Piece, budget: Budget, own: bool) -> None:
    """The attribute values the piece's rows will hold (resource and scope ones repeated),
    the records' own ones only if `own` (else bounded by the body's size: see `_checked`)."""
    shared = len(piece.resource_logs.resource.attributes) + len(piece.scope_logs.scope.attributes)
    values = sum([len(r.attributes) for r in piece.records]) if own else 0
    budget.values(values + shared * len(piece.records))


def _check_records(piece: otlp_wire.Piece, verdict: _Verdict) -> None:
    """Accept a piece's records, or reject them one by one (see the module docstring)."""
    admission = verdict.admission
    records = piece.records
    times = [r.time_unix_nano for r in records]
    observed = [r.observed_time_unix_nano for r in records]
    latest = max(max(times), max(observed))
    stamps = times if min(times) else _stamps(times, observed, admission.received_ns)
    low, high = min(stamps), max(stamps)
    cutoff = admission.cutoff_ns
    if low // NS_PER_DAY == high // NS_PER_DAY:
        keys = {low // NS_PER_DAY}
    else:
        keys = {stamp // NS_PER_DAY for stamp in stamps}
    if (
        latest <= _INT64_MAX
        and (cutoff is None or low >= cutoff)
        and (
            keys <= verdict.partitions or len(verdict.partitions | keys) <= admission.max_partitions
        )
    ):
        verdict.partitions |= keys
        verdict.accepted += len(records)
        return
    where = f"resourceLogs[{piece.resource_index}].scopeLogs[{piece.scope_index}]"
    for offset, (time_ns, observed_ns, stamp) in enumerate(
        zip(times, observed, stamps, strict=True)
    ):
        index = f"{where}.logRecords[{piece.first + offset}]"
        if max(time_ns, observed_ns) > _INT64_MAX:
            verdict.reject(1, f"{index}: timeUnixNano past 2262-04-11 (int64 nanoseconds)")
        elif cutoff is not None and stamp < cutoff:
            verdict.expired += 1
            verdict.reject(
                1,
                f"{index}: older than the table's retention (hours before "
                f"{hour_key(cutoff)} are expired)",
            )
        else:
            day = stamp // NS_PER_DAY
            if day in verdict.partitions or len(verdict.partitions) < admission.max_partitions:
                verdict.partitions.add(day)
                verdict.accepted += 1
                continue
            verdict.reject(
                1,
                f"{index}: more than {admission.max_partitions} days (a file each) in one "
                "request (--max-partitions)",
            )
        verdict.records.append(piece.number + offset)


def _stamps(times: list[int], observed: list[int], received: int) -> list[int]:
    """The time each record is stored under: its time, else its observed time, else `received`."""
    return [t or o or received for t, o in zip(times, observed, strict=True)]


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
