"""Hypothesis strategies for OTLP logs requests, at two levels.

- `requests()` builds ExportLogsServiceRequest messages through the protobuf API: every AnyValue
  kind (string table indexes included), nested arrays and key-value lists with repeated keys,
  empty and missing fields, any unicode, ids of every length (all zero too), times and counts
  at the edges of their types. What a well-behaved client may send.
- `wire_requests()` writes the wire format directly from a copy of the schema: fields in any
  order and repeated (so singular messages merge and oneofs switch), known fields with another
  wire type, unknown fields of every wire type including nested groups, strings that are not
  UTF-8. What protobuf parsers must agree on beyond what an encoder produces.
- `mutated()` damages valid bytes (flips, cuts, insertions, duplicated ranges).
- `json_documents()` gives parsed OTLP/JSON documents: valid ones, and ones with values
  replaced or keys added anywhere (wrong types, nulls, edge numbers, unknown and original
  field names).
"""

from __future__ import annotations

import base64
import struct

from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ExportLogsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    AnyValue,
    ArrayValue,
    EntityRef,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    LogRecord,
    ResourceLogs,
    ScopeLogs,
)
from opentelemetry.proto.resource.v1.resource_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    Resource,
)

U64_EDGES = [0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1]
NOW_NS = 1_790_000_000_123_456_789

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
keys = st.one_of(st.sampled_from(["a", "b", "service.name", "", "é", 'q"\\']), texts)
u64 = st.one_of(st.sampled_from([*U64_EDGES, NOW_NS]), st.integers(0, 2**64 - 1))
u32 = st.one_of(st.sampled_from([0, 1, 2**31 - 1, 2**31, 2**32 - 1]), st.integers(0, 2**32 - 1))
i32 = st.integers(-(2**31), 2**31 - 1)
ids = st.one_of(
    st.just(b""), st.just(bytes(16)), st.just(bytes(8)), st.binary(min_size=16, max_size=16),
    st.binary(min_size=8, max_size=8), st.binary(max_size=20),
)  # fmt: skip
doubles = st.one_of(
    st.floats(),
    st.sampled_from(
        [0.0, -0.0, 0.1, 1e16, 1e-5, 123456789012345680.0, 5e-324, 1.7976931348623157e308]
    ),
    st.integers(-1074, 1023).map(lambda e: 2.0**e),
)


def _scalar_values() -> st.SearchStrategy[AnyValue]:
    return st.one_of(
        st.just(AnyValue()),
        texts.map(lambda s: AnyValue(string_value=s)),
        st.booleans().map(lambda b: AnyValue(bool_value=b)),
        st.integers(-(2**63), 2**63 - 1).map(lambda i: AnyValue(int_value=i)),
        doubles.map(lambda d: AnyValue(double_value=d)),
        st.binary(max_size=7).map(lambda b: AnyValue(bytes_value=b)),
        i32.map(lambda i: AnyValue(string_value_strindex=i)),
    )


def _key_value(values: st.SearchStrategy[AnyValue]) -> st.SearchStrategy[KeyValue]:
    return st.one_of(
        st.builds(lambda k, v: KeyValue(key=k, value=v), keys, values),
        keys.map(lambda k: KeyValue(key=k)),  # no value at all
    )


any_values = st.recursive(
    _scalar_values(),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda v: AnyValue(array_value=ArrayValue(values=v))),
        st.lists(_key_value(children), max_size=4).map(
            lambda v: AnyValue(kvlist_value=KeyValueList(values=v))
        ),
    ),
    max_leaves=8,
)
attributes = st.lists(_key_value(any_values), max_size=4)


@st.composite
def _record(draw: st.DrawFn) -> LogRecord:
    record = LogRecord(
        time_unix_nano=draw(u64),
        observed_time_unix_nano=draw(u64),
        severity_number=draw(i32),
        severity_text=draw(texts),
        attributes=draw(attributes),
        dropped_attributes_count=draw(u32),
        flags=draw(u32),
        trace_id=draw(ids),
        span_id=draw(ids),
        event_name=draw(texts),
    )
    if draw(st.booleans()):
        record.body.CopyFrom(draw(any_values))
    return record


_service_attribute = st.one_of(
    texts.map(lambda s: KeyValue(key="service.name", value=AnyValue(string_value=s))),
    any_values.map(lambda v: KeyValue(key="service.name", value=v)),
)


@st.composite
def _resource_logs(draw: st.DrawFn) -> ResourceLogs:
    resource_attributes = draw(attributes)
    if draw(st.booleans()):
        resource_attributes.insert(
            draw(st.integers(0, len(resource_attributes))), draw(_service_attribute)
        )
    resource = Resource(attributes=resource_attributes, dropped_attributes_count=draw(u32))
    if draw(st.booleans()):
        resource.entity_refs.append(
            EntityRef(type=draw(texts), id_keys=draw(st.lists(texts, max_size=2)))
        )
    scopes = [
        ScopeLogs(
            scope=InstrumentationScope(
                name=draw(texts), version=draw(texts), attributes=draw(attributes)
            ),
            log_records=draw(st.lists(_record(), max_size=4)),
            schema_url=draw(texts),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]  # fmt: skip
    return ResourceLogs(resource=resource, scope_logs=scopes, schema_url=draw(texts))


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """A serialized ExportLogsServiceRequest built through the protobuf API."""
    request = ExportLogsServiceRequest(resource_logs=draw(st.lists(_resource_logs(), max_size=3)))
    return bytes(request.SerializeToString())


# ---------------------------------------------------------------- the wire format


def varint(n: int) -> bytes:
    out = bytearray()
    n &= 2**64 - 1
    while True:
        byte, n = n & 0x7F, n >> 7
        if not n:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def tag(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def delimited(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


# message -> {field number: kind}; a kind is a message name or VARINT/I64/I32/STRING/BYTES
SCHEMA: dict[str, dict[int, str]] = {
    "Request": {1: "ResourceLogs"},
    "ResourceLogs": {1: "Resource", 2: "ScopeLogs", 3: "STRING"},
    "Resource": {1: "KeyValue", 2: "VARINT", 3: "EntityRef"},
    "KeyValue": {1: "STRING", 2: "AnyValue", 3: "VARINT"},
    "AnyValue": {1: "STRING", 2: "VARINT", 3: "VARINT", 4: "I64", 5: "ArrayValue",
                 6: "KeyValueList", 7: "BYTES", 8: "VARINT"},
    "ArrayValue": {1: "AnyValue"},
    "KeyValueList": {1: "KeyValue"},
    "EntityRef": {1: "STRING", 2: "STRING", 3: "STRING", 4: "STRING"},
    "ScopeLogs": {1: "Scope", 2: "LogRecord", 3: "STRING"},
    "Scope": {1: "STRING", 2: "STRING", 3: "KeyValue", 4: "VARINT"},
    "LogRecord": {1: "I64", 11: "I64", 2: "VARINT", 3: "STRING", 5: "AnyValue",
                  6: "KeyValue", 7: "VARINT", 8: "I32", 9: "BYTES", 10: "BYTES", 12: "STRING"},
}  # fmt: skip
_WIRE_OF = {"VARINT": 0, "I64": 1, "I32": 5, "STRING": 2, "BYTES": 2}
_strings = st.one_of(
    texts.map(str.encode),
    st.sampled_from([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\x00b"]),
)


def _scalar(wire: int) -> st.SearchStrategy[bytes]:
    if wire == 0:
        return st.one_of(u64, st.integers(-(2**63), -1)).map(varint)
    if wire == 1:
        return st.one_of(
            u64.map(lambda n: struct.pack("<Q", n)), doubles.map(lambda d: struct.pack("<d", d))
        )
    if wire == 5:
        return u32.map(lambda n: struct.pack("<I", n))
    return st.one_of(_strings, st.binary(max_size=6)).map(lambda b: varint(len(b)) + b)


def _unknown_field(depth: int) -> st.SearchStrategy[bytes]:
    numbers = st.one_of(st.integers(13, 40), st.just(2**29 - 1))
    simple = st.tuples(numbers, st.sampled_from([0, 1, 2, 5])).flatmap(
        lambda nw: _scalar(nw[1]).map(lambda v: tag(nw[0], nw[1]) + v)
    )
    if depth <= 0:
        return simple
    group = st.tuples(numbers, st.lists(_unknown_field(depth - 1), max_size=3)).map(
        lambda t: tag(t[0], 3) + b"".join(t[1]) + tag(t[0], 4)
    )
    return st.one_of(simple, group)


def _field(message: str, number: int, kind: str, depth: int) -> st.SearchStrategy[bytes]:
    if kind in _WIRE_OF:
        right = _WIRE_OF[kind]
        wires = st.one_of(st.just(right), st.sampled_from([0, 1, 2, 5]))  # mostly right
        return wires.flatmap(lambda w: _scalar(w).map(lambda v: tag(number, w) + v))
    if depth <= 0:
        return st.just(delimited(number, b""))
    body = wire_message(kind, depth - 1)
    return st.one_of(
        body.map(lambda b: delimited(number, b)),
        st.just(tag(number, 0) + varint(7)),  # a message field sent as a varint: unknown
    )


def wire_message(message: str, depth: int) -> st.SearchStrategy[bytes]:
    fields = SCHEMA[message]
    choices = [_field(message, n, k, depth) for n, k in sorted(fields.items())]
    one = st.one_of(*choices, _unknown_field(1))
    return st.lists(one, max_size=6).map(b"".join)


def wire_requests() -> st.SearchStrategy[bytes]:
    """Requests written field by field (see the module docstring)."""
    return wire_message("Request", 6)


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[bytes]) -> bytes:
    data = bytearray(draw(valid))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["flip", "cut", "insert", "delete", "repeat"]))
        if how == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "cut":
            del data[at:]
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif how == "delete":
            del data[at : at + draw(st.integers(1, 4))]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 12))]
    return bytes(data)


# ---------------------------------------------------------------- OTLP/JSON

JSON_KEYS = [
    "resourceLogs", "resource", "scopeLogs", "schemaUrl", "scope", "name", "version",
    "logRecords", "attributes", "droppedAttributesCount", "entityRefs", "timeUnixNano",
    "observedTimeUnixNano", "severityNumber", "severityText", "body", "flags", "traceId",
    "spanId", "eventName", "key", "value", "keyStrindex", "stringValue", "boolValue",
    "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue",
    "stringValueStrindex", "values", "resource_logs", "scope_logs", "log_records",
    "time_unix_nano", "string_value", "[ext]", "unknownField", "",
]  # fmt: skip
_EDGE_VALUES = [
    None, True, False, 0, -1, 24, 25, 2**31, 2**32, 2**63, 2**64, -(2**63) - 1, 10**400, 3.0,
    1.5, -0.0, float("nan"), float("inf"), "", "0", "-0", "+5", " 5", "5 ", "1e3", "1_0",
    "18446744073709551615", "18446744073709551616", "9223372036854775807",
    "-9223372036854775808", "-9223372036854775809", "007", "00ff", "00FF", "0g", "abc",
    "aa bb", "SEVERITY_NUMBER_INFO", "SEVERITY_NUMBER_INFO4", "SEVERITY_NUMBER_INFO5",
    "SEVERITY_NUMBER_UNSPECIFIED", "\ud800", "é", [], {}, [None], {"stringValue": "x"},
    [{"stringValue": "x", "intValue": "1"}], {"values": [{"boolValue": True, "intValue": 1}]},
]  # fmt: skip


def _json_containers(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    keys = st.sampled_from(JSON_KEYS)
    return st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3))


json_values = st.recursive(
    st.one_of(st.sampled_from(_EDGE_VALUES), st.integers(), st.floats(), texts),
    _json_containers,
    max_leaves=6,
)


def json_document(payload: bytes, integer_enums: bool, numbers: bool) -> dict[str, object]:
    """The OTLP/JSON document of a protobuf request: protobuf's JSON mapping with hex ids;
    enums as integers or names, 64-bit integers as strings or, with `numbers`, as numbers."""
    from google.protobuf import json_format

    document = json_format.MessageToDict(
        ExportLogsServiceRequest.FromString(payload), use_integers_for_enums=integer_enums
    )

    def visit(node: object) -> None:
        if isinstance(node, dict):
            for name in ("traceId", "spanId"):
                if isinstance(node.get(name), str):
                    node[name] = base64.b64decode(node[name]).hex()
            for name, value in list(node.items()):
                if numbers and name in ("timeUnixNano", "observedTimeUnixNano", "intValue"):
                    node[name] = int(value)
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(document)
    return document


@st.composite
def json_documents(draw: st.DrawFn) -> dict[str, object]:
    """OTLP/JSON documents: valid ones (from `requests()`), then perhaps a few values replaced
    or keys added anywhere with edge values or arbitrary JSON (wrong types, nulls, original
    field names, unknown keys, lone surrogates, numbers out of range)."""
    document = json_document(draw(requests()), draw(st.booleans()), draw(st.booleans()))
    places: list[dict[str, object] | list[object]] = []

    def collect(node: object) -> None:
        if isinstance(node, dict | list):
            places.append(node)
            for item in node.values() if isinstance(node, dict) else node:
                collect(item)

    collect(document)
    for _ in range(draw(st.integers(0, 3))):
        place = draw(st.sampled_from(places))
        value = draw(json_values)
        if isinstance(place, dict):
            names = [*place, *JSON_KEYS]
            place[draw(st.sampled_from(names))] = value
        elif place:
            place[draw(st.integers(0, len(place) - 1))] = value
    return document
