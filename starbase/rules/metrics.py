"""A small in-process Prometheus registry: counters, gauges and histograms with labels.

Requires: nothing. Guarantees: series are declared once (`counter`, `gauge`, `histogram`,
each with its label names and help) and updated from any thread; `render()` prints the text
exposition format (version 0.0.4): HELP and TYPE lines, label values escaped, histograms
with cumulative `_bucket{le=…}`, `_sum` and `_count`. A declared series with no sample yet
still prints its HELP/TYPE lines; declaring a family twice the same way is harmless (its
values stay); `extra` adds lines rendered elsewhere (recorded series).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class _Family:
    name: str
    kind: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()
    values: dict[tuple[str, ...], list[float]] = field(default_factory=dict)


class Registry:
    """See the module docstring."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}
        self._lock = threading.Lock()
        self.extra: list[Callable[[], str]] = []

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self._declare(_Family(name, "counter", help, tuple(labels)))

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self._declare(_Family(name, "gauge", help, tuple(labels)))

    def histogram(
        self,
        name: str,
        help: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        self._declare(_Family(name, "histogram", help, tuple(labels), tuple(buckets)))

    def _declare(self, family: _Family) -> None:
        """Declare a family; declaring it again the same way keeps its values."""
        known = self._families.get(family.name)
        if known is not None:
            if (known.kind, known.labels, known.buckets) != (
                family.kind,
                family.labels,
                family.buckets,
            ):
                raise ValueError(f"{family.name} is already declared differently")
            return
        self._families[family.name] = family

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        with self._lock:
            self._slot(name, labels, 1)[0] += amount

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._slot(name, labels, 1)[0] = value

    def remove(self, name: str, **labels: str) -> None:
        family = self._families[name]
        with self._lock:
            family.values.pop(tuple(labels.get(n, "") for n in family.labels), None)

    def observe(self, name: str, value: float, **labels: str) -> None:
        family = self._families[name]
        with self._lock:
            slot = self._slot(name, labels, len(family.buckets) + 2)
            for i, bound in enumerate(family.buckets):
                if value <= bound:
                    slot[i] += 1
            slot[-2] += value
            slot[-1] += 1

    def value(self, name: str, **labels: str) -> float:
        """The current value of a counter or gauge (0 when never set)."""
        family = self._families[name]
        with self._lock:
            slot = family.values.get(tuple(labels.get(n, "") for n in family.labels))
            return slot[0] if slot else 0.0

    def _slot(self, name: str, labels: dict[str, str], size: int) -> list[float]:
        family = self._families[name]
        if set(labels) != set(family.labels):
            raise ValueError(f"{name} takes labels {family.labels}, got {tuple(labels)}")
        key = tuple(labels[n] for n in family.labels)
        slot = family.values.get(key)
        if slot is None:
            slot = family.values[key] = [0.0] * size
        return slot

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for family in self._families.values():
                lines.append(f"# HELP {family.name} {escape_help(family.help)}")
                lines.append(f"# TYPE {family.name} {family.kind}")
                for key, slot in sorted(family.values.items()):
                    pairs = list(zip(family.labels, key, strict=True))
                    if family.kind != "histogram":
                        lines.append(f"{family.name}{format_labels(pairs)} {number(slot[0])}")
                        continue
                    for bound, count in zip(family.buckets, slot, strict=False):
                        le = format_labels([*pairs, ("le", number(bound))])
                        lines.append(f"{family.name}_bucket{le} {number(count)}")
                    inf = format_labels([*pairs, ("le", "+Inf")])
                    lines.append(f"{family.name}_bucket{inf} {number(slot[-1])}")
                    lines.append(f"{family.name}_sum{format_labels(pairs)} {number(slot[-2])}")
                    lines.append(f"{family.name}_count{format_labels(pairs)} {number(slot[-1])}")
        text = "\n".join(lines) + "\n"
        return text + "".join(render() for render in self.extra)


def format_labels(pairs: Sequence[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{escape_value(v)}"' for k, v in pairs) + "}"


def escape_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def number(value: float) -> str:
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
