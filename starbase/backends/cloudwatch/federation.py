"""The shape of a run that reads CloudWatch: native queries, fetched tables, the local plan.

Requires: a bound plan (the compiler's `bind` pass) that reads at least one CloudWatch
source, and the `InsightsQuery` of each source (`lower.lower` of the *bound* plan, so
parameter values and the run's `now()` are in its text and time range). Guarantees:

- `local_plan_over`: the plan the session's engine runs — every CloudWatch part replaced by its
  remainder (or the fetched rows themselves), each reading the table its rows were
  registered under; the other sources' branches, the union and everything above it (the
  final aggregate of split aggregates, sorts, limits) are left as they are;
- `render_native`: what `explain` shows for a source — each API call the run makes, with its
  parameters (StartQuery's time range in seconds and the exact window it stands for, the
  text sent; or FilterLogEvents' window), the fetched columns, the local remainder and what
  was not pushed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from starbase.backends.cloudwatch import syntax
from starbase.backends.cloudwatch.fetch import EMULATOR
from starbase.backends.cloudwatch.insights_poll import MAX_ROWS
from starbase.backends.cloudwatch.insights_window import Window, with_window
from starbase.backends.cloudwatch.lower import InsightsQuery, local_plan
from starbase.compiler import ir
from starbase.compiler.render import render_plan
from starbase.compiler.timestamps import format_iso


def local_plan_over(
    bound: ir.Plan, queries: tuple[InsightsQuery, ...], tables: Mapping[str, str]
) -> ir.Plan:
    """The local plan, each CloudWatch source's fetched rows read from `tables[source]`."""
    plan = local_plan(bound, queries)
    fetched = {q.fetched.source for q in queries}

    def rename(node: ir.Plan) -> ir.Plan:
        inputs = tuple(rename(child) for child in ir.plan_inputs(node))
        node = ir.with_inputs(node, inputs)
        if isinstance(node, ir.Scan) and node.format == "insights" and node.source in fetched:
            return replace(node, source=tables[node.source])
        return node

    return rename(plan)


def render_native(query: InsightsQuery, now_ns: int) -> str:
    """The API calls a run makes for `query` and what runs locally after (module docstring)."""
    window = Window.of(query.time_range)
    lines = [f"source: {query.source} (profile {query.profile})"]
    for number, batch in enumerate(query.log_groups or ((),), 1):
        groups = ", ".join(syntax.string(g) for g in batch) or "(none configured)"
        if query.profile == EMULATOR:
            lines.append(
                f"FilterLogEvents #{number}: log groups {groups}; "
                f"startTime {_ms(window.lower)}, endTime {_ms(window.upper)} (ms, inclusive)"
            )
            continue
        start, end = window.start_query_times(now_ns // 1_000_000)
        lines.append(
            f"StartQuery #{number}: logGroupNames [{groups}], startTime {start}, "
            f"endTime {end} (s), limit {MAX_ROWS}; window {_ms(window.lower)} … "
            f"{_ms(window.upper)} (ms, inclusive)"
        )
        lines.append("  queryString:")
        lines.extend(f"    {line}" for line in with_window(query.text, window).splitlines())
    if query.profile == EMULATOR:
        lines.append("  applied to the events here: " + " | ".join(query.text.split("\n| ")))
    lines.append("columns: " + ", ".join(c.name for c in query.columns))
    if query.remainder is None:
        lines.append("runs locally: (nothing: the fetched rows are this source's part)")
    else:
        lines.append("runs locally, over the fetched rows:")
        lines.extend(f"  {line}" for line in render_plan(query.remainder).splitlines())
    lines.append("not pushed: " + ("; ".join(query.unsupported) or "(nothing)"))
    return "\n".join(lines)


def _ms(value: int | None) -> str:
    if value is None:
        return "(open)"
    return f"{value} ({format_iso(value * 1_000_000)})"
