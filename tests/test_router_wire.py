"""The OTLP wire walker (`otlp_wire`) against upb: whatever the shape, reading a request piece by
piece gives exactly the records, resources and scopes a whole parse gives; `without` drops
exactly the records asked for; malformed bytes are a `WireError`/`DecodeError`, never anything
else; and the limits (`limits.Budget`) stop a request early. Hypothesis builds the requests
(resources, scopes, records with attributes, fields out of the usual order, non-minimal
lengths) and damages them; the walk is forced on small bodies by shrinking the chunk sizes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ExportLogsServiceRequest,
)
from test_router_hostile import _field, empty_records

from starbase.router import otlp, otlp_wire
from starbase.router.convert_otlp import otlp_table
from starbase.router.limits import Budget, Overrun, unlimited
from starbase.router.problems import Problem
from starbase.router.wal import Entry, Kind


@contextmanager
def small_chunks(whole: int = 0, chunk_bytes: int = 64, chunk_records: int = 3) -> Iterator[None]:
    """Walk even tiny bodies, in tiny chunks (restored afterwards)."""
    saved = otlp_wire.WHOLE_PARSE_BYTES, otlp_wire.CHUNK_BYTES, otlp_wire.CHUNK_RECORDS
    otlp_wire.WHOLE_PARSE_BYTES, otlp_wire.CHUNK_BYTES, otlp_wire.CHUNK_RECORDS = (
        whole,
        chunk_bytes,
        chunk_records,
    )
    try:
        yield
    finally:
        otlp_wire.WHOLE_PARSE_BYTES, otlp_wire.CHUNK_BYTES, otlp_wire.CHUNK_RECORDS = saved


_text = st.text(max_size=6)
_records = st.lists(
    st.fixed_dictionaries(
        {
            "time": st.integers(0, 2**64 - 1),
            "body": _text,
            "attributes": st.lists(st.tuples(_text, _text), max_size=3),
        }
    ),
    max_size=7,
)
_requests = st.lists(
    st.fixed_dictionaries(
        {
            "service": st.one_of(st.none(), _text),
            "schema": _text,
            "scopes": st.lists(st.tuples(_text, _records), max_size=3),
        }
    ),
    max_size=4,
)


def build(resources: list[dict]) -> bytes:  # type: ignore[type-arg]
    request = ExportLogsServiceRequest()
    for resource in resources:
        resource_logs = request.resource_logs.add()
        if resource["service"] is not None:
            kv = resource_logs.resource.attributes.add(key="service.name")
            kv.value.string_value = resource["service"]
        resource_logs.schema_url = resource["schema"]
        for name, records in resource["scopes"]:
            scope_logs = resource_logs.scope_logs.add()
            scope_logs.scope.name = name
            for record in records:
                log = scope_logs.log_records.add()
                log.time_unix_nano = record["time"]
                log.body.string_value = record["body"]
                for key, value in record["attributes"]:
                    log.attributes.add(key=key).value.string_value = value
    return bytes(request.SerializeToString())


def whole_records(body: bytes) -> list[tuple[int, int, bytes, bytes, bytes]]:
    request = ExportLogsServiceRequest.FromString(body)
    return [
        (
            r,
            s,
            rl.resource.SerializeToString(),
            sl.scope.SerializeToString(),
            rec.SerializeToString(),
        )
        for r, rl in enumerate(request.resource_logs)
        for s, sl in enumerate(rl.scope_logs)
        for rec in sl.log_records
    ]


def walked_records(body: bytes) -> list[tuple[int, int, bytes, bytes, bytes]]:
    found = []
    for piece in otlp_wire.pieces(body, unlimited()):
        resource = piece.resource_logs.resource.SerializeToString()
        scope = piece.scope_logs.scope.SerializeToString()
        for record in piece.records:
            found.append(
                (
                    piece.resource_index,
                    piece.scope_index,
                    resource,
                    scope,
                    record.SerializeToString(),
                )
            )
    return found


@settings(max_examples=150)
@given(_requests, st.integers(1, 5), st.integers(8, 200))
def test_pieces_read_what_a_whole_parse_reads(
    resources: list[dict],  # type: ignore[type-arg]
    chunk_records: int,
    chunk_bytes: int,
) -> None:
    body = build(resources)
    with small_chunks(chunk_bytes=chunk_bytes, chunk_records=chunk_records):
        assert walked_records(body) == whole_records(body)
        walked = otlp_table([Entry(1, 7, 1, Kind.OTLP, None, "", body)])
    assert walked.equals(otlp_table([Entry(1, 7, 1, Kind.OTLP, None, "", body)]))


@settings(max_examples=150)
@given(_requests, st.data())
def test_without_drops_exactly_the_records_asked_for(
    resources: list[dict],  # type: ignore[type-arg]
    data: st.DataObject,
) -> None:
    body = build(resources)
    everything = whole_records(body)
    doomed = data.draw(st.sets(st.integers(0, max(len(everything) - 1, 0))))
    doomed = {n for n in doomed if n < len(everything)}
    with small_chunks():
        rest = otlp_wire.without(body, set(), set(), sorted(doomed))
    kept = [r[4] for n, r in enumerate(everything) if n not in doomed]
    assert [r[4] for r in whole_records(rest)] == kept
    same = whole_records(otlp_wire.without(body, set(), set(), []))
    assert [r[2:] for r in same] == [r[2:] for r in everything]  # empty scopes are gone


def test_fields_out_of_order_and_non_minimal_lengths() -> None:
    """A scope's name after its records, a record's length as a 2-byte varint for a short
    value, and an unknown field between records: read as upb reads them."""
    record = b"\x2a\x03\x0a\x01x"  # body: {string_value: "x"}
    scope_logs = (
        _field(0x12, record)
        + b"\x12\x80\x00"  # an empty record, its length spelled in two bytes
        + b"\x98\x01\x05"  # unknown field 19, a varint
        + _field(0x12, record)
        + _field(0x0A, _field(0x0A, b"late-scope"))
    )
    body = _field(0x0A, _field(0x12, scope_logs))
    with small_chunks():
        assert walked_records(body) == whole_records(body)
        assert len(walked_records(body)) == 3


@settings(max_examples=300)
@given(_requests, st.binary(max_size=40), st.integers(0, 10_000))
def test_damaged_bodies_are_errors_or_records_never_crashes(
    resources: list[dict],  # type: ignore[type-arg]
    noise: bytes,
    where: int,
) -> None:
    body = build(resources)
    cut = where % (len(body) + 1)
    damaged = body[:cut] + noise + body[cut + len(noise) // 2 :]
    with small_chunks():
        try:
            walked = walked_records(damaged)
        except (otlp_wire.WireError, DecodeError):
            walked = None
        result = otlp.decode(damaged, otlp.PROTOBUF)
    assert not isinstance(result, Problem) or result.status in (400, 413)
    if walked is not None:
        # upb may refuse what no piece parsed (e.g. bad UTF-8 in a top-level unknown field)
        with contextlib.suppress(DecodeError):
            assert walked == whole_records(damaged)


def test_the_walk_stops_at_the_record_limit_without_parsing() -> None:
    budget = Budget(max_records=1000, max_decode_cpu_s=60)
    with pytest.raises(Overrun) as refused:
        list(otlp_wire.pieces(empty_records(2_000_000), budget))
    assert refused.value.problem.status == 413 and "1000 records" in refused.value.problem.message
    assert budget.counted <= 1000 + otlp_wire.CHUNK_RECORDS  # stopped at once


def test_values_count_resource_attributes_once_per_record() -> None:
    resource = _field(0x0A, b"\x0a\x00" * 100)  # 100 empty resource attributes
    body = _field(0x0A, resource + _field(0x12, b"\x12\x00" * 100))  # and 100 records
    problem = otlp.decode(body, otlp.PROTOBUF, Budget(max_records=300, max_decode_cpu_s=60))
    assert isinstance(problem, Problem) and problem.status == 413
    assert "attribute values" in problem.message  # 10,000 > 32 x 300
    assert not isinstance(otlp.decode(body, otlp.PROTOBUF, Budget(1000, 60)), Problem)


def test_oversized_records_are_rejected_alone() -> None:
    big = _field(0x12, _field(0x2A, _field(0x0A, b"x" * (1024 * 1024 + 10))))
    small = _field(0x12, _field(0x2A, _field(0x0A, b"ok")))
    body = _field(0x0A, _field(0x12, small + big + small))
    batch = otlp.decode(body, otlp.PROTOBUF)
    assert not isinstance(batch, Problem)
    assert (batch.records, batch.rejected) == (2, 1)
    assert "logRecords[1]: the record is larger than 1048576 bytes" in batch.message
    kept = otlp_table([Entry(1, 7, 1, Kind.OTLP, None, "", batch.payload)])
    assert kept.column("body").to_pylist() == ["ok", "ok"]
