"""Labelled log lines: the text plus where each part of it is (for training and for scoring).

Requires: nothing. Guarantees: `LineBuilder` concatenates pieces and remembers the span of each
piece that has a role; `Labelled` carries the line, its format and family, the exact event
instant and level it encodes, and the spans of its roles (`timestamp`, `level`, `logger`,
`thread`, `pid`, `host`, `service`, `ident`, `message`). Roles are one vocabulary (`ROLES`),
shared with the token-role model. `MessageMaker` produces varied, realistic message bodies
(templates with variable parts) from a seeded `random.Random`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

ROLES = ("timestamp", "level", "logger", "thread", "pid", "host", "service", "ident", "message")
HEADER_ROLES = ROLES[:-1]
SEP = "sep"  # tokens of pure punctuation between fields
FAMILIES = (
    "json",
    "logfmt",
    "access",
    "syslog3164",
    "syslog5424",
    "delimited",
    "keyvalue",
    "app",
    "continuation",
    "plain",
)


@dataclass(frozen=True)
class Labelled:
    """One generated line and the truth about it."""

    text: str
    format: str
    family: str
    time_ns: int | None  # the instant the line's timestamp encodes (None: no timestamp)
    severity: int | None  # OTel severity number of its level (None: no level)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    def part(self, role: str) -> str | None:
        span = self.spans.get(role)
        return None if span is None else self.text[span[0] : span[1]]

    @property
    def message(self) -> str:
        return self.part("message") or self.text


class LineBuilder:
    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        self.spans: dict[str, tuple[int, int]] = {}

    def add(self, text: str, role: str | None = None) -> LineBuilder:
        if role is not None:
            self.spans[role] = (self._size, self._size + len(text))
        self._parts.append(text)
        self._size += len(text)
        return self

    def text(self) -> str:
        return "".join(self._parts)


_WORDS = [
    "request",
    "user",
    "order",
    "cart",
    "payment",
    "session",
    "cache",
    "connection",
    "worker",
    "job",
    "task",
    "queue",
    "file",
    "socket",
    "client",
    "server",
    "upstream",
    "backend",
    "token",
    "lock",
    "thread",
    "block",
    "node",
    "replica",
    "shard",
    "index",
    "record",
    "batch",
    "stream",
    "channel",
    "handler",
    "listener",
    "scheduler",
    "container",
    "pod",
    "volume",
    "image",
    "config",
]
_VERBS = [
    "started",
    "completed",
    "failed",
    "retried",
    "rejected",
    "accepted",
    "closed",
    "opened",
    "timed",
    "out",
    "created",
    "deleted",
    "updated",
    "skipped",
    "scheduled",
    "flushed",
    "evicted",
    "refreshed",
    "reconnected",
]
_TEMPLATES = (
    "{noun} {id} {verb}",
    "{noun} {verb} after {n} ms",
    "Connection from {ip}:{port} {verb}",
    "{verb} {noun} for user {user}",
    "GET /api/{noun}/{n} returned {status} in {n}ms",
    "Received {noun} request from {ip}",
    "{noun} {uuid} {verb} with status {status}",
    "Failed to connect to {host}:{port}: connection refused",
    "{noun} queue size is {n}, limit {n}",
    "Processing {noun} {id} ({n} items)",
    "User {user} logged in from {ip}",
    "Exception in {noun} handler: {err}",
    "Slow query took {n}ms: SELECT * FROM {noun} WHERE id = {n}",
    "Starting {noun} service on port {port}",
    "{noun} {verb}: {err}",
    "Writing {n} bytes to {path}",
    "Deleted {n} expired {noun} entries",
    "Heartbeat from {host} (lag {n} ms)",
    "Retrying {noun} {id} in {n}s (attempt {small} of 5)",
    "Cache hit ratio {pct}% for {noun}",
    "block blk_{big} replicated to {ip}:{port}",
    "Checkpoint {n} written to {path}",
    "Shutdown requested by {user}",
    "{noun}",
)
_ERRORS = (
    "java.io.IOException: Broken pipe",
    "timeout after 30s",
    "KeyError: 'user_id'",
    "permission denied",
    "ECONNRESET",
    "disk quota exceeded",
    "NullPointerException",
)


class MessageMaker:
    """Message bodies: a template with variables filled from `rng`."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self) -> str:
        r = self.rng
        template = r.choice(_TEMPLATES)
        values = {
            "noun": r.choice(_WORDS),
            "verb": r.choice(_VERBS),
            "id": f"{r.choice(_WORDS)}-{r.randrange(1, 99999)}",
            "n": str(r.randrange(0, 100000)),
            "small": str(r.randrange(1, 5)),
            "pct": str(r.randrange(0, 100)),
            "ip": f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}",
            "port": str(r.randrange(1024, 65535)),
            "user": r.choice(("alice", "bob", "carol", "dave", "root", "svc-batch")),
            "uuid": f"{r.getrandbits(32):08x}-{r.getrandbits(16):04x}-4{r.getrandbits(12):03x}"
            f"-a{r.getrandbits(12):03x}-{r.getrandbits(48):012x}",
            "status": r.choice(("200", "201", "404", "500", "503")),
            "host": r.choice(("db-1", "cache.internal", "api.example.com", "10.0.0.7")),
            "err": r.choice(_ERRORS),
            "path": f"/var/lib/{r.choice(_WORDS)}/{r.randrange(1000)}.dat",
            "big": str(r.getrandbits(62)),
        }
        text = template.format(**values)
        return text[0].upper() + text[1:] if r.random() < 0.5 else text
