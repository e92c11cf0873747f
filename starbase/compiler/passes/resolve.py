"""resolve: AST → typed plan over the query's sources, in meta-model names.

Requires: a parsed `ast.Query` and the `Config` naming the sources. Guarantees: every source
exists; every field reference names a field in scope at that point of the pipeline (universal
fields, then what `parse`/`extend`/`fields`/`stats` define; after `stats` only its outputs);
every expression is typed, with the implicit casts of contract §3 made explicit (`Cast`);
level names and ISO timestamps are checked and turned into numbers; aggregates appear only in
`stats`, and `stats` items contain at least one; output names follow contract §5. Sugar is
kept for normalize: `since`/`between` become `Since`/`Between` filters and bare searches
`Search`. Errors are `CompileError`s positioned on the offending text.

    from otel | where severity >= "warn" | stats count() as n by service
    → Aggregate(keys=[service], aggregates=[n := count()])
        Filter(severity >= 13)
          Sources(otel)
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from starbase import backends
from starbase.backends import DEFAULT_ENGINE
from starbase.compiler import ast, ir
from starbase.compiler.errors import Code, CompileError, Span, did_you_mean, error
from starbase.compiler.format import format_expr
from starbase.compiler.functions import AGGREGATES, SCALARS, Args, common_type
from starbase.compiler.passes.joins import join_keys, join_options, right_names
from starbase.compiler.passes.normalize import normalize_expr
from starbase.compiler.timestamps import parse_iso
from starbase.compiler.types import Type
from starbase.config import LOOKUP_FORMAT, Config
from starbase.mappings import EXTRA_FIELDS, LEVEL_HINT, LEVELS, UNIVERSAL_FIELDS
from starbase.mappings.loader import MappingError, load_mapping

UNIVERSAL_SCHEMA = tuple(ir.Column(f.name, Type(f.type.value)) for f in UNIVERSAL_FIELDS)
EXTRA_SCHEMA = tuple(ir.Column(f.name, Type(f.type.value)) for f in EXTRA_FIELDS)
_MAP_FIELDS = frozenset(c.name for c in UNIVERSAL_SCHEMA if c.type is Type.MAP)
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_LEVEL_HINT = f"{LEVEL_HINT} or a number 1–24"


@dataclass
class _Scope:
    """The columns available at one point of the pipeline, in order."""

    columns: dict[str, Type]
    ever: set[str] = field(default_factory=set)  # every name defined so far, for better errors
    after: str = ""  # the stage that last replaced the scope ("stats", "fields")
    hidden: set[str] = field(default_factory=set)  # extra fields as read: not in the output

    def replace(self, columns: dict[str, Type], after: str) -> None:
        self.ever.update(self.columns)
        self.columns, self.after = columns, after
        self.hidden.clear()

    def define(self, name: str, kind: Type) -> None:
        """`name` is (re)defined by the query: it is output like any other field."""
        self.columns[name] = kind
        self.hidden.discard(name)


def resolve(query: ast.Query, config: Config) -> ir.Plan:
    """Bind `query` to the sources of `config` and type it (see the module docstring)."""
    plan, _ = _pipeline(query, config, ordered=True)
    return plan


def _pipeline(
    query: ast.Query, config: Config, *, ordered: bool, needs: frozenset[str] = frozenset()
) -> tuple[ir.Plan, dict[str, Type]]:
    """The plan of one pipeline and its output columns. A join's subquery is not `ordered`
    (no default order is added at its end: the join does not keep it) and `needs` its keys
    (extra fields among them are output even when the subquery does not name them)."""
    sources = _sources(query.source, config)
    heads = _field_heads(query) | needs
    extras = tuple(c for c in EXTRA_SCHEMA if c.name in heads)
    schema = (*UNIVERSAL_SCHEMA, *extras)
    hidden = {c.name for c in extras} - needs
    scope = _Scope({c.name: c.type for c in schema}, hidden=hidden)
    plan: ir.Plan = ir.Sources(sources, schema)
    rows_at, stats_at = _default_order(query.stages, ordered=ordered)
    for index, stage in enumerate(query.stages):
        if index == rows_at:
            plan = ir.Sort(plan, (NEWEST_FIRST,))
        if isinstance(stage, ast.Join):
            plan = _join(stage, plan, scope, config)
        elif isinstance(stage, ast.Lookup):
            plan = _lookup(stage, plan, scope, config)
        else:
            plan = _stage(stage, plan, scope)
        if index in stats_at and isinstance(plan, ir.Aggregate):
            plan = _time_order(plan)
    if rows_at == len(query.stages):
        plan = ir.Sort(plan, (NEWEST_FIRST,))
    shown = [c for c in ir.output_schema(plan) if c.name not in scope.hidden]
    if len(shown) < len(ir.output_schema(plan)):  # extra fields are never output unasked
        plan = ir.Project(plan, tuple(ir.NamedExpr(c.name, ir.Col(c.name, c.type)) for c in shown))
    return plan, {c.name: c.type for c in shown}


def _join(stage: ast.Join, plan: ir.Plan, scope: _Scope, config: Config) -> ir.Plan:
    kind, max_rows = join_options(stage.options)
    needs = frozenset(k.right.value for k in stage.keys)
    right, columns = _pipeline(stage.query, config, ordered=False, needs=needs)
    twice = sorted(_native_sources(plan) & _native_sources(right))
    if twice:
        raise error(
            Code.UNSUPPORTED_OPERATION,
            f"source '{twice[0]}' is read by a query of its own store, so it can be on only "
            "one side of a join",
            stage.query.span,
            "read it once: join it with a source Starbase stores, or run the two sides as "
            "separate queries",
        )
    keys = join_keys(stage.keys, scope.columns, columns, "the subquery")
    return _joined(plan, right, columns, keys, kind, max_rows, scope)


def _native_sources(plan: ir.Plan) -> set[str]:
    """The sources of `plan` read by a native store's own query (fetched once per query, by
    name: such a source cannot be read twice with different queries)."""
    names: set[str] = set()
    for node in ir.plan_walk(plan):
        if isinstance(node, ir.Sources):
            for ref in node.sources:
                if ref.stored:
                    continue
                try:
                    backend = load_mapping(ref.format).backend
                except MappingError:
                    continue  # the format's own error is reported where it is read
                if backends.native(backend) is not None:
                    names.add(ref.name)
    return names


def _lookup(stage: ast.Lookup, plan: ir.Plan, scope: _Scope, config: Config) -> ir.Plan:
    table = config.lookup(stage.table.value)
    if table is None:
        known = ", ".join(t.name for t in config.lookups) or "none"
        raise error(
            Code.UNKNOWN_SOURCE,
            f"unknown lookup table '{stage.table.value}'",
            stage.table.span,
            did_you_mean(stage.table.value, [t.name for t in config.lookups]),
            f"tables named under [lookups] in the configuration: {known}",
        )
    columns = {name: Type(kind) for name, kind in table.columns}
    keys = join_keys(stage.keys, scope.columns, columns, f"the table '{table.name}'")
    schema = tuple(ir.Column(n, t) for n, t in columns.items())
    right = ir.Scan(table.name, LOOKUP_FORMAT, DEFAULT_ENGINE, schema)
    return _joined(plan, right, columns, keys, "left", ir.JOIN_MAX_ROWS, scope)


def _joined(
    plan: ir.Plan,
    right: ir.Plan,
    columns: dict[str, Type],
    keys: tuple[tuple[str, str], ...],
    kind: str,
    max_rows: int,
    scope: _Scope,
) -> ir.Plan:
    """`plan` joined with `right`, the right's columns renamed apart from the left's."""
    names = right_names(scope.columns, columns, keys)
    if any(old != new for old, new in names.items()):
        kept = [*(r for _, r in keys), *names]
        items = tuple(
            ir.NamedExpr(names.get(c, c), ir.Col(c, columns[c])) for c in dict.fromkeys(kept)
        )
        right = ir.Project(right, items)
    for old, new in names.items():
        scope.define(new, columns[old])
    return ir.Join(plan, right, kind, keys, max_rows)


NEWEST_FIRST = ir.SortKey(ir.Col("timestamp", Type.TIMESTAMP), descending=True)


def _default_order(
    stages: tuple[ast.Stage, ...], *, ordered: bool = True
) -> tuple[int | None, set[int]]:
    """Where the default order applies when no `sort` decides it (docs/reference.md, "Result
    order"): (the index of the stage before which rows are sorted newest first — the source's
    `timestamp`, so placed before any stage that replaces or drops it — or None; the indexes of
    the `stats` whose output is put in time order). Order matters where a `limit`, a `dedup`
    or the end of the query reads it; a `sort` decides it instead and `stats` discards it."""
    rows_at: int | None = None
    stats_at: set[int] = set()
    segment: int | None = None  # the `stats` that began the current part (None: the rows)
    decided = False  # a sort, or the default already placed, orders the current part
    place = 0  # the latest place where `timestamp` is still the source's own
    moved = False  # a stage replaced or dropped the source's `timestamp`
    for index, stage in enumerate(stages):
        if isinstance(stage, ast.Sort):
            decided = True
        elif isinstance(stage, ast.Limit | ast.Dedup):
            if not decided:
                rows_at = place if segment is None else rows_at
                stats_at |= set() if segment is None else {segment}
            decided = True
        elif isinstance(stage, ast.Stats):
            segment, decided = index, False
        elif isinstance(stage, ast.Patterns):  # ordered by count itself
            segment, decided = index, True
        elif segment is None and not moved:
            moved = isinstance(stage, ast.Fields) or "timestamp" in _defines(stage)
            place = index if moved else index + 1
    if not decided and ordered:
        rows_at = place if segment is None else rows_at
        stats_at |= set() if segment is None else {segment}
    return rows_at, stats_at


def _defines(stage: ast.Stage) -> set[str]:
    """The names a row stage (re)defines."""
    match stage:
        case ast.Extend(assignments):
            return {a.name.value for a in assignments}
        case ast.ParseGlob(names=names):
            return {n.value for n in names}
        case ast.ParseRegex(regex=regex):
            from starbase.compiler.regex import group_names

            return set(group_names(regex.pattern))
        case ast.ParseStructured(name=name):
            return {name.value}
    return set()


def _time_order(plan: ir.Aggregate) -> ir.Plan:
    """`stats … by bin(…)` in time order: its bins, then its other keys, ascending."""
    bins = [k for k in plan.keys if isinstance(k.expr, ir.Call) and k.expr.name == "bin"]
    if not bins:
        return plan
    keys = bins + [k for k in plan.keys if k not in bins]
    return ir.Sort(plan, tuple(ir.SortKey(ir.Col(k.name, k.expr.type)) for k in keys))


def _field_heads(query: ast.Query) -> set[str]:
    """The first segment of every field path the query names (an iterative walk), and the
    left keys of its joins; a join's subquery names fields of its own sources."""
    heads: set[str] = set()
    stack: list[object] = list(query.stages)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FieldRef):
            heads.add(node.segments[0])
        elif isinstance(node, ast.Join | ast.Lookup):
            heads.update(k.left.value for k in node.keys)
        elif isinstance(node, tuple):
            stack.extend(node)
        elif dataclasses.is_dataclass(node):
            stack.extend(getattr(node, f.name) for f in dataclasses.fields(node))
    return heads


# ---------------------------------------------------------------- sources


def _sources(stage: ast.From, config: Config) -> tuple[ir.SourceRef, ...]:
    if stage.star:
        if not config.sources:
            raise error(Code.NO_SOURCES, "no sources are configured", stage.span)
        return tuple(ir.SourceRef(s.name, s.format, s.location is not None) for s in config.sources)
    refs: list[ir.SourceRef] = []
    for ref in stage.sources:
        found = config.source(ref.name)
        if found is None:
            known = ", ".join(config.names) or "none"
            raise error(
                Code.UNKNOWN_SOURCE,
                f"unknown source '{ref.name}'",
                ref.span,
                did_you_mean(ref.name, config.names),
                f"configured sources: {known}",
            )
        if all(r.name != ref.name for r in refs):
            refs.append(ir.SourceRef(found.name, found.format, found.location is not None))
    return tuple(refs)


# ---------------------------------------------------------------- stages


def _where(stage: ast.Where, plan: ir.Plan, scope: _Scope) -> ir.Plan:
    return ir.Filter(plan, _condition(stage.condition, scope))


def _since(stage: ast.Since, plan: ir.Plan, scope: _Scope) -> ir.Plan:
    _require_timestamp(scope, stage.span, "since")
    duration: ir.Expr
    if isinstance(stage.duration, ast.Param):
        duration = ir.Param(stage.duration.name, Type.DURATION, stage.duration.span)
    else:
        if stage.duration.nanos <= 0:
            raise error(Code.INVALID_DURATION, "'since' needs a positive duration", stage.span)
        duration = ir.Lit(stage.duration.nanos, Type.DURATION)
    return ir.Filter(plan, ir.Since(duration))


def _between(stage: ast.Between, plan: ir.Plan, scope: _Scope) -> ir.Plan:
    _require_timestamp(scope, stage.span, "between")
    start, end = _instant(stage.start), _instant(stage.end)
    if isinstance(start, ir.Lit) and isinstance(end, ir.Lit) and _after(start, end):
        raise error(
            Code.INVALID_TIMESTAMP,
            "the time range is empty: the start is not before the end",
            stage.span,
            "write the earlier instant first: between START and END",
        )
    return ir.Filter(plan, ir.Between(start, end))


def _after(start: ir.Lit, end: ir.Lit) -> bool:
    assert isinstance(start.value, int) and isinstance(end.value, int)
    return start.value >= end.value


def _parse_glob(stage: ast.ParseGlob, plan: ir.Plan, scope: _Scope) -> ir.Plan:
    source = _text(_field(stage.field, scope))
    stars = stage.pattern.value.count("*")
    names = _new_names(stage.names)
    if stars != len(names):
        raise error(
            Code.WRONG_ARGUMENTS,
            f"the pattern captures {stars} value{'s' if stars != 1 else ''} "
            f"but {len(names)} name{'s are' if len(names) != 1 else ' is'} given",
            stage.pattern.span,
            "each * in the pattern captures into the next name after 'as'",
        )
    parts = [escape_regex(p) for p in stage.pattern.value.split("*")]
    regex = ir.Regex("^" + "(.*?)".join(parts) + "$", "s")
    for name in names:
        scope.define(name, Type.STRING)
    return ir.Parse(plan, source, "glob", stage.pattern.value, regex, names)


def escape_regex(text: str) -> str:
    """`text` as a regex matching itself, escaping only metacharacters (portable everywhere)."""
    return re.sub(r"[\\.^$|?*+()\[\]{}]", lambda m: "\\" + m.group(0), text)


def _parse_regex(stage: ast.ParseRegex, plan: ir.Plan, scope: _Scope) -> ir.Plan:
    from starbase.compiler.regex import group_names

    source = _text(_field(stage.field, scope))
    names = group_names(stage.regex.pattern)
    if not names:
        raise error(
            Code.WRONG_ARGUMENTS,
            "this regex has no named groups to capture",
            stage.regex.span,
            "name what to capture: /user=(?<user>\\w+)/",
        )
    if len(set(names)) != len(names):
        raise error(Code.DUPLICATE_NAME, "a group name is used twice", stage.regex.span)
    for name in names:
        scope.define(name, Type.STRING)
    regex = ir.Regex(stage.regex.pattern, stage.regex.flags)
    return ir.Parse(plan, source, "regex", stage.regex.pattern, regex, names)


def _extend(stage: ast.Extend, plan: ir.Plan, scope: _Scope) -> ir.Plan:
    batch: list[ir.NamedExpr] = []
    for assignment in stage.assignments:
        expr = _scalar(assignment.expr, scope)
        if ir.columns(expr) & {i.name for i in batch}:  # uses a name defined just before
            plan, batch = ir.Extend(plan, tuple(batch)), []
        batch = [i for i in batch if i.name != assignment.name.value]
        batch.append(ir.NamedExpr(assignment.name.value, expr))
        scope.define(assignment.name.value, expr.type)
    return ir.Extend(plan, tuple(batch))


def _fields(stage: ast.Fields, plan: ir.Plan, scope: _Scope) -> ir.Plan:
    items = tuple(ir.NamedExpr(_item_name(i), _scalar(i.expr, scope)) for i in stage.items)
    _unique(items, stage.items)
    scope.replace({i.name: i.expr.type for i in items}, "fields")
    return ir.Project(plan, items)


def _stats(stage: ast.Stats, plan: ir.Plan, scope: _Scope) -> ir.Plan:
    keys = tuple(ir.NamedExpr(_item_name(i), _group_key(i.expr, scope)) for i in stage.by)
    aggregates = tuple(
        ir.NamedExpr(_item_name(i), _aggregate_item(i.expr, scope)) for i in stage.aggregates
    )
    _unique((*keys, *aggregates), (*stage.by, *stage.aggregates))
    scope.replace({i.name: i.expr.type for i in (*keys, *aggregates)}, "stats")
    return ir.Aggregate(plan, keys, aggregates)


def _group_key(expr: ast.Expr, scope: _Scope) -> ir.Expr:
    try:
        return _scalar(expr, scope)
    except CompileError as exc:
        if exc.first.code is not Code.AGGREGATE_OUTSIDE_STATS:
            raise
        raise error(
            Code.AGGREGATE_OUTSIDE_STATS,
            "a 'by' key is computed from each row, so it cannot use an aggregate",
            exc.first.span,
            "put aggregates before 'by': | stats max(severity) by service",
        ) from None


def _sort(stage: ast.Sort, plan: ir.Plan, scope: _Scope) -> ir.Plan:
    keys = tuple(ir.SortKey(_scalar(k.expr, scope), k.descending) for k in stage.keys)
    return ir.Sort(plan, keys)


def _limit(stage: ast.Limit, plan: ir.Plan, scope: _Scope) -> ir.Plan:
    if isinstance(stage.count, ast.Param):
        return ir.Limit(plan, ir.Param(stage.count.name, Type.INT, stage.count.span))
    return ir.Limit(plan, int(stage.count.value))


def _dedup(stage: ast.Dedup, plan: ir.Plan, scope: _Scope) -> ir.Plan:
    return ir.Dedup(plan, tuple(_field(f, scope) for f in stage.fields))


def _check_time_format(arg: ast.Expr) -> None:
    """`totimestamp(text, FORMAT)`: FORMAT is a literal the time-format language knows."""
    from starbase.mappings.timeformats import TimeFormatError, compile_time_format

    if not isinstance(arg, ast.StringLit):
        raise error(
            Code.WRONG_ARGUMENTS,
            "totimestamp() takes its format as a literal string",
            arg.span,
            'e.g. totimestamp(attributes.time, "%d/%b/%Y:%H:%M:%S %z") or "apache"',
        )
    try:
        compile_time_format(arg.value)
    except TimeFormatError as exc:
        raise error(Code.WRONG_ARGUMENTS, f"totimestamp(): {exc}", arg.span) from None


def _parse_structured(stage: ast.ParseStructured, plan: ir.Plan, scope: _Scope) -> ir.Plan:
    """`parse F json as NAME` → `extend NAME = json_flatten(F)` (logfmt: `logfmt_to_map`)."""
    source = _text(_field(stage.field, scope))
    function = "json_flatten" if stage.kind == "json" else "logfmt_to_map"
    name = stage.name.value
    scope.define(name, Type.MAP)
    return ir.Extend(plan, (ir.NamedExpr(name, ir.Call(function, (source,), Type.MAP)),))


PATTERN_COLUMNS = {"pattern": Type.STRING, "count": Type.INT, "ratio": Type.FLOAT}


def _patterns(stage: ast.Patterns, plan: ir.Plan, scope: _Scope) -> ir.Plan:
    """`patterns F`: the template mined from F over all rows (`mine_template`, a window over
    the whole input), then per template its count, its share of the rows with F, and one F
    (the smallest) as `sample`; most frequent first. Rows where F is null are left out.

        patterns message
        → Extend pattern := mine_template(message) → Filter pattern is not null
          → Aggregate by pattern: count(), min(message) → Extend ratio → Sort count desc
    """
    text = _text(_field(stage.field, scope))
    pattern = ir.Col("pattern", Type.STRING)
    mined = ir.Extend(
        plan, (ir.NamedExpr("pattern", ir.Call("mine_template", (text,), Type.STRING)),)
    )
    kept = ir.Filter(mined, ir.IsNull(pattern, negated=True))
    count = ir.Col("count", Type.INT)
    grouped = ir.Aggregate(
        kept,
        (ir.NamedExpr("pattern", pattern),),
        (
            ir.NamedExpr("count", ir.Agg("count", (), Type.INT)),
            ir.NamedExpr("sample", ir.Agg("min", (text,), Type.STRING)),
        ),
    )
    total = ir.Call("window_total", (count,), Type.INT)
    ratio = ir.Arith("/", count, total, Type.FLOAT)
    shares = ir.Extend(grouped, (ir.NamedExpr("ratio", ratio),))
    columns = (*PATTERN_COLUMNS, "sample")
    out = ir.Project(
        shares,
        tuple(ir.NamedExpr(c, ir.Col(c, PATTERN_COLUMNS.get(c, Type.STRING))) for c in columns),
    )
    scope.replace({c: PATTERN_COLUMNS.get(c, Type.STRING) for c in columns}, "patterns")
    return ir.Sort(out, (ir.SortKey(count, True), ir.SortKey(pattern, False)))


def _stage(stage: ast.Stage, plan: ir.Plan, scope: _Scope) -> ir.Plan:
    match stage:
        case ast.Patterns():
            return _patterns(stage, plan, scope)
        case ast.ParseStructured():
            return _parse_structured(stage, plan, scope)
        case ast.Where():
            return _where(stage, plan, scope)
        case ast.Since():
            return _since(stage, plan, scope)
        case ast.Between():
            return _between(stage, plan, scope)
        case ast.ParseGlob():
            return _parse_glob(stage, plan, scope)
        case ast.ParseRegex():
            return _parse_regex(stage, plan, scope)
        case ast.Extend():
            return _extend(stage, plan, scope)
        case ast.Fields():
            return _fields(stage, plan, scope)
        case ast.Stats():
            return _stats(stage, plan, scope)
        case ast.Sort():
            return _sort(stage, plan, scope)
        case ast.Limit():
            return _limit(stage, plan, scope)
        case ast.Dedup():
            return _dedup(stage, plan, scope)
    raise TypeError(f"not a stage: {stage!r}")


def _item_name(item: ast.Item) -> str:
    if item.alias is not None:
        return item.alias.value
    if isinstance(item.expr, ast.FieldRef):
        return item.expr.dotted
    return format_expr(item.expr)


def _new_names(names: tuple[ast.Name, ...]) -> tuple[str, ...]:
    values = tuple(n.value for n in names)
    for i, n in enumerate(names):
        if n.value in values[:i]:
            raise error(Code.DUPLICATE_NAME, f"'{n.value}' is named twice", n.span)
    return values


def _unique(items: tuple[ir.NamedExpr, ...], written: tuple[ast.Item, ...]) -> None:
    seen: set[str] = set()
    for item, source in zip(items, written, strict=True):
        if item.name in seen:
            raise error(
                Code.DUPLICATE_NAME,
                f"two output columns are named '{item.name}'",
                source.span,
                "give one of them another name with 'as'",
            )
        seen.add(item.name)


def _require_timestamp(scope: _Scope, span: Span, what: str) -> None:
    _require_column(scope, "timestamp", Type.TIMESTAMP, span, f"'{what}'")


def _require_column(scope: _Scope, name: str, kind: Type, span: Span, what: str) -> None:
    """`what` reads the meta-model column `name` implicitly: it must be in scope, as `kind`."""
    if name not in scope.columns:
        raise error(
            Code.FIELD_NOT_IN_SCOPE,
            f"{what} needs the field '{name}', which is not available after '{scope.after}'",
            span,
            f"put {what} before '{scope.after}'",
        )
    if scope.columns[name] is not kind:
        raise error(
            Code.TYPE_MISMATCH,
            f"{what} needs the field '{name}' as {_a(kind)}, but here it is "
            f"{_a(scope.columns[name])}",
            span,
            f"give the field that replaced '{name}' another name",
        )


def _instant(expr: ast.Expr) -> ir.Expr:
    if isinstance(expr, ast.Param):
        return ir.Param(expr.name, Type.TIMESTAMP, expr.span)
    assert isinstance(expr, ast.StringLit)
    return _timestamp_literal(expr)


def _timestamp_literal(expr: ast.StringLit) -> ir.Lit:
    try:
        return ir.Lit(parse_iso(expr.value), Type.TIMESTAMP)
    except ValueError as exc:
        raise error(
            Code.INVALID_TIMESTAMP,
            f'invalid timestamp "{expr.value}": {exc}',
            expr.span,
            'write an ISO-8601 instant such as "2026-11-27T05:00:00Z"',
        ) from None


# ---------------------------------------------------------------- expressions


def _chain(expr: ast.Binary) -> list[ast.Expr]:
    """The operands of a chain `a or b or c …` (the parser nests it to the left), without
    recursion: a chain may be far longer than Python's recursion limit."""
    operands: list[ast.Expr] = []
    node: ast.Expr = expr
    while isinstance(node, ast.Binary) and node.op == expr.op:
        operands.append(node.right)
        node = node.left
    operands.append(node)
    return operands[::-1]


def _condition(expr: ast.Expr, scope: _Scope) -> ir.Expr:
    """An expression used as a condition: bare strings, regexes and $params search `message`."""
    if isinstance(expr, ast.StringLit | ast.RegexLit | ast.Param):
        _require_column(scope, "message", Type.STRING, expr.span, "a bare search")
    match expr:
        case ast.StringLit(value):
            return ir.Search(ir.Lit(value, Type.STRING))
        case ast.RegexLit(pattern, flags):
            return ir.Search(ir.Regex(pattern, flags))
        case ast.Param(name):  # stands for a string literal, so it searches too
            return ir.Search(ir.Param(name, Type.STRING, expr.span))
        case ast.Binary("and" | "or" as op):
            items = tuple(_condition(o, scope) for o in _chain(expr))
            return ir.And(items) if op == "and" else ir.Or(items)
        case ast.Unary("not", operand):
            return ir.Not(_condition(operand, scope))
    result = _scalar(expr, scope)
    if result.type not in (Type.BOOL, Type.NULL):
        raise error(
            Code.TYPE_MISMATCH,
            f"a condition must be true or false, but this is {_a(result.type)}",
            expr.span,
            "compare it with something, e.g. == or contains",
        )
    return result


def _scalar(expr: ast.Expr, scope: _Scope) -> ir.Expr:
    return _Typer(scope, aggregates=False).expr(expr)


def _aggregate_item(expr: ast.Expr, scope: _Scope) -> ir.Expr:
    result = _Typer(scope, aggregates=True).expr(expr)
    if not ir.has_aggregate(result):
        raise error(
            Code.MISSING_AGGREGATE,
            f"'{format_expr(expr)}' is not an aggregate",
            expr.span,
            "use an aggregate such as count() or avg(x), or move it after 'by'",
        )
    loose = _columns_outside_aggregates(result)
    if loose:
        raise error(
            Code.MISSING_AGGREGATE,
            f"'{sorted(loose)[0]}' must be inside an aggregate",
            expr.span,
            "group by it with 'by', or aggregate it, e.g. max(x)",
        )
    return result


def _columns_outside_aggregates(expr: ir.Expr) -> set[str]:
    if isinstance(expr, ir.Agg):
        return set()
    if isinstance(expr, ir.Col):
        return {expr.name}
    return set().union(*(_columns_outside_aggregates(c) for c in ir.children(expr)))


def _field(ref: ast.FieldRef, scope: _Scope) -> ir.Expr:
    head, rest = ref.segments[0], ref.segments[1:]
    if ref.dotted in scope.columns and rest:
        return ir.Col(ref.dotted, scope.columns[ref.dotted])
    if head in scope.columns:
        kind = scope.columns[head]
        if not rest:
            return ir.Col(head, kind)
        if kind is Type.MAP:
            return ir.MapGet(ir.Col(head, kind), ".".join(rest))
        raise error(
            Code.UNKNOWN_FIELD,
            f"'{head}' is {_a(kind)} and has no field '{'.'.join(rest)}'",
            ref.span,
        )
    if head in scope.ever or ref.dotted in scope.ever or (scope.after and head in _MAP_FIELDS):
        outputs = ", ".join(scope.columns) or "nothing"
        raise error(
            Code.FIELD_NOT_IN_SCOPE,
            f"'{ref.dotted}' is not available after '{scope.after}', which outputs: {outputs}",
            ref.span,
            f"use '{ref.dotted}' before '{scope.after}', or keep it there",
        )
    known = [*scope.columns, *(f"{m}.KEY" for m in scope.columns if scope.columns[m] is Type.MAP)]
    raise error(
        Code.UNKNOWN_FIELD,
        f"unknown field '{ref.dotted}'",
        ref.span,
        did_you_mean(ref.dotted, known),
        "record attributes are under attributes.KEY, resource attributes under resource.KEY",
    )


def _fits_int64(expr: ir.Expr, span: Span) -> None:
    """Integer arithmetic on constants must stay within 64 bits, as every backend computes."""
    folded = normalize_expr(expr)
    value = folded.value if isinstance(folded, ir.Lit) else None
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise error(
            Code.INTEGER_OVERFLOW,
            f"this integer arithmetic overflows 64 bits ({value})",
            span,
            "use a decimal number (e.g. 1.0 * …) when the result need not be exact",
        )


def _a(kind: Type) -> str:
    """The type's name with its article: "a string", "an int"."""
    return f"{'an' if kind.value[0] in 'aeiou' else 'a'} {kind}"


def _text(expr: ir.Expr) -> ir.Expr:
    """`expr` as a string (non-strings are converted with tostring)."""
    if isinstance(expr, ir.Param):  # a parameter standing for text must be bound to text
        return ir.Param(expr.name, Type.STRING, expr.span)
    if expr.type in (Type.STRING, Type.NULL):
        return expr
    return ir.Call("tostring", (expr,), Type.STRING)


def _number(expr: ir.Expr) -> ir.Expr:
    """`expr` as a number (strings are cast; non-numbers become null)."""
    if expr.type.numeric or expr.type is Type.NULL:
        return expr
    if isinstance(expr, ir.Param):
        return ir.Param(expr.name, Type.FLOAT, expr.span)
    return ir.Cast(expr, Type.FLOAT)


@dataclass
class _Typer:
    scope: _Scope
    aggregates: bool  # aggregate calls allowed here (inside a stats item, outside any aggregate)

    def expr(self, expr: ast.Expr) -> ir.Expr:
        match expr:
            case ast.StringLit(value):
                return ir.Lit(value, Type.STRING)
            case ast.NumberLit(value):
                return ir.Lit(value, Type.INT if isinstance(value, int) else Type.FLOAT)
            case ast.BoolLit(value):
                return ir.Lit(value, Type.BOOL)
            case ast.NullLit():
                return ir.Lit(None, Type.NULL)
            case ast.DurationLit(nanos):
                return ir.Lit(nanos, Type.DURATION)
            case ast.RegexLit():
                raise error(
                    Code.TYPE_MISMATCH,
                    "a regex can only stand after ~ or !~, after parse, or alone as a condition",
                    expr.span,
                )
            case ast.Param(name):
                return ir.Param(name, Type.NULL, expr.span)
            case ast.FieldRef():
                return _field(expr, self.scope)
            case ast.Unary("not", operand):
                return ir.Not(self.boolean(operand))
            case ast.Unary(_, operand):
                return self.negate(operand, expr.span)
            case ast.Binary("and" | "or" as op):
                items = tuple(self.boolean(o) for o in _chain(expr))
                return ir.And(items) if op == "and" else ir.Or(items)
            case ast.Binary(op, left, right) if op in ast.COMPARISONS:
                return self.compare(op, left, right, expr.span)
            case ast.Binary(op, left, right) if op in ast.MATCHES:
                return self.match(op, left, right)
            case ast.Binary(op, left, right) if op in ast.STRING_TESTS:
                return ir.StrTest(op, _text(self.expr(left)), _text(self.expr(right)))
            case ast.Binary(op, left, right):
                return self.arithmetic(op, left, right, expr.span)
            case ast.InList(operand, items, negated):
                return self.in_list(operand, items, negated)
            case ast.Call():
                return self.call(expr)
        raise TypeError(f"not an expression: {expr!r}")

    def boolean(self, expr: ast.Expr) -> ir.Expr:
        result = self.expr(expr)
        if result.type not in (Type.BOOL, Type.NULL):
            raise error(
                Code.TYPE_MISMATCH,
                f"expected a condition (true or false), but this is {_a(result.type)}",
                expr.span,
            )
        return result

    def negate(self, operand: ast.Expr, span: Span) -> ir.Expr:
        inner = self.expr(operand)
        if inner.type is Type.DURATION:
            return ir.Neg(inner, Type.DURATION)
        if inner.type in (Type.TIMESTAMP, Type.BOOL, Type.MAP):
            raise error(Code.TYPE_MISMATCH, f"cannot negate {_a(inner.type)}", span)
        inner = _number(inner)
        return ir.Neg(inner, inner.type if inner.type.numeric else Type.FLOAT)

    def arithmetic(self, op: str, left: ast.Expr, right: ast.Expr, span: Span) -> ir.Expr:
        lhs, rhs = self.expr(left), self.expr(right)
        kinds = (lhs.type, rhs.type)
        if Type.TIMESTAMP in kinds or Type.DURATION in kinds:
            return self.time_arithmetic(op, lhs, rhs, span)
        for side, node in ((lhs, left), (rhs, right)):
            if side.type in (Type.BOOL, Type.MAP, Type.REGEX):
                raise error(Code.TYPE_MISMATCH, f"cannot use {_a(side.type)} in '{op}'", node.span)
        lhs, rhs = _number(lhs), _number(rhs)
        both_int = lhs.type is Type.INT and rhs.type is Type.INT
        result = Type.INT if both_int and op in "+-*%" else Type.FLOAT
        arith = ir.Arith(op, lhs, rhs, result)
        if result is Type.INT:
            _fits_int64(arith, span)
        return arith

    def time_arithmetic(self, op: str, lhs: ir.Expr, rhs: ir.Expr, span: Span) -> ir.Expr:
        kinds = (lhs.type, rhs.type)
        rules = {
            ("+", Type.TIMESTAMP, Type.DURATION): Type.TIMESTAMP,
            ("-", Type.TIMESTAMP, Type.DURATION): Type.TIMESTAMP,
            ("+", Type.DURATION, Type.TIMESTAMP): Type.TIMESTAMP,
            ("-", Type.TIMESTAMP, Type.TIMESTAMP): Type.DURATION,
            ("+", Type.DURATION, Type.DURATION): Type.DURATION,
            ("-", Type.DURATION, Type.DURATION): Type.DURATION,
        }
        if isinstance(rhs, ir.Param):
            rhs = ir.Param(rhs.name, Type.DURATION, rhs.span)
            kinds = (lhs.type, Type.DURATION)
        result = rules.get((op, *kinds))
        if result is None:
            raise error(Code.TYPE_MISMATCH, f"cannot compute {kinds[0]} {op} {kinds[1]}", span)
        return ir.Arith(op, lhs, rhs, result)

    def compare(self, op: str, left: ast.Expr, right: ast.Expr, span: Span) -> ir.Expr:
        lhs, rhs = self.expr(left), self.expr(right)
        if _is_severity(lhs) or _is_severity(rhs):
            if not _is_severity(lhs):
                op, lhs, rhs, left, right = _FLIP[op], rhs, lhs, right, left
            return _severity_compare(op, lhs, rhs, right)
        lhs, rhs = self.coerce_pair(lhs, rhs, left, right)
        return ir.Compare(op, lhs, rhs)

    def coerce_pair(
        self, lhs: ir.Expr, rhs: ir.Expr, left: ast.Expr, right: ast.Expr
    ) -> tuple[ir.Expr, ir.Expr]:
        """Make two compared values comparable (contract §3 casting rules)."""
        if isinstance(lhs, ir.Param) and not isinstance(rhs, ir.Param):
            return ir.Param(lhs.name, rhs.type, lhs.span), rhs
        if isinstance(rhs, ir.Param):
            return lhs, ir.Param(rhs.name, lhs.type, rhs.span)
        kinds = {lhs.type, rhs.type}
        if Type.NULL in kinds or lhs.type == rhs.type or kinds == {Type.INT, Type.FLOAT}:
            return lhs, rhs
        if Type.TIMESTAMP in kinds:
            other, node = (rhs, right) if lhs.type is Type.TIMESTAMP else (lhs, left)
            if isinstance(node, ast.StringLit):
                stamp = _timestamp_literal(node)
                return (lhs, stamp) if other is rhs else (stamp, rhs)
            raise error(
                Code.TYPE_MISMATCH,
                f"cannot compare a timestamp with {_a(other.type)}",
                node.span,
                'write the instant as an ISO-8601 string: "2026-11-27T05:00:00Z"',
            )
        if Type.STRING in kinds and (lhs.type.numeric or rhs.type.numeric):
            text_side, node = (lhs, left) if lhs.type is Type.STRING else (rhs, right)
            if isinstance(text_side, ir.Lit):  # a quoted number next to a numeric field
                try:
                    number = float(str(text_side.value))
                except ValueError:
                    raise error(
                        Code.TYPE_MISMATCH,
                        f'cannot compare a number with the text "{text_side.value}"',
                        node.span,
                    ) from None
                literal = ir.Lit(int(number) if number.is_integer() else number, Type.FLOAT)
                return (literal, rhs) if text_side is lhs else (lhs, literal)
            return (
                (ir.Cast(lhs, Type.FLOAT), rhs)
                if text_side is lhs
                else (lhs, ir.Cast(rhs, Type.FLOAT))
            )
        if Type.STRING in kinds and Type.BOOL not in kinds and Type.MAP not in kinds:
            return _text(lhs), _text(rhs)
        raise error(
            Code.TYPE_MISMATCH,
            f"cannot compare {_a(lhs.type)} with {_a(rhs.type)}",
            left.span.cover(right.span),
        )

    def match(self, op: str, left: ast.Expr, right: ast.Expr) -> ir.Expr:
        subject = _text(self.expr(left))
        pattern: ir.Regex | ir.Param
        if isinstance(right, ast.RegexLit):
            pattern = ir.Regex(right.pattern, right.flags)
        elif isinstance(right, ast.Param):
            pattern = ir.Param(right.name, Type.REGEX, right.span)
        elif isinstance(right, ast.StringLit):
            pattern = _regex_from_string(right)
        else:
            raise error(
                Code.TYPE_MISMATCH,
                f"'{op}' needs a regex on its right, such as /timeout/i",
                right.span,
            )
        return ir.Match(subject, pattern, op == "!~")

    def in_list(self, operand: ast.Expr, items: tuple[ast.Expr, ...], negated: bool) -> ir.Expr:
        subject = self.expr(operand)
        if _is_severity(subject):
            tests = tuple(_severity_compare("==", subject, self.expr(i), i) for i in items)
            either = tests[0] if len(tests) == 1 else ir.Or(tests)
            return ir.Not(either) if negated else either
        values = []
        for item in items:
            lhs, rhs = self.coerce_pair(subject, self.expr(item), operand, item)
            subject = lhs
            values.append(rhs)
        return ir.InList(subject, tuple(values), negated)

    def call(self, call: ast.Call) -> ir.Expr:
        if call.name in AGGREGATES:
            return self.aggregate(call)
        signature = SCALARS.get(call.name)
        if signature is None:
            raise error(
                Code.UNKNOWN_FUNCTION,
                f"unknown function '{call.name}'",
                call.name_span,
                did_you_mean(call.name, [*SCALARS, *AGGREGATES]),
            )
        self.check_arity(call, signature.min_args, signature.max_args, signature.arity)
        if call.name == "exists":
            return self.exists(call)
        if call.name == "now":
            return ir.Now()
        if call.name == "bin":
            return self.bin(call)
        if call.name == "replace_regex":
            return self.replace_regex(call)
        if call.name == "totimestamp" and len(call.args) == 2:
            _check_time_format(call.args[1])
        if call.name == "if":
            args = (self.boolean(call.args[0]), *(self.expr(a) for a in call.args[1:]))
        else:
            args = tuple(self.expr(a) for a in call.args)
        args = _ARGUMENTS[signature.args](args)
        result = signature.result(tuple(a.type for a in args))
        return ir.Call(call.name, args, result)

    def replace_regex(self, call: ast.Call) -> ir.Expr:
        """`replace_regex(s, /re/, "with \\1")`: the pattern must be a regex literal."""
        pattern = call.args[1]
        if not isinstance(pattern, ast.RegexLit):
            raise error(
                Code.WRONG_ARGUMENTS,
                "replace_regex() takes a regex literal as its second argument",
                pattern.span,
                'e.g. replace_regex(message, /user=\\w+/, "user=?")',
            )
        subject = _text(self.expr(call.args[0]))
        replacement = _text(self.expr(call.args[2]))
        regex = ir.Regex(pattern.pattern, pattern.flags)
        return ir.Call("replace_regex", (subject, regex, replacement), Type.STRING)

    def exists(self, call: ast.Call) -> ir.Expr:
        arg = call.args[0]
        if not isinstance(arg, ast.FieldRef):
            raise error(Code.WRONG_ARGUMENTS, "exists() takes a field", arg.span)
        return ir.Call("exists", (_field(arg, self.scope),), Type.BOOL)

    def bin(self, call: ast.Call) -> ir.Expr:
        stamp = self.expr(call.args[0])
        if stamp.type is not Type.TIMESTAMP:
            raise error(
                Code.TYPE_MISMATCH,
                f"bin() buckets a timestamp, but this is {_a(stamp.type)}",
                call.args[0].span,
                "use bin(timestamp, 5m)",
            )
        width = call.args[1]
        size: ir.Expr
        if isinstance(width, ast.DurationLit) and width.nanos > 0:
            size = ir.Lit(width.nanos, Type.DURATION)
        elif isinstance(width, ast.Param):
            size = ir.Param(width.name, Type.DURATION, width.span)
        else:
            raise error(
                Code.INVALID_DURATION,
                "bin() needs a positive duration such as 5m",
                width.span,
            )
        return ir.Call("bin", (stamp, size), Type.TIMESTAMP)

    def aggregate(self, call: ast.Call) -> ir.Expr:
        if not self.aggregates:
            raise error(
                Code.AGGREGATE_OUTSIDE_STATS,
                f"the aggregate '{call.name}' can only be used in 'stats'",
                call.span,
                f"e.g. | stats {format_expr(call)} by service",
            )
        signature = AGGREGATES[call.name]
        self.check_arity(call, signature.min_args, signature.max_args, signature.arity)
        inner = _Typer(self.scope, aggregates=False)
        try:
            args = tuple(inner.expr(a) for a in call.args[: 1 if call.name == "pct" else None])
        except CompileError as exc:
            if exc.first.code is Code.AGGREGATE_OUTSIDE_STATS:
                raise error(
                    Code.NESTED_AGGREGATE,
                    "aggregates cannot be nested",
                    exc.first.span,
                    "compute the inner aggregate in one 'stats', then aggregate again in another",
                ) from None
            raise
        if signature.args is Args.NUMBERS or (
            signature.args is Args.ORDERED and isinstance(args[0], ir.MapGet)
        ):
            args = (_number(args[0]),)
        if call.name == "pct":
            args = (*args, _percentile(call.args[1]))
        if call.name in ("earliest", "latest"):
            if "timestamp" not in self.scope.columns:
                raise error(
                    Code.FIELD_NOT_IN_SCOPE,
                    f"{call.name}() needs the field 'timestamp', which is not available here",
                    call.span,
                )
            _require_column(self.scope, "timestamp", Type.TIMESTAMP, call.span, f"{call.name}()")
            args = (*args, ir.Col("timestamp", Type.TIMESTAMP))
        result = signature.result(tuple(a.type for a in args))
        return ir.Agg(call.name, args, result)

    def check_arity(self, call: ast.Call, low: int, high: int | None, arity: str) -> None:
        count = len(call.args)
        if count < low or (high is not None and count > high):
            raise error(
                Code.WRONG_ARGUMENTS,
                f"{call.name}() takes {arity}, not {count}",
                call.span,
            )


def _keep(args: tuple[ir.Expr, ...]) -> tuple[ir.Expr, ...]:
    return args


def _texts(args: tuple[ir.Expr, ...]) -> tuple[ir.Expr, ...]:
    return tuple(_text(a) for a in args)


def _numbers(args: tuple[ir.Expr, ...]) -> tuple[ir.Expr, ...]:
    return tuple(_number(a) for a in args)


def _substr(args: tuple[ir.Expr, ...]) -> tuple[ir.Expr, ...]:
    return (_text(args[0]), *(_number(a) for a in args[1:]))


def _common_args(args: tuple[ir.Expr, ...]) -> tuple[ir.Expr, ...]:
    kind = common_type(tuple(a.type for a in args))
    if kind is Type.STRING:
        return _texts(args)
    return args


def _if_args(args: tuple[ir.Expr, ...]) -> tuple[ir.Expr, ...]:
    return (args[0], *_common_args(args[1:]))


# How each kind of argument list of the function library (`Signature.args`) is typed.
_ARGUMENTS: dict[Args, Callable[[tuple[ir.Expr, ...]], tuple[ir.Expr, ...]]] = {
    Args.AS_WRITTEN: _keep,
    Args.ORDERED: _keep,
    Args.TEXT: _texts,
    Args.NUMBERS: _numbers,
    Args.TEXT_THEN_NUMBERS: _substr,
    Args.COMMON: _common_args,
    Args.CONDITION_THEN_COMMON: _if_args,
}


def _percentile(expr: ast.Expr) -> ir.Lit:
    if isinstance(expr, ast.NumberLit) and 0 < expr.value < 100:
        return ir.Lit(float(expr.value), Type.FLOAT)
    raise error(
        Code.PCT_OUT_OF_RANGE,
        "the percentile must be a number between 0 and 100 (exclusive)",
        expr.span,
        "e.g. pct(attributes.duration_ms, 95)",
    )


def _regex_from_string(literal: ast.StringLit) -> ir.Regex:
    from starbase.compiler import regex as portable

    problems = portable.check(literal.value)
    if problems:
        raise error(Code.NON_PORTABLE_REGEX, problems[0].message, literal.span, problems[0].hint)
    try:
        re.compile(portable.to_python(literal.value))
    except re.error as exc:
        raise error(Code.INVALID_REGEX, f"invalid regex: {exc.msg}", literal.span) from None
    return ir.Regex(literal.value)


def _is_severity(expr: ir.Expr) -> bool:
    return isinstance(expr, ir.Col) and expr.name == "severity" and expr.type is Type.INT


def level_range(op: str, column: ir.Expr, low: int) -> ir.Expr:
    """`severity OP level` for the level whose OTel range starts at `low` (4 numbers wide)."""
    lo, hi = ir.Lit(low, Type.INT), ir.Lit(low + 3, Type.INT)
    ranges: dict[str, ir.Expr] = {
        "==": ir.And((ir.Compare(">=", column, lo), ir.Compare("<=", column, hi))),
        "!=": ir.Or((ir.Compare("<", column, lo), ir.Compare(">", column, hi))),
        ">=": ir.Compare(">=", column, lo),
        ">": ir.Compare(">", column, hi),
        "<": ir.Compare("<", column, lo),
        "<=": ir.Compare("<=", column, hi),
    }
    return ranges[op]


def _severity_compare(op: str, column: ir.Expr, value: ir.Expr, node: ast.Expr) -> ir.Expr:
    """`severity OP value` where value is a level name or a number 1–24."""
    if isinstance(value, ir.Param):
        return ir.Compare(op, column, ir.Param(value.name, Type.INT, value.span, "severity"))
    if isinstance(value, ir.Lit) and value.type is Type.STRING and str(value.value).isdecimal():
        value = ir.Lit(int(str(value.value)), Type.INT)  # a quoted number is the number
    if isinstance(value, ir.Lit) and value.type is Type.STRING:
        name = str(value.value).lower()
        if name not in LEVELS:
            raise error(
                Code.INVALID_LEVEL,
                f'unknown level "{value.value}"',
                node.span,
                did_you_mean(name, LEVELS),
                _LEVEL_HINT,
            )
        return level_range(op, column, LEVELS[name])
    if isinstance(value, ir.Lit) and value.type is Type.INT and 1 <= int(value.value or 0) <= 24:
        return ir.Compare(op, column, value)
    if isinstance(value, ir.Lit) and value.type is Type.NULL:
        return ir.Compare(op, column, value)
    raise error(
        Code.INVALID_SEVERITY_NUMBER,
        "severity compares with a level name or a severity number from 1 to 24",
        node.span,
        _LEVEL_HINT,
    )


def type_expression(expr: ast.Expr, columns: dict[str, Type]) -> ir.Expr:
    """Type a lone expression over the given columns (mapping files' derived fields)."""
    return _scalar(expr, _Scope(dict(columns)))
