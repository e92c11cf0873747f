"""From requests to one time-ordered stream of units, cut to the run's size.

Requires: `model`, `records`. Guarantees:
- `Plan` turns the options (rate, count, duration, start) into the simulated timeline: its
  rate in units per simulated second, its period (the scenario's length) and its end.
- `in_time_order` merges the units of overlapping requests (a request's units start at its
  arrival but may run for seconds) into non-decreasing `time_ns` order, ties in generation
  order — so the stream is chronological, as CloudWatch wants, and pacing by timestamps works.
- `limited` stops after `count` units or at the first unit at or past `end_ns`.
- `units_per_request` estimates a mode's mean units per request from a fixed sample, so the
  request rate of the model gives the asked unit rate; it does not depend on the run's seed.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Protocol, TypeVar

from starbase.emitter.model import Model
from starbase.emitter.records import Request
from starbase.emitter.scenarios import scenario

NS = 1_000_000_000
DEFAULT_TIMELINE_RATE = 100.0  # units per simulated second when emitting as fast as possible
DEFAULT_PERIOD_NS = 600 * NS  # the scenario's period of an endless run
_SAMPLE_REQUESTS = 4_000


class Timed(Protocol):
    @property
    def time_ns(self) -> int: ...


U = TypeVar("U", bound=Timed)
Units = Callable[[Request], list[U]]  # a mode's view of a request


@dataclass(frozen=True)
class Plan:
    """A run's size and pace. `rate` None means as fast as possible; then the simulated
    timeline runs at `count / duration` units/s when both are given, else at
    `DEFAULT_TIMELINE_RATE`. The scenario's period is the duration, else the time `count`
    units take on the timeline, else `DEFAULT_PERIOD_NS` (repeating, for endless runs)."""

    start_ns: int
    rate: float | None = None
    count: int | None = None
    duration_ns: int | None = None

    def __post_init__(self) -> None:
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be positive (or None: as fast as possible)")
        if self.count is not None and self.count < 0:
            raise ValueError("count must not be negative")
        if self.duration_ns is not None and self.duration_ns <= 0:
            raise ValueError("duration must be positive")

    @property
    def timeline_rate(self) -> float:
        if self.rate is not None:
            return self.rate
        if self.count and self.duration_ns:
            return self.count / (self.duration_ns / NS)
        return DEFAULT_TIMELINE_RATE

    @property
    def period_ns(self) -> int:
        if self.duration_ns:
            return self.duration_ns
        if self.count:
            return max(1, int(self.count / self.timeline_rate * NS))
        return DEFAULT_PERIOD_NS

    @property
    def end_ns(self) -> int | None:
        return None if self.duration_ns is None else self.start_ns + self.duration_ns


def units_per_request(units: Callable[[], Units[U]]) -> float:
    """The mean number of units `units()` makes of a request, on a fixed steady sample."""
    view = units()
    model = Model(seed=0, scenario=scenario("steady"), start_ns=0, period_ns=NS, request_rate=1.0)
    total = sum(len(view(request)) for request in islice(model.requests(), _SAMPLE_REQUESTS))
    return total / _SAMPLE_REQUESTS


def in_time_order(requests: Iterable[Request], units: Units[U]) -> Iterator[U]:
    """The units of `requests` (in arrival order) merged into time order."""
    heap: list[tuple[int, int, U]] = []
    sequence = 0
    for request in requests:
        while heap and heap[0][0] <= request.start_ns:
            yield heapq.heappop(heap)[2]
        for unit in units(request):
            heapq.heappush(heap, (unit.time_ns, sequence, unit))
            sequence += 1
    while heap:
        yield heapq.heappop(heap)[2]


def limited(units: Iterable[U], count: int | None, end_ns: int | None) -> Iterator[U]:
    """At most `count` units, all before `end_ns` (None: no limit)."""
    if count is not None:
        units = islice(units, count)
    if end_ns is None:
        yield from units
        return
    for unit in units:
        if unit.time_ns >= end_ns:
            return
        yield unit
