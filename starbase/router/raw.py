"""Raw lines (`POST /v1/raw?source=NAME`): newline-delimited text kept exactly as sent.

Requires: nothing beyond the standard library. Guarantees: the body (already decompressed)
must be UTF-8 and `source` a name that fits a partition folder, else a 400 `Problem` names
the line or the limit. `lines` splits a payload the one way the flusher and the tests agree
on: at each "\\n"; a final "\\n" ends the last line rather than starting an empty one; every
other byte (a "\\r" too) is part of its line.
"""

from __future__ import annotations

from dataclasses import dataclass

from starbase.router.problems import Problem, bad_request
from starbase.storage.formats import RAW, segment


@dataclass(frozen=True)
class RawBatch:
    source: str
    payload: bytes
    lines: int


def decode(body: bytes, source: str | None) -> RawBatch | Problem:
    if not source:
        return bad_request("the source query parameter is required: /v1/raw?source=NAME")
    try:
        segment(RAW.key, source)
    except ValueError as exc:
        return bad_request(f"source: {exc}")
    try:
        body.decode()
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        return bad_request(f"line {line} is not UTF-8 ({exc.reason} at byte {exc.start})")
    count = body.count(b"\n") + (0 if not body or body.endswith(b"\n") else 1)
    return RawBatch(source, body, count)


def lines(payload: bytes) -> list[str]:
    text = payload.decode()
    if not text:
        return []
    parts = text.split("\n")
    return parts[:-1] if text.endswith("\n") else parts
