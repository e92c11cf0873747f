"""The session: where compiled queries run — shared by the CLI, the REPL, benchmarks and the API.

Requires: a `Config` (the sources) and the registered backends. Guarantees:

- `execute(compiled, params, *, limit=None) -> Cursor` binds the query for this run (the
  compiler's `bind` pass: parameters and `now()` as typed literals — a bad value raises
  `CompileError` at once, before anything runs), then runs it on a thread of its own: each
  native store's part is fetched (`Connector.fetch`; `now()` rounded to the coarsest store
  clock, e.g. whole seconds for CloudWatch), and the engine runs the rest over the stored
  sources and the fetched rows. The cursor streams the result (`runtime.cursor`), in the
  result shape of `runtime.results`, whatever the backend. `run(compiled, params)` is the
  same run done on the caller's thread, returning the whole result as one table.
- Where the engine runs is the session's choice, not its callers': `workers=0` runs it in
  this process (cheapest; cancel stops DataFusion only at its next batch), `workers=N` in up
  to N worker processes kept warm (`runtime.workers`; cancel kills the worker, so the CPU
  is free at once — a running aggregation included).
- `explain(compiled, params)` returns one `Explain`: where each source runs, every stage's
  output, each backend's text, the engine's plans (or EXPLAIN ANALYZE with `analyze`, which
  runs the query) and, for native stores, the calls a run makes; `plans=False` leaves out
  everything that needs an engine or the network.
- `sample(source)` reads a sample of a stored source's rows (a StarQL query like any other)
  and returns its attribute and resource keys, most frequent first, and the most frequent
  values of the fields people filter on — for completion. Native stores are never sampled
  (their queries cost money).
- `close()` (or leaving a `with` block) stops the workers; a session is safe to share
  between threads.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starbase import backends
from starbase.backends.base import Connector, Engine, Job, Report, Section
from starbase.compiler import ir
from starbase.compiler.driver import (
    CompiledQuery,
    bind,
    compile,
    render_stage,
    retarget,
)
from starbase.compiler.errors import CompileError
from starbase.config import Config, default_config
from starbase.runtime.cursor import BUFFER, Cursor
from starbase.runtime.errors import QueryFailed, one_line
from starbase.runtime.explain import Explain, Part
from starbase.runtime.results import conform, result_schema

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    from starbase.runtime.workers import WorkerPool

SAMPLE_ROWS = 20_000  # rows read to learn a source's keys and values
SAMPLED_FIELDS = ("service", "host", "severity_text", "log_group")
TOP_VALUES = 20
VALUED_KEYS = 30  # attribute keys whose top values are sampled too


@dataclass(frozen=True)
class Sample:
    """What a sample of one source's rows holds (see `Session.sample`)."""

    source: str
    rows: int = 0
    attribute_keys: tuple[str, ...] = ()
    resource_keys: tuple[str, ...] = ()
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # field path -> top


class Session:
    """See the module docstring."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        workers: int = 0,
        engine: str = backends.DEFAULT_ENGINE,
        engine_options: Mapping[str, str] | None = None,
        connectors: Mapping[str, Connector] | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config or default_config()
        self.engine = backends.engine(engine).name
        self.engine_options = dict(engine_options or {})
        self.workers = workers
        self._cwd = os.getcwd()  # where workers start: relative locations keep their meaning
        self.clock = clock
        self._connectors: dict[str, Connector] = dict(connectors or {})
        self._lock = threading.Lock()
        self._inline: Engine | None = None
        self._pool: WorkerPool | None = None
        self._closed = False

    # ------------------------------------------------------------ compiling

    def compile(self, text: str) -> CompiledQuery:
        """`text` compiled for this session's sources and engine."""
        return compile(text, self.config, engine=self.engine)

    # ------------------------------------------------------------ running

    def execute(
        self,
        compiled: CompiledQuery,
        params: Mapping[str, object] | None = None,
        *,
        limit: int | None = None,
        now_ns: int | None = None,
    ) -> Cursor:
        """Start a run of `compiled`; the cursor streams its result (module docstring)."""
        cursor, bound, natives, now = self._start(compiled, params, limit, now_ns)
        thread = threading.Thread(
            target=self._run,
            args=(cursor, bound, natives, now),
            daemon=True,
            name="starbase-query",
        )
        thread.start()
        return cursor

    def run(
        self,
        compiled: CompiledQuery,
        params: Mapping[str, object] | None = None,
        *,
        limit: int | None = None,
        now_ns: int | None = None,
    ) -> pa.Table:
        """`execute(...).fetch_all()`: the whole result as one table, run on the caller's
        thread (it waits for the whole result anyway: a query thread and its hand-offs cost
        a short query ~20-50% on a loaded 2-core machine, `benchmarks/query.py`)."""
        cursor, bound, natives, now = self._start(compiled, params, limit, now_ns, buffer=None)
        self._run(cursor, bound, natives, now)
        return cursor.fetch_all()

    def _start(
        self,
        compiled: CompiledQuery,
        params: Mapping[str, object] | None,
        limit: int | None,
        now_ns: int | None,
        buffer: int | None = BUFFER,
    ) -> tuple[Cursor, ir.Plan, tuple[str, ...], int]:
        """A run's cursor and bound plan (`CompileError` for bad parameters, at once)."""
        self._check(compiled)
        if limit is not None and limit < 0:
            raise ValueError("limit must be 0 or more")
        now, natives = self._now(compiled, now_ns)
        bound = bind(compiled, params or {}, now)
        cursor = Cursor(compiled, limit=limit, sources=_sources(compiled.plan), buffer=buffer)
        return cursor, bound, natives, now

    def _run(self, cursor: Cursor, bound: ir.Plan, natives: tuple[str, ...], now_ns: int) -> None:
        try:
            plan = bound
            tables: dict[str, pa.Table] = {}
            reports: list[Report] = []
            if natives:
                cursor._fetch_started()
            for name in natives:
                fetched = self.connector(name).fetch(
                    plan, now_ns=now_ns, cancel=cursor.cancel_event
                )
                plan = fetched.plan
                tables.update(fetched.tables)
                reports.extend(fetched.reports)
            cursor._fetched(tuple(reports))
            if cursor.state != "running":
                return
            job = Job(retarget(plan, self.engine), tables, cursor.limit)
            with self._lease() as engine:
                execution = engine.execute(job)
                cursor._on_cancel(execution.stop)
                schema = result_schema(execution.schema, cursor.compiled.columns)
                cursor._open(schema)
                for batch in execution.batches():
                    if not cursor._put(conform(batch, schema)):
                        execution.stop()
                        break
                cursor._finish(execution.stats())
        except (QueryFailed, CompileError) as exc:
            cursor._fail(exc)  # ignored when the failure is the cancel's doing
        except Exception as exc:  # a bug: still one line for the caller
            cursor._fail(QueryFailed(f"internal error: {type(exc).__name__}: {one_line(exc)}"))
        finally:
            cursor._ended_work()

    # ------------------------------------------------------------ explaining

    def explain(
        self,
        compiled: CompiledQuery,
        params: Mapping[str, object] | None = None,
        *,
        analyze: bool = False,
        plans: bool = True,
        now_ns: int | None = None,
    ) -> Explain:
        """How `compiled` runs (module docstring)."""
        self._check(compiled)
        parts = [Part("summary", Section("Where it runs", self._where(compiled)))]
        parts += [
            Part("stage", Section(name, render_stage(name, value), "plan"))
            for name, value in compiled.stages
        ]
        for name in _engine_first(compiled.backends, self.engine):
            parts += [Part("backend", s) for s in backends.get(name).sections(compiled)]
        if plans:
            parts += self._plans(compiled, params or {}, analyze, now_ns)
        if compiled.warnings:
            text = "\n".join(f"warning[{w.code.value}]: {w.message}" for w in compiled.warnings)
            parts.append(Part("warnings", Section("Warnings", text)))
        return Explain(compiled.text, tuple(parts))

    def _plans(
        self,
        compiled: CompiledQuery,
        params: Mapping[str, object],
        analyze: bool,
        now_ns: int | None,
    ) -> list[Part]:
        engine = backends.engine(self.engine)
        parts: list[Part] = []
        try:
            now, natives = self._now(compiled, now_ns)
            plan = bind(compiled, params, now)
            tables: dict[str, pa.Table] = {}
            for name in natives:
                connector = self.connector(name)
                if analyze:  # fetch for real: the calls shown are those that ran
                    fetched = connector.fetch(plan, now_ns=now, cancel=threading.Event())
                else:
                    fetched = connector.stand_in(plan)
                parts.append(Part("plan", connector.explain(plan, fetched, now_ns=now)))
                plan, tables = fetched.plan, {**tables, **fetched.tables}
            plan = retarget(plan, self.engine)
            if natives:
                local = engine.render(plan)
                title = f"{engine.title} SQL, over the fetched rows"
                parts.append(Part("backend", Section(title, local, "sql")))
            with self._lease() as running:
                text = running.explain(Job(plan, tables), analyze=analyze)
        except (QueryFailed, CompileError) as exc:
            text = f"(not available: {exc})"
        parts.append(Part("plan", Section(f"{engine.title} plan", text, "plan")))
        return parts

    def _where(self, compiled: CompiledQuery) -> str:
        lines = []
        for node in ir.plan_walk(compiled.plan):
            if isinstance(node, ir.Scan):
                backend = backends.get(node.backend)
                lines.append(backend.describe(node, self.config.source(node.source)))
        if all(backends.native(name) is None for name in compiled.backends):
            title = backends.get(self.engine).title
            lines.append(
                f"runs on {title}: the whole plan (scans, filters, parse, stats, sort, limit);"
                " nothing is sent elsewhere"
            )
        return "\n".join(lines)

    # ------------------------------------------------------------ sampling

    def sample(self, source: str, *, rows: int = SAMPLE_ROWS) -> Sample:
        """Keys and frequent values in the first `rows` rows of a stored source."""
        import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
        import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

        if self.config.source(source) is None:
            return Sample(source)
        quoted = "`" + source.replace("`", "") + "`"
        names = ", ".join(("attributes", "resource", *SAMPLED_FIELDS))
        try:
            compiled = self.compile(f"from {quoted} | fields {names} | limit {rows}")
            if any(backends.native(name) is not None for name in compiled.backends):
                return Sample(source)
            table = self.run(compiled)
        except (QueryFailed, CompileError):
            return Sample(source)
        values: dict[str, tuple[str, ...]] = {}
        for name in SAMPLED_FIELDS:
            values[name] = _top(table.column(name))
        attributes = _top_keys(table.column("attributes"))
        for key in attributes[:VALUED_KEYS]:
            column = pc.map_lookup(table.column("attributes"), pa.scalar(key), "first")
            values[f"attributes.{key}"] = _top(column)
        return Sample(
            source,
            table.num_rows,
            attributes,
            _top_keys(table.column("resource")),
            values,
        )

    # ------------------------------------------------------------ engines and connectors

    def connector(self, name: str) -> Connector:
        """This session's connector to the native store `name` (made on first use)."""
        with self._lock:
            if name not in self._connectors:
                native = backends.native(name)
                if native is None:
                    raise QueryFailed(f"{name} is not a native store")
                self._connectors[name] = native.connector(self.config)
            return self._connectors[name]

    def warm(self) -> None:
        """Start what the first query needs (a worker process) without waiting for it."""
        if self.workers:
            self._workers().prestart()

    @property
    def worker_pids(self) -> tuple[int, ...]:
        """Process ids of this session's live worker processes (none when inline)."""
        return self._pool.pids if self._pool is not None else ()

    def _lease(self) -> _Lease:
        with self._lock:
            if self._closed:
                raise QueryFailed("the session is closed")
            if not self.workers:
                if self._inline is None:
                    backend = backends.engine(self.engine)
                    self._inline = backend.engine(self.config, self.engine_options)
                return _Lease(self._inline, None)
        pool = self._workers()
        return _Lease(pool.acquire(), pool)

    def _workers(self) -> WorkerPool:
        from starbase.runtime.workers import WorkerPool

        with self._lock:
            if self._pool is None:
                self._pool = WorkerPool(
                    self.engine, self.config, self.workers, self.engine_options, self._cwd
                )
            return self._pool

    def close(self) -> None:
        """Stop the workers (running queries end as cancelled or failed) and engines."""
        with self._lock:
            self._closed = True
            pool, inline = self._pool, self._inline
        if pool is not None:
            pool.close()
        if inline is not None:
            inline.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ helpers

    def _check(self, compiled: CompiledQuery) -> None:
        if compiled.config != self.config:
            raise ValueError("the query was compiled for other sources than this session's")

    def _now(self, compiled: CompiledQuery, now_ns: int | None) -> tuple[int, tuple[str, ...]]:
        """This run's instant (rounded to the coarsest native clock) and native stores."""
        now = self.clock() if now_ns is None else now_ns
        natives = tuple(n for n in compiled.backends if backends.native(n) is not None)
        for name in natives:
            now -= now % self.connector(name).clock_resolution_ns
        return now, natives


class _Lease:
    """An engine for one job; a pooled worker goes back to its pool afterwards."""

    def __init__(self, engine: Engine, pool: WorkerPool | None) -> None:
        self.engine, self.pool = engine, pool

    def __enter__(self) -> Engine:
        return self.engine

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            from starbase.runtime.workers import WorkerEngine

            assert isinstance(self.engine, WorkerEngine)
            self.pool.release(self.engine)


def _sources(plan: ir.Plan) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n.source for n in ir.plan_walk(plan) if isinstance(n, ir.Scan)))


def _engine_first(names: tuple[str, ...], engine: str) -> tuple[str, ...]:
    present = tuple(n for n in names if backends.native(n) is not None)
    return ((engine,) if engine in names or not present else ()) + present


def _top(column: pa.ChunkedArray) -> tuple[str, ...]:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

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
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

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
