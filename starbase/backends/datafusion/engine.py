"""Execution on DataFusion: one long-lived `SessionContext` per engine, sources kept registered.

Requires: `Job`s whose scans read stored sources of the engine's `Config` (registered by
`tables.register`) or the job's fetched `tables`; option `partitions` (threads per query).
Guarantees: one `SessionContext` per engine (`SESSION_SETTINGS`, Starbase's UDFs, at most
`partitions` threads per query) with DataFusion's file-listing cache turned off, so files
written after the engine started are seen by the next job; each stored source is registered
once, on first use, and moves to its table's latest committed snapshot at every job;
aggregates the table's index can answer (`metadata`) read its statistics instead of the
files (the engine's plans show the `starbase_stats_…` table they read); a job's fetched
tables are registered under their names for that job only; lookup tables (`lookup NAME`) are
read whole as their declared columns and registered under their names, read again when
their file changes. `execute` plans the job (SQL from
`lower.to_sql`) and streams the physical plan's record batches — each output partition on
its own thread (a plan of one partition on the reader's), the GIL released while DataFusion
works — stopping after the job's `limit`
rows (then `truncated`) or at `stop()`; `stats()` gives the bytes its Parquet scans read
(DataFusion's `bytes_scanned` metric). `explain` gives the optimized logical and physical
plans, or EXPLAIN ANALYZE. Failures raise `QueryFailed` (one line). An engine may serve
several jobs at once (registration and planning are serialized).
"""

from __future__ import annotations

import itertools
import os
import queue
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from datafusion import SessionConfig, SessionContext

from starbase.backends.base import Engine, Execution, ExecutionStats, Job, UnsupportedError
from starbase.backends.datafusion.lower import to_sql
from starbase.backends.datafusion.metadata import answer_from_index
from starbase.backends.datafusion.tables import SourceUnavailable, StoredSource, register
from starbase.backends.datafusion.udfs import register_udfs
from starbase.compiler import ir
from starbase.compiler.ir import JOIN_MAX_ROWS
from starbase.config import LOOKUP_FORMAT, Config, LookupConfig
from starbase.runtime.errors import QueryFailed, one_line

__all__ = ["SESSION_SETTINGS", "DataFusionEngine", "new_session"]

SESSION_SETTINGS = (
    # A long-lived session must see files written after it started: DataFusion 55 caches
    # file listings forever by default.
    "SET datafusion.runtime.list_files_cache_limit = '0'",
    # Planning-time statistics open every file's footer before a query runs (~25% of a full
    # scan over 3,600 small files, measured; neutral over the day layout's 30); row groups are
    # still pruned by the Parquet statistics when the files are scanned. The other settings
    # were measured and left at DataFusion's defaults (docs/storage.md): page index, bloom
    # filters and the metadata cache on, filter pushdown into the scan off.
    "SET datafusion.execution.collect_statistics = false",
    # Each pipeline stage is a subquery: the parser's default depth (50) refused queries of
    # about a dozen `dedup`s; the compiler bounds stages and expression depth (grammar.parser
    # MAX_STAGES, MAX_DEPTH) well within this.
    "SET datafusion.sql_parser.recursion_limit = 256",
)


def new_session(partitions: int | None = None) -> SessionContext:
    """A DataFusion session configured as every Starbase query runs (also for benchmarks);
    `partitions` caps the threads one query uses (DataFusion's `target_partitions`)."""
    config = SessionConfig()
    if partitions is not None:
        config = config.with_target_partitions(partitions)
    ctx = SessionContext(config)
    for setting in SESSION_SETTINGS:
        ctx.sql(setting)
    register_udfs(ctx)
    return ctx


class DataFusionEngine(Engine):
    """See the module docstring."""

    def __init__(self, config: Config, options: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.ctx = new_session(_partitions(options or {}))
        self.registered: dict[str, StoredSource] = {}
        # lookup table → its file's (mtime, ctime, size, inode) when read
        self.lookups: dict[str, tuple[int, int, int, int]] = {}
        self._lock = threading.RLock()  # registration and planning are not safe to race
        self._ids = itertools.count()

    def execute(self, job: Job) -> Execution:
        with self._lock:
            sql, tables = self._prepare(job)
            try:
                frame = self.ctx.sql(sql)
                schema = frame.schema()
                physical = frame.execution_plan()
            except Exception as exc:  # DataFusion raises its own exception types
                self._drop(tables)
                raise QueryFailed(one_line(exc)) from exc
        return _Stream(self, physical, schema, job.limit, tables)

    def explain(self, job: Job, *, analyze: bool = False) -> str:
        with self._lock:  # planned at once: another job's end may drop a shared stats table
            sql, tables = self._prepare(job)
            try:
                frame = self.ctx.sql(f"EXPLAIN ANALYZE {sql}" if analyze else sql)
            except Exception as exc:
                self._drop(tables)
                raise QueryFailed(one_line(exc)) from exc
        try:
            if analyze:
                rows = frame.to_arrow_table().to_pylist()
                return "\n".join(str(r["plan"]) for r in rows)
            logical = frame.optimized_logical_plan().display_indent()
            physical = frame.execution_plan().display_indent()
        except Exception as exc:
            raise QueryFailed(one_line(exc)) from exc
        finally:
            self._drop(tables)
        return f"-- optimized logical plan --\n{logical}\n\n-- physical plan --\n{physical}"

    def close(self) -> None:
        self.registered.clear()

    # ------------------------------------------------------------ sources and tables

    def _prepare(self, job: Job) -> tuple[str, tuple[str, ...]]:
        """The job's SQL, with its sources registered, its tables under fresh names and the
        aggregates the index answers reading its statistics (their tables are the job's too)."""
        names = {source: self._table_name() for source in job.tables}
        plan = _renamed(job.plan, names)
        self._register(plan, set(names.values()))
        plan, stats = answer_from_index(plan, self.registered, self.ctx)
        try:
            sql = to_sql(plan)
        except UnsupportedError as exc:
            self._drop(stats)
            raise QueryFailed(str(exc)) from None
        for source, name in names.items():
            self.ctx.from_arrow(job.tables[source], name=name)
        return sql, (*names.values(), *stats)

    def _table_name(self) -> str:
        """A name for fetched rows that no configured source has (the plan names it)."""
        name = f"__fetched_{next(self._ids)}"
        while self.config.source(name) is not None:
            name = f"__fetched_{next(self._ids)}"
        return name

    def _drop(self, tables: tuple[str, ...]) -> None:
        with self._lock:
            for name in tables:
                self.ctx.deregister_table(name)

    def _register(self, plan: ir.Plan, fetched: set[str]) -> None:
        for node in ir.plan_walk(plan):
            if not isinstance(node, ir.Scan) or node.source in fetched:
                continue
            if node.format == LOOKUP_FORMAT:
                self._register_lookup(node.source)
                continue
            known = self.registered.get(node.source)
            try:
                if known is not None:
                    known.refresh(self.ctx)
                    continue
                source = self.config.source(node.source)
                if source is None:
                    raise QueryFailed(f"source '{node.source}' is not configured")
                self.registered[node.source] = register(self.ctx, source)
            except SourceUnavailable as exc:
                raise QueryFailed(str(exc)) from None

    def _register_lookup(self, name: str) -> None:
        """The lookup table `name` read whole (it is small) as its declared columns, and
        read again when its file changes."""
        table = self.config.lookup(name)
        if table is None:
            raise QueryFailed(f"lookup table '{name}' is not configured")
        try:
            found = os.stat(table.path)
        except OSError as exc:
            raise QueryFailed(
                f"lookup table '{name}': cannot read {table.path}: {exc.strerror}"
            ) from None
        stamp = (found.st_mtime_ns, found.st_ctime_ns, found.st_size, found.st_ino)
        if self.lookups.get(name) == stamp:
            return
        rows = read_lookup(table)
        self.ctx.deregister_table(name)
        self.ctx.from_arrow(rows, name=name)
        self.lookups[name] = stamp


def read_lookup(table: LookupConfig) -> pa.Table:
    """The rows of a lookup table as its declared columns (`QueryFailed` when the file does not
    hold them, or holds more than a join's right side may)."""
    import pyarrow.csv as csv  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    schema = pa.schema([(n, _LOOKUP_TYPES[t]) for n, t in table.columns])
    try:
        if table.file_format == "parquet":
            rows = pq.read_table(table.path, columns=schema.names).cast(schema)
        else:
            options = csv.ConvertOptions(column_types=schema, include_columns=schema.names)
            rows = csv.read_csv(table.path, convert_options=options)
    except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
        raise QueryFailed(f"lookup table '{table.name}': {one_line(exc)}") from None
    if rows.num_rows > JOIN_MAX_ROWS:
        raise QueryFailed(
            f"lookup table '{table.name}' has {rows.num_rows:,} rows; a lookup holds at most "
            f"{JOIN_MAX_ROWS:,}"
        )
    return rows


_LOOKUP_TYPES = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
}


def _partitions(options: Mapping[str, str]) -> int | None:
    value = options.get("partitions")
    if value is None:
        return None
    if not value.isdecimal() or int(value) < 1:
        raise QueryFailed(
            f"datafusion: partitions must be a whole number of 1 or more, not {value!r}"
        )
    return int(value)


def _renamed(plan: ir.Plan, names: dict[str, str]) -> ir.Plan:
    """`plan` with scans of fetched rows reading the tables they were registered under."""
    if not names:
        return plan

    def visit(node: ir.Plan) -> ir.Plan:
        node = ir.with_inputs(node, tuple(visit(child) for child in ir.plan_inputs(node)))
        if isinstance(node, ir.Scan) and node.source in names:
            return ir.Scan(
                names[node.source],
                node.format,
                node.backend,
                node.schema,
                node.filter,
                node.time_range,
                node.partitions,
            )
        return node

    return visit(plan)


_DONE = object()


class _Stream(Execution):
    """Every output partition of a physical plan drained on its own thread into one queue."""

    def __init__(
        self,
        engine: DataFusionEngine,
        physical: Any,
        schema: pa.Schema,
        limit: int | None,
        tables: tuple[str, ...],
    ) -> None:
        self.schema = schema
        self._engine, self._physical, self._limit, self._tables = engine, physical, limit, tables
        self._stop = threading.Event()
        self._truncated = False

    def batches(self) -> Iterator[pa.RecordBatch]:
        partitions = self._physical.partition_count
        # most plans end in one partition (sorts, final aggregates, limits)
        source = self._inline() if partitions == 1 else self._threaded(partitions)
        rows, limit = 0, self._limit
        try:
            for batch in source:
                if limit is not None and rows + batch.num_rows > limit:
                    # a row beyond the limit exists: say so, and stop the work
                    self._truncated = True
                    self._stop.set()
                    batch = batch.slice(0, limit - rows)
                rows += batch.num_rows
                if batch.num_rows:
                    yield batch
        finally:
            self._stop.set()
            self._engine._drop(self._tables)
            self._tables = ()

    def _threaded(self, partitions: int) -> Iterator[pa.RecordBatch]:
        """Each partition drained on a thread of its own, their batches as they come."""
        pending: queue.Queue[Any] = queue.Queue(maxsize=4 * max(1, partitions))
        threads = [
            threading.Thread(
                target=self._drain, args=(p, pending), daemon=True, name=f"datafusion-part-{p}"
            )
            for p in range(partitions)
        ]
        for thread in threads:
            thread.start()
        running = len(threads)
        while running and not self._stop.is_set():
            item = pending.get()
            if item is _DONE:
                running -= 1
                continue
            if isinstance(item, BaseException):
                raise QueryFailed(_message(item)) from item
            yield item

    def _inline(self) -> Iterator[pa.RecordBatch]:
        """The only partition, drained on the consumer's thread: a thread and a queue hand-off
        per query cost more than many small queries take (on a loaded 2-core machine, ~2-10
        ms of a 15 ms query, measured with `benchmarks/query.py`)."""
        stream = self._engine.ctx.execute(self._physical, 0)
        while not self._stop.is_set():
            try:
                batch: pa.RecordBatch = next(stream).to_pyarrow()
            except StopIteration:
                return
            except Exception as exc:  # DataFusion raises its own exception types
                raise QueryFailed(_message(exc)) from exc
            yield batch

    def _drain(self, partition: int, pending: queue.Queue[Any]) -> None:
        try:
            for batch in self._engine.ctx.execute(self._physical, partition):
                if self._stop.is_set() or not self._put(pending, batch.to_pyarrow()):
                    break
        except BaseException as exc:  # reported on the consumer's thread
            self._put(pending, exc)
        finally:
            self._put(pending, _DONE)

    def _put(self, pending: queue.Queue[Any], item: object) -> bool:
        """Queue `item` unless the stream was stopped (the consumer is gone) meanwhile."""
        while True:
            try:
                pending.put(item, timeout=0.05)
                return True
            except queue.Full:
                if self._stop.is_set():
                    return False

    def stats(self) -> ExecutionStats:
        return ExecutionStats(_bytes_scanned(self._physical), self._truncated)

    def stop(self) -> None:
        self._stop.set()


_RAISED = re.compile(r"JoinTooLarge\((['\"])(.*?)\1\)")


def _message(exc: BaseException) -> str:
    """One line for a failed run; a failure raised by a Starbase UDF is its own message."""
    text = one_line(exc)
    raised = _RAISED.search(text)
    return raised.group(2) if raised else text


def _bytes_scanned(physical: Any) -> int | None:
    try:
        values = [ms.sum_by_name("bytes_scanned") for _, ms in physical.collect_metrics()]
    except Exception:
        return None
    found = [v for v in values if v is not None]
    return sum(found) if found else None
