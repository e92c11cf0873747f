"""Metadata answers: `stats count(), min(timestamp), max(timestamp) by <cluster field>` from the
index's per-file statistics, without reading the data files.

Requires: a bound plan and the stored sources registered for it (`tables.StoredSource`, whose
`shown` state is the snapshot the query reads). Guarantees: `answer_from_index` rewrites each
`Aggregate` that the index can answer exactly into the same aggregate over a small table of
statistics it registers in the session (`starbase_stats_<hash of the source>`: per live file
and cluster value
its rows and first and last time): `count()` becomes the sum of the rows, `min`/`max` of the
timestamp the min/max of the files' first/last times; everything above it (sort, limit,
further stages) is unchanged, so explain shows the rewritten SQL reading `starbase_stats_…`. An
aggregate qualifies when it reads one stored source with no filter, groups only by fields
mapped to the table's cluster column (e.g. `service`) or by nothing, and computes only those
three aggregates (a raw source: only the statistics of its own `?source=` name); and the
snapshot has no file straddling retention's cutoff (those hide
some of their rows). Anything else is left to the scan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from datafusion import SessionContext

from starbase.backends.datafusion.tables import StoredSource
from starbase.compiler import ir
from starbase.compiler.types import Type
from starbase.storage.otel_layout import hour_start_ns

_STATS_SCHEMA = pa.schema(
    [("key", pa.string()), ("rows", pa.int64()), ("min_ns", pa.int64()), ("max_ns", pa.int64())]
)


def answer_from_index(
    plan: ir.Plan, sources: Mapping[str, StoredSource], ctx: SessionContext
) -> tuple[ir.Plan, tuple[str, ...]]:
    """`plan` with index-answerable aggregates rewritten; the stats tables it registered."""
    registered: list[str] = []

    def visit(node: ir.Plan) -> ir.Plan:
        node = ir.with_inputs(node, tuple(visit(p) for p in ir.plan_inputs(node)))
        if not isinstance(node, ir.Aggregate):
            return node
        rewritten = _rewrite(node, sources, ctx)
        if rewritten is None:
            return node
        plan, table = rewritten
        registered.append(table)
        return plan

    return visit(plan), tuple(registered)


def _rewrite(
    node: ir.Aggregate, sources: Mapping[str, StoredSource], ctx: SessionContext
) -> tuple[ir.Aggregate, str] | None:
    match node.input:
        case ir.Project(ir.Scan(source=name, filter=None, backend="datafusion") as scan, items):
            pass
        case _:
            return None
    stored = sources.get(name)
    if stored is None or stored.shown is None:
        return None
    fmt = stored.table.format
    fields = {item.name: item.expr for item in items}
    time_column = ir.Call(
        "epoch_to_timestamp",
        (ir.Col(fmt.time_column, Type.INT), ir.Lit(_UNITS[fmt.ns_per_unit], Type.STRING)),
        Type.TIMESTAMP,
    )
    key_column = ir.Col(fmt.cluster, Type.STRING)
    key_names: dict[str, None] = {}
    for key in node.keys:
        if not (isinstance(key.expr, ir.Col) and fields.get(key.expr.name) == key_column):
            return None
        key_names[key.expr.name] = None
    aggregates: list[ir.NamedExpr] = []
    for item in node.aggregates:
        agg = item.expr
        if not isinstance(agg, ir.Agg):
            return None
        if agg.name == "count" and not agg.args:
            aggregates.append(
                ir.NamedExpr(item.name, ir.Agg("sum", (ir.Col("__rows", Type.INT),), Type.INT))
            )
        elif (
            agg.name in ("min", "max")
            and len(agg.args) == 1
            and isinstance(agg.args[0], ir.Col)
            and fields.get(agg.args[0].name) == time_column
        ):
            bound = ir.Col(f"__{agg.name}", Type.TIMESTAMP)
            aggregates.append(ir.NamedExpr(item.name, ir.Agg(agg.name, (bound,), Type.TIMESTAMP)))
        else:
            return None
    state = stored.shown
    files = stored.table.files(state)
    if state.cutoff is not None:
        first = hour_start_ns(state.cutoff)
        if any(f.min_ns < first <= f.max_ns for f in files):
            return None  # retention hides part of a file: only a scan can count its rows
    rows = [(k.key, k.rows, k.min_ns, k.max_ns) for f in files for k in f.keys if k.rows]
    if stored.raw_source is not None:  # raw sources share the table: only this one's lines
        rows = [r for r in rows if r[0] == stored.raw_source]
    if not node.keys:  # one row even with no files: count() is 0, min/max null
        rows.append((None, 0, None, None))  # type: ignore[arg-type]
    table = pa.Table.from_pylist(
        [dict(zip(_STATS_SCHEMA.names, r, strict=True)) for r in rows], schema=_STATS_SCHEMA
    )
    # a plain lowercase name, whatever the source is called (dots, case, quotes)
    stats_name = "starbase_stats_" + hashlib.sha256(name.encode()).hexdigest()[:16]
    if ctx.table_exist(stats_name):
        ctx.deregister_table(stats_name)
    ctx.from_arrow(table, name=stats_name)
    unit = ir.Lit("ns", Type.STRING)
    stats_scan = ir.Scan(
        stats_name,
        scan.format,
        "datafusion",
        (
            ir.Column("key", Type.STRING),
            ir.Column("rows", Type.INT),
            ir.Column("min_ns", Type.INT),
            ir.Column("max_ns", Type.INT),
        ),
    )
    project = ir.Project(
        stats_scan,
        (
            *(ir.NamedExpr(name, ir.Col("key", Type.STRING)) for name in key_names),
            ir.NamedExpr("__rows", ir.Col("rows", Type.INT)),
            ir.NamedExpr(
                "__min",
                ir.Call("epoch_to_timestamp", (ir.Col("min_ns", Type.INT), unit), Type.TIMESTAMP),
            ),
            ir.NamedExpr(
                "__max",
                ir.Call("epoch_to_timestamp", (ir.Col("max_ns", Type.INT), unit), Type.TIMESTAMP),
            ),
        ),
    )
    return ir.Aggregate(project, node.keys, tuple(aggregates)), stats_name


_UNITS = {1: "ns", 1_000: "us", 1_000_000: "ms", 1_000_000_000: "s"}
