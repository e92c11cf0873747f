"""map fields: universal names → each source's physical expressions, through its mapping.

Requires: a normalized plan whose leaf is `Sources`, and a `mapping_for(format)` lookup.
Guarantees: the `Sources` leaf is replaced by, per source, a `Scan` of the format's physical
columns under a `Project` that computes every universal field as the mapping says (a column,
a map key, an epoch conversion, a regex capture, a level read from text, a derived StarQL
expression, the source's name, or null when absent); several sources meet in a `Union` whose
branches share the meta-model's column order. Nothing above the leaf changes.
A source is read by `engine` (the session's engine, e.g. DataFusion) when Starbase stores it
or its mapping's backend is an engine, else natively by its mapping's backend (CloudWatch).
`absent_field_warnings` reports fields the query names that a source cannot provide.

    Sources: otel (otel)
    → Project: [timestamp := epoch_to_timestamp(time_unix_nano, "ns"), …]
        Scan: otel (otel via datafusion) columns=[time_unix_nano, …]
"""

from __future__ import annotations

from collections.abc import Callable

from starbase import backends
from starbase.compiler import ir
from starbase.compiler.errors import Code, Diagnostic, Severity
from starbase.compiler.raw_fields import raw_field_expressions
from starbase.compiler.types import Type
from starbase.mappings import Mapping, model
from starbase.mappings.raw import RawMapping

MappingLookup = Callable[[str], Mapping]
RawLookup = Callable[[str], RawMapping]
RAW_FORMAT = "raw"
# fields a raw source's line mapping provides (the rest come from `raw.yaml`: source, …)
_RAW_KEEPS = ("source", "log_group", "log_stream", "resource")

PHYSICAL_TYPES = {
    "int64": Type.INT,
    "int32": Type.INT,
    "float64": Type.FLOAT,
    "bool": Type.BOOL,
    "string": Type.STRING,
    "binary": Type.STRING,
    "timestamp_ns": Type.TIMESTAMP,
    "map<string,string>": Type.MAP,
}


def map_fields(
    plan: ir.Plan,
    mapping_for: MappingLookup,
    engine: str = backends.DEFAULT_ENGINE,
    raw_for: RawLookup | None = None,
) -> ir.Plan:
    """Replace the `Sources` leaf of `plan` by the mapped reads of each source (a `raw`
    source's fields come from its line mapping, `raw_for(source name)`)."""
    return _map_fields(plan, mapping_for, engine, raw_for, attribute_keys(plan))


def _map_fields(
    plan: ir.Plan,
    mapping_for: MappingLookup,
    engine: str,
    raw_for: RawLookup | None,
    keys: frozenset[str] | None,
) -> ir.Plan:
    inputs = tuple(_map_fields(p, mapping_for, engine, raw_for, keys) for p in ir.plan_inputs(plan))
    if not isinstance(plan, ir.Sources):
        return ir.with_inputs(plan, inputs)
    branches = tuple(
        _read(
            source,
            plan.schema,
            mapping_for(source.format),
            engine,
            _raw_mapping(source, raw_for),
            keys,
        )
        for source in plan.sources
    )
    return branches[0] if len(branches) == 1 else ir.Union(branches)


def _raw_mapping(source: ir.SourceRef, raw_for: RawLookup | None) -> RawMapping | None:
    """A raw source's line mapping (with no lookup: every line its own message)."""
    if source.format != RAW_FORMAT:
        return None
    if raw_for is None:
        from starbase.mappings.raw_sources import whole_line_mapping

        return whole_line_mapping()
    return raw_for(source.name)


def attribute_keys(plan: ir.Plan) -> frozenset[str] | None:
    """The keys of `attributes` the query reads (`attributes.KEY`), or None when it uses the
    whole map (outputs it, or passes it on). A raw source then extracts only those keys: the
    same answer, one capture per key instead of one per field of the line."""
    keys: set[str] = set()
    whole = ir.Col("attributes", Type.MAP)
    for node in ir.plan_walk(plan):
        for expr in ir.node_exprs(node):
            for e in ir.walk(expr):
                if isinstance(e, ir.MapGet) and e.map == whole:
                    keys.add(e.key)
        bare = [e for expr in ir.node_exprs(node) for e in _outside_map_gets(expr) if e == whole]
        if bare:
            return None
    if not any(isinstance(n, ir.Project | ir.Aggregate) for n in ir.plan_walk(plan)):
        return None  # no `fields`/`stats`: the result holds every column, the map too
    return frozenset(keys)


def _outside_map_gets(expr: ir.Expr) -> list[ir.Expr]:
    """Sub-expressions of `expr` not under a `MapGet` (whose map is read for one key only)."""
    if isinstance(expr, ir.MapGet):
        return []
    out: list[ir.Expr] = [expr]
    for child in ir.children(expr):
        out.extend(_outside_map_gets(child))
    return out


def physical_schema(mapping: Mapping) -> tuple[ir.Column, ...]:
    return tuple(ir.Column(name, PHYSICAL_TYPES[kind]) for name, kind in mapping.columns.items())


def field_expression(
    universal: ir.Column,
    spec: model.FieldMapping,
    source: str,
    mapping: Mapping,
    columns: dict[str, Type] | None = None,
) -> ir.Expr:
    """The physical expression that provides `universal` for one source (`columns`: the
    mapping's physical column types, when the caller has them already)."""
    if columns is None:
        columns = {c.name: c.type for c in physical_schema(mapping)}

    def col(name: str) -> ir.Col:
        return ir.Col(name, columns[name])

    match spec:
        case model.ColumnField(column=name):
            return col(name)
        case model.HexField(column=name):
            return ir.Call("hex", (col(name),), Type.STRING)
        case model.EpochField(column=name, unit=unit):
            return ir.Call(
                "epoch_to_timestamp", (col(name), ir.Lit(unit, Type.STRING)), Type.TIMESTAMP
            )
        case model.MapKeyField(column=name, key=key):
            return ir.MapGet(col(name), key)
        case model.MapField(column=name):
            return col(name)
        case model.JsonMapField(column=name):
            return ir.Call("json_to_map", (col(name),), Type.MAP)
        case model.RegexExtractField(column=name, pattern=pattern):
            captures = tuple(
                ir.Call(
                    "regex_extract",
                    (col(name), ir.Regex(pattern), ir.Lit(group, Type.INT)),
                    Type.STRING,
                )
                for group in spec.groups
            )
            return captures[0] if len(captures) == 1 else ir.Call("coalesce", captures, Type.STRING)
        case model.LevelFromTextField(column=name):
            return ir.Call("level_from_text", (col(name),), Type.INT)
        case model.ExprField(expr=text):
            return _derived(text, columns, universal)
        case model.SourceNameField():
            return ir.Lit(source, Type.STRING)
    return ir.Lit(None, universal.type)


def _derived(text: str, columns: dict[str, Type], universal: ir.Column) -> ir.Expr:
    from starbase.compiler.grammar.parser import parse_expression
    from starbase.compiler.passes.normalize import normalize_expr
    from starbase.compiler.passes.resolve import type_expression

    expr = normalize_expr(type_expression(parse_expression(text), columns))
    if expr.type is not universal.type and expr.type is not Type.NULL:
        if universal.type is Type.STRING:
            return ir.Call("tostring", (expr,), Type.STRING)
        if universal.type.numeric and expr.type.numeric:
            return ir.Cast(expr, universal.type)
    return expr


def _read(
    source: ir.SourceRef,
    schema: tuple[ir.Column, ...],
    mapping: Mapping,
    engine: str,
    raw: RawMapping | None = None,
    attribute_keys: frozenset[str] | None = None,
) -> ir.Plan:
    physical = physical_schema(mapping)
    # A source Starbase stores (e.g. CloudWatch events delivered by Firehose) is read from its
    # table with the same mapping: the table's view spells the mapping's columns.
    native = not source.stored and backends.native(mapping.backend) is not None
    backend = mapping.backend if native else engine
    scan = ir.Scan(source.name, mapping.format, backend, physical)
    columns = {c.name: c.type for c in physical}
    from_line = raw_field_expressions(raw, attribute_keys) if raw is not None else {}
    items = tuple(
        ir.NamedExpr(
            c.name,
            from_line[c.name]
            if c.name in from_line and c.name not in _RAW_KEEPS
            else field_expression(c, mapping.field(c.name), source.name, mapping, columns),
        )
        for c in schema
    )
    return ir.Project(scan, items)


def _renames_only(node: ir.Plan) -> bool:
    return isinstance(node, ir.Project) and all(isinstance(i.expr, ir.Col) for i in node.items)


def absent_field_warnings(plan: ir.Plan, mapping_for: MappingLookup) -> tuple[Diagnostic, ...]:
    """A warning for each universal field the query names that one of its sources lacks."""
    leaf = next((p for p in ir.plan_walk(plan) if isinstance(p, ir.Sources)), None)
    if leaf is None:
        return ()
    universal = {c.name for c in leaf.schema}
    named: list[str] = []
    renames = {id(n.right) for n in ir.plan_walk(plan) if isinstance(n, ir.Join)}
    for node in ir.plan_walk(plan):
        if id(node) in renames and _renames_only(node):
            continue  # a join's right side renamed apart from the left: names nothing new
        for expr in ir.node_exprs(node):
            for e in ir.walk(expr):
                if isinstance(e, ir.Col) and e.name in universal and e.name not in named:
                    named.append(e.name)
    out = []
    for source in leaf.sources:
        mapping = mapping_for(source.format)
        for name in named:
            if isinstance(mapping.field(name), model.AbsentField):
                out.append(
                    Diagnostic(
                        Code.FIELD_ABSENT_IN_SOURCE,
                        f"source '{source.name}' ({source.format}) has no '{name}'; "
                        "it is null for that source's rows",
                        None,
                        (f"see the '{source.format}' mapping for the fields it provides",),
                        Severity.WARNING,
                    )
                )
    return tuple(out)
