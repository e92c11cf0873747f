"""OTLP/protobuf logs requests read in bounded pieces: an outline from the wire, then small parses.

Requires: upb protobuf and `opentelemetry-proto`. Guarantees: `pieces(body, budget)` yields the
request's records as `Piece`s — a resource, a scope and at most `CHUNK_RECORDS` records of
at most about `CHUNK_BYTES` — in wire order, so that however the body is shaped (millions of
empty records, or of empty attributes) no more than one piece is ever decoded at a time: a
body over `WHOLE_PARSE_BYTES` is first outlined by walking its three outer levels (request →
ResourceLogs → ScopeLogs → LogRecord fields, never inside a record), then each piece is parsed
on its own (`ScopeLogs.FromString` of a run of `log_records` fields). A piece whose bytes are
over `max_bytes` (a record, or a resource's or scope's own fields) is yielded unparsed, with
`too_large` set. Records are counted into the `Budget` as they are found (413 past
`--max-records`, before anything is parsed) and `tick` is called between pieces (the CPU
limit). Malformed input raises `WireError` (or protobuf's `DecodeError`): a 400 for the
caller. `without(body, …)` rewrites a body without some records (the others' bytes unchanged).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ExportLogsServiceRequest,
)
from opentelemetry.proto.logs.v1.logs_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ResourceLogs,
    ScopeLogs,
)

from starbase.router.limits import Budget, unlimited

CHUNK_BYTES = 256 * 1024
CHUNK_RECORDS = 4096
WHOLE_PARSE_BYTES = 1024 * 1024  # smaller bodies are parsed in one go (≤ 65 MiB of upb)
_RECORDS_TAG = 0x12  # field 2, length-delimited: ScopeLogs.log_records (and scope_logs)
_TICK_EVERY = 4096


class WireError(ValueError):
    """The body is not a well-formed ExportLogsServiceRequest."""


@dataclass
class ScopeOutline:
    head: list[tuple[int, int]] = field(default_factory=list)  # other fields, tags included
    chunks: list[tuple[int, int, int]] = field(default_factory=list)  # (start, end, records)
    records: int = 0


@dataclass
class ResourceOutline:
    head: list[tuple[int, int]] = field(default_factory=list)  # other fields, tags included
    scopes: list[ScopeOutline] = field(default_factory=list)
    records: int = 0


@dataclass(frozen=True)
class Piece:
    resource_index: int
    resource_logs: Any  # its `resource` and `schema_url` (not its scope_logs)
    scope_index: int
    scope_logs: Any  # its `scope` and `schema_url` (not its log_records)
    records: Sequence[Any]  # LogRecord messages; empty when too_large
    first: int  # index of the first record within its scope
    number: int  # index of the first record within the request (wire order)
    count: int  # records in the piece (also when too_large)
    too_large: str | None = None  # "record", "resource" or "scope": not parsed


def pieces(body: bytes, budget: Budget, max_bytes: int | None = None) -> Iterator[Piece]:
    """The records of `body` piece by piece (see the module docstring)."""
    if len(body) <= WHOLE_PARSE_BYTES:
        yield from _whole(body, budget)
        return
    resources = outline(body, budget)
    number = 0
    for rindex, resource in enumerate(resources):
        rhead = _join(body, resource.head)
        resource_big = max_bytes is not None and len(rhead) > max_bytes
        resource_logs = ResourceLogs() if resource_big else ResourceLogs.FromString(rhead)
        for sindex, scope in enumerate(resource.scopes):
            shead = _join(body, scope.head)
            scope_big = max_bytes is not None and len(shead) > max_bytes
            scope_logs = ScopeLogs() if scope_big else ScopeLogs.FromString(shead)
            first = 0
            for start, end, count in scope.chunks:
                budget.tick()
                reason = "resource" if resource_big else "scope" if scope_big else None
                if (
                    reason is None
                    and max_bytes is not None
                    and count == 1
                    and end - start > max_bytes
                ):
                    reason = "record"  # a chunk over max_bytes holds one record
                records: Sequence[Any] = ()
                if reason is None:
                    records = ScopeLogs.FromString(body[start:end]).log_records
                piece = Piece(
                    rindex, resource_logs, sindex, scope_logs, records, first, number, count, reason
                )
                yield piece
                first += count
                number += count


def _whole(body: bytes, budget: Budget) -> Iterator[Piece]:
    request = ExportLogsServiceRequest.FromString(body)
    budget.records(sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs))
    number = 0
    for rindex, resource_logs in enumerate(request.resource_logs):
        for sindex, scope_logs in enumerate(resource_logs.scope_logs):
            records = scope_logs.log_records
            for first in range(0, len(records), CHUNK_RECORDS):
                budget.tick()
                chunk = records[first : first + CHUNK_RECORDS]
                yield Piece(
                    rindex, resource_logs, sindex, scope_logs, chunk, first, number, len(chunk)
                )
                number += len(chunk)


def outline(body: bytes, budget: Budget) -> list[ResourceOutline]:
    """The resources, scopes and record runs of `body`, without decoding any of them."""
    return [
        _resource(body, start, end, budget)
        for number, wire, start, end, _ in _fields(body, 0, len(body))
        if number == 1 and wire == 2
    ]


def _resource(body: bytes, start: int, end: int, budget: Budget) -> ResourceOutline:
    resource = ResourceOutline()
    for number, wire, value_start, value_end, tag_start in _fields(body, start, end):
        if number == 2 and wire == 2:
            scope = _scope(body, value_start, value_end, budget)
            resource.scopes.append(scope)
            resource.records += scope.records
        else:
            resource.head.append((tag_start, value_end))
    return resource


def _scope(data: bytes, start: int, end: int, budget: Budget) -> ScopeOutline:
    """The hot loop: one pass over a ScopeLogs' fields, runs of records cut into chunks."""
    scope = ScopeOutline()
    chunks = scope.chunks
    run_start = run_end = -1
    run_count = 0
    counted = 0
    i = start
    try:
        while i < end:
            tag_start = i
            if data[i] == _RECORDS_TAG:
                length = data[i + 1]
                i += 2
                if length >= 0x80:
                    length, i = _varint_rest(data, i - 1)
            else:
                key, i = _varint(data, i)
                if key != _RECORDS_TAG:  # not a record (a non-minimal tag would be one)
                    i = _skip(data, i, key & 7, end)
                    scope.head.append((tag_start, i))
                    continue
                length, i = _varint(data, i)
            i += length
            if i > end:
                raise WireError("a log record runs past the end of its scope")
            if tag_start == run_end and run_count < CHUNK_RECORDS and i - run_start <= CHUNK_BYTES:
                run_end = i
                run_count += 1
            else:
                if run_count:
                    chunks.append((run_start, run_end, run_count))
                run_start, run_end, run_count = tag_start, i, 1
            counted += 1
            if counted == _TICK_EVERY:
                budget.records(counted)
                budget.tick()
                scope.records += counted
                counted = 0
    except IndexError:
        raise WireError("a scope's fields are cut short") from None
    if i != end:
        raise WireError("a field runs past the end of its scope")
    if run_count:
        chunks.append((run_start, run_end, run_count))
    budget.records(counted)
    scope.records += counted
    return scope


def without(
    body: bytes,
    resources: set[int],
    scopes: set[tuple[int, int]],
    records: Sequence[int],
) -> bytes:
    """`body` without the given resources, scopes and records (numbers in wire order).

    Every other field is copied byte for byte (a resource's or scope's own fields first, then
    its scopes or records, in order); scopes and resources left empty are dropped.
    """
    doomed = sorted(records)
    out: list[bytes | memoryview] = []
    view = memoryview(body)
    number = 0
    for rindex, resource in enumerate(outline(body, unlimited())):
        if rindex in resources:
            number += resource.records
            continue
        kept_scopes: list[bytes | memoryview] = []
        for sindex, scope in enumerate(resource.scopes):
            if (rindex, sindex) in scopes:
                number += scope.records
                continue
            kept: list[bytes | memoryview] = [view[a:b] for a, b in scope.head]
            kept_any = False
            for start, end, count in scope.chunks:
                low, high = bisect_left(doomed, number), bisect_left(doomed, number + count)
                if low == high:
                    kept.append(view[start:end])
                    kept_any = True
                else:
                    drop = set(doomed[low:high])
                    for offset, (a, b) in enumerate(_records(body, start, end)):
                        if number + offset not in drop:
                            kept.append(view[a:b])
                            kept_any = True
                number += count
            if kept_any:
                kept_scopes.append(_field(2, kept))
        if kept_scopes:
            head: list[bytes | memoryview] = [view[a:b] for a, b in resource.head]
            out.append(_field(1, head + kept_scopes))
    return b"".join(out)


# ---------------------------------------------------------------------- the wire format


def _join(body: bytes, ranges: list[tuple[int, int]]) -> bytes:
    if len(ranges) == 1:
        start, end = ranges[0]
        return body[start:end]
    return b"".join(body[a:b] for a, b in ranges)


def _records(body: bytes, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The (start, end) of each field in a run of log_records fields."""
    for _, _, _, value_end, tag_start in _fields(body, start, end):
        yield tag_start, value_end


def _field(number: int, parts: list[bytes | memoryview]) -> bytes:
    payload = b"".join(parts)
    return _varint_bytes(number << 3 | 2) + _varint_bytes(len(payload)) + payload


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _fields(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, value start, value end, tag start) of each field."""
    i = start
    try:
        while i < end:
            tag_start = i
            key, i = _varint(data, i)
            wire = key & 7
            if wire == 2:
                length, i = _varint(data, i)
                value_start, i = i, i + length
            else:
                value_start, i = i, _skip(data, i, wire, end)
            if i > end:
                raise WireError("a field runs past the end of its message")
            yield key >> 3, wire, value_start, i, tag_start
    except IndexError:
        raise WireError("a message is cut short") from None


def _skip(data: bytes, i: int, wire: int, end: int) -> int:
    """The end of a field's value that starts at `i` (after its tag)."""
    if wire == 0:
        while data[i] >= 0x80:
            i += 1
        return i + 1
    if wire == 1:
        return i + 8
    if wire == 5:
        return i + 4
    if wire == 2:
        length, i = _varint(data, i)
        return i + length
    raise WireError(f"unsupported wire type {wire}")


def _varint(data: bytes, i: int) -> tuple[int, int]:
    byte = data[i]
    if byte < 0x80:
        return byte, i + 1
    return _varint_rest(data, i)


def _varint_rest(data: bytes, i: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise WireError("a varint is longer than 10 bytes")
