"""Scenarios: how the health and versions of the services change over a run.

Requires: `system`. Guarantees: `scenario(name, target)` returns a frozen `Scenario` whose
`health(phase)` gives, for a phase in [0, 1) of the run's period, each service's `Health` —
a pure function, memoized on the phase rounded to 1/1000 (so cheap per request):

- `steady`: every service at its base latency and error rate, the first version everywhere.
- `incident`: `target` (default payments) degrades during [0.40, 0.65) of the period: its own
  latency rises up to 8x and its error rate up to 40%, ramping up over the first 15% of the
  window and down over the last 25%. Callers see the slowness and the errors it causes.
- `deploy`: `target` (default checkout) rolls out its second version during [0.30, 0.70):
  one replica at a time, the first at the window's start, all by its end. The new version is
  25% slower and ships a bug (an extra 3% of its calls fail with a `TypeError`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from starbase.emitter.system import BY_NAME, SERVICES

SCENARIOS = ("steady", "incident", "deploy")
DEFAULT_TARGET = {"steady": "payments", "incident": "payments", "deploy": "checkout"}
INCIDENT_WINDOW = (0.40, 0.65)
DEPLOY_WINDOW = (0.30, 0.70)
_PEAK_LATENCY = 8.0
_PEAK_ERROR_RATE = 0.40
_NEW_VERSION_LATENCY = 1.25
_REGRESSION_RATE = 0.03
_STEPS = 1000  # phase resolution of `health`


@dataclass(frozen=True)
class Health:
    """A service's state at one moment: a factor on its own latency, the share of its calls
    that fail, how many of its replicas run the new version, and the extra failure share of
    those new-version replicas."""

    latency: float
    error_rate: float
    new_replicas: int = 0
    regression: float = 0.0
    new_latency: float = 1.0


@dataclass(frozen=True)
class Scenario:
    """A named scenario about one target service (see the module docstring)."""

    name: str
    target: str

    def health(self, phase: float) -> dict[str, Health]:
        """Every service's health at `phase` (a fraction of the period, wrapped into [0, 1))."""
        return _health(self, int((phase % 1.0) * _STEPS))

    def window(self) -> tuple[float, float] | None:
        """The part of the period where something happens, or None (steady)."""
        if self.name == "incident":
            return INCIDENT_WINDOW
        if self.name == "deploy":
            return DEPLOY_WINDOW
        return None


def scenario(name: str, target: str | None = None) -> Scenario:
    """The scenario `name` about `target` (default: the scenario's usual victim)."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    chosen = target or DEFAULT_TARGET[name]
    if chosen not in BY_NAME:
        raise ValueError(f"unknown service {chosen!r} (known: {', '.join(BY_NAME)})")
    return Scenario(name, chosen)


def incident_intensity(phase: float) -> float:
    """0 outside the incident window, rising to 1 over its first 15%, 1, then falling back to 0
    over its last 25%."""
    start, end = INCIDENT_WINDOW
    if not start <= phase < end:
        return 0.0
    x = (phase - start) / (end - start)
    if x < 0.15:
        return x / 0.15
    if x > 0.75:
        return (1.0 - x) / 0.25
    return 1.0


def rollout_replicas(phase: float, replicas: int) -> int:
    """How many of `replicas` run the new version at `phase` of a deploy."""
    start, end = DEPLOY_WINDOW
    if phase < start:
        return 0
    if phase >= end:
        return replicas
    return min(replicas, max(1, math.ceil((phase - start) / (end - start) * replicas)))


@lru_cache(maxsize=4 * _STEPS)
def _health(scenario: Scenario, step: int) -> dict[str, Health]:
    phase = step / _STEPS
    health = {s.name: Health(1.0, s.error_rate) for s in SERVICES}
    base = BY_NAME[scenario.target]
    if scenario.name == "incident":
        level = incident_intensity(phase)
        health[base.name] = Health(
            1.0 + (_PEAK_LATENCY - 1.0) * level,
            base.error_rate + (_PEAK_ERROR_RATE - base.error_rate) * level,
        )
    elif scenario.name == "deploy":
        health[base.name] = Health(
            1.0,
            base.error_rate,
            new_replicas=rollout_replicas(phase, base.replicas),
            regression=_REGRESSION_RATE,
            new_latency=_NEW_VERSION_LATENCY,
        )
    return health
