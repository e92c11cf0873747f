"""The seeded model of the shop: an endless, reproducible stream of requests.

Requires: `flows`, `scenarios`, `system`. Guarantees: `Model(...).requests()` yields requests
in arrival order (Poisson arrivals at `request_rate` per simulated second from `start_ns`);
each request's records are at or after its start. Everything is drawn from one
`random.Random(seed)`, so the same arguments yield the same requests, record for record and
nanosecond for nanosecond. Besides user requests it yields, with `trace_id` 0, background
work (scheduled jobs, pool statistics) and, in a deploy, the lifecycle lines of the replicas
being replaced (SIGTERM and drain on the old pod, start-up and readiness on the new one).
The scenario's phase is the time since `start_ns` modulo `period_ns`, over `period_ns`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import accumulate

from starbase.emitter.flows import FLOWS, HOSTS, Calls
from starbase.emitter.records import AttrValue, Record, Request, Span
from starbase.emitter.scenarios import Health, Scenario
from starbase.emitter.system import BY_NAME, DEBUG, INFO, SERVICE_NAMES, WARN

_BACKGROUND_SHARE = 0.02  # background jobs per user request
_SECOND = 1_000_000_000
_CUMULATIVE = tuple(accumulate(weight for weight, _ in FLOWS))


class Model:
    """The shop under a scenario; iterate `requests()` (see the module docstring)."""

    def __init__(
        self, *, seed: int, scenario: Scenario, start_ns: int, period_ns: int, request_rate: float
    ) -> None:
        if request_rate <= 0 or period_ns <= 0:
            raise ValueError("request_rate and period_ns must be positive")
        self.seed = seed
        self.scenario = scenario
        self.start_ns = start_ns
        self.period_ns = period_ns
        self.request_rate = request_rate

    def requests(self) -> Iterator[Request]:
        """Requests, forever, in arrival order."""
        rng = random.Random(self.seed)
        gap_ns = 1e9 / self.request_rate
        flows = [flow for _, flow in FLOWS]
        total = _CUMULATIVE[-1]
        start, period = self.start_ns, self.period_ns
        rolled = dict.fromkeys(SERVICE_NAMES, 0)
        now = start
        while True:
            now += int(rng.expovariate(1.0) * gap_ns)
            health = self.scenario.health((now - start) / period)
            for name, state in health.items():
                if state.new_replicas != rolled[name]:
                    yield from _rollout(rng, name, rolled[name], state.new_replicas, now)
                    rolled[name] = state.new_replicas
            if rng.random() < _BACKGROUND_SHARE:
                yield _background(rng, health, now)
                continue
            draw = rng.random() * total
            index = 0
            while _CUMULATIVE[index] < draw:
                index += 1
            calls = Calls(rng, health, now, rng.getrandbits(128) | 1)
            flows[index](calls)
            yield calls.request()


Line = tuple[int, int, str, dict[str, AttrValue]]  # (offset ns, severity, body, attributes)


def _lone(
    rng: random.Random, service: str, host: str, version: str, start: int, lines: list[Line]
) -> Span:
    """A span without trace context: `lines` are (offset ns, severity, body, attributes)."""
    records = [
        Record(start + offset, service, host, version, "app", severity, body, attrs, 0, 0)
        for offset, severity, body, attrs in lines
    ]
    end = records[-1].time_ns if records else start
    return Span(service, host, version, rng.getrandbits(64) | 1, start, end, records)


def _rollout(rng: random.Random, name: str, before: int, after: int, now: int) -> Iterator[Request]:
    """Replicas `before..after-1` of `name` switch versions: the old pod drains, the new starts."""
    service = BY_NAME[name]
    new = int(after > before)  # a rollback (the next period of an endless run) goes back
    replicas = range(before, after) if new else range(before - 1, after - 1, -1)
    for replica in replicas:
        old_host, new_host = HOSTS[name][1 - new][replica], HOSTS[name][new][replica]
        old_version, new_version = service.versions[1 - new], service.versions[new]
        in_flight = int(rng.random() * 20)
        stopping: list[Line] = [
            (0, INFO, "received SIGTERM, shutting down gracefully", {"signal": "SIGTERM"}),
            (_SECOND, INFO, f"drained {in_flight} in-flight request(s), exiting", {}),
        ]
        warm = 400 + int(rng.random() * 900)
        banner = f"starting {name} {new_version} (pid 1, port 8080, env=production)"
        starting: list[Line] = [
            (0, INFO, banner, {"service.version": new_version}),
            (warm * 1_000_000, INFO, f"ready: connections warmed in {warm}ms", {}),
        ]
        yield Request(
            0,
            now,
            [
                _lone(rng, name, old_host, old_version, now, stopping),
                _lone(rng, name, new_host, new_version, now + 2 * _SECOND, starting),
            ],
        )


_JOBS = {
    "gateway": "config reload",
    "checkout": "abandoned-cart sweep",
    "payments": "settlement export",
    "auth": "signing key rotation check",
    "inventory": "stock sync",
}


def _background(rng: random.Random, health: dict[str, Health], now: int) -> Request:
    """One piece of background work on a random service: scheduled jobs and pool statistics,
    which show the strain of a degraded service."""
    name = SERVICE_NAMES[int(rng.random() * len(SERVICE_NAMES))]
    service = BY_NAME[name]
    state = health[name]
    replica = int(rng.random() * service.replicas)
    new = replica < state.new_replicas
    host, version = HOSTS[name][new][replica], service.versions[new]
    lines: list[Line]
    if state.latency > 2.0:  # strained
        waiting = 10 + int(rng.random() * 50)
        body = f"db pool exhausted: active=20 idle=0 waiting={waiting}"
        lines = [(0, WARN, body, {"db.pool.waiting": waiting, "db.pool.active": 20})]
    elif rng.random() < 0.5:
        active = int(rng.random() * 12)
        body = f"db pool stats: active={active} idle={20 - active} waiting=0"
        lines = [(0, DEBUG, body, {"db.pool.waiting": 0, "db.pool.active": active})]
    else:
        took = 200 + int(rng.random() * 2000)
        job = _JOBS[name]
        lines = [
            (0, INFO, f"job started: {job}", {"job.name": job}),
            (
                took * 1_000_000,
                INFO,
                f"job finished: {job} in {took}ms",
                {"job.name": job, "duration_ms": took},
            ),
        ]
    return Request(0, now, [_lone(rng, name, host, version, now, lines)])
