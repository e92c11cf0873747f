"""Execution on DataFusion: bind, lower, run, and unify the result.

Requires: plans from the compiler whose scans use the `datafusion` backend, and the `Config`
naming their sources. Guarantees: one long-lived `SessionContext` per engine
(`SESSION_SETTINGS`) with DataFusion's file-listing cache turned off, so files written after
the engine started are seen by the next query; each source is registered once, on first use,
and stored sources move to their table's latest committed snapshot at every `prepare`;
`execute` returns a `pyarrow.Table` whose columns are the query's output names (contract §5)
in order, strings as `string`, timestamps as `timestamp[ns, UTC]`; failures raise
`QueryFailed` with a one-line cause.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from datafusion import SessionContext

from starbase.compiler import ir
from starbase.compiler.backends.datafusion import UnsupportedError, to_sql
from starbase.compiler.types import Type
from starbase.config import Config
from starbase.runtime.bind import bind
from starbase.runtime.tables import SourceUnavailable, StoredSource, register

SESSION_SETTINGS = (
    # A long-lived session must see files written after it started: DataFusion 55 caches
    # file listings forever by default.
    "SET datafusion.runtime.list_files_cache_limit = '0'",
    # Planning-time statistics open every file's footer before a query runs (~25% of a full
    # scan over 3,600 small files, measured); row groups are still pruned by the Parquet
    # statistics when the files are scanned.
    "SET datafusion.execution.collect_statistics = false",
)


def new_session() -> SessionContext:
    """A DataFusion session configured as every Starbase query runs (also for benchmarks)."""
    ctx = SessionContext()
    for setting in SESSION_SETTINGS:
        ctx.sql(setting)
    return ctx


class QueryFailed(Exception):
    """A query that compiled but could not run; the message is one line with the cause."""


@dataclass
class Engine:
    config: Config
    ctx: SessionContext = field(init=False)
    registered: dict[str, StoredSource] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.ctx = new_session()

    def prepare(
        self, plan: ir.Plan, params: Mapping[str, object], now_ns: int | None = None
    ) -> str:
        """The SQL this run executes (parameters and now() bound)."""
        bound = bind(plan, params, time.time_ns() if now_ns is None else now_ns)
        self._register(bound)
        try:
            return to_sql(bound)
        except UnsupportedError as exc:
            raise QueryFailed(str(exc)) from None

    def execute(
        self, plan: ir.Plan, params: Mapping[str, object], now_ns: int | None = None
    ) -> pa.Table:
        sql = self.prepare(plan, params, now_ns)
        try:
            table = self.ctx.sql(sql).to_arrow_table()
        except Exception as exc:  # DataFusion raises its own exception types
            raise QueryFailed(_one_line(exc)) from exc
        return unify(table, ir.output_schema(plan))

    def explain(self, plan: ir.Plan, params: Mapping[str, object], *, analyze: bool = False) -> str:
        """DataFusion's optimized logical plan and physical plan (or EXPLAIN ANALYZE)."""
        sql = self.prepare(plan, params)
        try:
            if analyze:
                rows = self.ctx.sql(f"EXPLAIN ANALYZE {sql}").to_arrow_table().to_pylist()
                return "\n".join(str(r["plan"]) for r in rows)
            frame = self.ctx.sql(sql)
            logical = frame.optimized_logical_plan().display_indent()
            physical = frame.execution_plan().display_indent()
        except Exception as exc:
            raise QueryFailed(_one_line(exc)) from exc
        return f"-- optimized logical plan --\n{logical}\n\n-- physical plan --\n{physical}"

    def _register(self, plan: ir.Plan) -> None:
        for node in ir.plan_walk(plan):
            if not isinstance(node, ir.Scan):
                continue
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
                    "backend, which is not available yet"
                )
            source = self.config.source(node.source)
            if source is None:
                raise QueryFailed(f"source '{node.source}' is not configured")
            try:
                self.registered[node.source] = register(self.ctx, source)
            except SourceUnavailable as exc:
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


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:500] + ("…" if len(text) > 500 else "")
