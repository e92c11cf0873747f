"""Raw lines (`POST /v1/raw?source=NAME`): newline-delimited text kept exactly as sent.

Requires: pyarrow (to split a payload into lines without a Python object per line).
Guarantees: the body (already decompressed) must be UTF-8 and `source` a name that fits a
partition folder, else a 400 `Problem` names the line or the limit; the lines are counted into
the request's `Budget` (413 past `--max-records`). UTF-8 is checked in slices, so memory stays
near the body's size. `lines` splits a payload the one way the flusher and the tests agree on:
at each "\\n"; a final "\\n" ends the last line rather than starting an empty one; every other
byte (a "\\r" too) is part of its line.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from starbase.router.limits import Budget, Overrun, unlimited
from starbase.router.problems import Problem, bad_request
from starbase.storage.formats import RAW, segment

_SLICE = 1 << 20


@dataclass(frozen=True)
class RawBatch:
    source: str
    payload: bytes
    lines: int


def decode(body: bytes, source: str | None, budget: Budget | None = None) -> RawBatch | Problem:
    try:
        return _decode(body, source, budget or unlimited())
    except Overrun as exc:
        return exc.problem


def _decode(body: bytes, source: str | None, budget: Budget) -> RawBatch | Problem:
    if not source:
        return bad_request("the source query parameter is required: /v1/raw?source=NAME")
    try:
        segment(RAW.key, source)
    except ValueError as exc:
        return bad_request(f"source: {exc}")
    count = body.count(b"\n") + (0 if not body or body.endswith(b"\n") else 1)
    budget.records(count)
    problem = _utf8_problem(body, budget)
    if problem is not None:
        return problem
    return RawBatch(source, body, count)


def _utf8_problem(body: bytes, budget: Budget) -> Problem | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(body)
    for start in range(0, len(body), _SLICE):
        budget.tick()
        pending = len(decoder.getstate()[0])  # bytes of a character cut by the last slice
        try:
            decoder.decode(view[start : start + _SLICE], final=start + _SLICE >= len(body))
        except UnicodeDecodeError as exc:
            position = start - pending + exc.start
            line = body.count(b"\n", 0, max(position, 0)) + 1
            return bad_request(f"line {line} is not UTF-8 ({exc.reason} at byte {position})")
    return None


def lines(payload: bytes) -> pa.Array:
    """The lines of `payload` as an Arrow string array (see the module docstring)."""
    if not payload:
        return pa.array([], pa.string())
    text = pa.array([payload], pa.binary()).cast(pa.string())
    parts = pc.split_pattern(text, "\n").flatten()
    return parts.slice(0, len(parts) - 1) if payload.endswith(b"\n") else parts
