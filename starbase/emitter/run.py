"""One emitter run: options → seeded stream of a mode's units → paced → sink → summary.

Requires: the model and, per mode, its sink (`otlp`, `cloudwatch`, `firehose`, `raw`); the
mode's client libraries are imported only when that mode runs. Guarantees:
- `MODES` names each mode's unit (records, events, lines), its view of a request and its sink.
- `units(options, start_ns)` is the run's stream: a pure function of the options and the
  start, so the same seed and start give the same units, one for one — the counts and times
  of `--count`/`--duration` included.
- Without a start time, a run starts now; a bounded run as fast as possible ends about now.
- `run(options)` sends the stream at `rate` units/s (each unit when its timestamp is due) or
  as fast as the sink takes it, shows a progress line, stops at the count, the duration's end
  or Ctrl-C/SIGTERM, closes the sink (flushing everything) and returns the `Summary`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TextIO
from urllib.parse import urlsplit

from starbase.emitter.lambda_logs import LambdaLogs
from starbase.emitter.model import Model
from starbase.emitter.pacing import Pacer, Progress
from starbase.emitter.raw import raw_lines
from starbase.emitter.records import Request
from starbase.emitter.scenarios import scenario
from starbase.emitter.sink import Delivery, Sink
from starbase.emitter.timeline import NS, Plan, U, Units, in_time_order, limited, units_per_request

DEFAULT_ROUTER = "http://127.0.0.1:4318"


@dataclass(frozen=True)
class Options:
    """What `starbase emit` was asked. `rate` None: as fast as possible; `start_ns` None: now."""

    mode: str = "otlp"
    scenario: str = "steady"
    target: str | None = None
    rate: float | None = 1_000.0
    count: int | None = None
    duration_s: float | None = None
    seed: int = 1
    start_ns: int | None = None
    endpoint: str | None = None
    token: str | None = None
    region: str = "us-east-1"
    profile: str | None = None
    batch_size: int = 1_000
    encoder: str = "sdk"  # otlp: "sdk" (the OpenTelemetry SDK) or "direct" (fast path)

    def plan(self, start_ns: int) -> Plan:
        duration = None if self.duration_s is None else int(self.duration_s * NS)
        return Plan(start_ns=start_ns, rate=self.rate, count=self.count, duration_ns=duration)


@dataclass(frozen=True)
class Mode(Generic[U]):
    """A way of emitting: what a unit is called, a fresh view of requests, and a sink."""

    name: str
    unit: str
    view: Callable[[], Units[U]]
    sink: Callable[[Options], Sink[U]]


def _records(request: Request) -> list[Any]:
    return request.records()


def otlp_endpoint(endpoint: str | None) -> str:
    """The OTLP logs URL: as given, with `/v1/logs` added to a bare base URL."""
    if not endpoint:
        return f"{DEFAULT_ROUTER}/v1/logs"
    if urlsplit(endpoint).path in ("", "/"):
        return endpoint.rstrip("/") + "/v1/logs"
    return endpoint


def firehose_url(endpoint: str | None) -> str:
    """The Firehose delivery URL: `<router>/firehose` unless a path is given."""
    base = endpoint or DEFAULT_ROUTER
    if urlsplit(base).path in ("", "/"):
        return base.rstrip("/") + "/firehose"
    return base


def _otlp_sink(options: Options) -> Sink[Any]:
    if options.encoder == "direct":
        from starbase.emitter.otlp_direct import DirectOtlpSink

        return DirectOtlpSink(
            otlp_endpoint(options.endpoint), options.token, batch_size=options.batch_size
        )
    from starbase.emitter.otlp import OtlpSink, http_exporter

    exporter = http_exporter(otlp_endpoint(options.endpoint), options.token)
    return OtlpSink(exporter, batch_size=options.batch_size)


def _cloudwatch_sink(options: Options) -> Sink[Any]:
    from starbase.emitter.cloudwatch import CloudWatchSink, client

    return CloudWatchSink(client(options.endpoint, options.region, options.profile))


def _firehose_sink(options: Options) -> Sink[Any]:
    from starbase.emitter.firehose import FirehoseSink

    return FirehoseSink(firehose_url(options.endpoint), options.token)


def _raw_sink(options: Options) -> Sink[Any]:
    from starbase.emitter.raw import RawSink

    return RawSink(options.endpoint or DEFAULT_ROUTER, options.token)


MODES: dict[str, Mode[Any]] = {
    "otlp": Mode("otlp", "records", lambda: _records, _otlp_sink),
    "cloudwatch": Mode("cloudwatch", "events", LambdaLogs, _cloudwatch_sink),
    "firehose": Mode("firehose", "events", LambdaLogs, _firehose_sink),
    "raw": Mode("raw", "lines", lambda: raw_lines, _raw_sink),
}


@cache
def _units_per_request(mode: str) -> float:
    return units_per_request(MODES[mode].view)


def units(options: Options, start_ns: int) -> Iterator[Any]:
    """The run's units, in time order, cut to its count and duration."""
    mode = MODES[options.mode]
    plan = options.plan(start_ns)
    model = Model(
        seed=options.seed,
        scenario=scenario(options.scenario, options.target),
        start_ns=start_ns,
        period_ns=plan.period_ns,
        request_rate=plan.timeline_rate / _units_per_request(options.mode),
    )
    return limited(in_time_order(model.requests(), mode.view()), plan.count, plan.end_ns)


def default_start(options: Options, now_ns: int | None = None) -> int:
    """Now — except for a bounded run as fast as possible, which ends about now (its simulated
    span lies in the recent past, where queries for "the last hour" find it)."""
    now = time.time_ns() if now_ns is None else now_ns
    if options.rate is None and (options.count or options.duration_s):
        return now - options.plan(now).period_ns
    return now


@dataclass(frozen=True)
class Summary:
    """How a run went."""

    options: Options
    unit: str
    emitted: int
    delivery: Delivery
    seconds: float
    interrupted: bool = False
    start_ns: int = 0

    @property
    def ok(self) -> bool:
        d = self.delivery
        return d.failed == 0 and d.delivered == self.emitted

    def line(self) -> str:
        o = self.options
        rate = self.emitted / self.seconds if self.seconds > 0 else 0.0
        stopped = " (interrupted)" if self.interrupted else ""
        lost = self.emitted - self.delivery.delivered - self.delivery.failed
        unaccounted = f" · {lost:,} unaccounted" if lost else ""
        return (
            f"emitted {self.emitted:,} {self.unit} ({o.mode}, {o.scenario}, seed {o.seed})"
            f"{stopped} in {self.seconds:.2f}s, {rate:,.0f}/s · {self.delivery.describe()}"
            f"{unaccounted}"
        )


def run(
    options: Options,
    *,
    sink: Sink[Any] | None = None,
    stream: TextIO | None = None,
    progress: bool = True,
) -> Summary:
    """Emit as `options` say (see the module docstring); `sink` replaces the mode's own."""
    mode = MODES[options.mode]
    start_ns = default_start(options) if options.start_ns is None else options.start_ns
    stream_of_units = units(options, start_ns)
    target = sink if sink is not None else mode.sink(options)
    pacer = Pacer(start_ns if options.rate is not None else None)
    line = Progress(
        f"emit {options.mode}/{options.scenario}",
        mode.unit,
        lambda: target.status().describe(),
        stream,
        enabled=progress,
    )
    emitted = 0
    interrupted = False
    try:
        for unit in stream_of_units:
            pacer.wait(unit.time_ns)
            target.add(unit)
            emitted += 1
            line.tick(emitted)
    except KeyboardInterrupt:
        interrupted = True
    delivery = target.close()
    summary = Summary(options, mode.unit, emitted, delivery, line.elapsed(), interrupted, start_ns)
    line.finish(summary.line())
    return summary
