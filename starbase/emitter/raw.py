"""Raw mode: the shop's logs as plain lines — nginx in front, syslog behind — posted
newline-delimited to `<router>/v1/raw?source=NAME`.

Requires: `records`, `http_post`. Guarantees:
- `raw_lines(request)` renders a request: the gateway's access records as nginx `combined`
  access lines with `$request_time` appended (source `nginx`), plus an nginx error-log line for
  each 502/503/504 (source `nginx-error`); every other service's records as syslog lines
  (source `syslog`): RFC 5424 for checkout and payments (trace context as structured data),
  RFC 3164 for the rest, facility local0. Lines never contain a newline.
- `RawSink` buffers lines per source and posts a source's lines (joined by and ending with
  `\\n`, `Content-Type: text/plain`, `Authorization: Bearer` when a token is given) when it
  holds `max_lines` lines or `max_bytes`, every `flush_interval` seconds, and at `close`.
  Lines of an acknowledged request count as delivered, others as failed.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import NamedTuple

from starbase.emitter import http_post
from starbase.emitter.records import Record, Request
from starbase.emitter.sink import Delivery
from starbase.emitter.system import DEBUG, ERROR, FATAL, INFO, WARN

SOURCES = ("nginx", "nginx-error", "syslog")
SERVER = "shop.example.com"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SYSLOG_SEVERITY = {DEBUG: 7, INFO: 6, WARN: 4, ERROR: 3, FATAL: 2}
_LOCAL0 = 16
_RFC5424_SERVICES = frozenset({"checkout", "payments"})
_UPSTREAM_ERRORS = {
    502: "upstream prematurely closed connection while reading response header from upstream",
    503: "no live upstreams while connecting to upstream",
    504: "upstream timed out (110: Connection timed out) while reading response header from "
    "upstream",
}


class RawLine(NamedTuple):
    time_ns: int
    source: str
    line: str


def _pid(host: str) -> int:
    return 7 + sum(host.encode()) % 30_000


def _utc(time_ns: int) -> time.struct_time:
    return time.gmtime(time_ns // 1_000_000_000)


def nginx_access(record: Record) -> str:
    """`10.1.2.3 - - [20/Nov/2026:10:00:00 +0000] "GET /p HTTP/1.1" 200 512 "-" "UA" 0.012`."""
    a = record.attributes
    method, path = record.body.split(" ", 2)[:2]
    t = _utc(record.time_ns)
    stamp = f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{time.strftime('%H:%M:%S', t)}"
    seconds = int(a.get("duration_ms", 0)) / 1000
    return (
        f'{a["client.address"]} - - [{stamp} +0000] "{method} {path} HTTP/1.1" '
        f'{a["http.status_code"]} {a["http.response.body.size"]} "-" '
        f'"{a["user_agent.original"]}" {seconds:.3f}'
    )


def nginx_error(record: Record, status: int) -> str:
    """The nginx error-log line for an access record answered with a 5xx from upstream."""
    a = record.attributes
    method, path = record.body.split(" ", 2)[:2]
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", _utc(record.time_ns))
    pid = _pid(record.host)
    upstream = f"10.0.{record.span_id % 8}.{10 + record.span_id % 200}:8080"
    return (
        f"{stamp} [error] {pid}#{pid}: *{record.span_id % 10_000_000} {_UPSTREAM_ERRORS[status]}, "
        f'client: {a["client.address"]}, server: {SERVER}, request: "{method} {path} HTTP/1.1", '
        f'upstream: "http://{upstream}{path}", host: "{SERVER}"'
    )


def syslog(record: Record) -> str:
    """RFC 5424 for checkout and payments, RFC 3164 for the others."""
    pri = _LOCAL0 * 8 + _SYSLOG_SEVERITY[record.severity]
    body = record.body.replace("\n", " ")
    if record.service in _RFC5424_SERVICES:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", _utc(record.time_ns))
        micros = record.time_ns // 1_000 % 1_000_000
        data = "-"
        if record.trace_id:
            data = f'[otel@32473 trace_id="{record.trace_id:032x}" span_id="{record.span_id:016x}"]'
        return (
            f"<{pri}>1 {stamp}.{micros:06d}Z {record.host} {record.service} "
            f"{_pid(record.host)} {record.scope} {data} {body}"
        )
    t = _utc(record.time_ns)
    stamp = f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {time.strftime('%H:%M:%S', t)}"
    return f"<{pri}>{stamp} {record.host} {record.service}[{_pid(record.host)}]: {body}"


def raw_lines(request: Request) -> list[RawLine]:
    """A request's lines, per the module docstring."""
    lines: list[RawLine] = []
    for span in request.spans:
        for record in span.records:
            if record.service != "gateway" or record.scope not in ("http", "proxy"):
                lines.append(RawLine(record.time_ns, "syslog", syslog(record)))
            elif record.scope == "http":
                lines.append(RawLine(record.time_ns, "nginx", nginx_access(record)))
                status = int(record.attributes["http.status_code"])
                if status in _UPSTREAM_ERRORS:
                    lines.append(
                        RawLine(record.time_ns, "nginx-error", nginx_error(record, status))
                    )
    return lines


class RawSink:
    """Posts `RawLine`s to `<base>/v1/raw?source=…`; see the module docstring."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        max_lines: int = 5_000,
        max_bytes: int = 1 << 20,
        flush_interval: float = 1.0,
        post: http_post.Post = http_post.post,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._max_lines, self._max_bytes = max_lines, max_bytes
        self._flush_interval = flush_interval
        self._next_flush = time.monotonic() + flush_interval
        self._poster = http_post.Poster(post)
        self._buffers: dict[str, tuple[list[str], list[int]]] = {}

    def url(self, source: str) -> str:
        return f"{self._base}/v1/raw?{urllib.parse.urlencode({'source': source})}"

    def add(self, unit: RawLine) -> None:
        lines, size = self._buffers.setdefault(unit.source, ([], [0]))
        lines.append(unit.line)
        size[0] += len(unit.line) + 1
        if len(lines) >= self._max_lines or size[0] >= self._max_bytes:
            self._send(unit.source)
        if time.monotonic() >= self._next_flush:
            self.flush()

    def _send(self, source: str) -> None:
        lines, _ = self._buffers.pop(source)
        body = ("\n".join(lines) + "\n").encode()
        self._poster.send(self.url(source), body, self._headers, len(lines))

    def flush(self) -> None:
        for source in list(self._buffers):
            self._send(source)
        self._next_flush = time.monotonic() + self._flush_interval

    def status(self) -> Delivery:
        return self._poster.status()

    def close(self) -> Delivery:
        self.flush()
        return self.status()
