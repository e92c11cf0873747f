"""What a refused request is, as data, and the content-encoding step every endpoint shares.

Requires: nothing beyond the standard library. Guarantees: decoders never raise on bad
input; they return a `Problem` (HTTP status + a message naming what is wrong, e.g.
"gzip: truncated stream"); `decompress` accepts `gzip` and `identity` (or none) and never
expands a body past `limit` bytes, so a small compressed bomb cannot exhaust memory, and takes
time linear in the compressed size whatever the number of gzip members.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

_FIRST_FEED, _MAX_FEED = 512, 1 << 20


@dataclass(frozen=True)
class Problem:
    """A request refused as a whole: the status to answer and why (shown to the client)."""

    status: int
    message: str
    retry_after_s: int | None = None  # set for 429/503
    close: bool = False  # the body was not read to its end: close the connection after


def bad_request(message: str) -> Problem:
    return Problem(400, message)


def too_large(what: str, limit: int) -> Problem:
    return Problem(413, f"{what} is larger than the limit of {limit} bytes")


def _no_tick() -> None:
    pass


def decompress(
    body: bytes, encoding: str | None, limit: int, tick: Callable[[], None] = _no_tick
) -> bytes | Problem:
    """`body` decoded from its Content-Encoding, at most `limit` bytes."""
    coding = (encoding or "identity").strip().lower()
    if coding == "identity" or coding == "":
        return body if len(body) <= limit else too_large("request body", limit)
    if coding not in ("gzip", "x-gzip"):
        return Problem(415, f"Content-Encoding {encoding!r} is not supported (use gzip or none)")
    return gunzip(body, limit, tick)


def gunzip(data: bytes, limit: int, tick: Callable[[], None] = _no_tick) -> bytes | Problem:
    """Every gzip member of `data` concatenated, refused past `limit` bytes.

    Time is linear in `len(data)` whatever the number of members: input is fed in slices that
    start small and double, so what zlib copies back at the end of a member (`unused_data`) is
    at most about that member's own size. `tick` is called between slices (a CPU budget).
    """
    out: list[bytes] = []
    size = 0
    view = memoryview(data)
    end = len(data.rstrip(b"\0"))  # trailing padding after the last member is tolerated
    position = 0
    while True:
        inflater = zlib.decompressobj(wbits=31)
        feed = _FIRST_FEED
        while not inflater.eof:
            if position >= len(data):
                return bad_request("gzip: truncated stream")
            piece = view[position : position + feed]
            position += len(piece)
            try:
                chunk = inflater.decompress(piece, limit - size + 1)
            except zlib.error as exc:
                return bad_request(f"gzip: {exc}")
            size += len(chunk)
            if size > limit:
                return too_large("decompressed body", limit)
            out.append(chunk)
            feed = min(feed * 2, _MAX_FEED)
            tick()
        position -= len(inflater.unused_data)
        if position >= end:
            return b"".join(out)
