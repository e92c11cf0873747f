"""The one place `starbase serve` runs queries: a session that compiles, streams, explains.

Requires: the compiler and the runtime's DataFusion `Engine`. Guarantees (the shape of the
shared execution API, `Session`/`Cursor`/`Explain`, so the server does not change when that
API replaces this module's insides):

- `Session(config, engines=N)` compiles (`compile`) and runs (`execute` → `Cursor`) queries
  on at most N engines at once, each with its own DataFusion session (a query waits for a
  free one); `close()` releases them.
- A `Cursor` streams the result as `pyarrow.RecordBatch`es from a thread of its own through a
  bounded buffer (`BUFFER` batches: a slow reader holds the query back, memory stays bounded
  whatever the result size), with `schema`, `state` (`running`, `done`, `failed`,
  `cancelled`), `metrics` and `cancel()`. Cancel returns at once and the reader is released;
  the engine stops at its next record batch (DataFusion's Python API cannot interrupt a plan
  mid-batch: an aggregation that has not produced its first batch runs to its end).
- `explain(compiled, params)` gives an `Explain` value (ordered sections, `to_dict()`);
  `sample(source)` the attribute/resource keys and top field values of a source's first rows,
  for completion (native stores are never sampled: their queries cost money).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from starbase.compiler import ir
from starbase.compiler.driver import CompiledQuery, compile, render_stage
from starbase.compiler.errors import CompileError
from starbase.config import Config
from starbase.runtime.bind import bind
from starbase.runtime.engine import Engine, QueryFailed, unify
from starbase.runtime.errors import one_line
from starbase.runtime.federation import reads_cloudwatch

State = Literal["running", "done", "failed", "cancelled"]
BUFFER = 8  # record batches produced and not yet read
SAMPLE_ROWS = 20_000
SAMPLED_FIELDS = ("service", "host", "severity_text", "log_group")
TOP_VALUES = 20
VALUED_KEYS = 30


class QueryCancelled(Exception):
    """The run was cancelled before its result was read."""


@dataclass(frozen=True)
class Metrics:
    rows: int = 0
    bytes_scanned: int | None = None
    sources: tuple[str, ...] = ()
    elapsed: float = 0.0
    first_batch: float | None = None
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        first = self.first_batch
        return {
            "rows": self.rows,
            "bytes_scanned": self.bytes_scanned,
            "sources": list(self.sources),
            "elapsed_ms": round(self.elapsed * 1000, 3),
            "first_batch_ms": None if first is None else round(first * 1000, 3),
            "truncated": self.truncated,
        }


class Cursor:
    """A running query's batches, state, metrics and cancel (see the module docstring)."""

    def __init__(self, compiled: CompiledQuery, limit: int | None, sources: tuple[str, ...]):
        self.compiled = compiled
        self.limit = limit
        self.cancel_event = threading.Event()
        self._sources = sources
        self._cond = threading.Condition()
        self._buffer: deque[pa.RecordBatch] = deque()
        self._schema: pa.Schema | None = None
        self._state: State = "running"
        self._error: BaseException | None = None
        self._rows = 0
        self._truncated = False
        self._started = time.monotonic()
        self._first: float | None = None
        self._ended: float | None = None
        self._work_ended = threading.Event()

    @property
    def state(self) -> State:
        return self._state

    @property
    def error(self) -> BaseException | None:
        return self._error

    @property
    def schema(self) -> pa.Schema:
        with self._cond:
            self._cond.wait_for(lambda: self._schema is not None or self._state != "running")
            if self._schema is None:
                self._raise()
            return self._schema

    @property
    def metrics(self) -> Metrics:
        with self._cond:
            end = self._ended if self._ended is not None else time.monotonic()
            first = None if self._first is None else self._first - self._started
            return Metrics(
                self._rows, None, self._sources, end - self._started, first, self._truncated
            )

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._buffer) or self._state != "running")
                if self._state in ("cancelled", "failed"):
                    self._raise()
                if not self._buffer:
                    return
                batch = self._buffer.popleft()
                self._cond.notify_all()
            yield batch

    def fetch_all(self) -> pa.Table:
        batches = list(self)
        return pa.Table.from_batches(batches, schema=self.schema)

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until the engine has let go of this run (after cancel: its current batch)."""
        return self._work_ended.wait(timeout)

    def cancel(self) -> None:
        with self._cond:
            if self._state != "running":
                return
            self._state = "cancelled"
            self._ended = time.monotonic()
            self.cancel_event.set()
            self._buffer.clear()
            self._cond.notify_all()

    def _raise(self) -> None:
        if self._state == "cancelled":
            raise QueryCancelled
        assert self._error is not None
        raise self._error

    # producing (the session's thread)

    def _open(self, schema: pa.Schema) -> None:
        with self._cond:
            self._schema = schema
            self._cond.notify_all()

    def _put(self, batch: pa.RecordBatch) -> bool:
        with self._cond:
            self._cond.wait_for(lambda: len(self._buffer) < BUFFER or self._state != "running")
            if self._state != "running":
                return False
            if self._first is None:
                self._first = time.monotonic()
            self._buffer.append(batch)
            self._rows += batch.num_rows
            self._cond.notify_all()
            return True

    def _finish(self, truncated: bool) -> None:
        with self._cond:
            if self._state == "running":
                self._state = "done"
                self._truncated = truncated
                self._ended = time.monotonic()
            self._cond.notify_all()

    def _fail(self, error: BaseException) -> None:
        with self._cond:
            if self._state == "running":
                self._state = "failed"
                self._error = error
                self._ended = time.monotonic()
                self._buffer.clear()
            self._cond.notify_all()


@dataclass(frozen=True)
class Section:
    title: str
    body: str
    language: str = "text"


@dataclass(frozen=True)
class Part:
    kind: str  # summary | stage | backend | plan | warnings
    section: Section


@dataclass(frozen=True)
class Explain:
    query: str
    parts: tuple[Part, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "sections": [
                {
                    "kind": p.kind,
                    "title": p.section.title,
                    "body": p.section.body,
                    "language": p.section.language,
                }
                for p in self.parts
            ],
        }


@dataclass(frozen=True)
class Sample:
    source: str
    rows: int = 0
    attribute_keys: tuple[str, ...] = ()
    resource_keys: tuple[str, ...] = ()
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class Session:
    """Compile, run, explain and sample over one `Config` (see the module docstring)."""

    def __init__(self, config: Config, *, engines: int = 4) -> None:
        self.config = config
        self._free: list[Engine] = []
        self._made = 0
        self._size = max(1, engines)
        self._lock = threading.Condition()
        self._closed = False

    def compile(self, text: str) -> CompiledQuery:
        return compile(text, self.config)

    def execute(
        self,
        compiled: CompiledQuery,
        params: Mapping[str, object] | None = None,
        *,
        limit: int | None = None,
        now_ns: int | None = None,
    ) -> Cursor:
        sources = tuple(
            dict.fromkeys(n.source for n in ir.plan_walk(compiled.plan) if isinstance(n, ir.Scan))
        )
        now = time.time_ns() if now_ns is None else now_ns
        try:  # a missing or unusable parameter is an error now, before anything runs
            bind(compiled.plan, params or {}, now)
        except CompileError as exc:
            raise CompileError(exc.diagnostics, compiled.text, exc.origin) from None
        cursor = Cursor(compiled, limit, sources)
        thread = threading.Thread(
            target=self._run, args=(cursor, dict(params or {}), now), daemon=True
        )
        thread.start()
        return cursor

    def run(self, compiled: CompiledQuery, params: Mapping[str, object] | None = None) -> pa.Table:
        return self.execute(compiled, params).fetch_all()

    def _run(self, cursor: Cursor, params: dict[str, object], now_ns: int) -> None:
        try:
            with self._engine() as engine:
                plan = cursor.compiled.plan
                sql = engine.prepare(plan, params, now_ns, cursor.cancel_event)
                if cursor.state != "running":
                    return
                columns = ir.output_schema(plan)
                try:
                    frame = engine.ctx.sql(sql)
                    empty = pa.Table.from_batches([], schema=frame.schema())
                    stream = frame.execute_stream()
                except Exception as exc:
                    raise QueryFailed(one_line(exc)) from exc
                schema: pa.Schema | None = None
                left = cursor.limit
                truncated = False
                for raw in _batches(stream):
                    if cursor.cancel_event.is_set():
                        return
                    table = unify(pa.Table.from_batches([raw]), columns)
                    if schema is None:
                        schema = table.schema
                        cursor._open(schema)
                    if left is not None and table.num_rows > left:
                        table, truncated = table.slice(0, left), True
                    for batch in table.to_batches():
                        if not cursor._put(batch):
                            return
                    if left is not None:
                        left -= table.num_rows
                        if truncated:
                            break
                if schema is None:
                    cursor._open(unify(empty, columns).schema)
                cursor._finish(truncated)
        except (QueryFailed, CompileError) as exc:
            cursor._fail(exc)
        except Exception as exc:
            cursor._fail(QueryFailed(f"internal error: {type(exc).__name__}: {one_line(exc)}"))
        finally:
            cursor._work_ended.set()

    def explain(
        self, compiled: CompiledQuery, params: Mapping[str, object] | None = None
    ) -> Explain:
        parts = [Part("summary", Section("Where it runs", _where(compiled)))]
        parts += [
            Part("stage", Section(name, render_stage(name, value), "plan"))
            for name, value in compiled.stages
        ]
        if reads_cloudwatch(compiled.plan):
            insights = compiled.sql("cloudwatch")
            parts.append(Part("backend", Section("CloudWatch Logs Insights", insights, "insights")))
        else:
            parts.append(Part("backend", Section("DataFusion SQL", compiled.sql(), "sql")))
        try:
            with self._engine() as engine:
                plans = str(engine.explain(compiled.plan, dict(params or {})))
        except (QueryFailed, CompileError) as exc:
            plans = f"(not available: {exc})"
        parts.append(Part("plan", Section("DataFusion plan", plans, "plan")))
        if compiled.warnings:
            text = "\n".join(f"warning[{w.code.value}]: {w.message}" for w in compiled.warnings)
            parts.append(Part("warnings", Section("Warnings", text)))
        return Explain(compiled.text, tuple(parts))

    def sample(self, source: str, *, rows: int = SAMPLE_ROWS) -> Sample:
        if self.config.source(source) is None:
            return Sample(source)
        quoted = "`" + source.replace("`", "") + "`"
        names = ", ".join(("attributes", "resource", *SAMPLED_FIELDS))
        try:
            compiled = self.compile(f"from {quoted} | fields {names} | limit {rows}")
            if reads_cloudwatch(compiled.plan):
                return Sample(source)
            table = self.run(compiled)
        except (QueryFailed, CompileError, QueryCancelled):
            return Sample(source)
        values = {name: _top(table.column(name)) for name in SAMPLED_FIELDS}
        attributes = _top_keys(table.column("attributes"))
        for key in attributes[:VALUED_KEYS]:
            column = pc.map_lookup(table.column("attributes"), pa.scalar(key), "first")
            values[f"attributes.{key}"] = _top(column)
        return Sample(
            source, table.num_rows, attributes, _top_keys(table.column("resource")), values
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._free.clear()

    def _engine(self) -> _Lease:
        with self._lock:
            if self._closed:
                raise QueryFailed("the server is shutting down")
            self._lock.wait_for(lambda: bool(self._free) or self._made < self._size)
            if self._free:
                return _Lease(self, self._free.pop())
            self._made += 1
        try:
            return _Lease(self, Engine(self.config))
        except BaseException:
            with self._lock:
                self._made -= 1
                self._lock.notify()
            raise

    def _release(self, engine: Engine) -> None:
        with self._lock:
            if not self._closed:
                self._free.append(engine)
            self._lock.notify()


class _Lease:
    def __init__(self, session: Session, engine: Engine) -> None:
        self.session, self.engine = session, engine

    def __enter__(self) -> Engine:
        return self.engine

    def __exit__(self, *exc: object) -> None:
        self.session._release(self.engine)


def _batches(stream: Any) -> Iterator[pa.RecordBatch]:
    try:
        for batch in stream:
            yield batch.to_pyarrow()
    except Exception as exc:
        raise QueryFailed(one_line(exc)) from exc


def _where(compiled: CompiledQuery) -> str:
    lines = []
    for node in ir.plan_walk(compiled.plan):
        if isinstance(node, ir.Scan):
            lines.append(f"{node.source} ({node.format}) → {node.backend}")
    return "\n".join(lines)


def _top(column: pa.ChunkedArray) -> tuple[str, ...]:
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    values = values.drop_null()
    if len(values) == 0:
        return ()
    counts = pc.value_counts(values.cast(pa.string()))
    pairs = sorted(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True),
        key=lambda pair: (-pair[1], pair[0]),
    )
    return tuple(str(v) for v, _ in pairs[:TOP_VALUES] if v)


def _top_keys(column: pa.ChunkedArray) -> tuple[str, ...]:
    if not pa.types.is_map(column.type):
        return ()
    keys = column.combine_chunks().keys
    if len(keys) == 0:
        return ()
    counts = pc.value_counts(keys.cast(pa.string()))
    pairs = sorted(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True),
        key=lambda pair: (-pair[1], pair[0]),
    )
    return tuple(str(k) for k, _ in pairs[:500] if k)


@dataclass(frozen=True)
class Delta:
    """Rows committed since the previous poll, and when the newest of those commits was made."""

    table: pa.Table
    committed_ns: int


class TailReader:
    """A row-only query over the rows each new commit adds to its stored sources.

    Reads the commit log's head of every table the query scans (one small read each, never a
    folder listing of the data) and, when it moved from version A to B, runs the query over
    exactly the files appended by commits A+1…B: a DataFusion view admitting the incoming
    files with A < c <= B (`storage.table.Visibility` of that range). Compaction commits add no
    incoming files, so rows are delivered once; the files of those commits stay readable for
    the vacuum's grace period, far longer than a poll. Not thread-safe: one poller at a time.
    """

    def __init__(self, compiled: CompiledQuery, params: Mapping[str, object]) -> None:
        from starbase.runtime.engine import new_session
        from starbase.runtime.tables import register

        self.compiled = compiled
        self.params = dict(params)
        self.ctx = new_session()
        self.sources: dict[str, Any] = {}
        for node in ir.plan_walk(compiled.plan):
            if not isinstance(node, ir.Scan) or node.source in self.sources:
                continue
            source = compiled.config.source(node.source)
            if source is None or node.backend != "datafusion":
                raise QueryFailed(
                    f"source '{node.source}' is not a stored table: it cannot be tailed"
                )
            try:
                self.sources[node.source] = register(self.ctx, source)
            except Exception as exc:
                raise QueryFailed(one_line(exc)) from None
        self.seen = {name: s.table.snapshot().version for name, s in self.sources.items()}

    def poll(self) -> Delta | None:
        from starbase.compiler.backends.datafusion import to_sql
        from starbase.runtime.tables import view_sql
        from starbase.storage.index import State as TableState
        from starbase.storage.table import Visibility

        heads = {name: s.table.snapshot() for name, s in self.sources.items()}
        if all(heads[name].version <= self.seen[name] for name in heads):
            return None
        for name, stored in self.sources.items():
            upto = max(heads[name].version, self.seen[name])
            delta = TableState(version=upto, floor=self.seen[name], files=1, incoming=1)
            visible = Visibility(delta, stored.table.format)
            self.ctx.sql(view_sql(name, stored.table, visible)).collect()
            stored.shown = None
        bound = bind(self.compiled.plan, self.params, time.time_ns())
        try:
            table = self.ctx.sql(to_sql(bound)).to_arrow_table()
        except Exception as exc:
            raise QueryFailed(one_line(exc)) from exc
        table = unify(table, ir.output_schema(self.compiled.plan))
        if "timestamp" in table.column_names and table.num_rows > 1:
            table = table.sort_by("timestamp")
        for name, head in heads.items():
            self.seen[name] = max(head.version, self.seen[name])
        return Delta(table, max(h.committed_ns for h in heads.values()))

    def close(self) -> None:
        self.sources.clear()
