"""lower (DataFusion): the backend-neutral plan → one SQL query for Apache DataFusion.

Requires: a plan from the compiler whose scans all use the `datafusion` backend; each scan's
source registered as a table named like the source, with its physical columns (and the
partition columns as hive partitions). Guarantees: SQL is built from sqlglot expression nodes
(values are literals made by sqlglot, names quoted identifiers — nothing is spliced as text)
and generated with the `DataFusion` dialect; it has exactly the IR's semantics: SQL nulls,
regexes with inline flags, `/` and `%` by zero give null, `sort` orders nulls last and is
kept (through hidden columns) until `limit`, `dedup` and the final result; time bounds on an
epoch column are compared as integers so Parquet statistics prune row groups, and time
partitions get explicit predicates so whole directories are skipped. Parameters and `now()`
must be bound before running (the compiler's `bind` pass); unbound ones print as
`$name`/`now()`. `json_to_map` and `json_get` call the UDFs `JSON_TO_MAP` and `JSON_GET` (one
member, exactly `JSON_TO_MAP(text)[key]`), registered in every session (`udfs.py`).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache

from sqlglot import exp

from starbase.backends.base import UnsupportedError as _Unsupported
from starbase.backends.datafusion.dialect import DataFusion
from starbase.compiler import ir
from starbase.compiler import regex as portable
from starbase.compiler.timestamps import civil, format_duration, format_utc
from starbase.compiler.types import Type
from starbase.mappings import LEVEL_TEXT_GROUPS, LEVEL_TEXT_PATTERN, LEVELS
from starbase.mappings.model import TRANSFORM_FORMATS

TARGET = "datafusion"
JSON_TO_MAP = "starbase_json_to_map"  # UDFs of every Starbase session (udfs.py)
JSON_GET = "starbase_json_get"
PARSE_TIME = "starbase_parse_time"
LOGFMT_GET = "starbase_logfmt_get"
LOGFMT_TO_MAP = "starbase_logfmt_to_map"
MAP_MERGE = "starbase_map_merge"
UNQUOTE = "starbase_unquote"
JSON_FLATTEN = "starbase_json_flatten"
MINE_TEMPLATE = "starbase_mine_template"
JOIN_ROWS = "starbase_join_rows"  # true, or fails the query: the right side is too large
# Columns the SQL adds for itself start with a backtick, which no StarQL name can hold (and a
# canonical column text that starts with one closes it), so they never meet a user's field.
HIDDEN = "`"
ROW = f"{HIDDEN}row"
RIGHT_ROWS = f"{HIDDEN}rows"
JOIN_ALIAS = "join_"  # the aliases of a join's two sides (kept when other aliases are renumbered)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NANOS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_SQL_TYPES = {
    Type.INT: "BIGINT",
    Type.FLOAT: "DOUBLE",
    Type.STRING: "VARCHAR",
    Type.BOOL: "BOOLEAN",
    Type.TIMESTAMP: "TIMESTAMP",
}
_COMPARE = {"==": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}
_SIMPLE_FUNCTIONS = {
    "lower": "LOWER",
    "upper": "UPPER",
    "length": "CHARACTER_LENGTH",
    "trim": "BTRIM",
    "concat": "CONCAT",
    "replace": "REPLACE",
    "coalesce": "COALESCE",
    "abs": "ABS",
}
_SIMPLE_AGGREGATES = {"sum": "SUM", "avg": "AVG", "min": "MIN", "max": "MAX", "stddev": "STDDEV"}


class UnsupportedError(_Unsupported):
    """The plan uses an operation DataFusion cannot run; names the operation."""

    def __init__(self, operation: str, target: str = TARGET) -> None:
        super().__init__(operation, target)


@lru_cache(maxsize=256)
def to_sql(plan: ir.Plan, *, pretty: bool = False) -> str:
    """The DataFusion SQL text of `plan` (kept for plans met again: a query run again, from a
    dashboard, an alert or a benchmark, is lowered once; ~1.4 ms of a 5 ms query)."""
    return lower(plan).sql(dialect=DataFusion, pretty=pretty)


@dataclass(frozen=True)
class Spelling:
    """What an SQL engine spells its own way; the relational lowering (`lower`: subqueries per
    stage, hidden sort columns, `dedup` by `ROW_NUMBER`, unions, partition predicates) is
    shared. `expr` lowers one IR expression; `partition_key` is the partition key text (in a
    strftime format) of a time bound left unbound (a `$parameter` or `now()`: shown, never
    run); an upper bound's text is its last included instant's."""

    target: str
    expr: Callable[[ir.Expr], exp.Expr]
    partition_key: Callable[[ir.TimeBound, bool, str], exp.Expr]  # (bound, is_upper, format)


def lower(plan: ir.Plan, spelling: Spelling | None = None) -> exp.Query:
    """The sqlglot expression of `plan` (DataFusion's, or another engine's `spelling`)."""
    lowering = _Lowering(spelling or DATAFUSION)
    token = _USED_GROUPS.set(_used_groups(plan))
    try:
        query = lowering.relation(plan).finish()
    finally:
        _USED_GROUPS.reset(token)
    aliases = (a for a in query.find_all(exp.TableAlias) if not a.name.startswith(JOIN_ALIAS))
    for number, alias in enumerate(aliases):
        alias.set("this", exp.to_identifier(f"q{number}"))
    return query


# ---------------------------------------------------------------- relations


@dataclass
class _Relation:
    """A SELECT being built, its visible columns, and the pending row order.

    Invariant: `query` outputs exactly `columns` then `hidden` (sort keys kept for `ordering`).
    """

    query: exp.Select
    columns: list[str]
    hidden: list[str] = field(default_factory=list)
    ordering: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)

    def order_by(self) -> list[exp.Ordered]:
        return [
            exp.Ordered(this=_col(name), desc=desc, nulls_first=False)
            for name, desc in self.ordering
        ]

    def finish(self) -> exp.Select:
        """The query with its pending order applied and hidden columns removed."""
        if not self.ordering and not self.hidden:
            return self.query
        outer = _select_from(self.query, self.columns if self.hidden else None)
        return outer.order_by(*self.order_by()) if self.ordering else outer


def _col(name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True))


def _qualified(table: str, name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True), table=exp.to_identifier(table))


def _alias(expression: exp.Expr, name: str) -> exp.Expr:
    return exp.alias_(expression, exp.to_identifier(name, quoted=True))


def _select_from(inner: exp.Select, columns: list[str] | None) -> exp.Select:
    projections: list[exp.Expr] = [exp.Star()] if columns is None else [_col(c) for c in columns]
    return exp.select(*projections).from_(inner.subquery("q"))


class _Lowering:
    def __init__(self, spelling: Spelling) -> None:
        self.spelling, self.expr = spelling, spelling.expr
        self.sort_keys = itertools.count()
        self.joins = itertools.count()

    def relation(self, plan: ir.Plan) -> _Relation:
        match plan:
            case ir.Project(ir.Scan() as scan, items):
                return self.scan(scan, items)
            case ir.Scan():
                return self.scan(
                    plan, tuple(ir.NamedExpr(c.name, ir.Col(c.name, c.type)) for c in plan.schema)
                )
            case ir.Project(inner, items):
                return self.project(self.relation(inner), items, replace_all=True)
            case ir.Extend(inner, items):
                return self.project(self.relation(inner), items, replace_all=False)
            case ir.Parse(inner, expr, kind, _, regex, names):
                captures = tuple(
                    ir.NamedExpr(
                        name,
                        ir.Call(
                            "regex_extract", (expr, regex, ir.Lit(group, Type.INT)), Type.STRING
                        ),
                    )
                    for name, group in zip(names, _capture_groups(kind, regex, names), strict=True)
                )
                return self.project(self.relation(inner), captures, replace_all=False)
            case ir.Filter(inner, predicate):
                rel = self.relation(inner)
                query = _select_from(rel.query, None).where(self.expr(predicate))
                return _Relation(query, rel.columns, rel.hidden, rel.ordering)
            case ir.Aggregate(inner, keys, aggregates):
                return self.aggregate(self.relation(inner), keys, aggregates)
            case ir.Sort(inner, keys):
                return self.sort(self.relation(inner), keys)
            case ir.Limit(inner, count):
                rel = self.relation(inner)
                limit = count if isinstance(count, int) else exp.Placeholder(this=count.name)
                query = _select_from(rel.query, None)
                if rel.ordering:
                    query = query.order_by(*rel.order_by())
                return _Relation(query.limit(limit), rel.columns, rel.hidden, rel.ordering)
            case ir.Dedup(inner, keys):
                return self.dedup(self.relation(inner), keys)
            case ir.Union(inputs):
                branches = [self.relation(i) for i in inputs]
                queries = [b.finish() if b.hidden else b.query for b in branches]
                union: exp.Query = queries[0]
                for other in queries[1:]:
                    union = exp.union(union, other, distinct=False)
                query = exp.select(exp.Star()).from_(union.subquery("q"))
                return _Relation(query, list(branches[0].columns))
            case ir.Join(left, right, kind, keys, max_rows):
                return self.join(self.relation(left), self.relation(right), kind, keys, max_rows)
        raise UnsupportedError(f"the plan node {type(plan).__name__}", self.spelling.target)

    def scan(self, scan: ir.Scan, items: tuple[ir.NamedExpr, ...]) -> _Relation:
        if scan.backend != self.spelling.target:
            raise UnsupportedError(
                f"source '{scan.source}' ({scan.format}), which runs on the {scan.backend} backend",
                self.spelling.target,
            )
        projections: list[exp.Expr] = [_alias(self.expr(i.expr), i.name) for i in items]
        table = exp.Table(this=exp.to_identifier(scan.source, quoted=True))
        query = exp.select(*(projections or [exp.Literal.number(1)])).from_(table)
        conditions = [self.expr(scan.filter)] if scan.filter is not None else []
        conditions.extend(_partition_predicates(scan, self.spelling))
        if conditions:
            query = query.where(exp.and_(*conditions))
        return _Relation(query, [i.name for i in items])

    def project(
        self, rel: _Relation, items: tuple[ir.NamedExpr, ...], *, replace_all: bool
    ) -> _Relation:
        new = {i.name: i.expr for i in items}
        if replace_all:
            columns = [i.name for i in items]
        else:
            columns = [c for c in rel.columns] + [
                i.name for i in items if i.name not in rel.columns
            ]
        keep_hidden, ordering = list(rel.hidden), list(rel.ordering)
        extra: list[exp.Expr] = []
        for position, (name, desc) in enumerate(ordering):
            survives = (name in rel.hidden) or (
                name in columns and (name not in new or new[name] == ir.Col(name, new[name].type))
            )
            if not survives:  # keep the old value as a hidden sort column
                hidden = f"{HIDDEN}sort{next(self.sort_keys)}"
                extra.append(_alias(_col(name), hidden))
                keep_hidden.append(hidden)
                ordering[position] = (hidden, desc)
        used = {name for name, _ in ordering}
        kept = [h for h in rel.hidden if h in used]
        projections: list[exp.Expr] = [
            _alias(self.expr(new[c]), c) if c in new else _col(c) for c in columns
        ]
        projections += [*(_col(h) for h in kept), *extra]
        query = exp.select(*projections).from_(rel.query.subquery("q"))
        return _Relation(query, columns, [h for h in keep_hidden if h in used], ordering)

    def aggregate(
        self,
        rel: _Relation,
        keys: tuple[ir.NamedExpr, ...],
        aggregates: tuple[ir.NamedExpr, ...],
    ) -> _Relation:
        projections = [_alias(self.expr(i.expr), i.name) for i in (*keys, *aggregates)]
        query = exp.select(*projections).from_(rel.query.subquery("q"))
        if keys:
            query = query.group_by(*(self.expr(k.expr) for k in keys))
        return _Relation(query, [i.name for i in (*keys, *aggregates)])

    def sort(self, rel: _Relation, keys: tuple[ir.SortKey, ...]) -> _Relation:
        ordering: list[tuple[str, bool]] = []
        computed: list[exp.Expr] = []
        for key in keys:
            if isinstance(key.expr, ir.Col) and key.expr.name in rel.columns:
                ordering.append((key.expr.name, key.descending))
                continue
            name = f"{HIDDEN}sort{next(self.sort_keys)}"
            computed.append(_alias(self.expr(key.expr), name))
            ordering.append((name, key.descending))
        if not computed and not rel.hidden:
            return _Relation(rel.query, rel.columns, [], ordering)
        # the earlier order's hidden columns are dropped: a new sort replaces the order
        query = exp.select(*[_col(c) for c in rel.columns], *computed).from_(
            rel.query.subquery("q")
        )
        hidden = [name for name, _ in ordering if name not in rel.columns]
        return _Relation(query, rel.columns, hidden, ordering)

    def join(
        self,
        left: _Relation,
        right: _Relation,
        kind: str,
        keys: tuple[tuple[str, str], ...],
        max_rows: int,
    ) -> _Relation:
        """The left rows with their matches; the right side read up to `max_rows + 1` rows
        and the query failed (`JOIN_ROWS`) when there are more — before the hash table that
        holds the right side can grow past the limit. The right side is the build side
        (DataFusion's first input); the left side streams through. The left side's pending order and
        hidden sort columns pass through (a hash join does not keep any order)."""
        number = next(self.joins)
        lhs, rhs = f"{JOIN_ALIAS}l{number}", f"{JOIN_ALIAS}r{number}"
        capped = _select_from(right.finish(), None).limit(max_rows + 1)
        counted = exp.select(
            exp.Star(), _alias(exp.Window(this=exp.Count(this=exp.Star())), RIGHT_ROWS)
        ).from_(capped.subquery("q"))
        check = exp.Anonymous(
            this=JOIN_ROWS, expressions=[_col(RIGHT_ROWS), exp.Literal.number(max_rows)]
        )
        guarded = exp.select(exp.Star()).from_(counted.subquery("q")).where(check)
        dropped = {b for _, b in keys}
        added = [c for c in right.columns if c not in dropped]
        condition = exp.and_(
            *(exp.EQ(this=_qualified(lhs, a), expression=_qualified(rhs, b)) for a, b in keys)
        )
        query = (
            exp.select(
                *(_qualified(lhs, c) for c in (*left.columns, *left.hidden)),
                *(_qualified(rhs, c) for c in added),
            )
            # DataFusion builds its hash table from the first input: the right side, capped
            # (a left join is written as a right join with the inputs swapped)
            .from_(guarded.subquery(rhs))
            .join(
                left.query.subquery(lhs),
                on=condition,
                join_type="RIGHT" if kind == "left" else "INNER",
            )
        )
        return _Relation(query, [*left.columns, *added], list(left.hidden), list(left.ordering))

    def dedup(self, rel: _Relation, keys: tuple[ir.Expr, ...]) -> _Relation:
        window = exp.Window(
            this=exp.RowNumber(),
            partition_by=[self.expr(k) for k in keys],
            order=exp.Order(expressions=rel.order_by()) if rel.ordering else None,
        )
        numbered = exp.select(exp.Star(), _alias(window, ROW)).from_(rel.query.subquery("q"))
        query = (
            exp.select(*[_col(c) for c in (*rel.columns, *rel.hidden)])
            .from_(numbered.subquery("q"))
            .where(exp.EQ(this=_col(ROW), expression=exp.Literal.number(1)))
        )
        return _Relation(query, rel.columns, rel.hidden, rel.ordering)


def _capture_groups(kind: str, regex: ir.Regex, names: tuple[str, ...]) -> list[int]:
    """The group number of each capture: a glob's groups are its stars, in order; a regex's
    named groups are numbered among all its capturing groups (unnamed ones count too)."""
    if kind != "regex":
        return list(range(1, len(names) + 1))
    numbers = re.compile(portable.to_python(regex.pattern)).groupindex
    return [numbers[name] for name in names]


# ---------------------------------------------------------------- partitions


def _partition_predicates(scan: ir.Scan, spelling: Spelling) -> list[exp.Expr]:
    out: list[exp.Expr] = []
    for part in scan.partitions:
        if part.time_range is None:
            continue  # identity partitions are pruned by DataFusion from Scan.filter itself
        strftime = TRANSFORM_FORMATS[part.transform]
        assert strftime is not None
        for bound, op in ((part.time_range.lower, exp.GTE), (part.time_range.upper, exp.LTE)):
            if bound is None:
                continue
            key: exp.Expr
            if bound.param is None and bound.base is not None:  # bound: the key itself
                last = bound.base + bound.offset - (0 if op is exp.GTE or bound.inclusive else 1)
                year = civil(last)[0]
                if not 0 <= year <= 9999:  # keys have four-digit years: all or none pass
                    if (year < 0) == (op is exp.LTE):
                        out.append(exp.Boolean(this=False))
                    continue
                key = exp.Literal.string(format_utc(strftime, last))
            else:
                key = spelling.partition_key(bound, op is exp.LTE, strftime)
            out.append(op(this=_col(part.column), expression=key))
    return out


def _partition_key(bound: ir.TimeBound, is_upper: bool, strftime: str) -> exp.Expr:
    instant = _bound_instant(bound, is_upper=is_upper)
    return exp.Anonymous(this="TO_CHAR", expressions=[instant, exp.Literal.string(strftime)])


def _bound_instant(bound: ir.TimeBound, *, is_upper: bool) -> exp.Expr:
    """The instant of a bound; an exclusive upper bound's last included instant is 1ns less."""
    offset = bound.offset - (1 if is_upper and not bound.inclusive else 0)
    if bound.param is not None:
        base: exp.Expr = exp.Placeholder(this=bound.param)
    elif bound.base is None:
        base = exp.Anonymous(this="NOW", expressions=[])
    else:
        return _timestamp(bound.base + offset)
    if offset:
        return exp.Add(this=base, expression=_interval(offset))
    return base


# ---------------------------------------------------------------- expressions


def _timestamp(nanos: int) -> exp.Expr:
    return exp.Anonymous(this="TO_TIMESTAMP_NANOS", expressions=[exp.Literal.number(nanos)])


def _interval(nanos: int) -> exp.Expr:
    text = format_duration(abs(nanos))
    number = int("".join(ch for ch in text if ch.isdigit()))
    unit = {
        "w": "weeks",
        "d": "days",
        "h": "hours",
        "m": "minutes",
        "s": "seconds",
        "ms": "milliseconds",
        "us": "microseconds",
        "ns": "nanoseconds",
    }[text.lstrip("-0123456789")]
    interval = exp.Interval(this=exp.Literal.string(f"{number} {unit}"))
    return exp.Neg(this=interval) if nanos < 0 else interval


def _literal(lit: ir.Lit) -> exp.Expr:
    value = lit.value
    if value is None:
        sql_type = _SQL_TYPES.get(lit.type)
        return (
            exp.Cast(this=exp.Null(), to=exp.DataType.build(sql_type)) if sql_type else exp.Null()
        )
    if lit.type is Type.TIMESTAMP:
        assert isinstance(value, int)
        return _timestamp(value)
    if lit.type is Type.DURATION:
        assert isinstance(value, int)
        return _interval(value)
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, float) and not math.isfinite(value):  # never a bare word (`inf`)
        return exp.Cast(this=exp.Literal.string(repr(value)), to=exp.DataType.build("DOUBLE"))
    if isinstance(value, int | float):
        literal = exp.Literal.number(repr(value) if isinstance(value, float) else value)
        return exp.Neg(this=exp.Literal.number(-value)) if value < 0 else literal
    return exp.Literal.string(value)


def _regex_text(regex: ir.Regex) -> str:
    return f"(?{regex.flags}){regex.pattern}" if regex.flags else regex.pattern


def _pattern(node: ir.Regex | ir.Param | ir.Expr) -> exp.Expr:
    if isinstance(node, ir.Regex):
        return exp.Literal.string(_regex_text(node))
    return _expr(node)


def _regex_like(subject: exp.Expr, regex: ir.Regex | ir.Param) -> exp.Expr:
    """An unanchored regex search. DataFusion rewrites a regex of plain text into a `LIKE`
    pattern without escaping `\\`, LIKE's escape character, so `/\\\\/` would match `%`:
    a pattern holding a backslash is given the flag `u` (Unicode, already on), which keeps
    the call as it is."""
    like = exp.RegexpLike(this=subject, expression=_pattern(regex))
    if isinstance(regex, ir.Regex) and "\\" in regex.pattern:
        like.set("flag", exp.Literal.string("u"))
    return like


def _negate(node: exp.Expr, negated: bool) -> exp.Expr:
    return exp.Not(this=node) if negated else node


def _expr(expr: ir.Expr) -> exp.Expr:  # one case per IR class
    match expr:
        case ir.Lit():
            return _literal(expr)
        case ir.Regex():
            return exp.Literal.string(_regex_text(expr))
        case ir.Param(name):
            return exp.Placeholder(this=name)
        case ir.Now():
            return exp.Anonymous(this="NOW", expressions=[])
        case ir.Col(name):
            return _col(name)
        case ir.MapGet(m, key):
            return exp.Bracket(this=_expr(m), expressions=[exp.Literal.string(key)])
        case ir.Cast(inner, Type.STRING):
            return exp.Cast(this=_expr(inner), to=exp.DataType.build("VARCHAR"))
        case ir.Cast(inner, kind):
            return exp.TryCast(this=_expr(inner), to=exp.DataType.build(_SQL_TYPES[kind]))
        case ir.Arith(op, left, right):
            return _arith(op, left, right)
        case ir.Neg(inner):
            return exp.Neg(this=exp.Paren(this=_expr(inner)))
        case ir.Compare(op, left, right):
            return _compare(op, left, right)
        case ir.Match(inner, regex, negated):
            return _negate(_regex_like(_expr(inner), regex), negated)
        case ir.StrTest(op, inner, needle, negated):
            return _negate(_string_test(op, _expr(inner), _expr(needle)), negated)
        case ir.InList(inner, items, negated):
            column, literals = _hex_column(inner), [_hex_literal(i) for i in items]
            if column is not None and all(text is not None for text in literals):
                listed = [_bytes(text) for text in literals if text is not None]
                return _negate(exp.In(this=_expr(column), expressions=listed), negated)
            return _negate(
                exp.In(this=_expr(inner), expressions=[_expr(i) for i in items]), negated
            )
        case ir.IsNull(inner, negated):
            return _negate(exp.Is(this=_expr(inner), expression=exp.Null()), negated)
        case ir.And(items):
            return exp.and_(*(exp.Paren(this=_expr(i)) for i in items))
        case ir.Or(items):
            return exp.Paren(this=exp.or_(*(exp.Paren(this=_expr(i)) for i in items)))
        case ir.Not(inner):
            return exp.Not(this=exp.Paren(this=_expr(inner)))
        case ir.Call():
            return _call(expr)
        case ir.Agg():
            return _aggregate(expr)
    raise UnsupportedError(f"the expression {type(expr).__name__}")


def _arith(op: str, left: ir.Expr, right: ir.Expr) -> exp.Expr:
    return arith(op, _expr(left), _expr(right))


def arith(op: str, left: exp.Expr, right: exp.Expr) -> exp.Expr:
    """`left op right` over lowered operands: division by zero is null, `/` is a float
    division (the Spark and Trino lowerings spell arithmetic the same way)."""
    lhs, rhs = exp.Paren(this=left), exp.Paren(this=right)
    if op == "+":
        return exp.Add(this=lhs, expression=rhs)
    if op == "-":
        return exp.Sub(this=lhs, expression=rhs)
    if op == "*":
        return exp.Mul(this=lhs, expression=rhs)
    divisor = exp.Nullif(this=rhs, expression=exp.Literal.number(0))
    if op == "/":
        numerator = exp.Cast(this=lhs, to=exp.DataType.build("DOUBLE"))
        return exp.Div(this=numerator, expression=divisor)
    return exp.Mod(this=lhs, expression=divisor)


def _compare(op: str, left: ir.Expr, right: ir.Expr) -> exp.Expr:
    epoch = _epoch_comparison(op, left, right)
    if epoch is not None:
        return epoch
    if op in ("==", "!="):
        for side, other in ((left, right), (right, left)):
            column, literal = _hex_column(side), _hex_literal(other)
            if column is not None and literal is not None:
                return _COMPARE[op](this=_expr(column), expression=_bytes(literal))
    return _COMPARE[op](this=_expr(left), expression=_expr(right))


_HEX_TEXT = re.compile(r"^(?:[0-9a-f]{2})+$")


def _hex_column(expr: ir.Expr) -> ir.Expr | None:
    """The bytes under `hex(bytes)` (an id stored as bytes, read as lowercase hex), or None."""
    if isinstance(expr, ir.Call) and expr.name == "hex":
        return expr.args[0]
    return None


def _hex_literal(expr: ir.Expr) -> str | None:
    """A string literal that `hex()` can produce (lowercase hex digits, whole bytes), or None:
    comparing `hex(c)` with any other text must stay a text comparison (it is never equal)."""
    if isinstance(expr, ir.Lit) and isinstance(expr.value, str) and _HEX_TEXT.match(expr.value):
        return expr.value
    return None


def _bytes(text: str) -> exp.Expr:
    """The bytes a hex literal stands for: `hex(c) == 'ab12'` is `c = decode('ab12', 'hex')`,
    which DataFusion folds to a binary literal and prunes with (statistics, bloom filters)."""
    return exp.Anonymous(
        this="DECODE", expressions=[exp.Literal.string(text), exp.Literal.string("hex")]
    )


def _epoch_comparison(op: str, left: ir.Expr, right: ir.Expr) -> exp.Expr | None:
    """`epoch_to_timestamp(c, unit) OP instant` as an integer comparison on `c` (prunable)."""
    if not (
        isinstance(left, ir.Call)
        and left.name == "epoch_to_timestamp"
        and isinstance(right, ir.Lit)
        and isinstance(right.value, int)
        and right.type is Type.TIMESTAMP
    ):
        return None
    column, unit = left.args
    assert isinstance(unit, ir.Lit)
    size = _NANOS_PER_UNIT[str(unit.value)]
    nanos = right.value
    floor, exact = divmod(nanos, size)
    ceiling = floor + (1 if exact else 0)
    target = _expr(column)
    if op == "==" and exact:
        return exp.Boolean(this=False)
    if op == "!=" and exact:
        return exp.Not(this=exp.Is(this=target, expression=exp.Null()))
    bound = {">=": ceiling, ">": floor, "<": ceiling, "<=": floor, "==": floor, "!=": floor}[op]
    if not _INT64_MIN <= bound <= _INT64_MAX:  # beyond the column's range: all or none
        always = {"!=": True, "==": False}.get(op, (op in (">=", ">")) == (bound < _INT64_MIN))
        if always:
            return exp.Not(this=exp.Is(this=target, expression=exp.Null()))
        return exp.Boolean(this=False)
    return _COMPARE[op](this=target, expression=exp.Literal.number(bound))


def _string_test(op: str, subject: exp.Expr, needle: exp.Expr) -> exp.Expr:
    if op == "icontains":
        subject = exp.Lower(this=subject)
        needle = exp.Lower(this=needle)
        op = "contains"
    if op == "contains":
        position = exp.StrPosition(this=subject, substr=needle)
        return exp.GT(this=position, expression=exp.Literal.number(0))
    name = "STARTS_WITH" if op == "startswith" else "ENDS_WITH"
    return exp.Anonymous(this=name, expressions=[subject, needle])


def _call(call: ir.Call) -> exp.Expr:  # one case per function
    args = [_expr(a) for a in call.args]
    name = call.name
    first = _first_capture(call)
    if first is not None:
        return first
    if name in _SIMPLE_FUNCTIONS:
        return exp.Anonymous(this=_SIMPLE_FUNCTIONS[name], expressions=args)
    match name:
        case "substr":
            start = exp.Add(this=exp.Paren(this=args[0 + 1]), expression=exp.Literal.number(1))
            return exp.Anonymous(this="SUBSTR", expressions=[args[0], start, *args[2:]])
        case "if":
            return exp.Case(ifs=[exp.If(this=args[0], true=args[1])], default=args[2])
        case "round" | "floor" | "ceil":
            number = exp.Cast(this=args[0], to=exp.DataType.build("DOUBLE"))
            return exp.Anonymous(this=name.upper(), expressions=[number, *args[1:]])
        case "tostring":
            return _tostring(call.args[0], args[0])
        case "tonumber":
            return exp.TryCast(this=args[0], to=exp.DataType.build("DOUBLE"))
        case "bin":
            origin = _timestamp(0)
            return exp.Anonymous(this="DATE_BIN", expressions=[args[1], args[0], origin])
        case "epoch_to_timestamp":
            unit = call.args[1]
            assert isinstance(unit, ir.Lit)
            size = _NANOS_PER_UNIT[str(unit.value)]
            nanos = (
                args[0] if size == 1 else exp.Mul(this=args[0], expression=exp.Literal.number(size))
            )
            return exp.Anonymous(this="TO_TIMESTAMP_NANOS", expressions=[nanos])
        case "regex_extract":
            group = call.args[2]
            assert isinstance(group, ir.Lit)
            return _capture(args[0], call.args[1], int(group.value or 1))
        case "level_from_text":
            return _level_from_text(args[0])
        case "json_get":
            return exp.Anonymous(this=JSON_GET, expressions=args)
        case "json_to_map":
            return exp.Anonymous(this=JSON_TO_MAP, expressions=args)
        case "hex":
            return exp.Anonymous(this="ENCODE", expressions=[args[0], exp.Literal.string("hex")])
        case "totimestamp":
            fmt = args[1] if len(args) > 1 else exp.Literal.string("iso8601")
            no_time = exp.Cast(this=exp.Null(), to=exp.DataType.build("BIGINT"))
            utc = exp.Literal.string("UTC")
            return exp.Anonymous(this=PARSE_TIME, expressions=[args[0], fmt, utc, no_time])
        case "parse_time":
            return exp.Anonymous(this=PARSE_TIME, expressions=args)
        case "replace_regex":
            pattern = _pattern(call.args[1])
            flags = exp.Literal.string("g")
            return exp.Anonymous(
                this="REGEXP_REPLACE", expressions=[args[0], pattern, args[2], flags]
            )
        case "level_number" | "level_keyword":
            return _level_lookup(call, args[0])
        case "make_map":
            if not args:  # no fields: no map (a typed null would not meet a map in a CASE)
                return exp.Null()
            keys = exp.Array(expressions=args[0::2])
            values = [exp.Cast(this=v, to=exp.DataType.build("VARCHAR")) for v in args[1::2]]
            return exp.Anonymous(this="MAP", expressions=[keys, exp.Array(expressions=values)])
        case "map_merge":
            return exp.Anonymous(this=MAP_MERGE, expressions=args)
        case "logfmt_get":
            return exp.Anonymous(this=LOGFMT_GET, expressions=args)
        case "logfmt_to_map":
            return exp.Anonymous(this=LOGFMT_TO_MAP, expressions=args)
        case "unquote":
            return exp.Anonymous(this=UNQUOTE, expressions=args)
        case "json_flatten":
            return exp.Anonymous(this=JSON_FLATTEN, expressions=args)
        case "mine_template":
            return exp.Window(this=exp.Anonymous(this=MINE_TEMPLATE, expressions=args))
        case "window_total":
            return exp.Window(this=exp.Sum(this=args[0]))
    raise UnsupportedError(f"the function {name}()")


_SYSLOG_NUMBERS = ((0, 21), (1, 19), (2, 18), (3, 17), (4, 13), (5, 10), (6, 9), (7, 5))
_SYSLOG_WORDS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


def _level_lookup(call: ir.Call, text: exp.Expr) -> exp.Expr:
    """A raw mapping's level vocabulary as a CASE: words (case-insensitive, trimmed) through
    the shape's table; `syslog_pri` (PRI % 8) and `syslog_severity` (0-7) through syslog's."""
    vocabulary = call.args[1]
    assert isinstance(vocabulary, ir.Lit)
    if vocabulary.value == "words":
        table = call.args[2]
        assert isinstance(table, ir.Lit) and isinstance(table.value, str)
        import json

        words: dict[str, int] = json.loads(table.value)
        word = exp.Lower(this=exp.Anonymous(this="BTRIM", expressions=[text]))
        return exp.Case(
            this=word,
            ifs=[
                exp.If(this=exp.Literal.string(w), true=exp.Literal.number(n))
                for w, n in sorted(words.items())
            ],
        )
    digits = exp.RegexpLike(this=text, expression=exp.Literal.string("^[0-9]+$"))
    number: exp.Expr = exp.TryCast(this=text, to=exp.DataType.build("BIGINT"))
    if vocabulary.value == "syslog_pri":
        number = exp.Mod(this=number, expression=exp.Literal.number(8))
    results = (
        [exp.Literal.number(n) for _, n in _SYSLOG_NUMBERS]
        if call.name == "level_number"
        else [exp.Literal.string(w) for w in _SYSLOG_WORDS]
    )
    otherwise = exp.Null() if call.name == "level_number" else text
    lookup = exp.Case(
        this=number,
        ifs=[exp.If(this=exp.Literal.number(i), true=r) for i, r in enumerate(results)],
        default=otherwise,
    )
    return exp.Case(ifs=[exp.If(this=digits, true=lookup)], default=otherwise)


def _regex_group(subject: exp.Expr, pattern: exp.Expr, index: int) -> exp.Expr:
    """Element `index` (1-based) of `regexp_match`: the captures of the groups that took part
    in the first match, in order (DataFusion leaves out the others), or null."""
    match = exp.Anonymous(this="REGEXP_MATCH", expressions=[subject, pattern])
    # sqlglot indexes are 0-based and shifted to the dialect's base (1 for arrays) on output
    return exp.Bracket(this=match, expressions=[exp.Literal.number(index - 1)])


# pattern -> the groups the query being lowered captures with it (set by `lower`)
_USED_GROUPS: ContextVar[dict[str, frozenset[int]] | None] = ContextVar("used", default=None)


def _used_groups(plan: ir.Plan) -> dict[str, frozenset[int]]:
    """Which groups of each regex the plan captures (`regex_extract`, `parse`)."""
    used: dict[str, set[int]] = {}
    for node in ir.plan_walk(plan):
        if isinstance(node, ir.Parse):
            groups = _capture_groups(node.kind, node.regex, node.names)
            used.setdefault(node.regex.pattern, set()).update(groups)
        for top in ir.node_exprs(node):
            for e in ir.walk(top):
                if (
                    isinstance(e, ir.Call)
                    and e.name == "regex_extract"
                    and isinstance(e.args[1], ir.Regex)
                    and isinstance(e.args[2], ir.Lit)
                ):
                    used.setdefault(e.args[1].pattern, set()).add(int(e.args[2].value or 1))
    return {pattern: frozenset(groups) for pattern, groups in used.items()}


def _capture(subject: exp.Expr, regex: ir.Expr, group: int) -> exp.Expr:
    """Capture `group` of the first match of `regex`; null when nothing matches or the group
    did not take part. `regexp_match` leaves out groups that did not take part, so only the
    groups taking part in every match stay capturing in one shared pattern (indexed among
    themselves); a group that may not take part is captured alone by a pattern of its own,
    where every other group is non-capturing (what matches is the same). Of the groups that
    always take part, only those the query captures stay capturing: a regex engine runs
    faster with fewer groups (~3× for one of eleven), and the captures the query reads still
    share one match (DataFusion computes identical calls once)."""
    if not isinstance(regex, ir.Regex):  # an unbound parameter: shown, never run
        return _regex_group(subject, _pattern(regex), group)
    groups = portable.capture_groups(regex.pattern)
    always = [g.number for g in groups if not g.optional]
    used = (_USED_GROUPS.get() or {}).get(regex.pattern)
    if used is not None and group in used:
        always = [g for g in always if g in used]
    if group in always:
        keep, index = frozenset(always), always.index(group) + 1
    else:
        keep, index = frozenset({group}), 1
    pattern = (
        regex.pattern if len(keep) == len(groups) else portable.keep_groups(regex.pattern, keep)
    )
    return _regex_group(subject, _pattern(ir.Regex(pattern, regex.flags)), index)


def _first_capture(call: ir.Call) -> exp.Expr | None:
    """`coalesce(regex_extract(s, re, 1), …, regex_extract(s, re, n))` over every group of
    `re`, in order — the first group that took part — is the first element of one
    `regexp_match`; None for any other call."""
    if call.name != "coalesce" or not call.args:
        return None
    heads: set[tuple[ir.Expr, ir.Regex]] = set()
    for number, arg in enumerate(call.args, start=1):
        if not (
            isinstance(arg, ir.Call)
            and arg.name == "regex_extract"
            and isinstance(arg.args[1], ir.Regex)
            and arg.args[2] == ir.Lit(number, Type.INT)
        ):
            return None
        heads.add((arg.args[0], arg.args[1]))
    (subject, regex), *rest = heads
    if rest or len(portable.capture_groups(regex.pattern)) != len(call.args):
        return None
    return _regex_group(_expr(subject), _pattern(regex), 1)


def _tostring(arg: ir.Expr, lowered: exp.Expr) -> exp.Expr:
    if arg.type is Type.TIMESTAMP:
        text = exp.Literal.string("%Y-%m-%dT%H:%M:%S%.fZ")
        return exp.Anonymous(this="TO_CHAR", expressions=[lowered, text])
    return exp.Cast(this=lowered, to=exp.DataType.build("VARCHAR"))


def _level_from_text(subject: exp.Expr) -> exp.Expr:
    # LEVEL_TEXT_GROUPS are all of the pattern's groups: the first that took part comes first
    assert len(portable.capture_groups(LEVEL_TEXT_PATTERN)) == len(LEVEL_TEXT_GROUPS)
    word = exp.Lower(this=_regex_group(subject, exp.Literal.string(LEVEL_TEXT_PATTERN), 1))
    return exp.Case(
        this=word,
        ifs=[
            exp.If(this=exp.Literal.string(name), true=exp.Literal.number(number))
            for name, number in LEVELS.items()
        ],
    )


def _aggregate(agg: ir.Agg) -> exp.Expr:
    args = [_expr(a) for a in agg.args]
    match agg.name:
        case "count":
            return exp.Count(this=args[0] if args else exp.Star())
        case "count_distinct":
            return exp.Count(this=exp.Distinct(expressions=[args[0]]))
        case "pct":
            fraction = agg.args[1]
            assert isinstance(fraction, ir.Lit) and isinstance(fraction.value, float)
            within = exp.WithinGroup(
                this=exp.Anonymous(
                    this="PERCENTILE_CONT",
                    expressions=[exp.Literal.number(repr(fraction.value / 100))],
                ),
                expression=exp.Order(expressions=[exp.Ordered(this=args[0])]),
            )
            return within
        case "earliest" | "latest":
            ordered = exp.Order(this=args[0], expressions=[exp.Ordered(this=args[1])])
            name = "FIRST_VALUE" if agg.name == "earliest" else "LAST_VALUE"
            value = exp.Anonymous(this=name, expressions=[ordered])
            present = exp.Not(this=exp.Is(this=args[0], expression=exp.Null()))
            return exp.Filter(this=value, expression=exp.Where(this=present))
    if agg.name in _SIMPLE_AGGREGATES:
        return exp.Anonymous(this=_SIMPLE_AGGREGATES[agg.name], expressions=args)
    raise UnsupportedError(f"the aggregate {agg.name}()")


DATAFUSION = Spelling(TARGET, _expr, _partition_key)
