"""Execution: bind, fetch what runs elsewhere, run the rest on DataFusion, unify the result.

Requires: plans from the compiler whose scans use the `datafusion` backend (stored sources)
or the `cloudwatch` backend, and the `Config` naming their sources. Guarantees: one
long-lived `SessionContext` per engine (`SESSION_SETTINGS`, Starbase's UDFs) with
DataFusion's file-listing cache turned off, so files written after the engine started are
seen by the next query; each stored source is registered once, on first use, and moves to its
table's latest committed snapshot at every `prepare`; aggregates the table's index can answer
(`runtime.metadata`) read its statistics instead of the files. A plan that
reads CloudWatch is bound with `now()` in whole seconds (StartQuery's resolution), each
CloudWatch source's native query runs (`runtime.cloudwatch`) and its rows are registered as a
table for this run only; DataFusion then runs the local plan (`runtime.federation`): the
other sources, the union, and every stage that was not pushed. `execute` returns a
`pyarrow.Table` whose columns are the query's output names (contract §5) in order, strings
as `string`, timestamps as `timestamp[ns, UTC]`, integers as `int64`; failures raise
`QueryFailed` with a one-line cause. `last_fetch` holds the CloudWatch fetch reports of the
latest run.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from threading import Event
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from datafusion import SessionContext

from starbase.compiler import ir
from starbase.compiler.backends.cloudwatch import InsightsQuery, lower
from starbase.compiler.backends.datafusion import UnsupportedError, to_sql
from starbase.compiler.types import Type
from starbase.config import Config, SourceConfig
from starbase.runtime.aws_calls import Caller, logs_client, timeout_of
from starbase.runtime.bind import bind
from starbase.runtime.cloudwatch import FetchReport, fetch
from starbase.runtime.errors import QueryFailed, one_line
from starbase.runtime.federation import local_plan_over, reads_cloudwatch, render_native
from starbase.runtime.insights_rows import to_table
from starbase.runtime.metadata import answer_from_index
from starbase.runtime.tables import SourceUnavailable, StoredSource, register
from starbase.runtime.udfs import register_udfs

__all__ = ["SESSION_SETTINGS", "Engine", "QueryFailed", "new_session", "unify"]

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
KEPT_RUNS = 4  # runs whose fetched tables `prepare` leaves registered (for its caller's SQL)
NS_PER_S = 1_000_000_000


def new_session() -> SessionContext:
    """A DataFusion session configured as every Starbase query runs (also for benchmarks)."""
    ctx = SessionContext()
    for setting in SESSION_SETTINGS:
        ctx.sql(setting)
    register_udfs(ctx)
    return ctx


@dataclass(frozen=True)
class _Run:
    sql: str
    local: ir.Plan  # what `sql` says
    tables: tuple[str, ...] = ()  # fetched rows registered for this run
    queries: tuple[InsightsQuery, ...] = ()
    reports: tuple[FetchReport, ...] = ()


@dataclass
class Engine:
    config: Config
    client_factory: Callable[[SourceConfig], Any] = logs_client
    ctx: SessionContext = field(init=False)
    registered: dict[str, StoredSource] = field(default_factory=dict, init=False)
    last_fetch: tuple[FetchReport, ...] = field(default=(), init=False)
    _clients: dict[str, Any] = field(default_factory=dict, init=False)
    _kept: deque[tuple[str, ...]] = field(default_factory=deque, init=False)
    _ids: itertools.count[int] = field(default_factory=itertools.count, init=False)

    def __post_init__(self) -> None:
        self.ctx = new_session()

    def prepare(
        self,
        plan: ir.Plan,
        params: Mapping[str, object],
        now_ns: int | None = None,
        cancel: Event | None = None,
    ) -> str:
        """The SQL this run executes (parameters and now() bound). CloudWatch sources are
        fetched now, and their rows stay registered for the next `KEPT_RUNS` runs."""
        run = self._prepare(plan, params, now_ns, cancel)
        self._kept.append(run.tables)
        while len(self._kept) > KEPT_RUNS:
            self._drop(self._kept.popleft())
        return run.sql

    def execute(
        self,
        plan: ir.Plan,
        params: Mapping[str, object],
        now_ns: int | None = None,
        cancel: Event | None = None,
    ) -> pa.Table:
        run = self._prepare(plan, params, now_ns, cancel)
        try:
            table = self.ctx.sql(run.sql).to_arrow_table()
        except Exception as exc:  # DataFusion raises its own exception types
            raise QueryFailed(one_line(exc)) from exc
        finally:
            self._drop(run.tables)
        return unify(table, ir.output_schema(plan))

    def explain(self, plan: ir.Plan, params: Mapping[str, object], *, analyze: bool = False) -> str:
        """DataFusion's optimized logical plan and physical plan (or EXPLAIN ANALYZE); for a
        plan that reads CloudWatch, first each source's native calls and the local SQL."""
        if reads_cloudwatch(plan):
            return self._explain_federated(plan, params, analyze)
        return self._datafusion_plans(self.prepare(plan, params), analyze)

    # ------------------------------------------------------------ runs

    def _prepare(
        self,
        plan: ir.Plan,
        params: Mapping[str, object],
        now_ns: int | None,
        cancel: Event | None,
    ) -> _Run:
        now = time.time_ns() if now_ns is None else now_ns
        if not reads_cloudwatch(plan):
            bound = bind(plan, params, now)
            self._register(bound)
            self.last_fetch = ()
            answered, stats = answer_from_index(bound, self.registered, self.ctx)
            return _Run(_sql(answered), answered, stats)
        now -= now % NS_PER_S  # StartQuery takes whole seconds: so does the run's now()
        bound = bind(plan, params, now)
        self._register(bound)
        tables: dict[str, str] = {}
        queries, reports = [], []
        try:
            for query in self._lower(bound):
                source = self._source(query.source)
                caller = Caller(query.source, timeout_of(source), cancel)
                fetched = fetch(bound, query, source, self._client(source), caller, now)
                tables[query.source] = self._table(fetched.table)
                queries.append(fetched.query)
                reports.append(fetched.report)
            self.last_fetch = tuple(reports)
            local = local_plan_over(bound, tuple(queries), tables)
            sql = _sql(local)
        except BaseException:
            self._drop(tuple(tables.values()))
            raise
        return _Run(sql, local, tuple(tables.values()), tuple(queries), tuple(reports))

    def _explain_federated(self, plan: ir.Plan, params: Mapping[str, object], analyze: bool) -> str:
        now = time.time_ns()
        now -= now % NS_PER_S
        bound = bind(plan, params, now)
        queries = self._lower(bound)
        run: _Run | None = None
        if analyze:  # fetch for real: the native queries shown are those that ran
            run = self._prepare(plan, params, now, None)
            queries = run.queries
        blocks = ["-- native queries --\n" + "\n\n".join(render_native(q, now) for q in queries)]
        if run is not None:
            blocks.append("-- fetched --\n" + "\n".join(r.render() for r in run.reports))
        local = "(not available)"
        try:
            if run is None:  # plan over empty stand-ins for the fetched rows
                self._register(bound)
                tables = {q.source: self._table(to_table([], q.columns)) for q in queries}
                plan_over = local_plan_over(bound, queries, tables)
                run = _Run(_sql(plan_over), plan_over, tuple(tables.values()))
            local = to_sql(run.local, pretty=True)
            try:
                plans = self._datafusion_plans(run.sql, analyze)
            finally:
                self._drop(run.tables)
        except QueryFailed as exc:
            plans = f"(not available: {exc})"
        blocks.extend((f"-- runs locally (datafusion) --\n{local}", plans))
        return "\n\n".join(blocks)

    def _datafusion_plans(self, sql: str, analyze: bool) -> str:
        try:
            if analyze:
                rows = self.ctx.sql(f"EXPLAIN ANALYZE {sql}").to_arrow_table().to_pylist()
                return "\n".join(str(r["plan"]) for r in rows)
            frame = self.ctx.sql(sql)
            logical = frame.optimized_logical_plan().display_indent()
            physical = frame.execution_plan().display_indent()
        except Exception as exc:
            raise QueryFailed(one_line(exc)) from exc
        return f"-- optimized logical plan --\n{logical}\n\n-- physical plan --\n{physical}"

    # ------------------------------------------------------------ sources and tables

    def _lower(self, bound: ir.Plan) -> tuple[InsightsQuery, ...]:
        try:
            return lower(bound, self.config)
        except KeyError as exc:  # a capability profile the mapping does not have
            raise QueryFailed(str(exc.args[0] if exc.args else exc)) from None

    def _source(self, name: str) -> SourceConfig:
        source = self.config.source(name)
        if source is None:
            raise QueryFailed(f"source '{name}' is not configured")
        return source

    def _client(self, source: SourceConfig) -> Any:
        if source.name not in self._clients:
            self._clients[source.name] = self.client_factory(source)
        return self._clients[source.name]

    def _table(self, table: pa.Table) -> str:
        """A name for fetched rows that no configured source has (the plan names it)."""
        name = f"__insights_{next(self._ids)}"
        while self.config.source(name) is not None:
            name = f"__insights_{next(self._ids)}"
        self.ctx.from_arrow(table, name=name)
        return name

    def _drop(self, tables: tuple[str, ...]) -> None:
        for name in tables:
            self.ctx.deregister_table(name)

    def _register(self, plan: ir.Plan) -> None:
        for node in ir.plan_walk(plan):
            if not isinstance(node, ir.Scan) or node.backend == "cloudwatch":
                continue  # CloudWatch rows are fetched per run
            known = self.registered.get(node.source)
            if known is not None:
                try:
                    known.refresh(self.ctx)
                except SourceUnavailable as exc:
                    raise QueryFailed(str(exc)) from None
                continue
            if node.backend != "datafusion":
                raise QueryFailed(
                    f"source '{node.source}' ({node.format}) needs the {node.backend} "
                    "backend, which is not available"
                )
            source = self._source(node.source)
            try:
                self.registered[node.source] = register(self.ctx, source)
            except SourceUnavailable as exc:
                raise QueryFailed(str(exc)) from None


def _sql(plan: ir.Plan) -> str:
    try:
        return to_sql(plan)
    except UnsupportedError as exc:
        raise QueryFailed(str(exc)) from None


def unify(table: pa.Table, columns: tuple[ir.Column, ...]) -> pa.Table:
    """Name and type result columns the same way for every backend."""
    arrays = []
    fields = []
    for column, array in zip(columns, table.columns, strict=True):
        kind = array.type
        if pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
            array = array.cast(pa.string())
        elif pa.types.is_timestamp(kind) or column.type is Type.TIMESTAMP:
            array = array.cast(pa.timestamp("ns", tz="UTC"))
        elif column.type is Type.INT and pa.types.is_integer(kind):
            array = array.cast(pa.int64())
        elif pa.types.is_map(kind) and (
            pa.types.is_string_view(kind.item_type) or pa.types.is_string_view(kind.key_type)
        ):
            array = array.cast(pa.map_(pa.string(), pa.string()))
        arrays.append(array)
        fields.append(pa.field(column.name, array.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
