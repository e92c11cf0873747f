"""Running one Insights query text over log-group batches and time windows (`aws` profile).

Requires: a `logs` client (boto3's, or any object with `start_query`, `get_query_results`,
`stop_query`), the query text as the compiler made it (commands joined by `\\n| `), one
`Request` per log-group batch, and a `Caller` (retries, deadline, cancellation).
Guarantees: every request becomes one StartQuery (`with_window`: its exact time window,
`limit` `MAX_ROWS`), at most `MAX_RUNNING` in flight; each is polled with GetQueryResults,
the pause between polls growing from `FIRST_POLL` to `MAX_POLL` seconds, until a terminal
status:

- `Complete`: its rows are kept — unless the result hit the cap (`MAX_ROWS` rows returned,
  or `recordsMatched` above the rows returned when the text only selects rows, and the text
  has no `limit` of its own). A row-only text (`ROW_COMMANDS`) is then re-run as two
  requests over the halves of its window, recursively, and the pieces are concatenated
  (windows are disjoint, so no row is lost or repeated); any other text (`stats`, `sort`,
  `dedup`) cannot be merged that way and raises `Capped`, for the caller to push less;
- `Timeout` (Insights stops a query after 60 minutes): split like a capped row-only
  result, else `QueryFailed`;
- `Unknown`: the request is started again, once; `Failed` and `Cancelled` (by someone else):
  `QueryFailed`.

On any exit other than success — a failure, the deadline, `KeyboardInterrupt` — every query
still running is stopped with StopQuery (best effort) before the exception propagates.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starbase.backends.cloudwatch.aws_calls import Caller
from starbase.backends.cloudwatch.insights_rows import Value, from_results
from starbase.backends.cloudwatch.insights_window import Window, with_window
from starbase.runtime.errors import QueryFailed

MAX_ROWS = 10_000  # GetQueryResults returns at most this many rows per query
MAX_RUNNING = 4  # of one source at once (accounts may run 30+ Insights queries concurrently)
FIRST_POLL, MAX_POLL = 0.1, 2.0
ROW_COMMANDS = frozenset({"fields", "display", "filter", "parse"})
RUNNING = frozenset({"Scheduled", "Running"})


class Capped(Exception):
    """A result hit the row cap and the text's rows cannot be split by time."""


@dataclass(frozen=True, slots=True)
class Request:
    log_groups: tuple[str, ...]
    window: Window


@dataclass
class PollReport:
    """What running one source's requests took (for explain --analyze and tests)."""

    queries: int = 0
    polls: int = 0
    splits: int = 0
    restarts: int = 0
    stopped: int = 0
    records_scanned: float = 0.0
    bytes_scanned: float = 0.0
    statuses: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Shape:
    """What a text does with its rows, read from its commands' keywords."""

    row_only: bool  # only fields/display/filter/parse: results of disjoint windows concatenate
    limited: bool  # has its own `limit` (≤ MAX_ROWS): a full result is not a cap

    @classmethod
    def of(cls, text: str) -> Shape:
        keywords = {command.split(maxsplit=1)[0] for command in text.split("\n| ") if command}
        return cls(keywords <= ROW_COMMANDS, "limit" in keywords)


@dataclass
class _Job:
    request: Request
    next_poll: float
    delay: float = FIRST_POLL
    restarts: int = 0


@dataclass
class InsightsRun:
    """One source's requests for one text (see the module docstring)."""

    client: Any
    text: str
    caller: Caller
    now_ms: int
    earliest_ms: Callable[[], int]  # creation of the oldest log group (closes open windows)
    report: PollReport = field(default_factory=PollReport)

    def run(self, requests: list[Request]) -> list[dict[str, Value]]:
        shape = Shape.of(self.text)
        pending = deque(r for r in requests if not r.window.empty)
        running: dict[str, _Job] = {}
        rows: list[dict[str, Value]] = []
        try:
            while pending or running:
                self.caller.check()
                while pending and len(running) < MAX_RUNNING:
                    self._start(pending.popleft(), running)
                due = min(job.next_poll for job in running.values())
                self.caller.pause(due - self.caller.clock())
                for query_id, job in list(running.items()):
                    if job.next_poll <= self.caller.clock():
                        self._poll(query_id, job, running, pending, rows, shape)
        except BaseException:
            self._stop(running)
            raise
        return rows

    def _start(self, request: Request, running: dict[str, _Job], restarts: int = 0) -> None:
        start, end = request.window.start_query_times(self.now_ms)
        text = with_window(self.text, request.window)
        response = self.caller(
            "StartQuery",
            lambda: self.client.start_query(
                logGroupNames=list(request.log_groups),
                startTime=start,
                endTime=end,
                queryString=text,
                limit=MAX_ROWS,
            ),
        )
        self.report.queries += 1
        running[str(response["queryId"])] = _Job(
            request, self.caller.clock() + FIRST_POLL, restarts=restarts
        )

    def _poll(
        self,
        query_id: str,
        job: _Job,
        running: dict[str, _Job],
        pending: deque[Request],
        rows: list[dict[str, Value]],
        shape: Shape,
    ) -> None:
        response = self.caller(
            "GetQueryResults", lambda: self.client.get_query_results(queryId=query_id)
        )
        self.report.polls += 1
        status = str(response.get("status", "Unknown"))
        if status in RUNNING:
            job.delay = min(job.delay * 2, MAX_POLL)
            job.next_poll = self.caller.clock() + job.delay
            return
        del running[query_id]
        self.report.statuses.append(status)
        where = f"source '{self.caller.source}': Logs Insights query {query_id}"
        if status == "Complete":
            found = from_results(response.get("results", []))
            statistics = response.get("statistics") or {}
            self.report.records_scanned += float(statistics.get("recordsScanned", 0))
            self.report.bytes_scanned += float(statistics.get("bytesScanned", 0))
            matched = float(statistics.get("recordsMatched", 0))
            capped = not shape.limited and (
                len(found) >= MAX_ROWS or (shape.row_only and matched > len(found))
            )
            if not capped:
                rows.extend(found)
                return
            if not shape.row_only:
                raise Capped(f"{where} returned the {MAX_ROWS}-row cap")
            self._split(job.request, pending, f"{where} returned more than {MAX_ROWS} rows")
        elif status == "Timeout" and shape.row_only:
            self._split(job.request, pending, f"{where} timed out")
        elif status == "Timeout":
            raise QueryFailed(f"{where} timed out (Insights stops queries after 60 minutes)")
        elif status == "Unknown" and job.restarts == 0:
            self.report.restarts += 1
            self._start(job.request, running, restarts=1)
        elif status == "Cancelled":
            raise QueryFailed(f"{where} was cancelled outside Starbase")
        else:
            raise QueryFailed(f"{where} ended with status {status}")

    def _split(self, request: Request, pending: deque[Request], why: str) -> None:
        window = request.window
        if window.lower is None or window.upper is None:
            window = window.closed(self.earliest_ms(), self.now_ms)
        halves = window.split()
        if halves is None:
            raise QueryFailed(f"{why} within one millisecond; it cannot be split further")
        self.report.splits += 1
        pending.extendleft(Request(request.log_groups, half) for half in reversed(halves))

    def _stop(self, running: dict[str, _Job]) -> None:
        for query_id in running:
            try:
                self.client.stop_query(queryId=query_id)
                self.report.stopped += 1
            except Exception:  # best effort: the query ends by itself anyway
                continue
