"""A session's CloudWatch connector: each source's native query run, its rows handed on.

Requires: a bound plan (the compiler's `bind` pass, with `now()` in whole seconds: see
`clock_resolution_ns`) reading at least one CloudWatch source, and the session's `Config`.
Guarantees: `fetch` lowers the bound plan (`lower.lower`: parameter values and the run's
`now()` in each query's text and time range), runs each source's query (`fetch.fetch`, one
boto3 `logs` client per source kept for the session, `cancel` stopping every running query),
and returns the rows of each source by source name with the plan the engine runs over them
(`federation.local_plan_over`) and a `FetchReport` per source; `stand_in` does the same with
empty tables and no call; `explain` shows each API call a run makes (and with fetched rows,
what the calls took). Failures are `QueryFailed` naming the source.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

from starbase.backends.base import Connector, Fetched, Section
from starbase.backends.cloudwatch.aws_calls import Caller, logs_client, timeout_of
from starbase.backends.cloudwatch.federation import local_plan_over, render_native
from starbase.backends.cloudwatch.fetch import FetchReport, fetch
from starbase.backends.cloudwatch.insights_rows import to_table
from starbase.backends.cloudwatch.lower import InsightsQuery, lower
from starbase.compiler import ir
from starbase.config import Config, SourceConfig
from starbase.runtime.errors import QueryFailed

NS_PER_S = 1_000_000_000


class CloudWatchConnector(Connector):
    """See the module docstring; `client_factory` makes a `logs` client for a source."""

    clock_resolution_ns: ClassVar[int] = NS_PER_S  # StartQuery takes whole seconds

    def __init__(
        self, config: Config, client_factory: Callable[[SourceConfig], Any] = logs_client
    ) -> None:
        self.config = config
        self.client_factory = client_factory
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def fetch(self, bound: ir.Plan, *, now_ns: int, cancel: threading.Event) -> Fetched:
        tables, queries, reports = {}, [], []
        for query in self._lower(bound):
            source = self._source(query.source)
            caller = Caller(query.source, timeout_of(source), cancel)
            got = fetch(bound, query, source, self._client(source), caller, now_ns)
            tables[query.source] = got.table
            queries.append(got.query)
            reports.append(got.report)
        done = tuple(queries)
        local = local_plan_over(bound, done, {name: name for name in tables})
        return Fetched(local, tables, tuple(reports), done)

    def stand_in(self, bound: ir.Plan) -> Fetched:
        queries = self._lower(bound)
        tables = {q.source: to_table([], q.columns) for q in queries}
        local = local_plan_over(bound, queries, {name: name for name in tables})
        return Fetched(local, tables, (), queries)

    def explain(self, bound: ir.Plan, fetched: Fetched, *, now_ns: int) -> Section:
        queries = [q for q in fetched.queries if isinstance(q, InsightsQuery)]
        blocks = ["\n\n".join(render_native(q, now_ns) for q in queries)]
        reports = [r for r in fetched.reports if isinstance(r, FetchReport)]
        if reports:
            blocks.append("-- fetched --\n" + "\n".join(r.render() for r in reports))
        return Section("CloudWatch calls", "\n\n".join(blocks))

    def _lower(self, bound: ir.Plan) -> tuple[InsightsQuery, ...]:
        try:
            return lower(bound, self.config)
        except KeyError as exc:  # a capability profile the mapping does not have
            raise QueryFailed(str(exc.args[0] if exc.args else exc)) from None

    def _source(self, name: str) -> SourceConfig:
        source = self.config.source(name)
        if source is None:
            raise QueryFailed(f"source '{name}' is not configured")
        return source

    def _client(self, source: SourceConfig) -> Any:
        with self._lock:
            if source.name not in self._clients:
                self._clients[source.name] = self.client_factory(source)
            return self._clients[source.name]
