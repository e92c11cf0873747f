"""The emitter (`starbase emit`): a seeded model, its scenarios, and its four ways out — through
the real OpenTelemetry SDK (in memory and over real HTTP to an aiohttp server on 127.0.0.1
that decodes the protobuf), into moto's CloudWatch Logs server over real HTTP with boto3,
as Firehose deliveries and as raw lines. No mocks: every network hop is a real socket.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import logging
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from aiohttp import web
from conftest import free_port, moto_server
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

from starbase.cli import _parser, main
from starbase.compiler.timestamps import parse_iso
from starbase.emitter import firehose, http_post
from starbase.emitter.batching import EVENT_OVERHEAD, MAX_BYTES, MAX_EVENTS, batches
from starbase.emitter.cloudwatch import CloudWatchSink
from starbase.emitter.cloudwatch import client as logs_client
from starbase.emitter.lambda_logs import LogEvent
from starbase.emitter.otlp import OtlpSink, http_exporter
from starbase.emitter.raw import RawLine
from starbase.emitter.records import Record
from starbase.emitter.run import Options, default_start, run, units
from starbase.emitter.scenarios import DEPLOY_WINDOW, INCIDENT_WINDOW
from starbase.emitter.system import BY_NAME, ERROR, SEVERITY_TEXT

ROOT = Path(__file__).resolve().parent.parent
S = 1_000_000_000
T0 = parse_iso("2026-11-20T10:00:00Z")
REGION = "us-east-1"


def quiet(options: Options) -> Any:
    """Run without a progress line; the summary goes to a throwaway stream."""
    import io

    return run(options, stream=io.StringIO(), progress=False)


# ------------------------------------------------------------------ a receiver on 127.0.0.1


@dataclass
class Receiver:
    """What the test server got: decoded OTLP requests, Firehose requests, raw posts."""

    url: str = ""
    otlp: list[ExportLogsServiceRequest] = field(default_factory=list)
    otlp_records: int = 0
    authorization: set[str] = field(default_factory=set)
    firehose: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    raw: list[tuple[str, str]] = field(default_factory=list)
    refuse: int = 0  # answer this many next requests with 503 + Retry-After
    refused: int = 0

    def reset(self) -> None:
        self.otlp.clear()
        self.otlp_records = 0
        self.authorization.clear()
        self.firehose.clear()
        self.raw.clear()
        self.refuse = self.refused = 0

    def _refusing(self) -> web.Response | None:
        if self.refuse:
            self.refuse -= 1
            self.refused += 1
            return web.Response(status=503, headers={"Retry-After": "0"}, text="busy")
        return None

    async def logs(self, request: web.Request) -> web.Response:
        if (busy := self._refusing()) is not None:
            return busy
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        message = ExportLogsServiceRequest.FromString(body)
        self.otlp.append(message)
        self.otlp_records += sum(
            len(scope.log_records) for res in message.resource_logs for scope in res.scope_logs
        )
        self.authorization.add(request.headers.get("Authorization", ""))
        reply = ExportLogsServiceResponse().SerializeToString()
        return web.Response(body=reply, content_type="application/x-protobuf")

    async def firehose_endpoint(self, request: web.Request) -> web.Response:
        if (busy := self._refusing()) is not None:
            return busy
        body = await request.read()
        self.firehose.append((body, dict(request.headers)))
        request_id = request.headers.get("X-Amz-Firehose-Request-Id", "")
        return web.json_response({"requestId": request_id, "timestamp": int(time.time() * 1000)})

    async def raw_endpoint(self, request: web.Request) -> web.Response:
        if (busy := self._refusing()) is not None:
            return busy
        self.raw.append((request.query.get("source", ""), await request.text()))
        return web.Response(status=204)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """An aiohttp server on a free port of 127.0.0.1 in a thread: /v1/logs, /firehose, /v1/raw."""
    state = Receiver()
    app = web.Application(client_max_size=64 << 20)
    app.router.add_post("/v1/logs", state.logs)
    app.router.add_post("/firehose", state.firehose_endpoint)
    app.router.add_post("/v1/raw", state.raw_endpoint)
    runner = web.AppRunner(app, access_log=None)
    loop = asyncio.new_event_loop()
    port = free_port()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def server(receiver: Receiver) -> Receiver:
    receiver.reset()
    return receiver


# ------------------------------------------------------------------ the model


def test_same_seed_same_records_record_for_record() -> None:
    options = Options(seed=42, scenario="incident", rate=None, count=20_000, start_ns=T0)
    first = list(units(options, T0))
    second = list(units(options, T0))
    assert len(first) == 20_000
    assert first == second
    other = list(units(replace(options, seed=43), T0))
    assert other != first
    # time order, and the first record at or after the start
    times = [r.time_ns for r in first]
    assert times == sorted(times) and times[0] >= T0
    # every mode's stream is reproducible too
    for mode in ("cloudwatch", "raw"):
        again = replace(options, mode=mode, count=5_000)
        assert list(units(again, T0)) == list(units(again, T0))


def test_records_look_like_the_system() -> None:
    records: list[Record] = list(units(Options(seed=5, rate=None, count=30_000), T0))
    assert {r.service for r in records} == set(BY_NAME)
    assert {r.severity for r in records} >= {5, 9, 13, 17}
    access = [r for r in records if r.scope == "http"]
    assert access and all(
        re.fullmatch(r"(GET|POST) /\S* \d{3} \d+ms", r.body) for r in access[:2_000]
    )
    assert {"http.method", "http.route", "http.status_code", "duration_ms"} <= set(
        access[0].attributes
    )
    assert any("user.id" in r.attributes for r in records)
    assert any("order.id" in r.attributes for r in records)
    # one trace spans the services of a checkout: gateway, auth, checkout, inventory, payments
    by_trace: dict[int, set[str]] = {}
    for r in records:
        if r.trace_id:
            by_trace.setdefault(r.trace_id, set()).add(r.service)
    assert max(len(services) for services in by_trace.values()) == 5
    # background work carries no trace context
    assert any(r.trace_id == 0 and r.span_id == 0 for r in records)


def test_a_count_bounded_run_yields_exactly_that_many_records() -> None:
    # (how fast: ~150k records/s here, measured by hand; speed is not asserted in tests)
    count = sum(1 for _ in units(Options(seed=1, rate=None, count=100_000), T0))
    assert count == 100_000


def _phase(record: Record, period: int) -> float:
    return (record.time_ns - T0) / period


def test_incident_spikes_errors_and_latency_in_the_degraded_service() -> None:
    period = 600 * S
    options = Options(
        seed=9, scenario="incident", rate=None, count=80_000, duration_s=600, start_ns=T0
    )
    records: list[Record] = list(units(options, T0))
    start, end = INCIDENT_WINDOW
    inside = [r for r in records if start + 0.05 < _phase(r, period) < end - 0.1]
    before = [r for r in records if _phase(r, period) < start - 0.05]

    def error_share(rows: list[Record], service: str) -> float:
        mine = [r for r in rows if r.service == service]
        return sum(r.severity >= ERROR for r in mine) / len(mine)

    def charge_ms(rows: list[Record]) -> float:
        return statistics.median(
            float(r.attributes["duration_ms"])  # a float, whatever median returns
            for r in rows
            if r.body.startswith("payment authorized")
        )

    assert error_share(before, "payments") < 0.02
    assert error_share(inside, "payments") > 0.15
    assert charge_ms(inside) > 4 * charge_ms(before)
    # the callers feel it: gateway 5xx on checkout, checkout retries
    assert error_share(inside, "gateway") > 3 * error_share(before, "gateway")
    assert any("retrying" in r.body for r in inside)
    # other services stay healthy
    assert error_share(inside, "auth") < 0.02


def test_deploy_rolls_the_new_version_out_gradually() -> None:
    period = 600 * S
    options = Options(seed=4, scenario="deploy", rate=None, count=40_000, duration_s=600)
    records = [r for r in units(options, T0) if r.service == "checkout"]
    old, new = BY_NAME["checkout"].versions
    start, end = DEPLOY_WINDOW

    def new_share(low: float, high: float) -> float:
        rows = [r for r in records if low <= _phase(r, period) < high]
        return sum(r.version == new for r in rows) / len(rows)

    assert new_share(0.0, start) == 0.0
    assert 0.0 < new_share(start, start + 0.1) < 0.5
    assert new_share(end, 1.0) == 1.0
    assert any(r.body.startswith(f"starting checkout {new}") for r in records)
    assert any("SIGTERM" in r.body and r.version == old for r in records)
    assert any(r.attributes.get("error.type") == "TypeError" for r in records)


# ------------------------------------------------------------------ OTLP through the SDK


def test_otlp_records_through_the_sdk_pipeline_in_memory() -> None:
    exporters: list[InMemoryLogRecordExporter] = []

    def exporter() -> InMemoryLogRecordExporter:  # one per provider, as with OTLP/HTTP
        exporters.append(InMemoryLogRecordExporter())
        return exporters[-1]

    options = Options(seed=11, rate=None, count=3_000, start_ns=T0)
    expected: list[Record] = list(units(options, T0))
    summary = run(options, sink=OtlpSink(exporter, batch_size=256), progress=False)
    assert summary.ok and summary.delivery.delivered == 3_000
    assert len(exporters) == len({r.host for r in expected})  # a provider per resource
    got = [log for memory in exporters for log in memory.get_finished_logs()]
    assert len(got) == 3_000
    by_key = {(g.log_record.timestamp, g.log_record.body): g for g in got}
    for record in expected[:500]:
        out = by_key[record.time_ns, record.body]
        log = out.log_record
        assert log.severity_number is not None
        assert log.severity_number.value == record.severity
        assert log.severity_text == SEVERITY_TEXT[record.severity]
        assert log.observed_timestamp == record.time_ns
        assert dict(log.attributes or {}) == record.attributes
        assert (log.trace_id or 0) == record.trace_id
        assert (log.span_id or 0) == record.span_id
        resource = out.resource.attributes
        assert resource["service.name"] == record.service
        assert resource["host.name"] == record.host
        assert resource["service.version"] == record.version
        assert resource["deployment.environment"] == "production"
        assert out.instrumentation_scope is not None
        assert out.instrumentation_scope.name == record.scope


def test_otlp_over_http_counts_exactly(server: Receiver) -> None:
    count = 20_000
    options = Options(
        mode="otlp", seed=3, rate=None, count=count, start_ns=T0, endpoint=server.url, token="s3"
    )
    started = time.perf_counter()
    summary = quiet(options)
    seconds = time.perf_counter() - started
    assert summary.ok, summary.line()
    assert summary.delivery.delivered == count
    assert server.otlp_records == count
    assert server.authorization == {"Bearer s3"}
    # what arrived is what was generated: bodies, times, trace ids, resources
    sent = Counter(
        (r.time_ns, r.body, f"{r.trace_id:032x}" if r.trace_id else "") for r in units(options, T0)
    )
    got: Counter[tuple[int, str, str]] = Counter()
    services = set()
    for message in server.otlp:
        for resource in message.resource_logs:
            attrs = {kv.key: kv.value.string_value for kv in resource.resource.attributes}
            services.add(attrs["service.name"])
            for scope in resource.scope_logs:
                for log in scope.log_records:
                    got[log.time_unix_nano, log.body.string_value, log.trace_id.hex()] += 1
    assert got == sent
    assert services == set(BY_NAME)
    print(f"\nOTLP via SDK to 127.0.0.1: {count / seconds:,.0f} records/s")


def _received(server: Receiver) -> Counter[tuple[Any, ...]]:
    """Every record the receiver got, with its resource and scope, typed values kept."""
    keep = ("service.name", "service.namespace", "service.version", "host.name")
    got: Counter[tuple[Any, ...]] = Counter()
    for message in server.otlp:
        for resource in message.resource_logs:
            attrs = {kv.key: kv.value.string_value for kv in resource.resource.attributes}
            res = tuple(attrs[k] for k in (*keep, "deployment.environment"))
            for scope in resource.scope_logs:
                for log in scope.log_records:
                    values = tuple(
                        (kv.key, getattr(kv.value, kv.value.WhichOneof("value")))
                        for kv in log.attributes
                    )
                    got[
                        res, scope.scope.name, scope.scope.version, log.time_unix_nano,
                        log.observed_time_unix_nano, log.severity_number, log.severity_text,
                        log.body.string_value, values, log.trace_id, log.span_id, log.flags,
                    ] += 1  # fmt: skip
    return got


def test_direct_encoder_sends_what_the_sdk_sends(server: Receiver) -> None:
    """The load-generation fast path: the same records, resources and scopes as the SDK."""
    options = Options(seed=9, rate=None, count=4_000, start_ns=T0, endpoint=server.url)
    assert quiet(options).ok
    through_sdk = _received(server)
    server.reset()
    server.refuse = 1  # retried like every HTTP sender (Retry-After)
    summary = quiet(replace(options, encoder="direct", batch_size=300))
    assert summary.ok and summary.delivery.delivered == 4_000, summary.line()
    assert server.refused == 1
    assert _received(server) == through_sdk
    assert sum(through_sdk.values()) == 4_000


def test_parallel_processes_share_the_count(server: Receiver) -> None:
    from starbase.emitter.parallel import run_parallel, shares

    options = Options(seed=4, rate=None, count=3_001, start_ns=T0, endpoint=server.url)
    parts = shares(replace(options, rate=900.0), 2)
    assert [(p.seed, p.count, p.rate, p.start_ns) for p in parts] == [
        (4, 1_501, 450.0, T0),
        (5, 1_500, 450.0, T0),
    ]
    import io

    summary = run_parallel(replace(options, encoder="direct"), 2, stream=io.StringIO())
    assert summary.ok and summary.emitted == 3_001, summary.line()
    assert server.otlp_records == 3_001
    expected = Counter(r.time_ns for p in shares(options, 2) for r in units(p, T0))
    got = Counter(log.time_unix_nano for m in server.otlp for res in m.resource_logs
                  for scope in res.scope_logs for log in scope.log_records)  # fmt: skip
    assert got == expected


def test_otlp_retries_a_busy_receiver(server: Receiver) -> None:
    server.refuse = 1  # 503 + Retry-After: 0 on the first export; the SDK exporter retries
    options = Options(seed=3, rate=None, count=500, start_ns=T0, endpoint=server.url)
    summary = quiet(options)
    assert summary.ok and server.otlp_records == 500 and server.refused == 1


def test_otlp_to_nowhere_counts_failures() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}/v1/logs"
    sink = OtlpSink(http_exporter(endpoint, timeout=1.0), batch_size=100)
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
    try:
        summary = run(Options(rate=None, count=200, start_ns=T0), sink=sink, progress=False)
    finally:
        logging.getLogger("opentelemetry").setLevel(logging.NOTSET)
    assert summary.delivery.failed == 200 and not summary.ok


# ------------------------------------------------------------------ CloudWatch (moto server)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free port of 127.0.0.1, for this module."""
    yield from moto_server()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _all_events(logs: Any, group: str, stream: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream}
        kwargs["startFromHead"] = True
        if token:
            kwargs["nextToken"] = token
        page = logs.get_log_events(**kwargs)
        events.extend(page["events"])
        if not page["events"] or page["nextForwardToken"] == token:
            return events
        token = page["nextForwardToken"]


def test_cloudwatch_mode_writes_lambda_log_groups(moto_endpoint: str, aws_env: None) -> None:
    count = 4_000
    start = (time.time_ns() // S - 3_600) * S  # an hour ago: within what CloudWatch accepts
    options = Options(
        mode="cloudwatch",
        scenario="incident",
        seed=21,
        rate=None,
        count=count,
        start_ns=start,
        endpoint=moto_endpoint,
        region=REGION,
    )
    expected: list[LogEvent] = list(units(options, start))
    summary = quiet(options)
    assert summary.ok, summary.line()
    logs = boto3.client(
        "logs",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    groups = {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}
    assert {f"/aws/lambda/{name}" for name in BY_NAME} <= groups
    per_stream = Counter((e.group, e.stream) for e in expected)
    stored: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for group in sorted({g for g, _ in per_stream}):
        streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
        names = {s["logStreamName"] for s in streams}
        assert names == {s for g, s in per_stream if g == group}
        for name in names:
            stored[group, name] = _all_events(logs, group, name)
            assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\d+\][0-9a-f]{32}", name)
    assert {key: len(events) for key, events in stored.items()} == dict(per_stream)
    assert sum(len(events) for events in stored.values()) == count
    # exactly the messages and timestamps generated, in order per stream
    for key, events in stored.items():
        want = [(e.timestamp_ms, e.message) for e in expected if (e.group, e.stream) == key]
        assert [(e["timestamp"], e["message"]) for e in events] == want
    messages = [e.message for e in expected]
    assert any(m.startswith("START RequestId: ") for m in messages)
    assert any(m.startswith("END RequestId: ") for m in messages)
    report = next(m for m in messages if m.startswith("REPORT RequestId: "))
    assert re.fullmatch(
        r"REPORT RequestId: [0-9a-f-]{36}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
        r"Memory Size: \d+ MB\tMax Memory Used: \d+ MB\t(Init Duration: \d+\.\d\d ms\t)?\n",
        report,
    )
    structured = [json.loads(m) for m in messages if m.startswith("{")]
    assert structured and all(
        {"timestamp", "level", "message", "requestId"} <= set(doc) for doc in structured
    )
    assert any(doc["level"] == "ERROR" and len(doc.get("traceId", "")) == 32 for doc in structured)
    plain = [m for m in messages if m.startswith("[")]
    assert plain and all(
        re.match(r"\[(DEBUG|INFO|WARNING|ERROR)\]\t\d{4}-\d\d-\d\dT[\d:.]+Z\t[0-9a-f-]{36}\t", m)
        for m in plain
    )


def test_cloudwatch_batches_respect_put_log_events_limits(
    moto_endpoint: str, aws_env: None
) -> None:
    group, stream = "/aws/lambda/limits", "2026/11/20/[1]0123456789abcdef0123456789abcdef"
    base = time.time_ns() - 3_600 * S
    small = [LogEvent(base + i * 1_000, group, stream, f"line {i}") for i in range(12_500)]
    sink = CloudWatchSink(logs_client(moto_endpoint, REGION), flush_interval=3_600)
    for event in small:
        sink.add(event)
    delivery = sink.close()
    assert delivery.delivered == 12_500 and delivery.failed == 0
    assert delivery.requests == 2  # 10,000 + 2,500
    logs = logs_client(moto_endpoint, REGION)
    assert len(_all_events(logs, group, stream)) == 12_500
    # bytes: 26 bytes of overhead per event count toward the 1 MiB
    big = [LogEvent(base + i, group, stream, "x" * 100_000) for i in range(25)]
    sizes = [sum(len(e.message) + EVENT_OVERHEAD for e in b) for b in batches(big)]
    assert all(size <= MAX_BYTES for size in sizes) and len(sizes) == 3
    exact = MAX_BYTES // 2 - EVENT_OVERHEAD
    assert [len(b) for b in batches([replace_message(big[0], "y" * exact)] * 3)] == [2, 1]
    # time: at most 24 h between a batch's first and last event
    day = 24 * 3_600 * S
    spread = [LogEvent(base + i * day // 2, group, stream, "z") for i in range(5)]
    assert [len(b) for b in batches(spread)] == [3, 2]
    assert [len(b) for b in batches(small)] == [MAX_EVENTS, 2_500]


def replace_message(event: LogEvent, message: str) -> LogEvent:
    return event._replace(message=message)


# ------------------------------------------------------------------ Firehose


def test_firehose_payload_round_trip(server: Receiver) -> None:
    count = 3_000
    server.refuse = 1  # the first delivery is refused with 503 + Retry-After and retried
    options = Options(
        mode="firehose",
        seed=8,
        rate=None,
        count=count,
        start_ns=T0,
        endpoint=server.url,
        token="firehose-key",
    )
    expected: list[LogEvent] = list(units(options, T0))
    summary = quiet(options)
    assert summary.ok, summary.line()
    assert server.refused == 1
    payloads = []
    for body, headers in server.firehose:
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Amz-Firehose-Access-Key"] == "firehose-key"
        document = json.loads(body)
        assert set(document) == {"requestId", "timestamp", "records"}
        assert document["requestId"] == headers["X-Amz-Firehose-Request-Id"]
        assert isinstance(document["timestamp"], int)
        payloads.extend(firehose.read_request(body, headers))
    control = [p for p in payloads if p["messageType"] == "CONTROL_MESSAGE"]
    data = [p for p in payloads if p["messageType"] == "DATA_MESSAGE"]
    assert len(control) == 1 and payloads[0] is control[0]
    assert control[0]["logEvents"][0]["message"] == firehose.CONTROL_TEXT
    for payload in data:
        assert set(payload) == {
            "messageType",
            "owner",
            "logGroup",
            "logStream",
            "subscriptionFilters",
            "logEvents",
        }
        assert payload["owner"] == "123456789012"
        assert payload["subscriptionFilters"] == [firehose.SUBSCRIPTION_FILTER]
        assert payload["logGroup"].startswith("/aws/lambda/")
        for event in payload["logEvents"]:
            assert set(event) == {"id", "timestamp", "message"}
            assert re.fullmatch(r"\d{56}", event["id"])
    got = Counter(
        (p["logGroup"], p["logStream"], e["timestamp"], e["message"])
        for p in data
        for e in p["logEvents"]
    )
    assert got == Counter((e.group, e.stream, e.timestamp_ms, e.message) for e in expected)
    ids = [e["id"] for p in data for e in p["logEvents"]]
    assert len(set(ids)) == count


def test_firehose_request_is_what_the_spec_says() -> None:
    events = [("1" * 56, 1_700_000_000_000, "hello\n")]
    record = firehose.encode(firehose.data_message("/aws/lambda/auth", "s", events))
    assert firehose.decode(record)["logEvents"][0] == {
        "id": "1" * 56,
        "timestamp": 1_700_000_000_000,
        "message": "hello\n",
    }
    body, headers = firehose.delivery_request([record], None, "rid-1", 1_700_000_000_123)
    assert "X-Amz-Firehose-Access-Key" not in headers
    assert json.loads(body) == {
        "requestId": "rid-1",
        "timestamp": 1_700_000_000_123,
        "records": [{"data": record}],
    }
    with pytest.raises(ValueError, match="requestId"):
        firehose.read_request(body, {"X-Amz-Firehose-Request-Id": "other"})


# ------------------------------------------------------------------ raw lines

NGINX_ACCESS = re.compile(
    r"\d+\.\d+\.\d+\.\d+ - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] "
    r'"(GET|POST) \S+ HTTP/1\.1" \d{3} \d+ "-" "[^"]+" \d+\.\d{3}'
)
NGINX_ERROR = re.compile(
    r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[error\] \d+#\d+: \*\d+ .+, client: \S+, "
    r'server: \S+, request: "(GET|POST) \S+ HTTP/1\.1", upstream: "http://\S+", host: "\S+"'
)
RFC5424 = re.compile(
    r"<(\d+)>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ (checkout|payments) \d+ \S+ "
    r'(-|\[otel@32473 trace_id="[0-9a-f]{32}" span_id="[0-9a-f]{16}"\]) .+'
)
RFC3164 = re.compile(
    r"<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ (gateway|auth|inventory)\[\d+\]: .+"
)


def test_raw_lines_shape_and_delivery(server: Receiver) -> None:
    count = 6_000
    options = Options(
        mode="raw",
        scenario="incident",
        seed=2,
        rate=None,
        count=count,
        start_ns=T0,
        duration_s=600,
        endpoint=server.url,
        token="raw-token",
    )
    expected: list[RawLine] = list(units(options, T0))
    summary = quiet(options)
    assert summary.ok, summary.line()
    by_source = Counter(line.source for line in expected)
    assert set(by_source) == {"nginx", "nginx-error", "syslog"}
    for line in expected:
        assert "\n" not in line.line
        if line.source == "nginx":
            assert NGINX_ACCESS.fullmatch(line.line), line.line
        elif line.source == "nginx-error":
            assert NGINX_ERROR.fullmatch(line.line), line.line
        else:
            match = RFC5424.fullmatch(line.line) or RFC3164.fullmatch(line.line)
            assert match, line.line
            assert 128 <= int(match.group(1)) <= 135  # local0
    got: Counter[str] = Counter()
    for source, text in server.raw:
        assert text.endswith("\n")
        got[source] += len(text.splitlines())
    assert got == by_source and sum(got.values()) == count


def test_http_post_gives_up_and_reads_retry_after(server: Receiver) -> None:
    assert http_post.retry_after("7") == 7.0
    assert http_post.retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now=1792567670.0) == 10.0
    assert http_post.retry_after("soon") is None
    server.refuse = 10
    waits: list[float] = []
    with pytest.raises(http_post.DeliveryError, match="503"):
        http_post.post(f"{server.url}/v1/raw?source=x", b"a\n", {}, attempts=3, sleep=waits.append)
    assert waits == [0.0, 0.0]  # Retry-After: 0 honoured


# ------------------------------------------------------------------ CLI, Dockerfile, compose


def test_cli_emit_runs_and_reports(server: Receiver, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["emit", "--mode", "raw", "--count", "700", "--rate", "max", "--seed", "5"]
    argv += ["--start", "2026-11-20T10:00:00Z", "--endpoint", server.url, "--quiet"]
    assert main(argv) == 0
    assert sum(len(text.splitlines()) for _, text in server.raw) == 700
    assert "emitted 700 lines (raw, steady, seed 5)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:
        main(["emit", "--rate", "fast"])
    assert bad.value.code == 2


def test_cli_paces_at_the_rate(server: Receiver) -> None:
    started = time.monotonic()
    argv = ["emit", "--mode", "raw", "--count", "300", "--rate", "1000", "--endpoint", server.url]
    assert main([*argv, "--quiet"]) == 0
    assert 0.2 < time.monotonic() - started < 3.0


def test_entry_point_runs_on_the_host(server: Receiver) -> None:
    command = [sys.executable, "-m", "starbase.cli", "emit", "--mode", "raw", "--count", "50"]
    command += ["--rate", "max", "--endpoint", server.url, "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "emitted 50 lines" in done.stderr


def test_sigterm_stops_an_endless_run_after_flushing(server: Receiver) -> None:
    command = [sys.executable, "-m", "starbase.cli", "emit", "--mode", "raw", "--rate", "400"]
    command += ["--endpoint", server.url, "--quiet"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    # SIGTERM once the run is under way (it posts after installing its handler), however
    # long the interpreter took to start on a busy machine
    deadline = time.monotonic() + 60
    while not server.raw and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert server.raw, "the emitter posted nothing within 60 s"
    time.sleep(0.5)
    process.terminate()
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    found = re.search(r"emitted ([\d,]+) lines", err)
    assert found, err
    emitted = int(found.group(1).replace(",", ""))
    assert "(interrupted)" in err and emitted > 50
    assert sum(len(text.splitlines()) for _, text in server.raw) == emitted


def test_a_run_as_fast_as_possible_ends_about_now() -> None:
    now = T0 + 3_600 * S
    assert default_start(Options(rate=None, count=5_000), now) == now - 50 * S
    assert default_start(Options(rate=None, duration_s=90), now) == now - 90 * S
    assert default_start(Options(rate=500.0, count=5_000), now) == now
    assert default_start(Options(rate=None), now) == now  # endless


def test_compose_and_dockerfile_reference_the_entry_points() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"router", "emitter", "moto"} <= set(services)
    assert services["moto"]["image"].startswith("motoserver/moto:")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["starbase"]' in dockerfile
    stages = re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, re.MULTILINE)
    assert {"router", "emitter"} <= set(stages)
    defaults = [json.loads(cmd) for cmd in re.findall(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)]
    assert [cmd[0] for cmd in defaults] == ["router", "emit"]
    parser = _starbase_parser()
    commands = [[str(part) for part in s["command"]] for s in services.values() if "build" in s]
    for argv in [*defaults, *commands]:
        if argv[0] == "router" and "router" not in parser.commands:
            continue  # `starbase router` is not importable yet (issue 5)
        parser.parse(argv)  # a command line `starbase` accepts
    for name in ("router", "emitter"):
        assert services[name]["build"]["target"] in stages
    modes = {argv[argv.index("--mode") + 1] for argv in commands if argv[0] == "emit"}
    assert modes >= {"otlp", "cloudwatch"}


@dataclass
class _Parser:
    parser: argparse.ArgumentParser
    commands: set[str]

    def parse(self, argv: list[str]) -> argparse.Namespace:
        return self.parser.parse_args(argv)


def _starbase_parser() -> _Parser:
    """`starbase`'s parser, with the router's command added if the CLI does not have it yet."""
    parser = _parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "router" not in subparsers.choices:
        try:
            from starbase.router.cli import add_parser as add_router
        except ImportError:
            pass
        else:
            add_router(subparsers)
    return _Parser(parser, set(subparsers.choices))
