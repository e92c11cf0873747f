"""OTLP mode's fast path for load generation: records encoded straight to protobuf, no SDK.

Requires: nothing beyond the standard library (`http_post`). Guarantees:
- `encode(records)` is an `ExportLogsServiceRequest` holding what the SDK path sends for the
  same records (one ResourceLogs per host with the service's resource attributes — less the
  SDK's own `telemetry.sdk.*` ones — one ScopeLogs per scope with the service version, time =
  observed time, severity number and text, string body, attributes typed as given — bool,
  int, double, string — trace and span ids with flags `SAMPLED` when there is a trace),
  written field by field in Python, several times cheaper than the SDK.
  tests/test_emitter.py checks it against the protobuf runtime's own parse.
- `DirectOtlpSink` batches `batch_size` records per request and posts with `http_post.post`
  (retries honour `Retry-After`) from `senders` threads, so several requests are in flight;
  `add` blocks while `senders` × 2 batches wait, so memory stays bounded. Delivery is counted
  per request as in every other mode.
"""

from __future__ import annotations

import queue
import struct
import threading
from collections.abc import Iterable

from starbase.emitter.http_post import DeliveryError, post
from starbase.emitter.records import Record
from starbase.emitter.sink import Delivery
from starbase.emitter.system import ENVIRONMENT, NAMESPACE, SEVERITY_TEXT

_HEADERS = {"Content-Type": "application/x-protobuf"}
_FIXED64 = struct.Struct("<Q")
_DOUBLE = struct.Struct("<d")
_SAMPLED_FLAGS = b"\x45" + struct.pack("<I", 1)  # field 8, fixed32


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field whose tag fits in one byte."""
    return bytes((tag,)) + _varint(len(payload)) + payload


def _value(value: str | int | float | bool) -> bytes:
    """An AnyValue's bytes."""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + _varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE.pack(value)
    return _field(0x0A, value.encode())


def _key_value(key: str, value: str | int | float | bool) -> bytes:
    return _field(0x0A, key.encode()) + _field(0x12, _value(value))


_SEVERITY = {
    n: b"\x10" + _varint(n) + _field(0x1A, text.encode()) for n, text in SEVERITY_TEXT.items()
}


def _record(record: Record, keys: dict[str, bytes]) -> bytes:
    time = _FIXED64.pack(record.time_ns)
    parts = [b"\x09", time, b"\x59", time, _SEVERITY[record.severity]]
    parts.append(_field(0x2A, _field(0x0A, record.body.encode())))
    for key, value in record.attributes.items():
        prefix = keys.get(key)
        if prefix is None:
            prefix = keys[key] = _field(0x0A, key.encode())
        parts.append(_field(0x32, prefix + _field(0x12, _value(value))))
    if record.trace_id:
        parts += [b"\x4a\x10", record.trace_id.to_bytes(16, "big")]
        parts += [b"\x52\x08", record.span_id.to_bytes(8, "big"), _SAMPLED_FLAGS]
    return _field(0x12, b"".join(parts))


def _resource(record: Record) -> bytes:
    attributes = (
        ("service.name", record.service),
        ("service.namespace", NAMESPACE),
        ("service.version", record.version),
        ("host.name", record.host),
        ("deployment.environment", ENVIRONMENT),
    )
    return _field(0x0A, b"".join(_field(0x0A, _key_value(k, v)) for k, v in attributes))


def encode(records: Iterable[Record], keys: dict[str, bytes] | None = None) -> bytes:
    """An ExportLogsServiceRequest of `records` (see the module docstring)."""
    cache = keys if keys is not None else {}
    by_host: dict[str, dict[str, list[bytes]]] = {}
    first: dict[str, Record] = {}
    for record in records:
        scopes = by_host.get(record.host)
        if scopes is None:
            scopes = by_host[record.host] = {}
            first[record.host] = record
        scopes.setdefault(record.scope, []).append(_record(record, cache))
    out = []
    for host, scopes in by_host.items():
        version = first[host].version.encode()
        scope_logs = [
            _field(
                0x12,
                _field(0x0A, _field(0x0A, scope.encode()) + _field(0x12, version)) + b"".join(recs),
            )
            for scope, recs in scopes.items()
        ]
        out.append(_field(0x0A, _resource(first[host]) + b"".join(scope_logs)))
    return b"".join(out)


class DirectOtlpSink:
    """Sends `Record`s as pre-encoded OTLP/protobuf requests; see the module docstring."""

    def __init__(
        self, endpoint: str, token: str | None = None, *, batch_size: int = 1_000, senders: int = 4
    ) -> None:
        self._endpoint = endpoint
        self._headers = dict(_HEADERS)
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._batch_size = batch_size
        self._batch: list[Record] = []
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._delivered = self._failed = self._requests = 0
        self._problem = ""
        self._queue: queue.Queue[tuple[bytes, int] | None] = queue.Queue(maxsize=2 * senders)
        self._threads = [threading.Thread(target=self._send, daemon=True) for _ in range(senders)]
        for thread in self._threads:
            thread.start()

    def _send(self) -> None:
        while (item := self._queue.get()) is not None:
            body, count = item
            try:
                post(self._endpoint, body, self._headers)
                problem = None
            except DeliveryError as error:
                problem = str(error)
            with self._lock:
                self._requests += 1
                if problem is None:
                    self._delivered += count
                else:
                    self._failed += count
                    self._problem = problem

    def add(self, record: Record) -> None:
        self._batch.append(record)
        if len(self._batch) >= self._batch_size:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._queue.put((encode(self._batch, self._keys), len(self._batch)))
            self._batch = []

    def status(self) -> Delivery:
        with self._lock:
            return Delivery(self._delivered, self._failed, self._requests, self._problem)

    def close(self) -> Delivery:
        self._flush()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        return self.status()
