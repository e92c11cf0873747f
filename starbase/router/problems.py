"""What a refused request is, as data, and the content-encoding step every endpoint shares.

Requires: nothing beyond the standard library. Guarantees: decoders never raise on bad
input; they return a `Problem` (HTTP status + a message naming what is wrong, e.g.
"gzip: truncated stream"); `decompress` accepts `gzip` and `identity` (or none) and never
expands a body past `limit` bytes, so a small compressed bomb cannot exhaust memory.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """A request refused as a whole: the status to answer and why (shown to the client)."""

    status: int
    message: str
    retry_after_s: int | None = None  # set for 429/503


def bad_request(message: str) -> Problem:
    return Problem(400, message)


def too_large(what: str, limit: int) -> Problem:
    return Problem(413, f"{what} is larger than the limit of {limit} bytes")


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes | Problem:
    """`body` decoded from its Content-Encoding, at most `limit` bytes."""
    coding = (encoding or "identity").strip().lower()
    if coding == "identity" or coding == "":
        return body if len(body) <= limit else too_large("request body", limit)
    if coding not in ("gzip", "x-gzip"):
        return Problem(415, f"Content-Encoding {encoding!r} is not supported (use gzip or none)")
    return gunzip(body, limit)


def gunzip(data: bytes, limit: int) -> bytes | Problem:
    """Every gzip member of `data` concatenated, refused past `limit` bytes."""
    out: list[bytes] = []
    size = 0
    rest = data
    while True:
        inflater = zlib.decompressobj(wbits=31)
        try:
            chunk = inflater.decompress(rest, limit - size + 1)
        except zlib.error as exc:
            return bad_request(f"gzip: {exc}")
        size += len(chunk)
        if size > limit:
            return too_large("decompressed body", limit)
        out.append(chunk)
        if not inflater.eof:
            return bad_request("gzip: truncated stream")
        rest = inflater.unused_data
        if not rest.strip(b"\0"):  # trailing padding after the last member is tolerated
            return b"".join(out) if len(out) > 1 else out[0]
