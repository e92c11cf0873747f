"""Running queries for the REPL: the session's cursors, capped at `max_rows` and cancellable.

Requires: a `starbase.runtime.Session` (the REPL's own, with worker processes, so that Esc
stops a running aggregation for real). Guarantees: `SessionBackend.execute` runs the
request's compiled query on the session with the request's parameters and clock, stops after
`max_rows` rows (the result says it was truncated), and returns the table (the names and
types of `Session.run`) with the bytes the engine's scans read and the sources read; setting
the request's `cancel` event cancels the run within `CANCEL_POLL` seconds (the session kills
its worker: the CPU is free at once) and `execute` raises `Cancelled`. Failures are
`QueryFailed` (one line) or `CompileError` (a parameter that cannot be bound). `explain` and
`sample` are the session's. `Backend` is the seam tests replace (e.g. with a runner that
blocks until released), and `Clock` the one that fixes time for them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.compiler import ir
from starbase.compiler.driver import CompiledQuery
from starbase.runtime.cursor import Cursor
from starbase.runtime.errors import QueryCancelled
from starbase.runtime.explain import Explain
from starbase.runtime.session import Sample, Session

DEFAULT_MAX_ROWS = 100_000
CANCEL_POLL = 0.05  # seconds between checks of a request's cancel event


class Cancelled(Exception):
    """The request's cancel event was set before the query finished."""


@dataclass(frozen=True)
class RunRequest:
    compiled: CompiledQuery
    params: Mapping[str, object]
    now_ns: int
    max_rows: int = DEFAULT_MAX_ROWS
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    truncated: bool = False  # stopped after max_rows rows
    bytes_scanned: int | None = None  # None: the backend does not say
    sources: tuple[str, ...] = ()


class Backend(Protocol):
    """What the REPL needs to run and describe queries; `SessionBackend` is the real one."""

    def execute(self, request: RunRequest) -> QueryResult: ...

    def explain(
        self, compiled: CompiledQuery, params: Mapping[str, object], *, plans: bool = True
    ) -> Explain: ...

    def sample(self, source: str) -> Sample: ...

    def close(self) -> None: ...


class Clock(Protocol):
    def now_ns(self) -> int: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class Run:
    """The query being run (or last run): what, with which parameters, when."""

    run_id: int
    compiled: CompiledQuery
    params: dict[str, object]
    now_ns: int
    started: float
    cancel: threading.Event
    finished: bool = False


def plan_sources(plan: ir.Plan) -> tuple[str, ...]:
    """The sources a plan reads, in plan order, each once."""
    names: list[str] = []
    for node in ir.plan_walk(plan):
        if isinstance(node, ir.Scan) and node.source not in names:
            names.append(node.source)
        if isinstance(node, ir.Sources):
            names.extend(s.name for s in node.sources if s.name not in names)
    return tuple(names)


class SessionBackend:
    """The REPL's queries on one `Session` (its sources registered once, in its workers)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def execute(self, request: RunRequest) -> QueryResult:
        if request.cancel.is_set():
            raise Cancelled
        cursor = self.session.execute(
            request.compiled, request.params, limit=request.max_rows, now_ns=request.now_ns
        )
        watcher = threading.Thread(
            target=_cancel_on, args=(request.cancel, cursor), daemon=True, name="repl-cancel"
        )
        watcher.start()
        try:
            table = cursor.fetch_all()
        except QueryCancelled:
            raise Cancelled from None
        metrics = cursor.metrics
        return QueryResult(table, metrics.truncated, metrics.bytes_scanned, metrics.sources)

    def explain(
        self, compiled: CompiledQuery, params: Mapping[str, object], *, plans: bool = True
    ) -> Explain:
        return self.session.explain(compiled, params, plans=plans)

    def sample(self, source: str) -> Sample:
        return self.session.sample(source)

    def close(self) -> None:
        self.session.close()


def _cancel_on(event: threading.Event, cursor: Cursor) -> None:
    """Cancel `cursor` when `event` is set, until the run's work has ended."""
    while not cursor.wait_stopped(CANCEL_POLL):
        if event.is_set():
            cursor.cancel()
            return
