"""Raw lines (`POST /v1/raw?source=NAME`): newline-delimited text kept exactly as sent.

Requires: pyarrow (to split a payload into lines without a Python object per line).
Guarantees: the body (already decompressed) must be UTF-8 and `source` a name that fits a
partition folder, else a 400 `Problem` names the line or the limit; the lines are counted into
the request's `Budget` (413 past `--max-records`); a line longer than `MAX_RECORD_BYTES` (the
largest record any endpoint stores) is a 413 naming it. UTF-8 is checked in slices, so memory stays
near the body's size. `lines` splits a payload the one way the flusher and the tests agree on:
at each "\\n"; a final "\\n" ends the last line rather than starting an empty one; every other
byte (a "\\r" too) is part of its line.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from starbase.router.limits import MAX_RECORD_BYTES, Budget, Overrun, unlimited
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
    problem = _long_line(body, budget) if len(body) > MAX_RECORD_BYTES else None
    if problem is None:
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


def _long_line(body: bytes, budget: Budget) -> Problem | None:
    """A 413 for the first line over MAX_RECORD_BYTES (its "\n" not counted), else None."""
    data = np.frombuffer(body, dtype=np.uint8)
    start = 0  # of the current line
    newlines = 0  # before the current slice
    for offset in range(0, len(body), _SLICE):
        budget.tick()
        ends = np.flatnonzero(data[offset : offset + _SLICE] == 10) + offset
        if len(ends):
            lengths = np.diff(ends, prepend=start) - 1
            lengths[0] += 1  # the first runs from `start`, not from a newline
            over = np.flatnonzero(lengths > MAX_RECORD_BYTES)
            if len(over):
                return _too_long(newlines + int(over[0]) + 1, int(lengths[over[0]]))
            start = int(ends[-1]) + 1
            newlines += len(ends)
    if len(body) - start > MAX_RECORD_BYTES:
        return _too_long(newlines + 1, len(body) - start)
    return None


def _too_long(line: int, size: int) -> Problem:
    return Problem(
        413,
        f"line {line} is {size} bytes, longer than the {MAX_RECORD_BYTES} bytes a record may "
        "be: split it",
    )


def lines(payload: bytes) -> pa.Array:
    """The lines of `payload` as an Arrow string array (see the module docstring)."""
    if not payload:
        return pa.array([], pa.string())
    text = pa.array([payload], pa.binary()).cast(pa.string())
    parts = pc.split_pattern(text, "\n").flatten()
    return parts.slice(0, len(parts) - 1) if payload.endswith(b"\n") else parts
