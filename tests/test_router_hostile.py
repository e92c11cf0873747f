"""Hostile clients against a real `starbase router` (docs/router.md, "Limits"): bodies that
expand (records, lines, gzip members, Firehose bombs), bodies that trickle, bodies slow to
decode, partition explosions, records past retention, a full WAL disk, SIGTERM while starting,
bad options and malformed HTTP. Each test names the defect it guards against; none may freeze
or exhaust a worker, and nothing acknowledged may be lost.

Memory is read from the worker's own counters: `/proc/PID/clear_refs` ("5") resets its peak
resident set (VmHWM), which is read back after the request.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.rpc.status_pb2 import Status  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    AnyValue,
)
from test_router_decode import subscription
from test_router_harness import PROTOBUF, Router, otlp_request, table_rows, wait_for

from starbase.router.wal import Kind, Record, Wal
from starbase.storage.table import open_table

MiB = 1024 * 1024
HOUR_NS = 3600 * 10**9
DAY_NS = 24 * HOUR_NS


def _field(tag: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (tag byte, varint length, payload)."""
    length = len(payload)
    varint = bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        varint.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([tag]) + bytes(varint) + payload


def empty_records(count: int) -> bytes:
    """An ExportLogsServiceRequest of `count` empty LogRecords (2 bytes each on the wire)."""
    return _field(0x0A, _field(0x12, b"\x12\x00" * count))


def peak_rss_reset(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def worker_pid(router: Router) -> int:
    assert router.proc is not None
    return router.proc.pid  # one worker: the router process itself (exec)


@pytest.fixture
def router(tmp_path: Path) -> Iterator[Router]:
    server = Router(tmp_path / "data").start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        assert server.stop() == 0


# ---------------------------------------------------------------- 8: records, not just bytes


def test_a_body_of_empty_records_is_refused_without_exhausting_memory(router: Router) -> None:
    """4 MiB of empty LogRecords is 2.1M records: it used to be acknowledged and take the
    worker to 1.7 GB. Now a 413 names the record limit, and the worker's peak stays small."""
    pid = worker_pid(router)
    time.sleep(0.2)
    peak_rss_reset(pid)
    status, _, reply = router.post("/v1/logs", empty_records(2 * MiB), PROTOBUF)
    assert status == 413, reply
    assert "records" in Status.FromString(reply).message
    status, _, reply = router.post("/v1/raw?source=nl", b"\n" * (4 * MiB))
    assert status == 413 and b"records" in reply
    time.sleep(0.5)
    assert peak_rss(pid) < 400 * MiB, peak_rss(pid) // MiB
    assert router.post("/v1/logs", otlp_request(["fine"]), PROTOBUF)[0] == 200


def test_many_records_within_the_limit_are_stored_in_bounded_memory(tmp_path: Path) -> None:
    """The most records one request may carry, each empty or with many empty attributes: the
    request path and the conversion work in slices, so memory does not grow with the count."""
    server = Router(tmp_path / "data").start()  # --max-records 200000
    try:
        pid = worker_pid(server)
        time.sleep(0.2)
        peak_rss_reset(pid)
        assert server.post("/v1/logs", empty_records(200_000), PROTOBUF)[0] == 200
        one_record = _field(0x12, b"\x32\x00" * 400_000)  # 400k empty attributes
        status, _, reply = server.post("/v1/logs", _field(0x0A, _field(0x12, one_record)), PROTOBUF)
        assert status == 200, reply
        wait_for(lambda: server.metric("records_committed_total", format="otel") == 200_001)
        assert peak_rss(pid) < 400 * MiB, peak_rss(pid) // MiB
    finally:
        assert server.stop() == 0


# ---------------------------------------------------------------- 9: Firehose decompression


def test_firehose_limits_the_decompressed_total(tmp_path: Path) -> None:
    """Each record is a small gzip bomb: the limit applies to the sum after gunzip (it used to
    subtract the base64 length, so 4 x 1 MiB passed a 2 MiB limit)."""
    server = Router(tmp_path / "data", "--max-body", "2MiB").start()
    try:
        message = subscription(events=1)
        message["logEvents"][0]["message"] = "x" * MiB
        data = base64.b64encode(gzip.compress(json.dumps(message).encode())).decode()
        body = json.dumps({"requestId": "bomb", "records": [{"data": data}] * 4}).encode()
        assert len(body) < 30_000
        status, _, reply = server.post("/firehose", body, {"X-Amz-Firehose-Request-Id": "bomb"})
        assert status == 413, reply
        assert "decompressed" in json.loads(reply)["errorMessage"]
        ok = json.dumps({"requestId": "ok", "records": [{"data": data}]}).encode()
        assert server.post("/firehose", ok)[0] == 200
    finally:
        assert server.stop() == 0


def test_the_wal_writer_survives_an_entry_it_cannot_write(tmp_path: Path) -> None:
    """An entry whose header field overflows used to kill the writer thread, and every later
    request waited forever. Now that entry fails alone and the next one is written."""
    from starbase.router.groupcommit import GroupCommit

    wal = Wal(tmp_path / "wal", 1 << 20)
    wal.open(wait_s=0)
    list(wal.replay())
    done: list[tuple[int, str | None]] = []
    arrived = threading.Event()

    def on_done(entries: list[object], tokens: list[object], error: BaseException | None) -> None:
        done.extend((int(str(t)), None if error is None else str(error)) for t in tokens)
        arrived.set()

    group = GroupCommit(wal, on_done)
    try:
        too_long = Record(1, 1, Kind.RAW, None, "m" * 70_000, b"x\n")  # meta length is 16 bits
        try:
            group.submit(too_long, 1)
        except ValueError as exc:  # refused at once: fine too
            done.append((1, str(exc)))
        group.submit(Record(1, 1, Kind.RAW, None, "src", b"y\n"), 2)
        wait_for(lambda: len(done) == 2, timeout=10, what="both entries answered")
        assert done[0][0] == 1 and done[0][1] is not None
        assert done[1] == (2, None)
        assert group.failed is None
    finally:
        group.close()
        wal.close()


# ---------------------------------------------------------------- 10: decoding off the loop


def _slow_json(records: int) -> bytes:
    """OTLP/JSON that takes about a second or more of CPU to decode: realistic records, with
    two fields under their original protobuf names (accepted, but left by the compiled walk to
    protobuf's json_format, ≈ 70 µs a record)."""
    record = {
        "time_unix_nano": str(time.time_ns()),
        "severity_number": 9,
        "body": {"stringValue": "GET /api/v1/orders 200"},
        "attributes": [{"key": f"k{i}", "value": {"stringValue": f"value {i}"}} for i in range(6)],
        "traceId": "5b8efff798038103d269b633813fc60c",
    }
    document = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "slow"}}]
                },
                "scopeLogs": [{"logRecords": [record] * records}],
            }
        ]
    }
    return json.dumps(document).encode()


def test_other_clients_are_served_while_a_slow_body_decodes(router: Router) -> None:
    """A body that takes seconds to decode used to stall every client of the worker (decoding
    ran on the event loop). Now it decodes in a thread: small requests sent meanwhile are
    answered in a fraction of that time."""
    hostile = _slow_json(20_000)
    took: list[float] = []

    def send_hostile() -> None:
        started = time.monotonic()
        status, _, _ = router.post("/v1/logs", hostile, {"Content-Type": "application/json"})
        took.append(time.monotonic() - started)
        assert status == 200

    thread = threading.Thread(target=send_hostile)
    thread.start()
    time.sleep(0.3)  # the hostile body is being decoded
    latencies = []
    while thread.is_alive():
        started = time.monotonic()
        assert router.post("/v1/logs", otlp_request(["small"]), PROTOBUF)[0] == 200
        latencies.append(time.monotonic() - started)
        time.sleep(0.05)
    thread.join()
    assert took[0] > 1.0, f"the hostile body decoded too fast to show anything ({took[0]:.2f} s)"
    assert len(latencies) >= 3 and max(latencies) < took[0] / 3, (took, latencies)


def test_decoding_has_a_cpu_time_limit(tmp_path: Path) -> None:
    server = Router(tmp_path / "data", "--max-decode-cpu", "0.3").start()
    try:
        status, _, reply = server.post(
            "/v1/logs", _slow_json(20_000), {"Content-Type": "application/json"}
        )
        assert status == 413 and "CPU" in json.loads(reply)["message"], reply
        assert server.post("/v1/logs", otlp_request(["after"]), PROTOBUF)[0] == 200
    finally:
        assert server.stop() == 0


def test_gzip_with_many_members_is_decoded_in_linear_time(router: Router) -> None:
    """150k empty gzip members in 3 MB froze a worker for 49 s (each member copied the rest)."""
    members = gzip.compress(b"") * 150_000
    started = time.monotonic()
    status, _, _ = router.post(
        "/v1/raw?source=members", members + gzip.compress(b"last\n"), {"Content-Encoding": "gzip"}
    )
    assert status == 200
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------- 11: slow bodies


def _trickle(port: int, stop: threading.Event, replies: list[bytes]) -> None:
    """Announce a 30 MiB body, then send one byte at a time."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /v1/raw?source=slow HTTP/1.1\r\nHost: x\r\nContent-Length: 31457280\r\n\r\n"
        )
        sock.settimeout(0.3)
        while not stop.is_set():
            try:
                sock.sendall(b"a")
                data = sock.recv(4096)
                if data:
                    replies.append(data)
                    return
                return  # closed
            except TimeoutError:
                continue
            except OSError:
                return


def test_slow_bodies_time_out_and_do_not_starve_other_clients(tmp_path: Path) -> None:
    """Three connections announcing 30 MiB and trickling used to hold 90 MiB of the in-flight
    budget, so every other client got 429. Now only bytes received count, and a body that does
    not arrive at the minimum rate is answered 408 after `--body-timeout`."""
    server = Router(tmp_path / "data", "--body-timeout", "1.5").start()
    stop = threading.Event()
    replies: list[bytes] = []
    slow = [threading.Thread(target=_trickle, args=(server.port, stop, replies)) for _ in range(3)]
    try:
        for thread in slow:
            thread.start()
        time.sleep(0.5)
        for n in range(5):
            status, _, reply = server.post("/v1/logs", otlp_request([f"n{n}"]), PROTOBUF)
            assert status == 200, reply
        wait_for(lambda: len(replies) == 3, timeout=15, what="408 for the slow bodies")
        assert all(r.startswith(b"HTTP/1.1 408") for r in replies), replies
    finally:
        stop.set()
        for thread in slow:
            thread.join()
        assert server.stop() == 0


# ---------------------------------------------------------------- 12: partitions


def _days_request(count: int) -> bytes:
    """One record on each of `count` different days (a Parquet file each per commit)."""
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.add(key="service.name", value=AnyValue(string_value="old"))
    scope_logs = resource_logs.scope_logs.add()
    now = time.time_ns()
    for n in range(count):
        record = scope_logs.log_records.add()
        record.time_unix_nano = now - n * DAY_NS
        record.body.string_value = f"day -{n}"
    return bytes(request.SerializeToString())


def test_distinct_partitions_per_request_are_capped(tmp_path: Path) -> None:
    """A commit writes a Parquet file per partition touched (per (hour, service) before the
    day layout: 10k services in one request made 10k files; per day now, so 10k timestamps on
    as many days would). Records beyond the cap are rejected through partial_success."""
    server = Router(tmp_path / "data", "--max-partitions", "40").start()
    try:
        status, _, reply = server.post("/v1/logs", _days_request(100), PROTOBUF)
        assert status == 200
        partial = ExportLogsServiceResponse.FromString(reply).partial_success
        assert partial.rejected_log_records == 60
        assert "days" in partial.error_message and "--max-partitions" in partial.error_message
        wait_for(lambda: server.metric("records_committed_total", format="otel") == 40)
        files = open_table(tmp_path / "data", "otel").files()
        assert len(files) == 40
    finally:
        assert server.stop() == 0


# ---------------------------------------------------------------- 13: WAL disk full


class FullDisk:
    """Makes the WAL's writes fail as on a full disk, then lets them succeed again.

    Preferred: a real 4 MiB tmpfs mounted for the test (needs root with the right to mount),
    filled with a file until ENOSPC, then freed by deleting it. Where mounting is not allowed
    (an unprivileged container), the same from the worker's side with RLIMIT_FSIZE set on the
    running router (`prlimit`) to the size its WAL has: the next write fails (EFBIG), and
    raising the limit again is freeing the space. `mechanism` says which one ran.
    """

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "small"
        self.root.mkdir()
        self.mounted = os.environ.get("STARBASE_TEST_NO_MOUNT") != "1" and (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=4m", "starbase-test", str(self.root)],
                capture_output=True,
            ).returncode
            == 0
        )
        self.mechanism = "tmpfs" if self.mounted else "RLIMIT_FSIZE"
        self.error = "No space left" if self.mounted else "File too large"
        self.wal = self.root / "wal"
        self._filler = self.root / "filler"
        self._pid = 0

    def fill(self, pid: int) -> None:
        if self.mounted:
            with open(self._filler, "wb") as handle:
                try:
                    while True:
                        handle.write(b"\0" * 65536)
                        handle.flush()
                except OSError:
                    pass
            return
        self._pid = pid
        used = max(p.stat().st_size for p in self.wal.rglob("*.wal"))
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (used, resource.RLIM_INFINITY))

    def free(self) -> None:
        if self.mounted:
            self._filler.unlink()
        else:
            limit = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
            resource.prlimit(self._pid, resource.RLIMIT_FSIZE, limit)

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.root)], check=False)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[FullDisk]:
    disk = FullDisk(tmp_path)
    try:
        yield disk
    finally:
        disk.close()


def test_wal_disk_full_then_freed_recovers_by_itself(tmp_path: Path, full_disk: FullDisk) -> None:
    """The WAL's disk fills: requests get 503 (nothing acknowledged is lost), /readyz says why.
    Once space is freed the router recovers on its own — it used to stay 503 until restarted
    while /healthz said 200."""
    server = Router(tmp_path / "data", "--wal", str(full_disk.wal), "--flush-age", "60").start()
    try:
        assert server.post("/v1/logs", otlp_request(["before"]), PROTOBUF)[0] == 200
        full_disk.fill(worker_pid(server))
        body = otlp_request(["x" * 1000] * 20)
        for _ in range(5):
            status, headers, reply = server.post("/v1/logs", body, PROTOBUF)
            if status == 503:
                break
        assert status == 503 and "retry-after" in headers, full_disk.mechanism
        assert "write-ahead log" in Status.FromString(reply).message
        status, _, text = server.get("/readyz")
        assert status == 503 and full_disk.error.encode() in text, text
        assert server.get("/healthz")[0] == 200  # it recovers by itself: no restart needed
        full_disk.free()
        wait_for(lambda: server.get("/readyz")[0] == 200, timeout=15, what="ready again")
        assert server.post("/v1/logs", otlp_request(["after"]), PROTOBUF)[0] == 200
    finally:
        assert server.stop() == 0
    bodies = table_rows(tmp_path / "data", "otel").column("body").to_pylist()
    assert bodies.count("before") == 1 and bodies.count("after") == 1
    assert "x" * 1000 not in bodies  # refused, so not stored either


def test_a_wal_write_that_cannot_be_undone_fails_liveness(tmp_path: Path) -> None:
    """If a failed write cannot even be cut back (the log's tail is unknown), the writer stops
    taking records and /healthz fails, so an orchestrator restarts the router (which reads the
    log back). In process: the log's file is swapped for a read-only one under it."""
    import asyncio

    from starbase.router.config import RouterConfig
    from starbase.router.destinations import Destinations
    from starbase.router.flusher import Flusher
    from starbase.router.groupcommit import GroupCommit
    from starbase.router.metrics import Metrics
    from starbase.router.server import Ingest

    wal = Wal(tmp_path / "wal" / "0", 1 << 20)
    wal.open(wait_s=0)
    list(wal.replay())
    config = RouterConfig(location=str(tmp_path / "data"), wal_dir=str(tmp_path / "wal"))
    metrics = Metrics(None, 0, 1)
    flusher = Flusher(config, wal, "w", Destinations(config), metrics)
    ingest = Ingest(config, wal, flusher, metrics)
    ingest.group = GroupCommit(wal, ingest.on_durable)
    try:
        os.close(wal._fd)
        wal._fd = os.open("/dev/null", os.O_RDONLY)  # writes and the undo both fail now

        async def attempt() -> tuple[object, int, int]:
            problem = await ingest._durable(Record(1, 1, Kind.RAW, None, "s", b"x\n"))
            health = await ingest.healthz(None)  # type: ignore[arg-type]
            ready = await ingest.readyz(None)  # type: ignore[arg-type]
            return problem, health.status, ready.status

        problem, health, ready = asyncio.run(attempt())
        assert problem is not None and problem.status == 503  # type: ignore[attr-defined]
        assert (health, ready) == (503, 503)
        assert ingest.group.broken is not None
    finally:
        ingest.group.close()
        ingest.decoders.shutdown()
        wal.close()


# ---------------------------------------------------------------- 14: retention


def test_records_older_than_the_retention_cutoff_are_rejected(tmp_path: Path) -> None:
    """A table whose retention hid hours before a cutoff used to take such records with 200
    and drop them silently at the commit. Now they are rejected (partial_success), counted."""
    data = tmp_path / "data"
    now = time.time_ns()
    table = open_table(data, "otel")
    table.expire(2 * HOUR_NS, now_ns=now)
    assert table.snapshot().cutoff is not None
    server = Router(data).start()
    try:
        old = otlp_request(["old 1", "old 2"], time_ns=now - 30 * HOUR_NS)
        request = ExportLogsServiceRequest.FromString(old)
        request.MergeFromString(otlp_request(["fresh"], time_ns=now))
        status, _, reply = server.post("/v1/logs", request.SerializeToString(), PROTOBUF)
        assert status == 200
        partial = ExportLogsServiceResponse.FromString(reply).partial_success
        assert partial.rejected_log_records == 2 and "retention" in partial.error_message
        wait_for(lambda: server.metric("records_committed_total", format="otel") == 1)
        assert server.metric("expired_records_total", format="otel") == 2
        assert table_rows(data, "otel").column("body").to_pylist() == ["fresh"]
    finally:
        assert server.stop() == 0


# ---------------------------------------------------------------- 15: SIGTERM while starting


def _backlog(wal_dir: Path, worker: int, bodies: list[str]) -> None:
    wal = Wal(wal_dir / str(worker), 64 * MiB)
    wal.open(wait_s=0)
    list(wal.replay())
    wal.append([Record(time.time_ns(), 1, Kind.OTLP, None, "", otlp_request([b])) for b in bodies])
    wal.close()


def _holds_sigterm(pid: int) -> bool:
    """The process blocks SIGTERM: the CLI's first module ran (it holds it until the router's
    handlers exist, a second or more later)."""
    status = Path(f"/proc/{pid}/status").read_text()
    masks = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    return bool(int(masks["SigBlk"], 16) & 1 << (signal.SIGTERM - 1))


@pytest.mark.parametrize(("workers", "delay"), [(1, 0.0), (1, 0.7), (2, 0.0), (2, 0.7)])
def test_sigterm_while_starting_commits_the_backlog_and_exits_0(
    tmp_path: Path, workers: int, delay: float
) -> None:
    """SIGTERM within the first seconds used to kill the router (143; 241 with two workers)
    before its signal handlers existed. Now it is honoured from the moment the interpreter
    runs our first module (the CLI holds it from there): the WAL backlog is replayed and
    committed, then the router exits 0."""
    data = tmp_path / "data"
    expected = []
    for worker in range(workers):
        bodies = [f"w{worker}-{n}" for n in range(50)]
        _backlog(data / "_router", worker, bodies)
        expected += bodies
    server = Router(data, workers=workers)
    server.start_process()
    assert server.proc is not None
    try:
        pid = server.proc.pid
        wait_for(lambda: _holds_sigterm(pid), timeout=30, what="SIGTERM held from the first module")
        time.sleep(delay)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=60) == 0, server.output()
    finally:
        if server.proc.poll() is None:
            server.kill()
    assert sorted(table_rows(data, "otel").column("body").to_pylist()) == sorted(expected)


# ---------------------------------------------------------------- 16: options


BAD_OPTIONS = [
    (["--flush-age", "nan"], "--flush-age"),
    (["--flush-age", "inf"], "--flush-age"),
    (["--flush-age", "0"], "--flush-age"),
    (["--shutdown-timeout", "nan"], "--shutdown-timeout"),
    (["--compact-every", "-1"], "--compact-every"),
    (["--port", "99999"], "--port"),
    (["--port", "0"], "--port"),
    (["--port", "http"], "--port"),
    (["--log-level", "BOGUS"], "--log-level"),
    (["--listen", "256.1.1.1:1"], "--listen"),
    (["--listen", "localhost:http"], "--listen"),
    (["--listen", "localhost:70000"], "--listen"),
    (["--workers", "0"], "--workers"),
    (["--workers", "two"], "--workers"),
    (["--max-body", "5GiB"], "--max-body"),
    (["--max-body", "100MiB"], "--max-inflight"),  # a body that could never be in flight
    (["--max-records", "0"], "--max-records"),
    (["--max-records", "5000000000"], "--max-records"),
    (["--max-partitions", "-3"], "--max-partitions"),
    (["--max-decode-cpu", "inf"], "--max-decode-cpu"),
    (["--body-timeout", "nan"], "--body-timeout"),
    (["--body-min-rate", "0"], "--body-min-rate"),
    (["--s3", "s3://b/p", "--s3-endpoint", "localhost:9000"], "--s3-endpoint"),
    (["--data", "FILE"], "--data"),
    (["--wal", "FILE"], "--wal"),
    (["--tokens-file", "MISSING"], "--tokens-file"),
    (["--metrics-token", ""], "--metrics-token"),
]


@pytest.mark.parametrize(("options", "words"), BAD_OPTIONS)
def test_bad_options_are_one_line_errors(tmp_path: Path, options: list[str], words: str) -> None:
    """Checked before anything starts (in process here: the CLI's own parser and checks)."""
    from starbase.cli import _parser
    from starbase.config import ConfigError
    from starbase.router.cli import config_from_args

    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    names = {"FILE": str(a_file), "MISSING": str(tmp_path / "missing")}
    options = [names.get(o, o) for o in options]
    if "--data" not in options:
        options = ["--data", str(tmp_path / "data"), *options]
    args = _parser().parse_args(["router", *options])
    with pytest.raises(ConfigError) as refused:
        config_from_args(args)
    message = str(refused.value)
    assert words in message and "\n" not in message, message


@pytest.mark.parametrize("options", [["--flush-age", "nan"], ["--listen", "256.1.1.1:1"]])
def test_bad_options_end_to_end_are_one_line_and_exit_1(tmp_path: Path, options: list[str]) -> None:
    """`--flush-age nan` used to start a router whose flusher died at once (while it said it
    was ready); `--listen 256.1.1.1:1` printed a traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "starbase.cli", "router", "--data", str(tmp_path), *options],
        capture_output=True,
        timeout=60,
    )
    err = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and options[0] in err, err


def test_a_port_in_use_is_one_line(router: Router, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "starbase.cli", "router", "--data", str(tmp_path / "other"),
         "--port", str(router.port), "--workers", "1"],
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in err and "in use" in err, err


# ---------------------------------------------------------------- 17: /metrics and bad HTTP


def test_metrics_need_a_token_when_tokens_are_configured(tmp_path: Path) -> None:
    server = Router(
        tmp_path / "data", "--token", "ops", "--token", "acme=acme", "--metrics-token", "scrape"
    ).start()
    try:
        assert server.request("GET", "/metrics")[0] == 401
        assert server.request("GET", "/metrics", headers={"Authorization": "Bearer no"})[0] == 403
        tenant = server.request("GET", "/metrics", headers={"Authorization": "Bearer acme"})
        assert tenant[0] == 403  # a tenant's token does not see every tenant's volumes
        for token in ("ops", "scrape"):
            got = server.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
            assert got[0] == 200 and b"starbase_router_store_up" in got[2]
        assert server.get("/healthz")[0] == 200 and server.get("/readyz")[0] == 200
    finally:
        assert server.stop() == 0
    public = Router(tmp_path / "data2", "--token", "ops", "--public-metrics").start()
    try:
        assert public.get("/metrics")[0] == 200
    finally:
        assert public.stop() == 0


def test_malformed_http_is_logged_in_one_line(tmp_path: Path) -> None:
    server = Router(tmp_path / "data").start()
    try:
        for garbage in (
            b"POST /v1/logs HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n",
        ):
            with socket.create_connection(("127.0.0.1", server.port)) as sock:
                sock.sendall(garbage)
                sock.settimeout(5)
                assert sock.recv(4096).split(b"\r\n")[0].endswith(b" 400 Bad Request")
        assert server.post("/v1/logs", otlp_request(["fine"]), PROTOBUF)[0] == 200
    finally:
        assert server.stop() == 0
    log = server.output()
    assert "Traceback" not in log, log
    assert sum("bad HTTP request" in line for line in log.splitlines()) == 2, log
