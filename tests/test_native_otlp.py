"""The compiled OTLP → Arrow decoder against the Python reference (convert_otlp.otlp_table).

Equivalence: for any request — built through the protobuf API, written field by field on the
wire, or damaged — both give the same Arrow table, or both raise protobuf's DecodeError; the
same prefix under the flusher's attribute-value limit; rows in the stored files' order when
asked; and the request path's compiled check gives the answers of the Python checks. Plus
the edges named one by one: nesting depth, malformed varints, tags, lengths and groups, UTF-8,
Python's float repr, and payloads that crash nothing (the same corpus also runs under
AddressSanitizer: `make fuzz-native`). OTLP/JSON: the compiled walk of a parsed document
gives the request protobuf's json_format gives, or leaves it to json_format (errors included).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
import random
import struct
from pathlib import Path
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from otlp_strategies import (
    NOW_NS,
    delimited,
    json_document,
    json_documents,
    mutated,
    requests,
    tag,
    varint,
    wire_requests,
)

from starbase.router import convert_otlp, native, otlp, otlp_json, otlp_wire
from starbase.router.limits import Budget
from starbase.router.problems import Problem
from starbase.router.wal import Entry, Kind
from starbase.storage.formats import OTEL

pytestmark = pytest.mark.skipif(
    not native.available() and native._why_not.startswith("STARBASE_NATIVE"),
    reason="STARBASE_NATIVE=0",
)
FAST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON_FAST = settings(FAST, max_examples=150)  # json_format, the reference, is slow


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
@example(bytes.fromhex("0b050a0310800c"))  # field 0 inside a group: protobuf lets it be
@example(bytes.fromhex("0b03040c"))  # a group numbered 0 inside a group
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


# ---------------------------------------------------------------- budgets, order, request path

NS_PER_DAY = 86_400 * 10**9


@st.composite
def plausible_requests(draw: st.DrawFn) -> bytes:
    """`requests()` with times around NOW_NS (a few days either way, or unset): the bodies
    the request path accepts whole, so its compiled summary is what decides."""
    request = ExportLogsServiceRequest.FromString(draw(requests()))
    nearby = st.one_of(st.just(0), st.integers(NOW_NS - 3 * NS_PER_DAY, NOW_NS + 3 * NS_PER_DAY))
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                record.time_unix_nano = draw(nearby)
                record.observed_time_unix_nano = draw(nearby)
    return bytes(request.SerializeToString())


def file_order(table: pa.Table) -> pa.Table:
    """`table`'s rows as TableFormat.split orders them (day, service, time; stable)."""
    days = np.floor_divide(table["time_unix_nano"].to_numpy(), NS_PER_DAY)
    keyed = pa.table({"d": days, "s": table["service"], "t": table["time_unix_nano"]})
    order = pc.sort_indices(keyed, [("d", "ascending"), ("s", "ascending"), ("t", "ascending")])
    return table.take(order)


@FAST
@given(
    st.lists(st.one_of(requests(), plausible_requests()), min_size=1, max_size=4),
    st.one_of(st.none(), st.integers(0, 60)),
)
def test_same_prefix_and_file_order_for_any_value_limit(
    payloads: list[bytes], max_values: int | None
) -> None:
    """The flusher's prefix rule (stop after the entry whose attribute values reach the
    limit, resource and scope ones counted per row) gives the same entries and rows on both
    paths; in file order, the compiled rows are the reference's sorted as storage sorts."""
    reference, used = convert_otlp.otlp_prefix_table(entries(payloads), max_values)
    compiled, compiled_used = native.otlp_prefix_table(entries(payloads), max_values)
    assert compiled_used == used
    assert compiled.equals(reference)
    ordered, ordered_used = native.otlp_prefix_table(entries(payloads), max_values, ordered=True)
    assert ordered_used == used
    assert ordered.equals(file_order(reference))
    assert [s.data for s in OTEL.split(ordered)] == [s.data for s in OTEL.split(reference)]


def stored_values(table: pa.Table) -> int:
    """Map entries of the rows: the attribute values the prefix rule counts."""
    names = ("log_attributes", "resource_attributes", "scope_attributes")
    return sum(len(entries or ()) for n in names for entries in table[n].to_pylist())


@FAST
@given(st.lists(st.one_of(requests(), plausible_requests()), min_size=1, max_size=4))
def test_prefix_stops_exactly_where_the_values_reach_the_limit(payloads: list[bytes]) -> None:
    """At every limit around each entry's running total of values, both paths stop after the
    first entry whose running total reaches it."""
    totals = list(itertools.accumulate(stored_values(convert_otlp.otlp_table(entries([p])))
                                       for p in payloads))  # fmt: skip
    for limit in sorted({t + d for t in totals for d in (-1, 0, 1) if t + d >= 0}):
        expected = next((i + 1 for i, t in enumerate(totals) if t >= limit), len(payloads))
        assert native.otlp_prefix_table(entries(payloads), limit)[1] == expected, limit
        assert convert_otlp.otlp_prefix_table(entries(payloads), limit)[1] == expected, limit


def test_file_order_across_days_services_and_equal_times() -> None:
    """Days before and after 1970, services that sort bytewise (not by length), equal times
    kept in wire order."""
    request = ExportLogsServiceRequest()
    for service in ("b", "a", "ab", "é", "a"):
        logs = request.resource_logs.add()
        logs.resource.attributes.add(key="service.name").value.string_value = service
        records = logs.scope_logs.add().log_records
        for time_ns in (5, -NS_PER_DAY - 1, 2**62, 5, 0, -1):
            record = records.add(time_unix_nano=time_ns % 2**64, severity_text=service)
            record.body.string_value = f"{service}{time_ns}"
    payload = bytes(request.SerializeToString())
    reference = convert_otlp.otlp_table(entries([payload]))
    ordered = native.otlp_table(entries([payload]), ordered=True)
    assert ordered.equals(file_order(reference))
    assert ordered["service"].to_pylist()[:2] == ["a", "a"]  # -1 day - 1 ns: the first day


def decision(payload: bytes, admission: otlp.Admission, max_records: int) -> object:
    batch = otlp.decode(payload, otlp.PROTOBUF, Budget(max_records, 60.0), admission)
    return batch if isinstance(batch, otlp.OtlpBatch) else (batch.status, batch.message)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(plausible_requests(), requests(), wire_requests(), mutated(plausible_requests())),
    st.one_of(st.none(), st.integers(NOW_NS - 2 * NS_PER_DAY, NOW_NS + 2 * NS_PER_DAY)),
    st.integers(1, 4),
    st.integers(0, 12),
)
def test_request_path_answers_the_same_with_the_compiled_check(
    payload: bytes, cutoff: int | None, max_partitions: int, max_records: int
) -> None:
    """The request path's compiled one-walk check (`otlp._accepted_whole`) answers exactly as
    the record-by-record checks do: same batch, or same problem (400, 413 past a record or
    value limit, partial success for expired, too late or too many days' records)."""
    admission = otlp.Admission(NOW_NS, cutoff, max_partitions)
    compiled = decision(payload, admission, max_records)
    with mock.patch.object(native, "_native", None):  # the request path without it
        reference = decision(payload, admission, max_records)
    assert compiled == reference


def test_the_request_path_uses_the_compiled_check() -> None:
    """A plain valid body is accepted from the compiled summary alone (no upb parse)."""
    request = ExportLogsServiceRequest()
    logs = request.resource_logs.add()
    logs.resource.attributes.add(key="service.name").value.string_value = "shop"
    logs.scope_logs.add().log_records.add(time_unix_nano=NOW_NS).attributes.add(key="k")
    payload = bytes(request.SerializeToString())
    with mock.patch.object(otlp_wire, "pieces", side_effect=AssertionError("parsed")):
        batch = otlp.decode(payload, otlp.PROTOBUF, None, otlp.Admission(NOW_NS))
    assert batch == otlp.OtlpBatch(payload, 1, partitions=frozenset({NOW_NS // NS_PER_DAY}))


def test_the_router_commits_the_same_rows_with_either_converter(tmp_path: Path) -> None:
    """`starbase router --otlp-converter python|compiled`: the same requests, mixed attribute
    kinds, land as the same rows; the Python one says in its log that it is in use."""
    from test_router_harness import PROTOBUF, Router, otlp_request, table_rows, wait_for

    payloads = [
        otlp_request([f"GET /a {i}", "ünïcode ☃", ""], "checkout", time_ns=NOW_NS + i)
        for i in range(3)
    ]
    payloads.append(
        otlp_request(
            ["with attributes"],
            "payments",
            time_ns=NOW_NS,
            attributes={"int": 7, "float": 0.1, "flag": True, "text": "x"},
        )
    )
    committed = {}
    for converter in ("python", "compiled"):
        server = Router(tmp_path / converter, "--otlp-converter", converter).start()
        try:
            for payload in payloads:
                assert server.post("/v1/logs", payload, PROTOBUF)[0] == 200
            wait_for(
                lambda s=server: s.metric("records_committed_total") >= 10,  # type: ignore[misc]
                what="the commits",
            )
        finally:
            assert server.stop() == 0
        rows = table_rows(tmp_path / converter, "otel")
        committed[converter] = rows.sort_by(
            [("time_unix_nano", "ascending"), ("body", "ascending")]
        )
        in_python = "OTLP conversion in pure Python" in server.output()
        assert in_python == (converter == "python"), server.output()
    assert committed["python"].num_rows == 10
    assert committed["python"].equals(committed["compiled"])


def test_the_compiled_converter_asked_for_but_not_built_is_a_one_line_error(
    tmp_path: Path,
) -> None:
    from starbase.cli import _parser
    from starbase.config import ConfigError
    from starbase.router.cli import config_from_args

    args = _parser().parse_args(["router", "--data", str(tmp_path), "--otlp-converter", "compiled"])
    assert config_from_args(args).otlp_converter == "compiled"
    unbuilt = mock.patch.object(native, "built", return_value=False)
    with unbuilt, pytest.raises(ConfigError, match=r"--otlp-converter compiled: .* not built"):
        config_from_args(args)


def test_use_switches_the_converter_of_the_process() -> None:
    payload = [b"\x0a\x00"]  # one empty ResourceLogs
    try:
        native.use("python")
        assert not native.available() and native.check(payload[0], NOW_NS) is None
        assert native.otlp_table(entries(payload)).num_rows == 0
        native.use("compiled")
        assert native.available() and native.check(payload[0], NOW_NS) is not None
        with pytest.raises(ValueError, match="unknown OTLP converter"):
            native.use("rust")
    finally:
        native.use("auto")


def _in_a_record(body: object) -> dict[str, object]:
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": body}]}]}]}


@JSON_FAST
@given(json_documents())
@example(_in_a_record({"arrayValue": {"values": [{"stringValue": "a", "intValue": "1"}]}}))
@example(
    _in_a_record(
        {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": True, "doubleValue": 1}}]}}
    )
)
def test_the_compiled_json_walk_gives_the_reference_request_or_none(
    document: dict[str, object],
) -> None:
    """`native.json_payload` parses to the message `otlp_json.parse_json`'s json_format
    builds; where the reference refuses a document, the compiled walk has left it (None)."""
    compiled = native.json_payload(copy.deepcopy(document))
    reference = otlp_json._request(copy.deepcopy(document), Budget(10**6, 60.0))
    if compiled is not None:
        assert not isinstance(reference, Problem), reference
        assert ExportLogsServiceRequest.FromString(compiled) == reference


@JSON_FAST
@given(json_documents(), st.sampled_from([2, 1000]))
def test_otlp_json_request_path_answers_the_same_compiled_or_not(
    document: dict[str, object], max_records: int
) -> None:
    """`otlp.decode` of an OTLP/JSON body: same problem, or the same records accepted (the
    payload may list fields in another order: the same request either way)."""
    body = json.dumps(document).encode()
    admission = otlp.Admission(NOW_NS)
    compiled = otlp.decode(body, otlp.JSON, Budget(max_records, 60.0), admission)
    with mock.patch.object(native, "_native", None):
        reference = otlp.decode(body, otlp.JSON, Budget(max_records, 60.0), admission)
    if isinstance(reference, otlp.OtlpBatch) and isinstance(compiled, otlp.OtlpBatch):
        parse = ExportLogsServiceRequest.FromString
        assert parse(compiled.payload) == parse(reference.payload)
        compiled, reference = (dataclasses.replace(b, payload=b"") for b in (compiled, reference))
    assert compiled == reference


def test_a_usual_otlp_json_document_takes_the_compiled_walk() -> None:
    """Integers as strings or numbers, enums as names or numbers, hex ids, every kind but bytes:
    no json_format on the way."""
    request = ExportLogsServiceRequest()
    logs = request.resource_logs.add()
    logs.resource.attributes.add(key="service.name").value.string_value = "shop"
    record = logs.scope_logs.add().log_records.add(
        time_unix_nano=NOW_NS, severity_number=17, trace_id=bytes(range(16)), span_id=b"\x01" * 8
    )
    record.body.kvlist_value.values.add(key="k").value.array_value.values.add(double_value=0.5)
    for key, kind, value in (
        ("i", "int_value", -3),
        ("b", "bool_value", True),
        ("s", "string_value", "é"),
    ):
        setattr(record.attributes.add(key=key).value, kind, value)
    payload = bytes(request.SerializeToString())
    for integer_enums, numbers in itertools.product((False, True), repeat=2):
        document = json_document(payload, integer_enums, numbers)
        with mock.patch.object(otlp_json.json_format, "ParseDict", side_effect=AssertionError):
            compiled = otlp_json.json_payload(json.dumps(document).encode(), Budget(10, 60.0))
        assert isinstance(compiled, bytes)
        assert ExportLogsServiceRequest.FromString(compiled) == request


def test_json_numbers_past_a_double_are_a_400_not_a_crash() -> None:
    """A 400-digit integer as a doubleValue: float() overflows (OverflowError), which the
    reference let escape as a 500."""
    record = {"timeUnixNano": str(NOW_NS), "body": {"doubleValue": 10**400}}
    document = {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}
    for converter in ("python", "compiled"):
        try:
            native.use(converter)
            answer = otlp.decode(json.dumps(document).encode(), otlp.JSON, None, None)
        finally:
            native.use("auto")
        assert isinstance(answer, Problem) and answer.status == 400, answer


def test_a_large_otlp_json_document_walks_to_the_same_request() -> None:
    """Lengths of one, two and three bytes (a resource of ~300 KB): the walk moves each
    message's content once its length is known."""
    request = ExportLogsServiceRequest()
    logs = request.resource_logs.add()
    logs.resource.attributes.add(key="service.name").value.string_value = "x" * 200
    scope = logs.scope_logs.add()
    for i in range(3000):
        record = scope.log_records.add(time_unix_nano=NOW_NS + i, severity_number=9)
        record.body.string_value = "b" * (i % 300)
        record.attributes.add(key="i").value.int_value = -i
    document = json_document(bytes(request.SerializeToString()), True, False)
    compiled = native.json_payload(document)
    assert compiled is not None and len(compiled) > 2**14
    assert ExportLogsServiceRequest.FromString(compiled) == request
