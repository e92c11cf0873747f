"""lower (CloudWatch): the backend-neutral plan → Logs Insights queries, one per CloudWatch source.

Requires: a plan from the compiler, the `Config` naming each source's log groups (and
optionally its capability profile), and the source's mapping (`cloudwatch.yaml`).
Guarantees: for every scan on the `cloudwatch` backend, an `InsightsQuery` with

- `text`: Logs Insights QL for the longest prefix of the source's pipeline that its profile
  runs natively and exactly — the scan's filter, then the stages above it that read this
  source alone: the whole query, or the source's branch of a union (which `federate` fills
  with row stages, partial aggregates and per-branch limits; see `cloudwatch_stages`);
  commands one per line, joined by `|`;
  values, regexes and names quoted so that no StarQL value can change the query's structure
  (`cloudwatch_syntax`);
- `time_range`: the exact event-time window (`Scan.time_range`: absolute instants, `now() ±
  offset` or `$param` bounds, with inclusivity) — never in the text: StartQuery's
  `startTime`/`endTime` (epoch seconds, both inclusive) carry it, and the connector owns the
  conversion; the text holds no condition the range implies;
- `log_groups`: the source's configured log groups in batches of at most 50 (one StartQuery
  each; with more than one batch nothing beyond row filters is pushed, as per-batch
  aggregates, orders and limits would not combine);
- `columns`: the fields each result row carries (Insights returns text; the connector converts
  each to the column's type — `@timestamp` to epoch milliseconds as the mapping declares);
- `remainder`: the plan to run locally (the session's engine) over the fetched rows — a `Scan`
  named like the source, format `insights`, on the default engine, with `columns` — that produces
  this source's part of the query: the whole query when it reads only this source, else this
  source's branch of the union (`local_plan` assembles the whole local plan). None when the
  fetched rows are that part as they are (rows then arrive in the pushed `sort` order);
- `unsupported`: what stopped the pushdown or kept a condition local ("function if",
  "stage extend", "more than two stats", …).

    from lambda | where service == "checkout" | stats count() as n by bin(timestamp, 5m) as t
    → parse @log /(?<starbaseRx1>[^\\/:]+)$/
      | filter starbaseRx1 = "checkout"
      | stats count(*) as n by bin(5m) as t

References used (AWS CloudWatch Logs User Guide) are listed in docs/cloudwatch-insights.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from starbase import backends
from starbase.backends.base import UnsupportedError
from starbase.backends.cloudwatch import syntax
from starbase.backends.cloudwatch.stages import Pipeline
from starbase.compiler import ir
from starbase.compiler.render import render_plan, render_range
from starbase.compiler.types import Type
from starbase.config import Config
from starbase.mappings import Profile, load_mapping

TARGET = "cloudwatch"
MAX_LOG_GROUPS = 50  # per StartQuery
FETCHED_FORMAT = "insights"


@dataclass(frozen=True, slots=True)
class InsightsQuery:
    """What one CloudWatch source runs, and what runs locally after (module docstring)."""

    source: str
    profile: str
    text: str
    time_range: ir.TimeRange | None
    log_groups: tuple[tuple[str, ...], ...]
    columns: tuple[ir.Column, ...]
    remainder: ir.Plan | None
    unsupported: tuple[str, ...]

    @property
    def fetched(self) -> ir.Scan:
        """The leaf standing for the fetched rows in `remainder` (and in `local_plan`)."""
        return _fetched(self.source, self.columns)


def lower(
    plan: ir.Plan, config: Config, *, profile: str | None = None
) -> tuple[InsightsQuery, ...]:
    """One query per CloudWatch source of `plan`, in plan order; `profile` overrides each
    source's configured profile (default: the mapping's `default_profile`)."""
    scans: dict[str, ir.Scan] = {}
    for node in ir.plan_walk(plan):
        if isinstance(node, ir.Scan) and node.backend == TARGET:
            scans.setdefault(node.source, node)
    queries = []
    for name, scan in scans.items():
        if sum(isinstance(n, ir.Scan) and n.source == name for n in ir.plan_walk(plan)) > 1:
            raise UnsupportedError(f"source '{name}' on both sides of a join", TARGET)
        source = config.source(name)
        mapping = load_mapping(scan.format)
        chosen = profile or (source.profile if source else None)
        chosen = chosen or mapping.capability_set.default_profile
        groups = source.log_groups if source else ()
        queries.append(lower_source(plan, scan, chosen, groups, mapping.capabilities(chosen)))
    return tuple(queries)


def lower_source(
    plan: ir.Plan,
    scan: ir.Scan,
    profile_name: str,
    log_groups: tuple[str, ...],
    profile: Profile,
) -> InsightsQuery:
    """The query for the source read by `scan` (a node of `plan`) under `profile`."""
    nodes, part = _pipeline(plan, scan)
    batches = tuple(
        tuple(log_groups[i : i + MAX_LOG_GROUPS]) for i in range(0, len(log_groups), MAX_LOG_GROUPS)
    )
    pipeline = Pipeline(scan.source, profile, batches=max(1, len(batches)))
    last = pipeline.push(nodes)
    if part is not plan and not isinstance(plan, ir.Union):
        above = "a join" if any(isinstance(n, ir.Join) for n in ir.plan_walk(plan)) else None
        pipeline.unsupported.append(f"stages above {above or 'the union of several sources'}")
    boundary, columns = _boundary(pipeline, nodes, last)
    commands = _with_output(pipeline, columns)
    if nodes[last] is part and boundary == _fetched(scan.source, columns):
        remainder: ir.Plan | None = None
    else:
        remainder = _replace(part, nodes[last], boundary)
    return InsightsQuery(
        source=scan.source,
        profile=profile_name,
        text="\n| ".join(commands),
        time_range=scan.time_range,
        log_groups=batches,
        columns=columns,
        remainder=remainder,
        unsupported=tuple(dict.fromkeys(pipeline.unsupported)),
    )


def local_plan(plan: ir.Plan, queries: tuple[InsightsQuery, ...]) -> ir.Plan:
    """`plan` with each CloudWatch source's part replaced by its query's local plan."""
    for query in queries:
        scan = next(
            n
            for n in ir.plan_walk(plan)
            if isinstance(n, ir.Scan) and n.source == query.source and n.backend == TARGET
        )
        _, part = _pipeline(plan, scan)
        plan = _replace(plan, part, query.remainder or query.fetched)
    return plan


def render(queries: tuple[InsightsQuery, ...]) -> str:
    """The text of `starbase compile --target cloudwatch` and of the golden files."""
    if not queries:
        return "(does not apply: the query reads no CloudWatch source)"
    return "\n\n".join(_render_one(q) for q in queries)


def _render_one(query: InsightsQuery) -> str:
    groups = "; ".join(
        f"batch {n}: " + ", ".join(syntax.string(g) for g in batch)
        if len(query.log_groups) > 1
        else ", ".join(syntax.string(g) for g in batch)
        for n, batch in enumerate(query.log_groups, 1)
    )
    lines = [
        f"source: {query.source} (profile {query.profile})",
        f"log groups: {groups or '(none configured)'}",
        f"time range: {render_range(query.time_range) if query.time_range else '(none)'}",
        "query:",
        *(f"  {line}" for line in query.text.splitlines()),
        "columns: " + ", ".join(_reference(c.name) for c in query.columns),
    ]
    if query.remainder is None:
        lines.append("remainder: (none: the fetched rows are the result)")
    else:
        lines.append("remainder:")
        lines.extend(f"  {line}" for line in render_plan(query.remainder).splitlines())
    lines.append("not pushed: " + ("; ".join(query.unsupported) or "(nothing)"))
    return "\n".join(lines)


# ---------------------------------------------------------------- plan surgery


def _pipeline(plan: ir.Plan, scan: ir.Scan) -> tuple[list[ir.Plan], ir.Plan]:
    """The nodes from `scan` up (bottom-up), and the part of `plan` they end with: the whole
    plan when the path to the root has no union, else the union branch over `scan` (its own
    stages, which `federate` put there: row stages, partial aggregates, per-branch limits)."""
    path = _path(plan, scan)
    assert path is not None, "the scan is not in the plan"
    bottom_up = list(reversed(path))
    # a union, or a join (each side runs natively, the join locally), ends the source's part
    unions = [i for i, node in enumerate(bottom_up) if isinstance(node, ir.Union | ir.Join)]
    if unions:
        nodes = bottom_up[: unions[0]]
        return nodes, nodes[-1]
    return bottom_up, plan


def _path(plan: ir.Plan, target: ir.Plan) -> list[ir.Plan] | None:
    if plan is target:
        return [plan]
    for child in ir.plan_inputs(plan):
        below = _path(child, target)
        if below is not None:
            return [plan, *below]
    return None


def _replace(plan: ir.Plan, old: ir.Plan, new: ir.Plan) -> ir.Plan:
    if plan is old:
        return new
    inputs = tuple(_replace(child, old, new) for child in ir.plan_inputs(plan))
    return ir.with_inputs(plan, inputs)


def _fetched(
    source: str, columns: tuple[ir.Column, ...], predicate: ir.Expr | None = None
) -> ir.Scan:
    return ir.Scan(source, FETCHED_FORMAT, backends.DEFAULT_ENGINE, columns, filter=predicate)


def _boundary(
    pipeline: Pipeline, nodes: list[ir.Plan], last: int
) -> tuple[ir.Plan, tuple[ir.Column, ...]]:
    """The local stand-in for `nodes[last]`, and the fields it fetches."""
    scan = nodes[0]
    assert isinstance(scan, ir.Scan)
    if last == 0:
        above = nodes[1] if len(nodes) > 1 else None
        needed = [*(i.expr for i in getattr(above, "items", ())), *_maybe(pipeline.scan_rest)]
        if above is None:
            needed = [ir.Col(c.name, c.type) for c in scan.schema]
        columns = _fields(needed, scan)
        return _fetched(scan.source, columns, pipeline.scan_rest), columns
    names = [c.name for c in ir.output_schema(nodes[last])]
    items = tuple(ir.NamedExpr(n, pipeline.defs[n]) for n in names)
    columns = _fields([i.expr for i in items], scan)
    boundary: ir.Plan = _fetched(scan.source, columns)
    if [ir.Col(c.name, c.type) for c in columns] != [i.expr for i in items] or [
        c.name for c in columns
    ] != names:
        boundary = ir.Project(boundary, items)
    if pipeline.order and boundary != _fetched(scan.source, columns):
        boundary = ir.Sort(boundary, pipeline.order)
    if pipeline.filter_rest is not None:
        boundary = ir.Filter(boundary, pipeline.filter_rest)
    return boundary, columns


def _reference(name: str) -> str:
    return syntax.field(name) if name.startswith("@") else syntax.name(name)


def _maybe(expr: ir.Expr | None) -> list[ir.Expr]:
    return [] if expr is None else [expr]


def _fields(exprs: list[ir.Expr], scan: ir.Scan) -> tuple[ir.Column, ...]:
    """The Insights fields `exprs` read, in order of first use (`@timestamp` when none, so
    that every event still yields a row)."""
    seen: dict[str, ir.Column] = {}
    for expr in exprs:
        for node in ir.walk(expr):
            if isinstance(node, ir.Col) and node.name not in seen:
                seen[node.name] = ir.Column(node.name, node.type)
    if not seen:
        seen["@timestamp"] = ir.Column("@timestamp", Type.INT)
    return tuple(seen.values())


def _with_output(pipeline: Pipeline, columns: tuple[ir.Column, ...]) -> list[str]:
    """The commands, with the list of fields to return unless a stats defines the rows:
    `fields` first when every field exists in the events (the emulator honours only that),
    else `display` before any dedup/limit (after the parse that creates them)."""
    commands = list(pipeline.commands)
    if pipeline.stats:
        return commands
    listed = ", ".join(_reference(c.name) for c in columns)
    if all(c.name.startswith("@") for c in columns):
        return [f"fields {listed}", *commands]
    at = len(commands) if pipeline.output_at is None else pipeline.output_at
    return [*commands[:at], f"display {listed}", *commands[at:]]
