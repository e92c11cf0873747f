"""The compiled OTLP → Arrow decoder against the Python reference (convert_otlp.otlp_table).

Equivalence: for any request — built through the protobuf API, written field by field on the
wire, or damaged — both give the same Arrow table, or both raise protobuf's DecodeError. Plus
the edges named one by one: nesting depth, malformed varints, tags, lengths and groups, UTF-8,
Python's float repr, and payloads that crash nothing (the same corpus also runs under
AddressSanitizer: `make fuzz-native`).
"""

from __future__ import annotations

import math
import random
import struct

import pyarrow as pa
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from otlp_strategies import delimited, mutated, requests, tag, varint, wire_requests

from starbase.router import convert_otlp, native
from starbase.router.wal import Entry, Kind

pytestmark = pytest.mark.skipif(
    not native.available() and native._why_not.startswith("STARBASE_NATIVE"),
    reason="STARBASE_NATIVE=0",
)
FAST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def entries(payloads: list[bytes]) -> list[Entry]:
    return [
        Entry(i + 1, 1_790_000_000_000_000_000 + i, 1, Kind.OTLP, None, "", p)
        for i, p in enumerate(payloads)
    ]


def outcome(convert: object, payloads: list[bytes]) -> pa.Table | type[Exception]:
    try:
        return convert(entries(payloads))  # type: ignore[operator]
    except DecodeError:
        return DecodeError


def assert_same(payloads: list[bytes]) -> pa.Table | type[Exception]:
    reference = outcome(convert_otlp.otlp_table, payloads)
    compiled = outcome(native.otlp_table, payloads)
    if isinstance(reference, pa.Table) and isinstance(compiled, pa.Table):
        assert compiled.schema == reference.schema
        for name in reference.column_names:
            assert compiled[name].to_pylist() == reference[name].to_pylist(), name
        assert compiled.equals(reference)
    else:
        assert compiled == reference
    return reference


def test_the_extension_is_built() -> None:
    """`make test` builds it; the fallback is for machines without a C compiler."""
    assert native.available(), native._why_not


@FAST
@given(st.lists(requests(), min_size=1, max_size=3))
def test_same_table_for_requests_built_by_protobuf(payloads: list[bytes]) -> None:
    assert isinstance(assert_same(payloads), pa.Table)


@FAST
@given(st.lists(wire_requests(), min_size=1, max_size=2))
def test_same_table_or_error_for_requests_written_field_by_field(payloads: list[bytes]) -> None:
    assert_same(payloads)


@FAST
@given(mutated(requests()))
@example(b"\x0a\x02\x12\x00\x0a")
def test_same_table_or_error_for_damaged_requests(payload: bytes) -> None:
    assert_same([payload])


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_same_table_or_error_for_any_bytes(payload: bytes) -> None:
    assert_same([payload])


def in_record(fields: bytes) -> bytes:
    """A request of one resource, one scope and one LogRecord made of `fields`."""
    return delimited(1, delimited(2, delimited(2, fields)))


def nested(levels: int) -> bytes:
    """A request whose record body nests `levels` arrays (2 messages each) around a string."""
    value = delimited(1, b"x")
    for _ in range(levels):
        value = delimited(5, delimited(1, value))
    return in_record(delimited(5, value))


def groups(levels: int) -> bytes:
    return b"".join(tag(20, 3) for _ in range(levels)) + b"".join(tag(20, 4) for _ in range(levels))


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(nested(48), id="100 nested messages"),
        pytest.param(nested(49), id="102 nested messages"),
        pytest.param(groups(100), id="100 nested groups"),
        pytest.param(groups(101), id="101 nested groups"),
        pytest.param(in_record(tag(2, 0) + b"\xff" * 9 + b"\x01"), id="10-byte varint"),
        pytest.param(in_record(tag(2, 0) + b"\xff" * 10 + b"\x01"), id="11-byte varint"),
        pytest.param(in_record(tag(2, 0) + b"\xff\xff"), id="truncated varint"),
        pytest.param(b"\xf8\xff\xff\xff\x0f\x00", id="5-byte tag"),
        pytest.param(b"\x80\x80\x80\x80\x10\x00", id="tag past 32 bits"),
        pytest.param(b"\xf8\xff\xff\xff\xff\x00\x00", id="6-byte tag"),
        pytest.param(tag(0, 0) + b"\x01", id="field number 0"),
        pytest.param(tag(0, 2) + b"\x00", id="field number 0, delimited"),
        pytest.param(tag(5, 6), id="wire type 6"),
        pytest.param(tag(5, 7), id="wire type 7"),
        pytest.param(tag(5, 4), id="stray end group"),
        pytest.param(tag(5, 3), id="group never closed"),
        pytest.param(tag(5, 3) + tag(6, 4), id="group closed by another number"),
        pytest.param(delimited(1, tag(5, 3)) + tag(5, 4), id="group closed outside its message"),
        pytest.param(tag(1, 2) + varint(2**31 - 1), id="length 2^31-1"),
        pytest.param(tag(1, 2) + varint(2**32 + 1) + b"x", id="length past 32 bits"),
        pytest.param(tag(1, 2) + varint(5) + b"abc", id="length past the end"),
        pytest.param(in_record(tag(1, 1) + b"\x00" * 3), id="truncated fixed64"),
        pytest.param(in_record(tag(8, 5) + b"\x00"), id="truncated fixed32"),
        pytest.param(in_record(delimited(3, b"\xff")), id="bad UTF-8"),
        pytest.param(in_record(delimited(3, b"\xed\xa0\x80")), id="surrogate"),
        pytest.param(in_record(delimited(3, b"\xc0\x80")), id="overlong"),
        pytest.param(in_record(delimited(9, b"\xff" * 16)), id="bytes are not UTF-8"),
        pytest.param(delimited(1, delimited(1, delimited(3, delimited(2, b"\xff")))), id="entity"),
        pytest.param(in_record(tag(1, 0) + varint(5)), id="time as varint"),
        pytest.param(in_record(delimited(2, varint(5))), id="severity delimited"),
        pytest.param(in_record(tag(5, 3) + delimited(3, b"\xff") + tag(5, 4)), id="body as group"),
        pytest.param(delimited(9, b"\xff"), id="unknown field not UTF-8"),
    ],
)  # fmt: skip
def test_malformed_and_edge_payloads_agree(payload: bytes) -> None:
    assert_same([payload])


def test_merges_repeated_singular_fields_like_protobuf() -> None:
    """A body sent twice merges (array values concatenate); a oneof switched away and back
    starts again; the last scalar wins; a repeated kvlist key keeps its first place."""
    kv = lambda k, v: delimited(1, k) + delimited(2, v)  # noqa: E731
    array = lambda *vs: delimited(5, b"".join(delimited(1, v) for v in vs))  # noqa: E731
    kvlist = lambda *kvs: delimited(6, b"".join(delimited(1, x) for x in kvs))  # noqa: E731
    one, two, lost = tag(3, 0) + b"\x01", tag(3, 0) + b"\x02", delimited(1, b"lost")
    record = (
        delimited(5, array(delimited(1, b"a")))
        + delimited(5, array(tag(3, 0) + varint(7)))  # merged: ["a", 7]
        + delimited(6, kv(b"k", delimited(1, b"x") + tag(2, 0) + b"\x01"))  # last wins: true
        + delimited(6, kv(b"m", kvlist(kv(b"a", one), kv(b"b", b""), kv(b"a", two))))
        + delimited(6, kv(b"s", array(lost) + delimited(1, b"x") + array(delimited(1, b"kept"))))
        + delimited(3, b"first")
        + delimited(3, b"last")
    )  # fmt: skip
    payload = in_record(record)
    table = assert_same([payload])
    assert isinstance(table, pa.Table)
    row = table.to_pylist()[0]
    assert row["body"] == '["a",7]' and row["severity_text"] == "last"
    assert dict(row["log_attributes"]) == {"k": "true", "m": '{"a":2,"b":null}', "s": '["kept"]'}


def doubles_request(values: list[float]) -> bytes:
    attributes = b"".join(
        delimited(6, delimited(1, b"d") + delimited(2, tag(4, 1) + struct.pack("<d", v)))
        for v in values
    )
    return in_record(attributes)


def test_doubles_are_written_as_python_repr() -> None:
    rnd = random.Random(7)
    values = [rnd.uniform(-1e6, 1e6) for _ in range(500)]
    values += [struct.unpack("<d", rnd.randbytes(8))[0] for _ in range(1500)]
    values += [round(rnd.lognormvariate(3, 1), rnd.randrange(6)) for _ in range(500)]
    values += [2.0**e for e in range(-1074, 1024)] + [k * 2.0**-16 for k in range(1, 300)]
    values += [float(f"1e{e}") for e in range(-323, 309)] + [5e-324, 0.1 + 0.2, 1e23, 8 + 2**-16]
    values = [v for v in values if math.isfinite(v)]
    table = native.otlp_table(entries([doubles_request(values)]))
    stored = [value for _key, value in table["log_attributes"][0].as_py()]
    assert stored == [repr(v) for v in values]
