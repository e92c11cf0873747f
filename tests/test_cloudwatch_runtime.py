"""The CloudWatch runtime: fetching a source's part of a query, and its rows as Arrow.

Against moto's server (real HTTP on 127.0.0.1, real boto3 calls, a server of this module's
own, in a region no other module uses, since moto keeps state per process and region): both
profiles end to end — `emulator` (FilterLogEvents, paginated, time window pushed) and `aws`
(StartQuery/GetQueryResults) for texts moto's Insights honours (`fields`, `sort` by time,
`limit`), more than 50 log groups, missing groups, the command line.

Against `FakeInsights`, a small client object, only for what moto cannot produce: its Insights
completes every query at once with every row, never throttles and has no StopQuery. The fake
drives the real code paths for result caps (time-range splitting and merging, the fallback
when a pushed `stats` is capped), every terminal status, polling backoff, throttling retries,
the deadline and Ctrl-C (StopQuery), with a fake clock so nothing waits.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from botocore.exceptions import ClientError
from cloudwatch_data import (
    CREDENTIALS,
    HOUR_MS,
    SERVICES,
    free_port,
    generate,
    load_cloudwatch,
    logs_client,
    moto_server,
    otel_table,
)

from starbase import compile
from starbase.backends.cloudwatch import events as cloudwatch_events
from starbase.backends.cloudwatch.aws_calls import Caller
from starbase.backends.cloudwatch.connector import CloudWatchConnector
from starbase.backends.cloudwatch.fetch import Fetched, FetchReport, fetch
from starbase.backends.cloudwatch.insights_poll import MAX_ROWS, Shape
from starbase.backends.cloudwatch.insights_rows import to_table
from starbase.backends.cloudwatch.insights_window import Window, with_window
from starbase.backends.cloudwatch.lower import lower
from starbase.backends.datafusion.udfs import json_to_map
from starbase.cli import main
from starbase.compiler import ir
from starbase.compiler.passes.bind import bind
from starbase.compiler.timestamps import format_iso, parse_iso
from starbase.compiler.types import Type
from starbase.config import Config, config_from_dict
from starbase.runtime.errors import QueryCancelled, QueryFailed
from starbase.runtime.session import Session
from starbase.storage import write_batch

REGION = "eu-central-1"  # moto keeps state per region: one of this module's own
GROUPS = [f"/aws/lambda/{s}" for s in SERVICES]
ACCOUNT = "123456789012"  # moto's default account
S = 1_000_000_000


# ---------------------------------------------------------------- moto, loaded once


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    yield from moto_server()


@pytest.fixture(scope="module")
def span() -> tuple[int, int]:
    """[start, end) in ms: 30 whole hours ending an hour before the last whole hour."""
    end = (int(time.time() * 1000) // HOUR_MS - 1) * HOUR_MS
    return end - 30 * HOUR_MS, end


@pytest.fixture(scope="module")
def loaded(endpoint: str, span: tuple[int, int], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 events in moto (three Lambda log groups) and the same as OTel rows in a folder."""
    events = generate(600, seed=3, start_ms=span[0], end_ms=span[1])
    load_cloudwatch(logs_client(endpoint, REGION), events)
    root = tmp_path_factory.mktemp("otel")
    write_batch(root, otel_table(events))
    return root


def config(
    endpoint: str, profile: str, root: Path | None = None, groups: list[str] = GROUPS
) -> Config:
    sources: dict[str, Any] = {
        "lambda": {
            "format": "cloudwatch",
            "log_groups": groups,
            "region": REGION,
            "endpoint": endpoint,
            "profile": profile,
            **CREDENTIALS,
        }
    }
    if root is not None:
        sources["otel"] = {"format": "otel", "location": str(root)}
    return config_from_dict({"sources": sources})


def rows(table: pa.Table) -> list[tuple[Any, ...]]:
    columns = [
        (c.cast(pa.int64()) if pa.types.is_timestamp(c.type) else c).to_pylist()
        for c in table.columns
    ]
    return list(zip(*columns, strict=True))


def run(
    session: Session, text: str, now_ns: int | None = None
) -> tuple[pa.Table, tuple[FetchReport, ...]]:
    """The result of `text` on `session` and the fetch reports of its run."""
    cursor = session.execute(session.compile(text), {}, now_ns=now_ns)
    table = cursor.fetch_all()
    reports = tuple(r for r in cursor.metrics.fetches if isinstance(r, FetchReport))
    return table, reports


def faked(cfg: Config, fake: Any) -> Session:
    """A session whose CloudWatch calls go to `fake`."""
    connector = CloudWatchConnector(cfg, client_factory=lambda source: fake)
    return Session(cfg, connectors={"cloudwatch": connector})


# ---------------------------------------------------------------- emulator profile on moto


def test_emulator_fetches_every_event_as_insights_rows(endpoint: str, loaded: Path) -> None:
    session = Session(config(endpoint, "emulator"))
    text = (
        "from lambda | fields timestamp, observed_timestamp, log_group, log_stream, service, "
        "message | sort timestamp"
    )
    table, (report,) = run(session, text)
    assert table.num_rows == 600
    assert table.schema.field("timestamp").type == pa.timestamp("ns", tz="UTC")
    first = table.slice(0, 1).to_pylist()[0]
    assert first["log_group"] == f"{ACCOUNT}:/aws/lambda/{first['service']}"  # like Insights
    assert first["log_stream"].startswith("2026/11/27/[$LATEST]")
    assert first["observed_timestamp"] is not None  # @ingestionTime from FilterLogEvents
    assert report.rows == 600 and report.events is not None and report.events.pages == 3


def test_emulator_pages_through_filter_log_events(
    endpoint: str, loaded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cloudwatch_events, "PAGE", 37)
    table, (report,) = run(
        Session(config(endpoint, "emulator")), "from lambda | stats count() as n"
    )
    assert table.to_pylist() == [{"n": 600}]
    assert report.events is not None and report.events.pages >= 600 // 37


def test_emulator_time_window_and_limit_are_pushed(
    endpoint: str, loaded: Path, span: tuple[int, int]
) -> None:
    lo, hi = span[0] + 3 * HOUR_MS, span[0] + 9 * HOUR_MS
    window = f'between "{format_iso(lo * 1_000_000)}" and "{format_iso(hi * 1_000_000)}"'
    session = Session(config(endpoint, "emulator", loaded))
    for text in (
        f"from lambda | {window} | fields timestamp",
        f"from otel | {window} | fields timestamp",
    ):
        got, _ = run(session, text)
        stamps = sorted(v // 1_000_000 for (v,) in rows(got))
        assert stamps and lo <= stamps[0] and stamps[-1] < hi
    cloudwatch, _ = run(session, f"from lambda | {window} | stats count() as n")
    otel, fetched = run(session, f"from otel | {window} | stats count() as n")
    assert cloudwatch == otel
    assert fetched == ()  # the last run read no CloudWatch source
    newest, (report,) = run(session, "from lambda | limit 3")
    assert report.rows == 600  # the newest 3: FilterLogEvents returns the oldest first
    stamps = newest.column("timestamp").cast(pa.int64()).to_pylist()
    assert stamps == sorted(stamps, reverse=True) and stamps[0] // 1_000_000 < span[1]


# ---------------------------------------------------------------- aws profile on moto


def test_aws_profile_runs_start_query_against_moto(endpoint: str, loaded: Path) -> None:
    """Texts that moto's Insights honours: `fields` of @-fields, `sort` by time, `limit`."""
    session = Session(config(endpoint, "aws", loaded))
    text = "from {} | fields timestamp, service, severity, message, trace_id"
    (query,) = lower(session.compile(text.format("lambda")).plan, session.config)
    assert query.text == "fields @timestamp, @message, @log"
    got, (report,) = run(session, text.format("lambda"))
    want, _ = run(session, text.format("otel"))
    assert sorted(rows(got)) == sorted(rows(want)) and got.num_rows == 600
    assert (
        report.poll is not None
        and report.poll.queries == 1
        and report.poll.statuses == ["Complete"]
    )
    latest = "from {} | sort timestamp desc | limit 4 | fields timestamp, message"
    (query,) = lower(session.compile(latest.format("lambda")).plan, session.config)
    assert query.text.endswith("| sort @timestamp desc\n| limit 4")
    assert rows(run(session, latest.format("lambda"))[0]) == rows(
        run(session, latest.format("otel"))[0]
    )


def test_more_than_50_log_groups(endpoint: str) -> None:
    """55 groups: two StartQuery batches (aws) or 55 FilterLogEvents groups (emulator)."""
    client = logs_client(endpoint, REGION)
    now = int(time.time() * 1000) - 60_000
    names = [f"/aws/lambda/fn-{i:02d}" for i in range(55)]
    for i, name in enumerate(names):
        client.create_log_group(logGroupName=name)
        client.create_log_stream(logGroupName=name, logStreamName="s")
        client.put_log_events(
            logGroupName=name,
            logStreamName="s",
            logEvents=[{"timestamp": now - i, "message": f"INFO call {i}"}],
        )
    for profile in ("aws", "emulator"):
        cfg = config_from_dict(
            {
                "sources": {
                    "many": {
                        "format": "cloudwatch",
                        "log_groups": names,
                        "region": REGION,
                        "endpoint": endpoint,
                        "profile": profile,
                        **CREDENTIALS,
                    }
                }
            }
        )
        text = "from many | stats count() as n, count_distinct(service) as services"
        table, (report,) = run(Session(cfg), text)
        assert table.to_pylist() == [{"n": 55, "services": 55}]
        if profile == "aws":
            assert report.poll is not None and report.poll.queries == 2


def test_missing_log_group_and_unreachable_endpoint(endpoint: str) -> None:
    for profile, needle in (("aws", "ResourceNotFoundException"), ("emulator", "does not exist")):
        cfg = config(endpoint, profile, groups=["/aws/lambda/nope"])
        with pytest.raises(QueryFailed, match=needle) as failure:
            compile("from lambda | stats count()", cfg).run()
        assert "\n" not in str(failure.value) and "source 'lambda'" in str(failure.value)
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(QueryFailed, match=r"FilterLogEvents|DescribeLogGroups"):
        compile("from lambda | limit 1", config(nobody, "emulator")).run()
    assert time.monotonic() - started < 10


def test_command_line_query_and_explain(
    endpoint: str, loaded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = tmp_path / "starbase.toml"
    toml.write_text(
        f'[sources.otel]\nformat = "otel"\nlocation = "{loaded}"\n\n'
        f'[sources.lambda]\nformat = "cloudwatch"\nlog_groups = {json.dumps(GROUPS)}\n'
        f'region = "{REGION}"\nendpoint = "{endpoint}"\nprofile = "emulator"\n'
        f'access_key_id = "testing"\nsecret_access_key = "testing"\n'
    )
    text = "from lambda | where severity >= $level | stats count() as n by service | sort service"
    args = ["query", "--config", str(toml), "-o", "ndjson", "-p", "level=error", text]
    assert main(args) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["service"] for r in printed] == sorted(SERVICES)
    expected = compile(text.replace("lambda", "otel"), config(endpoint, "emulator", loaded))
    assert printed == expected.run(level="error").to_pylist()
    assert main(["explain", "--config", str(toml), "-p", "level=error", text]) == 0
    out = capsys.readouterr().out
    assert "== CloudWatch calls ==" in out and "FilterLogEvents #1" in out
    assert "runs locally, over the fetched rows:" in out and "-- physical plan --" in out


def test_explain_shows_start_query_parameters(endpoint: str, loaded: Path) -> None:
    cfg = config(endpoint, "aws", loaded)
    text = (
        'from otel, lambda | between "2026-11-20T10:00:00.5Z" and "2026-11-20T12:00:00Z" '
        "| stats count() as n by service"
    )
    out = compile(text, cfg).explain()
    assert "StartQuery #1:" in out and "startTime 1795168800, endTime 1795176000 (s)" in out
    # a lower bound inside a second and every upper bound are made exact in the text
    assert (
        "filter toMillis(@timestamp) >= 1795168800500 and toMillis(@timestamp) <= 1795175999999"
        in out
    )
    assert "stats count(*) as partial_1 by starbaseRx1" in out
    assert "UNION ALL" in out and "-- optimized logical plan --" in out


def test_explain_analyze_fetches_for_real(endpoint: str, loaded: Path) -> None:
    cfg = config(endpoint, "emulator", loaded)
    text = 'from otel, lambda | since 3d | where service != "search" | fields service'
    out = compile(text, cfg).explain(analyze=True)
    assert "-- fetched --\nlambda (profile emulator): 600 rows in" in out
    assert "FilterLogEvents #1" in out and "  applied to the events here:" in out
    table, (report,) = run(Session(cfg), "from lambda | stats count() as n")
    assert table.to_pylist() == [{"n": 600}] and report.rows == 600


# ---------------------------------------------------------------- a fake Insights (see docstring)


class Clock:
    """Monotonic time that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[], None] | None = None

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep()


def throttle(code: str = "ThrottlingException") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, "Call")


class FakeInsights:
    """A `logs` client whose Insights behaves like the real one where moto's cannot: results
    capped at `MAX_ROWS` with `recordsMatched`, scripted statuses, errors, and StopQuery.

    It holds `(timestamp_ms, message)` events of one log group; a row-only text returns their
    system fields in Insights' text format (within startTime/endTime and the `toMillis`
    window filter); a `stats` text returns `stats_rows`."""

    def __init__(self, events: list[tuple[int, str]], group: str = "/aws/lambda/checkout") -> None:
        self.events = sorted(events)
        self.group = group
        self.stats_rows: list[dict[str, str]] = []
        self.statuses: list[str] = []  # consumed by each poll before it answers Complete
        self.errors: dict[str, list[Exception]] = {}
        self.started: list[dict[str, Any]] = []
        self.stopped: list[str] = []
        self.polls = 0

    def _raise(self, operation: str) -> None:
        queue = self.errors.get(operation)
        if queue:
            raise queue.pop(0)

    def start_query(self, **request: Any) -> dict[str, str]:
        self._raise("start_query")
        self.started.append(request)
        return {"queryId": f"q{len(self.started)}"}

    def get_query_results(self, queryId: str) -> dict[str, Any]:
        self._raise("get_query_results")
        self.polls += 1
        if self.statuses:
            status = self.statuses.pop(0)
            if status != "Complete":
                return {"status": status, "results": []}
        request = self.started[int(queryId[1:]) - 1]
        text = request["queryString"]
        if Shape.of(text).row_only:
            matched = [e for e in self.events if self._in_window(e[0], request, text)]
            rows = [self._row(*e) for e in matched[:MAX_ROWS]]
        else:
            matched, rows = [], [self._cells(r) for r in self.stats_rows]
        statistics = {"recordsMatched": float(len(matched)), "recordsScanned": 1.0}
        return {"status": "Complete", "results": rows, "statistics": statistics}

    def stop_query(self, queryId: str) -> dict[str, bool]:
        self.stopped.append(queryId)
        return {"success": True}

    def describe_log_groups(self, **request: Any) -> dict[str, Any]:
        arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{self.group}:*"
        entry = {"logGroupName": self.group, "creationTime": self.events[0][0], "arn": arn}
        return {"logGroups": [entry]}

    @staticmethod
    def _in_window(stamp: int, request: dict[str, Any], text: str) -> bool:
        if not request["startTime"] * 1000 <= stamp <= request["endTime"] * 1000:
            return False
        low = re.search(r"toMillis\(@timestamp\) >= (\d+)", text)
        high = re.search(r"toMillis\(@timestamp\) <= (\d+)", text)
        return (not low or stamp >= int(low.group(1))) and (not high or stamp <= int(high.group(1)))

    def _row(self, stamp: int, message: str) -> list[dict[str, str]]:
        text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp // 1000))
        return self._cells(
            {
                "@timestamp": f"{text}.{stamp % 1000:03d}",
                "@message": message,
                "@log": f"{ACCOUNT}:{self.group}",
                "@logStream": "s",
                "@ptr": "opaque",
            }
        )

    @staticmethod
    def _cells(row: dict[str, str]) -> list[dict[str, str]]:
        return [{"field": k, "value": v} for k, v in row.items()]


T0_MS = parse_iso("2026-11-20T00:00:00Z") // 1_000_000
FAKE_CONFIG = config_from_dict(
    {"sources": {"lambda": {"format": "cloudwatch", "log_groups": ["/aws/lambda/checkout"]}}}
)


def fetch_with(
    fake: FakeInsights,
    text: str,
    clock: Clock,
    timeout: float = 600.0,
    now_ms: int = T0_MS + 30 * HOUR_MS,
) -> Fetched:
    """Lower `text` for the `aws` profile and fetch it from `fake` (the engine's own path)."""
    plan = bind(compile(text, FAKE_CONFIG).plan, {}, now_ms * 1_000_000)
    (query,) = lower(plan, FAKE_CONFIG)
    caller = Caller("lambda", timeout, clock=clock.monotonic, sleep=clock.sleep, jitter=lambda: 1.0)
    source = FAKE_CONFIG.sources[0]
    return fetch(plan, query, source, fake, caller, now_ms * 1_000_000)


def spread(n: int, hours: int = 24) -> list[tuple[int, str]]:
    """`n` events with distinct timestamps over `hours` from T0, levels alternating."""
    step = hours * HOUR_MS // n
    return [
        (T0_MS + 1_000 + i * step, f"{'ERROR' if i % 4 == 0 else 'INFO'} call {i}")
        for i in range(n)
    ]


def test_capped_rows_are_split_by_time_and_merged_exactly() -> None:
    fake, clock = FakeInsights(spread(25_000)), Clock()
    fetched = fetch_with(
        fake, "from lambda | fields timestamp, message", clock, now_ms=T0_MS + 30 * HOUR_MS
    )
    stamps = fetched.table.column("@timestamp").to_pylist()
    assert sorted(stamps) == [e[0] for e in fake.events]  # every event once
    report = fetched.report.poll
    assert report is not None and report.splits >= 2 and report.queries == 2 * report.splits + 1
    # sub-windows are exact: whole-second superset in startTime/endTime plus the toMillis filter
    assert all("toMillis(@timestamp)" in r["queryString"] for r in fake.started[1:])


def test_a_capped_stats_falls_back_to_row_stages_pushed() -> None:
    fake, clock = FakeInsights(spread(12_000)), Clock()
    fake.stats_rows = [{"n": "1"}] * MAX_ROWS  # the pushed stats returned the cap
    text = "from lambda | stats count() as n by message"
    fetched = fetch_with(fake, text, clock, now_ms=T0_MS + 30 * HOUR_MS)
    assert fake.started[0]["queryString"].endswith("stats count(*) as n by @message")
    assert "stats" not in fake.started[-1]["queryString"]
    assert fetched.report.fallback is not None and "row stages" in fetched.report.fallback
    assert fetched.query.remainder is not None  # the stats now runs locally
    assert fetched.table.num_rows == 12_000
    fake.started.clear()
    result, _ = run(faked(FAKE_CONFIG, fake), text, now_ns=(T0_MS + 30 * HOUR_MS) * 10**6)
    assert result.num_rows == 12_000 and set(result.column("n").to_pylist()) == {1}


def test_polls_back_off_until_complete() -> None:
    fake, clock = FakeInsights(spread(10)), Clock()
    fake.statuses = ["Scheduled", "Running", "Running", "Running", "Running", "Running"]
    fetched = fetch_with(fake, "from lambda | fields message", clock)
    assert fetched.table.num_rows == 10 and fake.polls == 7
    pauses = [round(s, 3) for s in clock.sleeps]
    assert pauses == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]  # from FIRST_POLL, doubling, capped


def test_throttling_is_retried_with_backoff() -> None:
    fake, clock = FakeInsights(spread(10)), Clock()
    fake.errors = {
        "start_query": [throttle("LimitExceededException"), throttle()],
        "get_query_results": [throttle()],
    }
    fetched = fetch_with(fake, "from lambda | fields message", clock)
    assert fetched.table.num_rows == 10
    assert fetched.report.retries == 3 and len(fake.started) == 1
    assert clock.sleeps[:2] == [0.2, 0.4]  # exponential backoff (jitter fixed at 1 here)


def test_throttled_past_the_deadline_and_other_errors_fail_in_one_line() -> None:
    fake, clock = FakeInsights(spread(10)), Clock()
    fake.errors = {"start_query": [throttle() for _ in range(100)]}
    with pytest.raises(QueryFailed, match=r"StartQuery still throttled \(ThrottlingException\)"):
        fetch_with(fake, "from lambda | fields message", clock, timeout=5)
    fake.errors = {"start_query": [throttle("MalformedQueryException")]}
    with pytest.raises(QueryFailed, match="StartQuery failed: MalformedQueryException: Rate"):
        fetch_with(fake, "from lambda | fields message", Clock())


@pytest.mark.parametrize(
    ("statuses", "message"),
    [
        (["Failed"], "ended with status Failed"),
        (["Cancelled"], "was cancelled outside Starbase"),
        (["Unknown", "Unknown"], "ended with status Unknown"),
        (["Timeout"], "timed out"),
    ],
)
def test_terminal_statuses_fail_as_data(statuses: list[str], message: str) -> None:
    fake = FakeInsights(spread(10))
    fake.statuses = list(statuses)
    with pytest.raises(QueryFailed, match=message) as failure:
        fetch_with(fake, "from lambda | stats count() as n", Clock())
    assert str(failure.value).startswith("source 'lambda': Logs Insights query q")


def test_unknown_restarts_once_and_timeout_of_rows_splits() -> None:
    fake = FakeInsights(spread(10))
    fake.statuses = ["Unknown"]
    fake.stats_rows = [{"n": "10"}]
    fetched = fetch_with(fake, "from lambda | stats count() as n", Clock())
    assert fetched.table.to_pylist() == [{"n": 10}] and len(fake.started) == 2
    assert fetched.report.poll is not None and fetched.report.poll.restarts == 1
    fake = FakeInsights(spread(10))
    fake.statuses = ["Timeout"]
    fetched = fetch_with(fake, "from lambda | fields message", Clock(), now_ms=T0_MS + 30 * HOUR_MS)
    assert fetched.table.num_rows == 10 and len(fake.started) == 3  # one, then two halves


def test_deadline_stops_the_running_query() -> None:
    fake, clock = FakeInsights(spread(10)), Clock()
    fake.statuses = ["Running"] * 1_000
    with pytest.raises(QueryFailed, match=r"no answer within 30s \(set query_timeout"):
        fetch_with(fake, "from lambda | fields message", clock, timeout=30)
    assert fake.stopped == ["q1"] and clock.now <= 30.0 + 1e-9


def test_ctrl_c_stops_every_running_query() -> None:
    fake, clock = FakeInsights(spread(10)), Clock()
    fake.statuses = ["Running"] * 10

    def ctrl_c() -> None:
        if clock.now >= 1:
            raise KeyboardInterrupt

    clock.on_sleep = ctrl_c
    with pytest.raises(KeyboardInterrupt):
        fetch_with(fake, "from lambda | fields message", clock)
    assert fake.stopped == ["q1"]


def test_cancel_event_stops_the_run() -> None:
    fake = FakeInsights(spread(10))
    fake.statuses = ["Running"] * 1_000
    session = faked(FAKE_CONFIG, fake)
    cursor = session.execute(session.compile("from lambda | fields message"))
    timer = threading.Timer(0.3, cursor.cancel)
    timer.start()
    with pytest.raises(QueryCancelled):
        cursor.fetch_all()
    assert cursor.wait_stopped(5) and cursor.state == "cancelled"
    assert fake.stopped == ["q1"]


def test_insights_values_become_typed_columns() -> None:
    """Insights returns text; stats outputs and bin() keys get their columns' types."""
    fake = FakeInsights(spread(10))
    fake.stats_rows = [
        {"t": "2026-11-20 10:05:00.000", "n": "3", "a": "12.5"},
        {"t": "2026-11-20 10:10:00.000", "n": "7"},
    ]
    text = (
        "from lambda | parse message /d=(?<d>\\S+)/"
        " | stats count() as n, avg(d) as a by bin(timestamp, 5m) as t"
    )
    fetched = fetch_with(fake, text, Clock())
    assert fake.started[0]["queryString"].endswith("by bin(5m) as t")
    got = fetched.table.to_pylist()
    assert [r["n"] for r in got] == [3, 7] and [r["a"] for r in got] == [12.5, None]
    assert fetched.table.schema.field("t").type == pa.timestamp("ns", tz="UTC")
    with pytest.raises(QueryFailed, match=r"returned 'many' for n, which should be int"):
        to_table([{"n": "many"}], (ir.Column("n", Type.INT),))


# ---------------------------------------------------------------- small pieces


def test_window_conversion_is_exact() -> None:
    ms = 1_000_000

    def window(lower: int | None, lo_inc: bool, upper: int | None, hi_inc: bool) -> Window:
        bound = lambda v, inc: None if v is None else ir.TimeBound(v, 0, None, inc)  # noqa: E731
        return Window.of(ir.TimeRange(bound(lower, lo_inc), bound(upper, hi_inc)))

    assert window(5 * ms, True, 9 * ms, False) == Window(5, 8)
    assert window(5 * ms + 1, True, 9 * ms + 1, False) == Window(6, 9)
    assert window(5 * ms, False, 9 * ms, True) == Window(6, 9)
    assert window(None, True, None, True) == Window()
    assert window(9 * ms, True, 9 * ms, False).empty
    exact = Window(1_763_632_800_000, 1_763_639_999_999)
    assert exact.start_query_times(0) == (1_763_632_800, 1_763_640_000)
    assert exact.exact_filter() == "toMillis(@timestamp) <= 1763639999999"
    assert Window(1_500, None).exact_filter() == "toMillis(@timestamp) >= 1500"
    assert Window(1_500, None).start_query_times(10_000) == (1, 7_210)  # now + 2 hours
    assert with_window("fields @message", Window()) == "fields @message"
    assert Window(0, 9).split() == (Window(0, 4), Window(5, 9))
    assert Window(3, 3).split() is None
    assert Window(500, 4_400).split() == (Window(500, 1_999), Window(2_000, 4_400))
    assert Window(900, 1_200).split() == (Window(900, 999), Window(1_000, 1_200))
    assert Window(None, 9).closed(20 * 86_400_000, 0) == Window(6 * 86_400_000, 9)


def test_json_to_map_keeps_numbers_as_written() -> None:
    values = pa.array(['{"a": 1.50, "b": "x", "c": {"d": [1, true]}, "e": null}', "plain", None])
    assert json_to_map(values).to_pylist() == [
        [("a", "1.50"), ("b", "x"), ("c", '{"d":[1,true]}'), ("e", None)],
        None,
        None,
    ]
