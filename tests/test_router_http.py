"""The router end to end over real HTTP on 127.0.0.1: the OpenTelemetry SDK's OTLP exporter, OTLP
JSON, Firehose deliveries and raw lines go in; StarQL (`compile(...).run()` and `starbase query`)
and the tables' own files show exactly what came out. Auth and tenants, every kind of bad input
(a 4xx naming the problem while the router keeps serving), limits, backpressure with an
unreachable store, and two workers sharing the port.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ExportLogsServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from test_router_decode import OTLP_JSON, firehose_body, subscription
from test_router_harness import PROTOBUF, Router, free_port, otlp_request, table_rows, wait_for

from starbase import compile
from starbase.cli import main
from starbase.config import default_config

TOKENS = ("--token", "main-token", "--token", "acme-token=acme", "--firehose-key", "fh-key")
MAIN = {"Authorization": "Bearer main-token"}
ACME = {"Authorization": "Bearer acme-token"}


def count(data: Path, query: str = "from otel | stats count() as n") -> int:
    rows = compile(query, default_config(data)).run().to_pylist()
    return int(rows[0]["n"]) if rows else 0


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Router]:
    """One router for the module, with tokens (one bound to tenant `acme`) and a Firehose key."""
    server = Router(tmp_path_factory.mktemp("secured") / "data", *TOKENS).start()
    yield server
    assert server.stop() == 0


@pytest.mark.filterwarnings("ignore:.*LoggingHandler.*:DeprecationWarning")
def test_sdk_exporter_to_query(secured: Router) -> None:
    provider = LoggerProvider(resource=Resource.create({"service.name": "sdk-e2e"}))
    exporter = OTLPLogExporter(
        endpoint=f"http://127.0.0.1:{secured.port}/v1/logs",
        headers=MAIN,
        compression=Compression.Gzip,
    )
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger = logging.getLogger("sdk-e2e")
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=provider))
    logger.setLevel(logging.INFO)
    for n in range(1234):
        logger.warning("order %d failed", n, extra={"order.id": n})
    provider.force_flush()
    provider.shutdown()
    data = secured.data
    query = 'from otel | where service == "sdk-e2e" | stats count() as n'
    wait_for(lambda: count(data, query) == 1234, what="1234 SDK records")
    rows = compile(
        'from otel | where service == "sdk-e2e" and message == "order 7 failed"',
        default_config(data),
    ).run()
    assert rows.num_rows == 1
    assert secured.metric("records_in_total", format="otel") >= 1234


def test_query_cli_and_json_with_partial_success(
    secured: Router, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(json.dumps(OTLP_JSON))
    resource = document["resourceLogs"][0]["resource"]["attributes"][0]["value"]
    resource["stringValue"] = "json-e2e"
    records = document["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    records.append({"timeUnixNano": str(2**64 - 1), "body": {"stringValue": "too late"}})
    body = gzip.compress(json.dumps(document).encode())
    status, headers, reply = secured.post(
        "/v1/logs",
        body,
        {**MAIN, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert status == 200 and headers["content-type"].startswith("application/json")
    partial = json.loads(reply)["partialSuccess"]
    assert partial["rejectedLogRecords"] == "1" and "logRecords[2]" in partial["errorMessage"]
    query = 'from otel | where service == "json-e2e" | stats count() as n'
    wait_for(lambda: count(secured.data, query) == 2, what="2 JSON records")
    assert main(["query", "--data", str(secured.data), "-o", "ndjson", query]) == 0
    assert json.loads(capsys.readouterr().out) == {"n": 2}


def test_tenants_write_their_own_namespace(secured: Router) -> None:
    assert (
        secured.post(
            "/v1/logs", otlp_request(["t1", "t2", "t3"], "tenant-svc"), {**ACME, **PROTOBUF}
        )[0]
        == 200
    )
    tenant = secured.data / "tenants" / "acme"
    wait_for(lambda: (tenant / "otel").exists() and count(tenant) == 3, what="tenant rows")
    assert (
        count(secured.data, 'from otel | where service == "tenant-svc" | stats count() as n') == 0
    )
    assert secured.post("/v1/raw?source=app", b"tenant line\n", ACME)[0] == 200
    wait_for(lambda: (tenant / "raw").exists() and table_rows(tenant, "raw").num_rows == 1)


def test_auth_is_required_and_checked(secured: Router) -> None:
    body = otlp_request(["x"])
    status, _, reply = secured.post("/v1/logs", body, PROTOBUF)
    assert status == 401 and "bearer token" in Status.FromString(reply).message
    status, _, reply = secured.post("/v1/logs", body, {**PROTOBUF, "Authorization": "Bearer nope"})
    assert status == 403 and Status.FromString(reply).code == 7
    assert secured.post("/v1/raw?source=a", b"x\n", {"Authorization": "Basic abc"})[0] == 401
    fh = firehose_body(subscription())
    denied = {"X-Amz-Firehose-Access-Key": "wrong", "X-Amz-Firehose-Request-Id": "req-1"}
    status, _, reply = secured.post("/firehose", fh, denied)
    assert status == 403 and json.loads(reply)["requestId"] == "req-1"
    assert "access key" in json.loads(reply)["errorMessage"]


def test_firehose_delivery(secured: Router) -> None:
    rid = "7b1e5c2a-firehose"
    body = firehose_body(
        subscription("/aws/lambda/pay", events=3),
        subscription(kind="CONTROL_MESSAGE", events=1),
        subscription("/aws/lambda/pay", events=2),
        rid=rid,
    )
    headers = {
        "X-Amz-Firehose-Access-Key": "fh-key",
        "X-Amz-Firehose-Request-Id": rid,
        "Content-Type": "application/json",
    }
    status, reply_headers, reply = secured.post("/firehose", body, headers)
    assert status == 200 and reply_headers["content-type"].startswith("application/json")
    answer = json.loads(reply)
    assert answer["requestId"] == rid and abs(answer["timestamp"] - time.time() * 1000) < 60_000
    only_control = firehose_body(subscription(kind="CONTROL_MESSAGE"), rid="ctl")
    assert (
        secured.post("/firehose", only_control, {"X-Amz-Firehose-Access-Key": "main-token"})[0]
        == 200
    )
    wait_for(lambda: table_rows(secured.data, "cloudwatch").num_rows == 5, what="5 events")
    rows = table_rows(secured.data, "cloudwatch").to_pylist()
    assert {r["log_group"] for r in rows} == {"/aws/lambda/pay"}
    assert sorted(r["message"] for r in rows) == sorted(
        ["line 0\n", "line 1\n", "line 2\n", "line 0\n", "line 1\n"]
    )
    status, _, reply = secured.post(
        "/firehose",
        b"{broken",
        {"X-Amz-Firehose-Access-Key": "fh-key", "X-Amz-Firehose-Request-Id": "bad-1"},
    )
    assert status == 400 and json.loads(reply)["requestId"] == "bad-1"


def test_raw_lines(secured: Router) -> None:
    body = b'127.0.0.1 - - [27/Nov/2026] "GET / HTTP/1.1" 200\r\n{"level":"info"}\n\nlast'
    status, _, reply = secured.post(
        "/v1/raw?source=nginx", gzip.compress(body), {**MAIN, "Content-Encoding": "gzip"}
    )
    assert status == 200 and json.loads(reply) == {"lines": 4}
    wait_for(lambda: table_rows(secured.data, "raw").num_rows == 4, what="4 raw lines")
    rows = table_rows(secured.data, "raw").to_pylist()
    assert [r["line"] for r in rows] == body.decode().split("\n")
    assert {r["source"] for r in rows} == {"nginx"}


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "words"),
    [
        ("/v1/logs", b"\x0a\xff\xff", PROTOBUF, 400, "malformed protobuf"),
        ("/v1/logs", b"{]", {"Content-Type": "application/json"}, 400, "malformed JSON"),
        ("/v1/logs", b"hello", {"Content-Type": "text/plain"}, 415, "Content-Type"),
        (
            "/v1/logs",
            b"\x1f\x8b\x08\x00garbage",
            {**PROTOBUF, "Content-Encoding": "gzip"},
            400,
            "gzip",
        ),
        ("/v1/logs", b"x", {**PROTOBUF, "Content-Encoding": "br"}, 415, "Content-Encoding"),
        ("/v1/raw", b"no source\n", {}, 400, "source"),
        ("/v1/raw?source=x", b"\xff\n", {}, 400, "not UTF-8"),
        ("/firehose", b'{"requestId": "r"}', {}, 400, "records"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_problem(
    secured: Router, path: str, body: bytes, headers: dict[str, str], status: int, words: str
) -> None:
    auth = {"X-Amz-Firehose-Access-Key": "fh-key"} if path == "/firehose" else MAIN
    got, reply_headers, reply = secured.post(path, body, {**auth, **headers})
    assert got == status
    if reply_headers.get("content-type", "").startswith("application/x-protobuf"):
        text = Status.FromString(reply).message
    elif path == "/firehose":
        text = json.loads(reply)["errorMessage"]
    else:
        text = reply.decode()
    assert words in text, text
    ok = secured.post(
        "/v1/logs", otlp_request(["still serving"], "after-bad"), {**MAIN, **PROTOBUF}
    )
    assert (
        ok[0] == 200
        and ExportLogsServiceResponse.FromString(ok[2]).partial_success.rejected_log_records == 0
    )


def test_body_limit(tmp_path: Path) -> None:
    server = Router(tmp_path / "data", "--max-body", "2KiB").start()
    try:
        status, _, reply = server.post("/v1/logs", otlp_request(["x" * 3000]), PROTOBUF)
        assert status == 413 and "2048 bytes" in Status.FromString(reply).message
        bomb = gzip.compress(otlp_request(["y" * 100] * 50))
        assert len(bomb) < 2048
        status, _, reply = server.post("/v1/logs", bomb, {**PROTOBUF, "Content-Encoding": "gzip"})
        assert status == 413 and "decompressed" in Status.FromString(reply).message
        assert server.post("/v1/logs", otlp_request(["small"]), PROTOBUF)[0] == 200
    finally:
        assert server.stop() == 0


def test_backpressure_when_the_store_is_unreachable(tmp_path: Path) -> None:
    """Nothing listens at the S3 endpoint: requests are acknowledged into the WAL until the
    buffer limit, then refused with 503 + Retry-After; readiness says why; a stop leaves the
    acknowledged records in the WAL (exit 1) for the next start."""
    dead = f"http://127.0.0.1:{free_port()}"
    server = Router(
        tmp_path / "data", "--s3", "s3://bucket/logs", "--s3-endpoint", dead,
        "--max-buffer", "16KiB", "--wal", str(tmp_path / "wal"), "--shutdown-timeout", "1",
        env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"},
    ).start()  # fmt: skip
    body = otlp_request(["z" * 200] * 20)
    accepted = 0
    for _ in range(20):
        status, headers, reply = server.post("/v1/logs", body, PROTOBUF)
        if status == 503:
            assert headers["retry-after"] == "2"
            assert "16384" in Status.FromString(reply).message
            break
        assert status == 200
        accepted += 1
    else:
        raise AssertionError("never pushed back")
    assert accepted >= 3
    status, _, reply = server.get("/readyz")
    assert status == 503 and b"not yet committed" in reply
    wait_for(lambda: server.metric("store_up") == 0 and server.metric("flush_errors_total") > 0)
    server.proc.send_signal(15)  # type: ignore[union-attr]
    assert server.proc.wait(timeout=60) == 1  # type: ignore[union-attr]
    assert "stay in the WAL" in server.output()
    assert sum(p.stat().st_size for p in (tmp_path / "wal" / "0").glob("*.wal")) > accepted * len(
        body
    )


def test_two_workers_share_the_port(tmp_path: Path) -> None:
    server = Router(tmp_path / "data", workers=2).start()
    try:
        errors: list[str] = []

        def send(thread: int) -> None:
            for batch in range(10):
                bodies = [f"w{thread}-{batch}-{i}" for i in range(50)]
                status, _, _ = server.post(
                    "/v1/logs", otlp_request(bodies, f"svc{thread % 3}"), PROTOBUF
                )
                if status != 200:
                    errors.append(str(status))

        threads = [threading.Thread(target=send, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        wait_for(lambda: count(server.data) == 4000, what="4000 records")
        bodies = compile("from otel | fields message", default_config(server.data)).run()
        assert len(set(bodies.column("message").to_pylist())) == 4000
        metrics = server.get("/metrics")[2].decode()
        assert 'records_in_total{worker="0",format="otel"}' in metrics
        assert 'records_in_total{worker="1",format="otel"}' in metrics
        assert server.metric("records_in_total", format="otel") == 4000
    finally:
        assert server.stop() == 0


def test_background_compaction_keeps_every_record_once(tmp_path: Path) -> None:
    server = Router(tmp_path / "data", "--compact-every", "0.3").start()
    try:
        for batch in range(6):
            bodies = [f"c{batch}-{i}" for i in range(20)]
            assert server.post("/v1/logs", otlp_request(bodies), PROTOBUF)[0] == 200
            time.sleep(0.25)  # one commit each
        folder = tmp_path / "data" / "otel" / "logs" / "v2"
        wait_for(
            lambda: folder.exists() and any(folder.rglob("by=compact-*/*.parquet")),
            what="compaction",
        )
        # acknowledged means durable in the WAL; the last batch may still be on its way in
        wait_for(lambda: count(server.data) >= 120, what="every batch committed")
        assert count(server.data) == 120
    finally:
        assert server.stop() == 0
    assert count(tmp_path / "data") == 120
