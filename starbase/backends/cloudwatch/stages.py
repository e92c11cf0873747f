"""The longest pushable prefix of one CloudWatch source's pipeline, as Insights commands.

Requires: the nodes of one source's pipeline bottom-up — its `Scan`, the `Project` of its
mapping, then every stage above that reads this source alone (up to the query's root, or to
the union of several sources, below which `federate` puts the per-source stages) — and a
capability `Profile`. Guarantees: `Pipeline.push` lowers nodes in order until one cannot be lowered
exactly (the reason is recorded in `unsupported`) and returns the index of the last node
pushed; after it, `defs` gives each of that node's columns as an expression over Insights
fields, `order` the pushed sort still in force, `scan_rest`/`filter_rest` the conjuncts left
to run locally — what `cloudwatch.lower_source` needs to build the local stand-in.

How each node lowers (the commands follow the IR's order, so Insights sees the same rows):
the scan filter's conjuncts → the time range when `Scan.time_range` implies them, else one
`filter` of those that lower (the others stay in the fetched scan's filter); projections (and
`extend`, where the profile lists it) → no command: column definitions are substituted into
later expressions, values the rest needs are computed locally from fetched fields; `parse` →
`parse` (glob or regex, captures under Starbase's own names);
`stats` → `stats … as alias by …` (at most two, adjacent; one row per group, so not when the
log groups need several queries); `sort` → `sort` only on fields that are never null
(Insights does not document where nulls sort), and only when a pushed `limit` or `dedup`
reads its order (otherwise the rows are sorted locally: a text without `sort` can be split
by time when its result is capped); `dedup` → `dedup` on never-null fields (it
keeps every row with a null key); `limit` ≤ 10,000 → `limit`; after `dedup` only `limit`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from starbase.backends.cloudwatch import syntax
from starbase.backends.cloudwatch.expr import SYSTEM_FIELDS, ExprLowering, strip_casts
from starbase.backends.cloudwatch.severity import severity_call
from starbase.backends.cloudwatch.syntax import NotExpressible
from starbase.compiler import ir
from starbase.compiler import regex as portable
from starbase.compiler.passes.pushdown import time_bound
from starbase.compiler.types import Type
from starbase.mappings import Profile

MAX_ROWS = 10_000  # Insights returns at most this many rows per query


@dataclass
class Pipeline:
    """Insights commands for a prefix of one source's pipeline (see the module docstring)."""

    source: str
    profile: Profile
    batches: int = 1  # queries needed for the log groups (≤ 50 each)
    commands: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    defs: dict[str, ir.Expr] = field(default_factory=dict)  # column → expr over fields
    scan_rest: ir.Expr | None = None  # scan conjuncts left to run locally
    filter_rest: ir.Expr | None = None  # a stage filter's conjuncts left to run locally
    order: tuple[ir.SortKey, ...] = ()
    never_null: set[str] = field(default_factory=lambda: set(SYSTEM_FIELDS))
    stats: int = 0
    stats_at: int = -1  # len(commands) right after the last stats
    output_at: int | None = None  # where the row-level output list goes (before dedup/limit)
    deduped: bool = False
    limited: bool = False

    def __post_init__(self) -> None:
        self.expr = ExprLowering(self.profile)

    # ------------------------------------------------------------ driving

    def push(self, nodes: list[ir.Plan]) -> int:
        """Lower `nodes` in order; the index of the last one fully or partly pushed."""
        scan = nodes[0]
        assert isinstance(scan, ir.Scan)
        self._scan(scan)
        if self.scan_rest is not None:
            return 0
        if len(nodes) < 2:
            return 0
        project = nodes[1]
        assert isinstance(project, ir.Project)
        self.defs = {i.name: i.expr for i in project.items}
        for index, node in enumerate(nodes[2:], start=2):
            if isinstance(node, ir.Sort) and not _consumed(nodes[index + 1 :]):
                return index - 1  # nothing in Insights reads the order: sort the rows here
            saved = self.expr.snapshot()
            try:
                self._stage(node)
            except NotExpressible as exc:
                self.expr.restore(saved)
                self.unsupported.append(exc.reason)
                return index - 1
            if self.filter_rest is not None:
                return index
        return len(nodes) - 1

    def _stage(self, node: ir.Plan) -> None:
        if self.limited:
            raise NotExpressible("a stage after limit")
        if self.deduped and not isinstance(node, ir.Limit):
            raise NotExpressible("a stage after dedup (Insights allows only limit there)")
        match node:
            case ir.Filter(_, predicate):
                self._filter(predicate)
            case ir.Project(_, items):
                self._need("fields")
                self._define({i.name: self._sub(i.expr) for i in items})
            case ir.Extend(_, items):
                self._need("extend")
                new = dict(self.defs)
                new.update({i.name: self._sub(i.expr) for i in items})
                self._define(new)
            case ir.Parse():
                self._parse(node)
            case ir.Aggregate(_, keys, aggregates):
                self._stats(keys, aggregates)
            case ir.Sort(_, keys):
                self._sort(keys)
            case ir.Limit(_, count):
                self._limit(count)
            case ir.Dedup(_, keys):
                self._dedup(keys)
            case _:
                raise NotExpressible(f"the plan node {type(node).__name__}")

    def _need(self, stage: str) -> None:
        if stage not in self.profile.stages:
            raise NotExpressible(f"stage {stage}")

    def _one_query(self, what: str) -> None:
        if self.batches > 1:
            raise NotExpressible(f"{what} over more than 50 log groups ({self.batches} queries)")

    def _sub(self, expr: ir.Expr) -> ir.Expr:
        """`expr` over the current columns, rewritten over Insights fields."""

        def swap(node: ir.Expr) -> ir.Expr:
            if isinstance(node, ir.Col) and node.name in self.defs:
                return self.defs[node.name]
            if isinstance(node, ir.MapGet) and node.map == ir.Lit(None, node.map.type):
                return ir.Lit(None, node.type)  # a key of an absent map
            if (
                isinstance(node, ir.MapGet)
                and isinstance(node.map, ir.Call)
                and node.map.name == "json_to_map"
            ):
                key = ir.Lit(node.key, Type.STRING)
                return ir.Call("json_get", (*node.map.args, key), Type.STRING)
            return node

        return ir.transform(expr, swap)

    def _define(self, new: dict[str, ir.Expr]) -> None:
        for key in self.order:  # the pushed order must stay readable by its columns
            if any(new.get(c) != self.defs.get(c) for c in ir.columns(key.expr)):
                raise NotExpressible("fields that change a pushed sort key")
        self.defs = new

    def _emit(self, command: str) -> None:
        self.commands.extend(self.expr.take_commands())
        self.commands.append(command)

    # ------------------------------------------------------------ row stages

    def _scan(self, scan: ir.Scan) -> None:
        self.defs = {c.name: ir.Col(c.name, c.type) for c in scan.schema}
        if scan.filter is None:
            return
        rest: list[ir.Expr] = []
        pushed: list[str] = []
        for conjunct in _conjuncts(scan.filter):
            if _covered(conjunct, scan.time_range):
                continue
            text = self._conjunct(conjunct)
            if text is None:
                rest.append(conjunct)
                pushed.extend(self._prefilter(conjunct))
            elif text is not True:
                pushed.append(str(text))
        if pushed:
            self._emit("filter " + _all(pushed))
        if rest:
            self.scan_rest = rest[0] if len(rest) == 1 else ir.And(tuple(rest))

    def _prefilter(self, conjunct: ir.Expr) -> list[str]:
        """A necessary condition for a conjunct that stays local (a JSON member test)."""
        if "where" not in self.profile.stages:
            return []
        text = self.expr.prefilter(conjunct)
        return [] if text is None else [text]

    def _conjunct(self, conjunct: ir.Expr) -> str | bool | None:
        """The conjunct's condition, or None (reason recorded) when it stays local."""
        saved = self.expr.snapshot()
        try:
            self._need("where")
            text = self.expr.condition(conjunct)
            if text is False:
                raise NotExpressible("a condition that is never true")
            return text
        except NotExpressible as exc:
            self.expr.restore(saved)
            if exc.reason not in self.unsupported:
                self.unsupported.append(exc.reason)
            return None

    def _filter(self, predicate: ir.Expr) -> None:
        self._need("where")
        pushed: list[str] = []
        rest: list[ir.Expr] = []
        for conjunct in _conjuncts(predicate):
            text = self._conjunct(self._sub(conjunct))
            if text is None:
                rest.append(conjunct)
                pushed.extend(self._prefilter(self._sub(conjunct)))
            elif text is not True:
                pushed.append(str(text))
        if pushed:
            self._emit("filter " + _all(pushed))
        if rest and not pushed:
            raise NotExpressible(self.unsupported.pop())
        if rest:
            self.filter_rest = rest[0] if len(rest) == 1 else ir.And(tuple(rest))

    def _parse(self, node: ir.Parse) -> None:
        """Captures get names of Starbase's own (`starbaseCapN`): a capture named like a JSON
        key of the events could show that key's value where the pattern does not match."""
        self._need("parse_glob" if node.kind == "glob" else "parse_regex")
        subject = self.expr.field_of(self._sub(node.expr))
        if subject is None:
            raise NotExpressible("parse of an expression")
        internal = {n: self.expr.fresh("Cap") for n in node.names}
        names = [self.expr.create(i) for i in internal.values()]
        if node.kind == "glob":
            command = f"parse {subject} {syntax.string(node.pattern)} as {', '.join(names)}"
        else:
            numbers = re.compile(portable.to_python(node.regex.pattern)).groupindex
            pattern = syntax.name_groups(
                node.regex.pattern, {numbers[n]: i for n, i in internal.items()}
            )
            body = syntax.regex(pattern, node.regex.flags, self.profile.regex_flags)
            command = f"parse {subject} {body}"
        new = dict(self.defs)
        new.update({n: ir.Col(i, Type.STRING) for n, i in internal.items()})
        self._define(new)
        self._emit(command)

    # ------------------------------------------------------------ stats, order, limits

    def _stats(self, keys: tuple[ir.NamedExpr, ...], aggs: tuple[ir.NamedExpr, ...]) -> None:
        self._need("stats")
        self._one_query("stats")
        if self.stats == 2:
            raise NotExpressible("more than two stats")
        if self.stats == 1 and len(self.commands) != self.stats_at:
            raise NotExpressible("a stage between two stats")
        lowered = [self.expr.aggregate(self._sub(i.expr)) for i in aggs]
        grouped: list[tuple[str, bool]] = []  # (text, is a bin)
        for key in keys:
            expr = self._sub(key.expr)
            if isinstance(expr, ir.Call) and expr.name == "bin":
                grouped.append((self.expr.bin(expr), True))
                continue
            target = self.expr.field_of(expr)
            if target is None:
                raise NotExpressible("stats by an expression")
            grouped.append((target, False))
        state = self.expr.state  # after stats only its outputs exist
        state.created, state.derived = set(), {}
        outputs: dict[str, ir.Expr] = {}
        never_null: set[str] = set()
        items = []
        for item, text in zip(aggs, lowered, strict=True):
            alias = self._alias(item.name)
            items.append(f"{text} as {syntax.name(alias)}")
            outputs[item.name] = ir.Col(alias, item.expr.type)
            if isinstance(item.expr, ir.Agg) and item.expr.name == "count":
                never_null.add(alias)
        by = []
        for key, (text, is_bin) in zip(keys, grouped, strict=True):
            if is_bin:
                alias = self._alias(key.name)
                by.append(f"{text} as {syntax.name(alias)}")
                never_null.add(alias)
            else:
                alias = _unquoted(text)
                if alias in SYSTEM_FIELDS:
                    never_null.add(alias)
                else:
                    self.expr.create(alias)
                by.append(text)
            outputs[key.name] = ir.Col(alias, key.expr.type)
        self._emit("stats " + ", ".join(items) + (" by " + ", ".join(by) if by else ""))
        self.stats += 1
        self.stats_at = len(self.commands)
        self.never_null = never_null
        self.order = ()
        self.defs = {i.name: outputs[i.name] for i in (*keys, *aggs)}

    def _alias(self, name: str) -> str:
        alias = name if syntax.plain(name) else self.expr.fresh("Col")
        self.expr.create(alias)
        return alias

    def _sort(self, keys: tuple[ir.SortKey, ...]) -> None:
        self._need("sort")
        self._one_query("sort")
        parts = []
        for key in keys:
            target = self._never_null(self._sub(key.expr), "sort")
            parts.append(f"{target} {'desc' if key.descending else 'asc'}")
        self._emit("sort " + ", ".join(parts))
        self.order = keys

    def _never_null(self, expr: ir.Expr, what: str) -> str:
        stripped = strip_casts(expr)
        target = self.expr.field_of(expr)
        if target is None or not (
            isinstance(stripped, ir.Col) and stripped.name in self.never_null
        ):
            raise NotExpressible(f"{what} on a value that may be null")
        return target

    def _limit(self, count: int | ir.Param) -> None:
        self._need("limit")
        self._one_query("limit")
        if isinstance(count, ir.Param):
            raise NotExpressible(f"limit ${count.name} (bind parameters before lowering)")
        if count > MAX_ROWS:
            raise NotExpressible(f"limit above {MAX_ROWS} (Insights returns at most {MAX_ROWS})")
        self._mark_output()
        self._emit(f"limit {count}")
        self.limited = True

    def _dedup(self, keys: tuple[ir.Expr, ...]) -> None:
        self._need("dedup")
        self._one_query("dedup")
        targets = [self._never_null(self._sub(k), "dedup") for k in keys]
        self._mark_output()
        self._emit("dedup " + ", ".join(targets))
        self.deduped = True

    def _mark_output(self) -> None:
        if self.output_at is None:
            self.output_at = len(self.commands)


def _consumed(above: list[ir.Plan]) -> bool:
    """Whether a `limit` or `dedup` reads the order of a sort below `above` (before another
    sort or a stats replaces it): only then is the sort worth pushing — Insights' rows are
    sorted again locally anyway, and a text with `sort` cannot be split by time."""
    for node in above:
        if isinstance(node, ir.Limit | ir.Dedup):
            return True
        if isinstance(node, ir.Sort | ir.Aggregate):
            return False
    return False


def _conjuncts(predicate: ir.Expr) -> tuple[ir.Expr, ...]:
    """The conjuncts of `predicate`, those on one severity alone merged into one (a single
    membership test of the level word)."""
    items = predicate.items if isinstance(predicate, ir.And) else (predicate,)
    merged: dict[ir.Call | int, list[ir.Expr]] = {}
    for position, item in enumerate(items):
        merged.setdefault(severity_call(item) or position, []).append(item)
    return tuple(group[0] if len(group) == 1 else ir.And(tuple(group)) for group in merged.values())


def _all(parts: list[str]) -> str:
    return " and ".join(f"({p})" if len(parts) > 1 else p for p in parts)


def _unquoted(reference: str) -> str:
    """The field name a reference made by `syntax.field`/`syntax.name` stands for."""
    if reference.startswith("@`"):
        return "@" + reference[2:-1]
    return reference[1:-1] if reference.startswith("`") else reference


# ---------------------------------------------------------------- the time range


def _covered(conjunct: ir.Expr, time_range: ir.TimeRange | None) -> bool:
    """Whether `conjunct` bounds the event time and `time_range` already implies it."""
    if time_range is None or not isinstance(conjunct, ir.Compare):
        return False
    stamp = strip_casts(conjunct.left)
    if stamp != ir.Col("@timestamp", Type.INT) or conjunct.left.type is not Type.TIMESTAMP:
        return False
    bound = time_bound(conjunct.right)
    if bound is None:
        return False
    op = conjunct.op
    lower = ir.TimeBound(bound.base, bound.offset, bound.param, op != ">")
    upper = ir.TimeBound(bound.base, bound.offset, bound.param, op != "<")
    if op in (">", ">=", "==") and not _implies(time_range.lower, lower, is_lower=True):
        return False
    if op in ("<", "<=", "==") and not _implies(time_range.upper, upper, is_lower=False):
        return False
    return op != "!="


def _implies(kept: ir.TimeBound | None, bound: ir.TimeBound, *, is_lower: bool) -> bool:
    """Whether the range's bound `kept` is at least as tight as `bound`."""
    if kept is None:
        return False
    if kept == bound:
        return True
    if kept.param is not None or bound.param is not None:
        return False
    if (kept.base is None) != (bound.base is None):
        return False
    a, b = (kept.base or 0) + kept.offset, (bound.base or 0) + bound.offset
    if a == b:
        return bound.inclusive or not kept.inclusive
    return a > b if is_lower else a < b
