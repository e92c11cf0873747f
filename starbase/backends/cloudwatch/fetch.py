"""One CloudWatch source's part of a run: its native query executed, its rows as Arrow.

Requires: a bound plan (the `bind` pass: no parameters, `now()` in whole seconds), one of the
`InsightsQuery`s lowered from it (`backends.cloudwatch.lower`), the source's configuration
and a `logs` client. Guarantees: `fetch` returns a `Fetched`: the rows as a table of the
query's `columns` (`insights_rows`), the `InsightsQuery` those rows answer, and a report.

- profile `aws`: the text runs on Logs Insights (`insights_poll`: one StartQuery per
  log-group batch, polling, splits of capped row results, throttling retries, StopQuery on
  every abnormal exit). When a result hits the row cap and its rows cannot be split by time
  (`stats`, `sort` or `dedup` were pushed), the source is lowered again with only the row
  stages pushed (`ROW_STAGES`) and fetched again; the returned query says so
  (`Fetched.query`, whose `remainder` then runs the rest locally) — correct, only slower;
- profile `emulator` (moto's server, whose Insights ignores `filter`/`stats`/`parse`): the
  events in the time window are fetched with FilterLogEvents (`cloudwatch_events`) and the
  text — which under that profile holds only `fields`/`display` and a `limit` — is applied
  here; anything else in it is refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.backends.cloudwatch.aws_calls import Caller
from starbase.backends.cloudwatch.events import EventsReport, describe_group, fetch_events
from starbase.backends.cloudwatch.insights_poll import Capped, InsightsRun, PollReport, Request
from starbase.backends.cloudwatch.insights_rows import to_table
from starbase.backends.cloudwatch.insights_window import Window
from starbase.backends.cloudwatch.lower import TARGET, InsightsQuery, lower_source
from starbase.compiler import ir
from starbase.config import SourceConfig
from starbase.mappings import load_mapping
from starbase.runtime.errors import QueryFailed

EMULATOR = "emulator"
ROW_STAGES = ("where", "parse_glob", "parse_regex", "fields")


@dataclass
class FetchReport:
    """What fetching one source took: calls, rows, time, and any fallback."""

    source: str
    profile: str
    rows: int = 0
    seconds: float = 0.0
    calls: int = 0
    retries: int = 0
    poll: PollReport | None = None
    events: EventsReport | None = None
    fallback: str | None = None

    def render(self) -> str:
        parts = [f"{self.rows} rows in {self.seconds * 1000:.0f} ms", f"{self.calls} API calls"]
        if self.retries:
            parts.append(f"{self.retries} retried (throttling)")
        if self.poll is not None:
            parts.append(f"{self.poll.queries} StartQuery, {self.poll.polls} GetQueryResults")
            if self.poll.splits:
                parts.append(f"{self.poll.splits} time-range splits")
        if self.events is not None:
            parts.append(f"{self.events.pages} FilterLogEvents pages")
        text = f"{self.source} (profile {self.profile}): " + ", ".join(parts)
        return text + (f"; {self.fallback}" if self.fallback else "")


@dataclass(frozen=True)
class Fetched:
    table: pa.Table
    query: InsightsQuery
    report: FetchReport = field(compare=False)


def fetch(
    plan: ir.Plan,
    query: InsightsQuery,
    source: SourceConfig,
    client: Any,
    caller: Caller,
    now_ns: int,
) -> Fetched:
    """Run `query` (a part of the bound `plan`) on `source` (see the module docstring)."""
    if not query.log_groups:
        raise QueryFailed(f"source '{query.source}' has no log_groups configured")
    started = time.monotonic()
    report = FetchReport(query.source, query.profile)
    window = Window.of(query.time_range)
    now_ms = now_ns // 1_000_000
    if query.profile == EMULATOR:
        report.events = EventsReport()
        limit = _emulated_limit(query)
        groups = tuple(g for batch in query.log_groups for g in batch)
        rows = fetch_events(client, groups, window, caller, limit=limit, report=report.events)
    else:
        requests = [Request(batch, window) for batch in query.log_groups]
        try:
            rows = _insights(client, query, caller, now_ms, requests, report)
        except Capped as exc:
            query = rows_only(plan, query, source)
            report.fallback = f"{exc}; pushed only row stages and fetched again"
            rows = _insights(client, query, caller, now_ms, requests, report)
    report.rows, report.calls, report.retries = len(rows), caller.calls, caller.retries
    report.seconds = time.monotonic() - started
    return Fetched(to_table(rows, query.columns), query, report)


def _insights(
    client: Any,
    query: InsightsQuery,
    caller: Caller,
    now_ms: int,
    requests: list[Request],
    report: FetchReport,
) -> list[dict[str, Any]]:
    groups = tuple(g for batch in query.log_groups for g in batch)

    def earliest_ms() -> int:
        return min(int(describe_group(client, g, caller).get("creationTime", 0)) for g in groups)

    if report.poll is None:  # a second run (the fallback) adds to the first one's figures
        report.poll = PollReport()
    return InsightsRun(client, query.text, caller, now_ms, earliest_ms, report.poll).run(requests)


def rows_only(plan: ir.Plan, query: InsightsQuery, source: SourceConfig) -> InsightsQuery:
    """`query`'s source lowered again with only the row stages of its profile pushed."""
    scan = next(
        n
        for n in ir.plan_walk(plan)
        if isinstance(n, ir.Scan) and n.source == query.source and n.backend == TARGET
    )
    profile = load_mapping(scan.format).capabilities(query.profile)
    stages = tuple(s for s in profile.stages if s in ROW_STAGES)
    narrowed = profile.model_copy(update={"stages": stages})
    return lower_source(plan, scan, query.profile, source.log_groups, narrowed)


def _emulated_limit(query: InsightsQuery) -> int | None:
    """The text's `limit`; its `fields`/`display` only name `columns`, which are fetched."""
    limit: int | None = None
    for command in query.text.split("\n| "):
        keyword, _, rest = command.partition(" ")
        if keyword in ("fields", "display"):
            continue
        if keyword == "limit" and rest.strip().isdigit():
            limit = int(rest) if limit is None else min(limit, int(rest))
            continue
        raise QueryFailed(
            f"source '{query.source}': the emulator profile fetches events with "
            f"FilterLogEvents and cannot run `{command}`"
        )
    return limit
