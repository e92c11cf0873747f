"""The router's decoders and converters, called directly: OTLP protobuf and JSON (the OTLP JSON
mapping's hex ids, int64 strings, integer enums), partial success, Firehose/CloudWatch
subscription payloads, raw lines, gzip; and hypothesis fuzzing: any bytes give a 4xx `Problem`
or a batch, never an exception.
"""

from __future__ import annotations

import base64
import gzip
import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from test_router_harness import otlp_request

from starbase.router import firehose, otlp, raw
from starbase.router.convert import cloudwatch_table, raw_table
from starbase.router.convert_otlp import otlp_table
from starbase.router.problems import Problem, decompress
from starbase.router.wal import Entry, Kind

RECEIVED = 1_790_000_000_000_000_000


def entry(kind: Kind, payload: bytes, meta: str = "", received: int = RECEIVED) -> Entry:
    return Entry(1, received, 1, kind, None, meta, payload)


# ---------------------------------------------------------------- OTLP


def test_protobuf_round_trip_and_columns() -> None:
    body = otlp_request(["hello", "world"], "pay ments", time_ns=5, attributes={"n": 7})
    batch = otlp.decode(body, "application/x-protobuf")
    assert not isinstance(batch, Problem)
    assert (batch.records, batch.rejected, batch.payload) == (2, 0, body)
    rows = otlp_table([entry(Kind.OTLP, batch.payload)]).to_pylist()
    assert [r["body"] for r in rows] == ["hello", "world"]
    assert rows[0]["service"] == "pay ments" and rows[0]["time_unix_nano"] == 5
    assert rows[0]["log_attributes"] == [("n", "7")]
    assert rows[0]["trace_id"] is None and rows[0]["scope_name"] == "tests"


OTLP_JSON = {
    "resourceLogs": [
        {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]
            },
            "scopeLogs": [
                {
                    "scope": {"name": "lib", "version": "1.0"},
                    "logRecords": [
                        {
                            "timeUnixNano": "1790000000000000123",
                            "observedTimeUnixNano": 1790000000000000999,
                            "severityNumber": 17,
                            "severityText": "ERROR",
                            "body": {"kvlistValue": {"values": [
                                {"key": "a", "value": {"intValue": "3"}},
                                {"key": "b", "value": {"arrayValue": {"values": [
                                    {"boolValue": True}, {"doubleValue": 1.5},
                                    {"bytesValue": "AAE="},
                                ]}}},
                            ]}},
                            "attributes": [
                                {"key": "i", "value": {"intValue": "-42"}},
                                {"key": "d", "value": {"doubleValue": 0.25}},
                                {"key": "b", "value": {"boolValue": False}},
                                {"key": "e", "value": {}},
                            ],
                            "traceId": "5B8EFFF798038103D269B633813FC60C",
                            "spanId": "eee19b7ec3c1b174",
                            "flags": 1,
                            "eventName": "checkout.failed",
                            "someFutureField": {"ignored": True},
                        },
                        {"timeUnixNano": "0", "observed_time_unix_nano": "0", "traceId": ""},
                    ],
                }
            ],
        }
    ]
}  # fmt: skip


def test_otlp_json_mapping() -> None:
    batch = otlp.decode(json.dumps(OTLP_JSON).encode(), "application/json; charset=utf-8")
    assert not isinstance(batch, Problem)
    assert batch.records == 2
    rows = otlp_table([entry(Kind.OTLP, batch.payload)]).to_pylist()
    first, second = rows
    assert first["time_unix_nano"] == 1790000000000000123
    assert first["observed_time_unix_nano"] == 1790000000000000999
    assert (first["severity_number"], first["severity_text"]) == (17, "ERROR")
    assert json.loads(first["body"]) == {"a": 3, "b": [True, 1.5, "AAE="]}
    assert dict(first["log_attributes"]) == {"i": "-42", "d": "0.25", "b": "false", "e": None}
    assert first["trace_id"] == bytes.fromhex("5b8efff798038103d269b633813fc60c")  # as stored
    assert first["span_id"] == bytes.fromhex("eee19b7ec3c1b174")
    assert (first["flags"], first["event_name"], first["scope_version"]) == (
        1,
        "checkout.failed",
        "1.0",
    )
    assert second["time_unix_nano"] == RECEIVED  # neither time set: the receive time
    assert second["trace_id"] is None and second["body"] is None


def test_observed_time_fills_time_and_bad_ids_are_null() -> None:
    request = ExportLogsServiceRequest.FromString(otlp_request(["x", "y"]))
    records = request.resource_logs[0].scope_logs[0].log_records
    records[0].time_unix_nano = 0
    records[0].observed_time_unix_nano = 77
    records[0].trace_id = bytes(16)  # all zero: no trace context
    records[1].trace_id = b"short"  # invalid length: no trace context (OTLP)
    rows = otlp_table([entry(Kind.OTLP, request.SerializeToString())]).to_pylist()
    assert rows[0]["time_unix_nano"] == 77
    assert rows[0]["trace_id"] is None and rows[1]["trace_id"] is None


def test_partial_success_for_individually_invalid_records() -> None:
    request = ExportLogsServiceRequest.FromString(otlp_request(["ok", "far future", "ok too"]))
    request.resource_logs[0].scope_logs[0].log_records[1].time_unix_nano = 2**64 - 1
    batch = otlp.decode(request.SerializeToString(), "application/x-protobuf")
    assert not isinstance(batch, Problem)
    assert (batch.records, batch.rejected) == (2, 1)
    assert "logRecords[1]" in batch.message and "timeUnixNano" in batch.message
    reply = ExportLogsServiceResponse.FromString(otlp.success_body(batch, otlp.PROTOBUF))
    assert reply.partial_success.rejected_log_records == 1
    as_json = json.loads(otlp.success_body(batch, otlp.JSON))
    assert as_json["partialSuccess"]["rejectedLogRecords"] == "1"
    kept = otlp_table([entry(Kind.OTLP, batch.payload)]).column("body").to_pylist()
    assert kept == ["ok", "ok too"]


def test_service_name_too_long_rejects_its_resource_and_all_rejected_is_400() -> None:
    body = otlp_request(["a"], "s" * 300)
    problem = otlp.decode(body, "application/x-protobuf")
    assert isinstance(problem, Problem) and problem.status == 400
    assert "service.name" in problem.message


def test_otlp_problems_name_what_is_wrong() -> None:
    cases = [
        (b"\xff\xff\xff", "application/x-protobuf", 400, "malformed protobuf"),
        (b"{", "application/json", 400, "malformed JSON"),
        (b"[]", "application/json", 400, "JSON object"),
        (b'{"resourceLogs": 5}', "application/json", 400, "resourceLogs"),
        (
            json.dumps(
                {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]}
            ).encode(),
            "application/json",
            400,
            "traceId: not a hex string",
        ),
        (b"x", "text/plain", 415, "Content-Type"),
        (b"x", None, 415, "Content-Type"),
    ]
    for body, content_type, status, words in cases:
        problem = otlp.decode(body, content_type)
        assert isinstance(problem, Problem), body
        assert problem.status == status and words in problem.message, (body, problem)


def test_empty_request_is_accepted_with_nothing_to_store() -> None:
    batch = otlp.decode(b"", "application/x-protobuf")
    assert not isinstance(batch, Problem) and batch.records == 0
    assert otlp.success_body(batch, otlp.JSON) == b"{}"


def test_decompress() -> None:
    data = b"x" * 1000
    assert decompress(gzip.compress(data), "gzip", 1000) == data
    assert decompress(gzip.compress(data) + gzip.compress(b"y"), "gzip", 2000) == data + b"y"
    assert decompress(data, None, 1000) == data
    for body, coding, limit, status in [
        (gzip.compress(data), "gzip", 999, 413),
        (gzip.compress(data)[:-9], "gzip", 5000, 400),
        (b"not gzip", "gzip", 5000, 400),
        (data, "br", 5000, 415),
        (data, "identity", 10, 413),
    ]:
        problem = decompress(body, coding, limit)
        assert isinstance(problem, Problem) and problem.status == status, (coding, limit)


# ---------------------------------------------------------------- Firehose


def subscription(
    group: str = "/aws/lambda/checkout", events: int = 2, kind: str = "DATA_MESSAGE"
) -> dict:  # type: ignore[type-arg]
    return {
        "messageType": kind,
        "owner": "123456789012",
        "logGroup": group,
        "logStream": "2026/11/27/[$LATEST]abc",
        "subscriptionFilters": ["to-starbase"],
        "logEvents": [
            {"id": f"3{i:055d}", "timestamp": 1_790_000_000_000 + i, "message": f"line {i}\n"}
            for i in range(events)
        ],
    }


def firehose_body(*messages: dict, rid: str = "req-1") -> bytes:  # type: ignore[type-arg]
    records = [
        {"data": base64.b64encode(gzip.compress(json.dumps(m).encode())).decode()} for m in messages
    ]
    return json.dumps({"requestId": rid, "timestamp": 1, "records": records}).encode()


def test_firehose_data_and_control_messages() -> None:
    body = firehose_body(subscription(), subscription(kind="CONTROL_MESSAGE", events=1))
    batch = firehose.decode(body, "req-1", 1 << 20)
    assert not isinstance(batch, Problem)
    assert (batch.request_id, batch.events, batch.messages, batch.controls) == ("req-1", 2, 1, 1)
    rows = cloudwatch_table([entry(Kind.CLOUDWATCH, batch.payload)]).to_pylist()
    assert rows[0] == {
        "timestamp": 1_790_000_000_000,
        "message": "line 0\n",
        "log_group": "/aws/lambda/checkout",
        "log_stream": "2026/11/27/[$LATEST]abc",
        "event_id": "3" + "0" * 55,
        "owner": "123456789012",
        "subscription_filters": ["to-starbase"],
        "received_time_unix_nano": RECEIVED,
    }
    reply = json.loads(firehose.reply("req-1"))
    assert reply["requestId"] == "req-1" and isinstance(reply["timestamp"], int)


def test_firehose_problems() -> None:
    bad_event = subscription()
    bad_event["logEvents"][1]["timestamp"] = "yesterday"
    cases = [
        (b"nope", "malformed JSON"),
        (json.dumps({"records": []}).encode(), "requestId"),
        (json.dumps({"requestId": "r", "records": [{"data": "!!"}]}).encode(), "base64"),
        (firehose_body({"messageType": "DATA_MESSAGE"}), "records[0]: logGroup"),
        (firehose_body(bad_event), "logEvents[1].timestamp"),
        (firehose_body(subscription(kind="OTHER")), "messageType"),
    ]
    for body, words in cases:
        problem = firehose.decode(body, None, 1 << 20)
        assert isinstance(problem, Problem) and problem.status == 400, body
        assert words in problem.message, problem.message
    mismatch = firehose.decode(firehose_body(subscription()), "other-id", 1 << 20)
    assert isinstance(mismatch, Problem) and "X-Amz-Firehose-Request-Id" in mismatch.message


# ---------------------------------------------------------------- raw lines


def test_raw_lines_kept_as_sent() -> None:
    body = b'first\r\n\n  third\t{"json": 1}\nlast'
    batch = raw.decode(body, "nginx")
    assert not isinstance(batch, Problem) and batch.lines == 4
    rows = raw_table([entry(Kind.RAW, body, meta="nginx")]).to_pylist()
    assert [r["line"] for r in rows] == ["first\r", "", '  third\t{"json": 1}', "last"]
    assert {r["source"] for r in rows} == {"nginx"}
    assert raw.lines(b"a\n").to_pylist() == ["a"] and raw.lines(b"").to_pylist() == []


def test_raw_problems() -> None:
    for body, source, words in [
        (b"x", None, "source"),
        (b"x", "s" * 300, "too long"),
        (b"ok\n\xff\xfe\n", "app", "line 2 is not UTF-8"),
    ]:
        problem = raw.decode(body, source)
        assert isinstance(problem, Problem) and problem.status == 400 and words in problem.message


# ---------------------------------------------------------------- fuzzing


def _never_raises(body: bytes) -> None:
    for content_type in ("application/x-protobuf", "application/json"):
        result = otlp.decode(body, content_type)
        assert not isinstance(result, Problem) or 400 <= result.status < 500
        if not isinstance(result, Problem) and result.records:
            otlp_table([entry(Kind.OTLP, result.payload, received=time.time_ns())])
    result_fh = firehose.decode(body, None, 1 << 20)
    assert not isinstance(result_fh, Problem) or 400 <= result_fh.status < 500
    if not isinstance(result_fh, Problem):
        cloudwatch_table([entry(Kind.CLOUDWATCH, result_fh.payload)])
    result_raw = raw.decode(body, "fuzz")
    assert not isinstance(result_raw, Problem) or 400 <= result_raw.status < 500
    for coding in ("gzip", "identity"):
        unpacked = decompress(body, coding, 1 << 16)
        assert not isinstance(unpacked, Problem) or 400 <= unpacked.status < 500


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_fuzz_arbitrary_bytes(body: bytes) -> None:
    _never_raises(body)


@settings(max_examples=150)
@given(st.binary(max_size=300))
def test_fuzz_mutated_protobuf(noise: bytes) -> None:
    """Valid requests with bytes flipped, cut or spliced: still only 4xx or a clean batch."""
    valid = otlp_request(["a", "bb"], attributes={"k": "v", "n": 3})
    cut = len(noise) % (len(valid) + 1)
    _never_raises(valid[:cut] + noise + valid[cut:])
    _never_raises(
        bytes(
            b ^ n
            for b, n in zip(valid, noise * (len(valid) // max(len(noise), 1) + 1), strict=False)
        )
    )


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    ["resourceLogs", "scopeLogs", "logRecords", "resource", "attributes", "key", "value",
     "stringValue", "intValue", "timeUnixNano", "traceId", "spanId", "body", "severityNumber",
     "kvlistValue", "arrayValue", "values", "flags", "records", "requestId", "data"]
)  # fmt: skip
_structured = st.recursive(
    _json_values,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300)
@given(_structured)
def test_fuzz_json_shaped_like_otlp_and_firehose(document: object) -> None:
    _never_raises(json.dumps(document).encode())
