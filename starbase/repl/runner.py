"""Running queries for the REPL: cancellable, capped, measured.

Requires: the runtime's public API (`Engine.prepare`, `Engine.ctx`, `Engine.explain`,
`unify`) and a `Config`. Guarantees: `DataFusionBackend.execute` binds the compiled plan with
the request's parameters and clock, streams DataFusion's record batches (each output
partition on its own thread, the GIL released while DataFusion works), checks the request's
cancel event between batches (raising `Cancelled`), stops after `max_rows` rows (the result
says it was truncated), and returns the unified table (the same names and types as
`CompiledQuery.run`) with the bytes DataFusion's Parquet scans read (its `bytes_scanned`
metric). Failures are `QueryFailed` (one line) or `CompileError` (a parameter that cannot be
bound). `Backend` is the seam tests replace (e.g. with a runner that blocks until released),
and `Clock` the one that fixes time for them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.backends.datafusion.engine import Engine, QueryFailed, unify
from starbase.compiler import ir
from starbase.compiler.driver import CompiledQuery, compile
from starbase.compiler.errors import CompileError
from starbase.config import Config
from starbase.mappings import load_mapping

DEFAULT_MAX_ROWS = 100_000
KEY_SAMPLE_ROWS = 20_000  # rows read to learn the attribute keys of a source


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
    """What the REPL needs from the engines; `DataFusionBackend` is the real one."""

    def execute(self, request: RunRequest) -> QueryResult: ...

    def backend_plan(self, compiled: CompiledQuery, params: Mapping[str, object]) -> str: ...

    def sample_keys(self, source: str, field: str) -> list[str]: ...


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


class DataFusionBackend:
    """One DataFusion engine for the REPL's lifetime (sources registered once)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.engine = Engine(config)
        self._lock = threading.Lock()  # source registration is not safe to race

    def _prepare(
        self,
        plan: ir.Plan,
        params: Mapping[str, object],
        now_ns: int | None,
        cancel: threading.Event | None = None,
    ) -> str:
        with self._lock:  # `cancel` also stops a CloudWatch fetch (StopQuery) on Esc
            return self.engine.prepare(plan, params, now_ns, cancel)

    def execute(self, request: RunRequest) -> QueryResult:
        compiled = request.compiled
        try:
            sql = self._prepare(compiled.plan, request.params, request.now_ns, request.cancel)
        except QueryFailed:
            if request.cancel.is_set():  # a CloudWatch fetch stopped by Esc
                raise Cancelled from None
            raise
        if request.cancel.is_set():
            raise Cancelled
        try:
            frame = self.engine.ctx.sql(sql)
            schema = frame.schema()
            physical = frame.execution_plan()
        except Exception as exc:  # DataFusion raises its own exception types
            raise QueryFailed(_one_line(exc)) from exc
        batches, truncated = _stream(self.engine, physical, request)
        table = pa.Table.from_batches(batches, schema=schema)
        if table.num_rows > request.max_rows:
            table = table.slice(0, request.max_rows)
        return QueryResult(
            table=unify(table, compiled.columns),
            truncated=truncated,
            bytes_scanned=_bytes_scanned(physical),
            sources=plan_sources(compiled.plan),
        )

    def backend_plan(self, compiled: CompiledQuery, params: Mapping[str, object]) -> str:
        with self._lock:
            return str(self.engine.explain(compiled.plan, params))

    def sample_keys(self, source: str, field: str) -> list[str]:
        """Keys of map field `field` (attributes, resource) in the first rows of `source`,
        most frequent first; [] when the source is not stored in DataFusion's reach."""
        config = self.config.source(source)
        if config is None:
            return []
        mapping = load_mapping(config.format)
        spec = mapping.fields.get(field)
        column = getattr(spec, "column", None)
        if mapping.backend != "datafusion" or getattr(spec, "kind", "") != "map" or not column:
            return []
        try:
            self._prepare(compile(f"from {_ident(source)}", self.config).plan, {}, None)
            sql = (
                f"SELECT k, count(*) AS n FROM (SELECT unnest(map_keys({_quoted(column)})) AS k "
                f"FROM (SELECT {_quoted(column)} FROM {_quoted(source)} LIMIT {KEY_SAMPLE_ROWS}))"
                " GROUP BY k ORDER BY n DESC, k LIMIT 500"
            )
            table = self.engine.ctx.sql(sql).to_arrow_table()
        except (QueryFailed, CompileError):
            return []
        except Exception:  # DataFusion's own errors: keys are a nicety, never a failure
            return []
        return [str(k) for k in table.column(0).to_pylist() if k]


def _stream(
    engine: Engine, physical: Any, request: RunRequest
) -> tuple[list[pa.RecordBatch], bool]:
    """Run every output partition of `physical` on its own thread; stop on cancel or cap."""
    batches: list[pa.RecordBatch] = []
    failures: list[BaseException] = []
    state = {"rows": 0, "truncated": False}
    guard = threading.Lock()
    stop = threading.Event()

    def drain(partition: int) -> None:
        try:
            for batch in engine.ctx.execute(physical, partition):
                if request.cancel.is_set() or stop.is_set():
                    return
                arrow = batch.to_pyarrow()
                with guard:
                    batches.append(arrow)
                    state["rows"] += arrow.num_rows
                    if state["rows"] > request.max_rows:  # more rows than shown: say so
                        state["truncated"] = True
                        stop.set()
                        return
        except BaseException as exc:  # reported below, on the caller's thread
            failures.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=drain, args=(p,), daemon=True, name=f"starbase-partition-{p}")
        for p in range(physical.partition_count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.05)
            if request.cancel.is_set():
                raise Cancelled
    if request.cancel.is_set():
        raise Cancelled
    if failures:
        raise QueryFailed(_one_line(failures[0])) from failures[0]
    # a truncated result may hold a little more than max_rows; the caller slices it
    return batches, bool(state["truncated"])


def _bytes_scanned(physical: Any) -> int | None:
    try:
        values = [ms.sum_by_name("bytes_scanned") for _, ms in physical.collect_metrics()]
    except Exception:
        return None
    found = [v for v in values if v is not None]
    return sum(found) if found else None


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ident(name: str) -> str:
    return name if name.isidentifier() else "`" + name + "`"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:500] + ("…" if len(text) > 500 else "")
