"""Running a client's query: checks, the time range, limits, and reading a cursor from asyncio.

Requires: the server's `ServeSettings`, a tenant's `Session`. Guarantees:

- `prepare(…)` refuses a query longer than `max_query_bytes` (413), applies the request's time
  `range` by inserting a `since`/`between`/`where timestamp` stage right after `from` (the
  query as typed is compiled first, so diagnostics point into the text the client sent) and
  compiles; a compile error is raised as `CompileError` (the caller answers 400).
- `Limiter.slot(principal)` admits at most `max_concurrent` queries per principal at once; one
  more is a 429 with `Retry-After`.
- `Deadline` cancels a cursor after `max_seconds` and remembers that it did, so the caller
  reports a runaway query (`time_limit`) rather than a cancel.
- `batches(cursor, executor)` reads a cursor's blocking iterator on a worker thread, one batch
  at a time: the event loop never blocks, and a reader that stops asking holds the query back
  (the cursor's buffer is bounded).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.api.errors import ApiError
from starbase.api.execution import Cursor, Session
from starbase.api.models import TimeRange
from starbase.api.settings import Limits
from starbase.api.tenants import Principal
from starbase.compiler.driver import CompiledQuery
from starbase.compiler.timestamps import parse_iso

_DURATION = re.compile(r"^[0-9]{1,9}(ns|us|ms|s|m|h|d|w)$")


@dataclass(frozen=True)
class Prepared:
    text: str  # what runs (the client's text with the range applied)
    compiled: CompiledQuery
    typed: CompiledQuery  # the client's text as typed


def check_length(text: str, limits: Limits) -> None:
    size = len(text.encode())
    if size > limits.max_query_bytes:
        raise ApiError(
            413,
            "query_too_large",
            f"the query is {size} bytes; the limit is {limits.max_query_bytes}",
        )


def prepare(session: Session, text: str, time_range: TimeRange | None, limits: Limits) -> Prepared:
    check_length(text, limits)
    typed = session.compile(text)
    stage = range_stage(time_range)
    if stage is None:
        return Prepared(text, typed, typed)
    span = typed.ast.source.span
    ranged = text[: span.end] + f"\n| {stage}\n" + text[span.end :].lstrip(" \t")
    return Prepared(ranged, session.compile(ranged), typed)


def range_stage(time_range: TimeRange | None) -> str | None:
    """The StarQL stage a request's `range` stands for (None: no range)."""
    if time_range is None:
        return None
    last, start, end = time_range.last, time_range.from_, time_range.to
    if last is not None:
        if start is not None or end is not None:
            raise ApiError(400, "invalid_range", "give range.last or range.from/to, not both")
        if not _DURATION.match(last.strip()):
            raise ApiError(
                400, "invalid_range", f"range.last must be a duration such as 15m or 1h: {last!r}"
            )
        return f"since {last.strip()}"
    for name, value in (("from", start), ("to", end)):
        if value is not None:
            try:
                parse_iso(value)
            except ValueError:
                raise ApiError(
                    400, "invalid_range", f"range.{name} is not an ISO-8601 instant: {value!r}"
                ) from None
    if start is not None and end is not None:
        if parse_iso(start) > parse_iso(end):
            raise ApiError(400, "invalid_range", "range.from is after range.to")
        return f"between {json.dumps(start)} and {json.dumps(end)}"
    if start is not None:
        return f"where timestamp >= {json.dumps(start)}"
    if end is not None:
        return f"where timestamp < {json.dumps(end)}"
    return None


class Limiter:
    """Queries running per principal (see the module docstring)."""

    def __init__(self, per_principal: int, what: str = "queries") -> None:
        self.per_principal = per_principal
        self.what = what
        self._running: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, principal: Principal) -> Iterator[None]:
        with self._lock:
            if self._running[principal.id] >= self.per_principal:
                raise ApiError(
                    429,
                    "too_many_queries",
                    f"{self.per_principal} {self.what} are running for this token already; "
                    "wait for one to end",
                    retry_after=1,
                )
            self._running[principal.id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._running[principal.id] -= 1
                if self._running[principal.id] <= 0:
                    del self._running[principal.id]

    def running(self, principal: Principal) -> int:
        with self._lock:
            return self._running[principal.id]


class Deadline:
    """Cancels `cursor` after `seconds` (see the module docstring)."""

    def __init__(self, cursor: Cursor, seconds: float) -> None:
        self.cursor = cursor
        self.seconds = seconds
        self.expired = False
        self._handle = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        if self.cursor.state == "running":
            self.expired = True
            self.cursor.cancel()

    def stop(self) -> None:
        self._handle.cancel()

    def error(self) -> ApiError:
        return ApiError(
            422,
            "time_limit",
            f"the query ran longer than the limit of {self.seconds:g} s and was cancelled",
        )


async def batches(cursor: Cursor, executor: Executor) -> AsyncIterator[pa.RecordBatch]:
    loop = asyncio.get_running_loop()
    iterator = iter(cursor)
    while True:
        batch = await loop.run_in_executor(executor, next, iterator, None)
        if batch is None:
            return
        yield batch


async def schema_of(cursor: Cursor, executor: Executor) -> pa.Schema:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, lambda: cursor.schema)
