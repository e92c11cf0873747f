"""Execution on Spark: one `SparkSession` per engine, each stored source a view of its snapshot.

Requires: `pyspark` and Java 17; `Job`s whose scans read stored sources of the engine's
`Config` that live in a local folder (pyspark ships no `s3a://` connector), or the job's
fetched `tables`; option `master` (default `local[2]`). Guarantees: each engine has its own
`SparkSession` (its own views: engines over different configurations in one process never
see each other's sources) on the process's one Spark context, in UTC with
`spark.sql.ansi.enabled=false` (a failed cast is null, as DataFusion's `TRY_CAST`), no UI,
the JVM logging errors only (`log4j2.properties`). A stored source is read from exactly its
latest committed snapshot: the file list comes from the table's index (`Table.files`: no
folder is listed, so uncommitted files, files of a commit in flight and folders superseded
by compaction are never read), the retention cutoff's row predicate applied, `day` taken
from each file's folder; the view is rebuilt only when the commit log's head moved. Tables
still holding legacy-layout files are refused (compaction migrates them). `execute` runs
the SQL from `lower.to_sql` and streams its rows as Arrow batches (at most the job's
`limit`; one more row is asked for to know whether it `truncated`), times as `int64`
nanoseconds (the session's result shape makes them `timestamp[ns, UTC]`); `stop()` cancels
the job's Spark jobs. Failures raise `QueryFailed`.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.backends.base import Engine, Execution, ExecutionStats, Job, UnsupportedError
from starbase.backends.spark import DEFAULT_MASTER
from starbase.backends.spark.lower import to_sql
from starbase.compiler import ir
from starbase.compiler.types import Type
from starbase.config import Config, SourceConfig
from starbase.runtime.errors import QueryFailed, one_line
from starbase.storage.index import LAYOUT_DIR, State
from starbase.storage.otel_layout import hour_start_ns
from starbase.storage.table import Table, open_table

STORED = {"otel": "otel"}  # source format -> stored table format Spark reads
SETTINGS = {
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.extraJavaOptions": "-Dlog4j2.configurationFile="
    + (Path(__file__).parent / "log4j2.properties").as_uri(),
}
_LOCK = threading.Lock()
_MASTER = re.compile(r"^(local(\[(\d+|\*)(,\d+)?\])?|spark://\S+|yarn|k8s://\S+)$")


def spark_session(master: str = DEFAULT_MASTER) -> Any:
    """A new `SparkSession` (its own temporary views and settings) on the process's Spark
    context, started on `master` by the first call; Spark keeps one context per process, so a
    later call with another master fails."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName("starbase")
    for key, value in SETTINGS.items():
        builder = builder.config(key, value)
    with _LOCK:
        shared = builder.getOrCreate()
    running = shared.sparkContext.master
    if running != master:
        raise QueryFailed(
            f"spark: this process already runs Spark on {running}; it cannot also use {master}"
        )
    shared.sparkContext.setLogLevel("ERROR")
    session = shared.newSession()
    for key, value in SETTINGS.items():
        if key.startswith("spark.sql."):
            session.conf.set(key, value)
    return session


def quote(name: str) -> str:
    """`name` as a Spark SQL identifier, whatever it holds."""
    return "`" + name.replace("`", "``") + "`"


@dataclass
class _View:
    table: Table
    shown: State | None = None


class SparkEngine(Engine):
    """See the module docstring."""

    def __init__(self, config: Config, options: Mapping[str, str] | None = None) -> None:
        self.config = config
        master = (options or {}).get("master") or DEFAULT_MASTER
        if not _MASTER.match(master):
            raise QueryFailed(
                f"spark: master {master!r} is not local, local[N], spark://HOST:PORT, yarn "
                "or k8s://URL"
            )
        try:
            self.spark = spark_session(master)
        except QueryFailed:
            raise
        except Exception as exc:  # Java missing, bad master URL
            raise QueryFailed(
                f"spark: cannot start a session on {master}: {one_line(exc)}"
            ) from None
        self.views: dict[str, _View] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count()

    def execute(self, job: Job) -> Execution:
        with self._lock:
            sql, fetched = self._prepare(job)
            group = f"starbase-{id(self)}-{next(self._ids)}"
            try:
                frame = self.spark.sql(sql)
                if job.limit is not None:
                    frame = frame.limit(job.limit + 1)
            except Exception as exc:
                self._drop(fetched)
                raise QueryFailed(one_line(exc)) from None
        durations = {
            c.name: pa.month_day_nano_interval()
            if _defined_by_literal(job.plan, c.name)
            else pa.duration("ns")
            for c in ir.output_schema(job.plan)
            if c.type is Type.DURATION
        }
        return _Run(self, frame, group, job.limit, fetched, durations)

    def explain(self, job: Job, *, analyze: bool = False) -> str:
        with self._lock:
            sql, fetched = self._prepare(job)
            try:
                mode = "cost" if analyze else "extended"
                rows = self.spark.sql(f"EXPLAIN {mode.upper()} {sql}").collect()
                return "\n".join(str(r[0]) for r in rows)
            except Exception as exc:
                raise QueryFailed(one_line(exc)) from None
            finally:
                self._drop(fetched)

    def close(self) -> None:
        self.views.clear()

    # ------------------------------------------------------------ sources and tables

    def _prepare(self, job: Job) -> tuple[str, tuple[str, ...]]:
        names = {source: f"__fetched_{next(self._ids)}" for source in job.tables}
        plan = _renamed(job.plan, names)
        for node in ir.plan_walk(plan):
            if isinstance(node, ir.Scan) and node.source not in names.values():
                self._refresh(node.source)
        try:
            sql = to_sql(plan)
        except UnsupportedError as exc:
            raise QueryFailed(str(exc)) from None
        for source, name in names.items():
            self.spark.createDataFrame(job.tables[source]).createOrReplaceTempView(quote(name))
        return sql, tuple(names.values())

    def _drop(self, views: tuple[str, ...]) -> None:
        for name in views:
            self.spark.catalog.dropTempView(quote(name))

    def _refresh(self, name: str) -> None:
        """Point the view `name` at its table's latest committed snapshot."""
        view = self.views.get(name)
        if view is None:
            view = self.views[name] = _View(_open(self.config.source(name), name))
        try:
            state = view.table.snapshot()
        except Exception as exc:
            where = view.table.store.url("_log/")
            raise QueryFailed(f"source '{name}': cannot read its index at {where}: {exc}") from None
        if state == view.shown:
            return
        frame = snapshot_frame(self.spark, view.table, state)
        frame.createOrReplaceTempView(quote(name))
        view.shown = state


def _open(source: SourceConfig | None, name: str) -> Table:
    if source is None:
        raise QueryFailed(f"source '{name}' is not configured")
    stored = STORED.get(source.format)
    if stored is None:
        raise QueryFailed(f"source '{name}': Spark reads stored OTel tables, not '{source.format}'")
    location = source.location or ""
    if not location or location.startswith("s3://"):
        raise QueryFailed(
            f"source '{name}': Spark here reads local folders only (pyspark ships no s3a "
            "connector; on a cluster, point its view at the same files)"
        )
    root = Path(location).expanduser()
    if not root.is_dir():
        raise QueryFailed(f"source '{name}': data folder {root} does not exist")
    return open_table(root, stored)


def snapshot_files(table: Table, state: State) -> list[str]:
    """The absolute paths of the files `state` makes visible, from the table's index."""
    files = table.files(state)
    if any(f.legacy for f in files):
        raise QueryFailed(
            "the table still holds files of the legacy layout; run `starbase compact` first "
            "(Spark reads the day layout only)"
        )
    return [table.store.url(f.path) for f in files]


def snapshot_frame(spark: Any, table: Table, state: State) -> Any:
    """A DataFrame of exactly the rows `state` makes visible: the file schema and `day`."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    fmt = table.format
    paths = snapshot_files(table, state)
    empty = pa.table({f.name: pa.array([], f.type) for f in fmt.schema})
    schema = spark.createDataFrame(empty).schema  # Spark's reading of the file schema
    if paths:
        base = table.store.url(f"{LAYOUT_DIR}/")
        frame = spark.read.option("basePath", base).schema(schema).parquet(*paths)
        frame = frame.select(*fmt.schema.names, "day")
    else:
        frame = spark.createDataFrame([], schema.add("day", T.StringType()))
    if state.cutoff:  # retention: rows before the cutoff hour are hidden
        first = -(-hour_start_ns(state.cutoff) // fmt.ns_per_unit)
        frame = frame.where(F.col(fmt.time_column) >= F.lit(first))
    return frame


def _renamed(plan: ir.Plan, names: dict[str, str]) -> ir.Plan:
    if not names:
        return plan

    def visit(node: ir.Plan) -> ir.Plan:
        node = ir.with_inputs(node, tuple(visit(child) for child in ir.plan_inputs(node)))
        if isinstance(node, ir.Scan) and node.source in names:
            from dataclasses import replace

            return replace(node, source=names[node.source])
        return node

    return visit(plan)


class _Run(Execution):
    """One Spark job group: collected as Arrow, handed out in batches."""

    def __init__(
        self,
        engine: SparkEngine,
        frame: Any,
        group: str,
        limit: int | None,
        views: tuple[str, ...],
        durations: dict[str, pa.DataType],
    ) -> None:
        self._engine, self._frame, self._group = engine, frame, group
        self._limit, self._views = limit, views
        self._truncated = False
        self._stopped = threading.Event()
        schema = _arrow_schema(frame.schema)
        for name, kind in durations.items():  # ns integers in Spark: DataFusion's types
            schema = schema.set(schema.get_field_index(name), pa.field(name, kind))
        self._durations = durations
        self.schema = schema

    def batches(self) -> Iterator[pa.RecordBatch]:
        context = self._engine.spark.sparkContext
        try:
            context.setJobGroup(self._group, "starbase query", interruptOnCancel=True)
            try:
                table = self._frame.toArrow()
            except Exception as exc:
                if self._stopped.is_set():
                    return
                raise QueryFailed(one_line(exc)) from None
            finally:
                context.setLocalProperty("spark.jobGroup.id", None)
            if self._limit is not None and table.num_rows > self._limit:
                self._truncated = True
                table = table.slice(0, self._limit)
            for name, kind in self._durations.items():
                at = table.schema.get_field_index(name)
                column = table.column(name)
                values = _intervals(column) if kind == pa.month_day_nano_interval() else column
                table = table.set_column(at, name, values.cast(kind))
            table = table.cast(self.schema) if table.schema != self.schema else table
            yield from table.to_batches()
        finally:
            with self._engine._lock:
                self._engine._drop(self._views)
            self._views = ()

    def stats(self) -> ExecutionStats:
        return ExecutionStats(None, self._truncated)

    def stop(self) -> None:
        self._stopped.set()
        self._engine.spark.sparkContext.cancelJobGroup(self._group)


_NS_PER_DAY = 86_400_000_000_000


def _defined_by_literal(plan: ir.Plan, name: str) -> bool:
    """Whether output column `name` of `plan` is a constant written in the query (DataFusion
    gives such a duration as an interval; durations computed from times as `duration[ns]`)."""
    node = plan
    while not isinstance(node, ir.Scan | ir.Sources):
        items: tuple[ir.NamedExpr, ...] = ()
        if isinstance(node, ir.Project | ir.Extend):
            items = node.items
        elif isinstance(node, ir.Aggregate):
            items = (*node.keys, *node.aggregates)
        found = next((i.expr for i in items if i.name == name), None)
        if found is None and isinstance(node, ir.Project | ir.Aggregate):
            return False
        if found is not None and not isinstance(found, ir.Col):
            return isinstance(found, ir.Lit)
        if found is not None:
            name = found.name
        node = ir.plan_inputs(node)[0]
    return False


def _intervals(nanos: pa.ChunkedArray) -> pa.Array:
    """Durations (ns) as DataFusion's intervals: whole days as days, the rest as ns."""
    values: list[tuple[int, int, int] | None] = []
    for value in nanos.to_pylist():
        if value is None:
            values.append(None)
        elif value % _NS_PER_DAY == 0:
            values.append((0, value // _NS_PER_DAY, 0))
        else:
            values.append((0, 0, value))
    return pa.array(values, pa.month_day_nano_interval())


def _arrow_schema(schema: Any) -> pa.Schema:
    """The Arrow schema of a Spark result (as `toArrow` gives it)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(schema)
