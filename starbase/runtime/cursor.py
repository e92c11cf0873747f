"""A running query's result: Arrow record batches as they come, metrics, and cancel.

Requires: a producer (the `Session`'s run thread) that calls `_open`, `_put`, `_fetched`,
then `_finish` or `_fail`, and registers with `_on_cancel` how to stop its work.
Guarantees: a `Cursor` is used from any thread; one consumer reads it:

- `schema` (blocks until the engine has planned: before the first row) is the schema of
  every batch — the query's output names and the types of `runtime.results`;
- iterating yields `pyarrow.RecordBatch`es in result order, at most `limit` rows in all;
  `fetch_all()` returns them as one `pyarrow.Table` (with the schema even when empty);
- reading a failed cursor raises its `QueryFailed` (or the `CompileError` of a parameter
  that could not be bound); reading a cancelled one raises `QueryCancelled`;
- `cancel()` returns at once: the state becomes `cancelled`, a blocked reader wakes up, and
  the work is stopped the way the session runs it (a worker process is killed, a native
  store's queries are stopped, an in-process DataFusion run stops at its next batch);
- `state` is `running`, then `done`, `failed` or `cancelled`; `metrics` (rows returned,
  bytes scanned, sources, elapsed seconds, seconds to the first batch, whether `limit` cut
  the result, what fetching from native stores took) can be read at any time.

The producer is held back while `BUFFER` batches wait to be read, so memory stays bounded
when the reader is slow; iterate (or `fetch_all`) to drive a run to its end.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from starbase.runtime.errors import QueryCancelled

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    from starbase.backends.base import ExecutionStats, Report
    from starbase.compiler.driver import CompiledQuery

State = Literal["running", "done", "failed", "cancelled"]
BUFFER = 16  # batches produced but not yet read


@dataclass(frozen=True)
class Metrics:
    """Figures of one run (a snapshot; `elapsed` keeps growing while it runs)."""

    rows: int = 0
    bytes_scanned: int | None = None  # None: the engine does not say (yet)
    sources: tuple[str, ...] = ()
    elapsed: float = 0.0  # seconds since `execute`, until the run ended
    first_batch: float | None = None  # seconds from `execute` to the first batch
    truncated: bool = False  # `limit` stopped the result with more rows left
    fetches: tuple[Report, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: numbers, strings, and each fetch as its one-line report."""
        first = self.first_batch
        return {
            "rows": self.rows,
            "bytes_scanned": self.bytes_scanned,
            "sources": list(self.sources),
            "elapsed_ms": round(self.elapsed * 1000, 3),
            "first_batch_ms": None if first is None else round(first * 1000, 3),
            "truncated": self.truncated,
            "fetches": [report.render() for report in self.fetches],
        }


class Cursor:
    """See the module docstring."""

    def __init__(
        self,
        compiled: CompiledQuery,
        *,
        limit: int | None = None,
        sources: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
        buffer: int | None = BUFFER,
    ) -> None:
        self.compiled = compiled
        self.limit = limit
        self._capacity = buffer  # None: the producer is never held back (`Session.run`)
        self.cancel_event = threading.Event()  # set by `cancel`; native fetches watch it
        self._clock = clock
        self._started = clock()
        self._ended: float | None = None
        self._first: float | None = None
        self._cond = threading.Condition()
        self._buffer: deque[pa.RecordBatch] = deque()
        self._schema: pa.Schema | None = None
        self._state: State = "running"
        self._error: BaseException | None = None
        self._rows = 0
        self._stats: ExecutionStats | None = None
        self._fetches: tuple[Report, ...] = ()
        self._sources = sources
        self._stoppers: list[Callable[[], None]] = []
        self._work_ended = threading.Event()
        self._fetching = False

    # ------------------------------------------------------------ reading

    @property
    def state(self) -> State:
        return self._state

    @property
    def error(self) -> BaseException | None:
        """Why the run failed (None unless `state` is `failed`)."""
        return self._error

    @property
    def schema(self) -> pa.Schema:
        """The result's schema, known once the engine planned the query."""
        with self._cond:
            while self._schema is None and self._state == "running":
                self._cond.wait()
            if self._schema is None:
                self._raise()
            assert self._schema is not None
            return self._schema

    @property
    def fetching(self) -> bool:
        """Whether the run is fetching from a native store (whose queries a cancel stops
        with calls of their own: `wait_stopped` waits for them)."""
        return self._fetching

    @property
    def metrics(self) -> Metrics:
        with self._cond:
            end = self._ended if self._ended is not None else self._clock()
            stats = self._stats
            return Metrics(
                rows=self._rows,
                bytes_scanned=stats.bytes_scanned if stats is not None else None,
                sources=self._sources,
                elapsed=end - self._started,
                first_batch=None if self._first is None else self._first - self._started,
                truncated=stats.truncated if stats is not None else False,
                fetches=self._fetches,
            )

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while True:
            with self._cond:
                while not self._buffer and self._state == "running":
                    self._cond.wait()
                if self._state in ("cancelled", "failed"):
                    self._raise()
                if not self._buffer:
                    return  # done
                batch = self._buffer.popleft()
                self._cond.notify_all()
            yield batch

    def fetch_all(self) -> pa.Table:
        """Every (remaining) batch as one table."""
        import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

        batches = list(self)
        return pa.Table.from_batches(batches, schema=self.schema)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the run has ended (True) or `timeout` seconds passed (False). A run
        whose result is not read ends only if it fits in the buffer: read it instead."""
        with self._cond:
            return self._cond.wait_for(lambda: self._state != "running", timeout)

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until the session's work for this run has ended (after `cancel`: the native
        queries were stopped and the engine let go); False when `timeout` passed first — an
        in-process engine may finish its current batch long after a cancel."""
        return self._work_ended.wait(timeout)

    def cancel(self) -> None:
        """Stop the run (see the module docstring); does nothing once it has ended."""
        with self._cond:
            if self._state != "running":
                return
            self._state = "cancelled"
            self._ended = self._clock()
            self.cancel_event.set()
            self._buffer.clear()
            stoppers = list(self._stoppers)
            self._cond.notify_all()
        for stop in stoppers:
            stop()

    def _raise(self) -> None:
        if self._state == "cancelled":
            raise QueryCancelled
        assert self._error is not None
        raise self._error

    # ------------------------------------------------------------ producing (the session)

    def _on_cancel(self, stop: Callable[[], None]) -> None:
        """Call `stop` on cancel (at once if the cursor is cancelled already)."""
        with self._cond:
            if self._state == "running":
                self._stoppers.append(stop)
                return
            cancelled = self._state == "cancelled"
        if cancelled:
            stop()

    def _fetch_started(self) -> None:
        self._fetching = True

    def _fetched(self, reports: tuple[Report, ...]) -> None:
        with self._cond:
            self._fetches = reports
            self._fetching = False

    def _open(self, schema: pa.Schema) -> None:
        with self._cond:
            self._schema = schema
            self._cond.notify_all()

    def _put(self, batch: pa.RecordBatch) -> bool:
        """Hand a batch to the reader (waiting while the buffer is full); False when the
        cursor no longer wants batches (cancelled)."""
        with self._cond:
            while (
                self._capacity is not None
                and len(self._buffer) >= self._capacity
                and self._state == "running"
            ):
                self._cond.wait()
            if self._state != "running":
                return False
            if self._first is None:
                self._first = self._clock()
            self._buffer.append(batch)
            self._rows += batch.num_rows
            self._cond.notify_all()
            return True

    def _finish(self, stats: ExecutionStats) -> None:
        with self._cond:
            self._stats = stats
            if self._state == "running":
                self._state = "done"
                self._ended = self._clock()
            self._cond.notify_all()

    def _ended_work(self) -> None:
        self._work_ended.set()

    def _fail(self, error: BaseException) -> None:
        with self._cond:
            if self._state == "running":
                self._state = "failed"
                self._error = error
                self._ended = self._clock()
                self._buffer.clear()
            self._cond.notify_all()
