"""Prometheus metrics shared by every worker: one small memory-mapped file of doubles each.

Requires: a directory the workers share (the WAL root). Guarantees: the set of series is fixed
here (`SERIES`), so each is a slot at a fixed offset; a worker updates only its own file, and
`render()` — whichever worker the scrape reaches — reads every worker's file and prints the
text exposition format with a `worker` label, so no series goes missing behind SO_REUSEPORT.
Counters only grow while a worker lives; a restarted worker starts its counters again at 0
(Prometheus treats that as a counter reset).
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from itertools import product
from pathlib import Path

FORMATS = ("otel", "cloudwatch", "raw")
ENDPOINTS = ("logs", "firehose", "raw")
STATUSES = ("200", "400", "401", "403", "408", "413", "415", "429", "503", "500")
FLUSH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_PREFIX = "starbase_router_"


@dataclass(frozen=True)
class Series:
    name: str
    kind: str  # counter | gauge | histogram
    help: str
    labels: tuple[tuple[tuple[str, str], ...], ...] = ((),)


def _by(name: str, values: tuple[str, ...]) -> tuple[tuple[tuple[str, str], ...], ...]:
    return tuple(((name, v),) for v in values)


SERIES = (
    Series(
        "records_in_total",
        "counter",
        "Records acknowledged (durable in the WAL).",
        _by("format", FORMATS),
    ),
    Series(
        "bytes_in_total", "counter", "Request body bytes received, as sent.", _by("format", FORMATS)
    ),
    Series(
        "requests_total",
        "counter",
        "Requests answered, by endpoint and status.",
        tuple((("endpoint", e), ("status", s)) for e, s in product(ENDPOINTS, STATUSES)),
    ),
    Series(
        "rejected_records_total",
        "counter",
        "Records refused individually (OTLP partial_success).",
        _by("format", FORMATS),
    ),
    Series(
        "expired_records_total",
        "counter",
        "Records older than their table's retention cutoff: rejected (OTLP partial_success), "
        "dropped (Firehose events), or dropped at the commit when the cutoff moved meanwhile.",
        _by("format", FORMATS),
    ),
    Series(
        "records_committed_total",
        "counter",
        "Records committed to the tables.",
        _by("format", FORMATS),
    ),
    Series("wal_bytes", "gauge", "Bytes in the write-ahead log segments."),
    Series("wal_fsyncs_total", "counter", "Group commits (one write + fdatasync each)."),
    Series("queue_records", "gauge", "Acknowledged records not yet committed to a table."),
    Series("queue_bytes", "gauge", "WAL payload bytes of the acknowledged, uncommitted records."),
    Series("inflight_bytes", "gauge", "Request bodies read and not yet durable."),
    Series("flush_seconds", "histogram", "Time to convert and commit one batch to a table."),
    Series("flush_errors_total", "counter", "Failed commits (retried with backoff)."),
    Series("store_up", "gauge", "1 if the last commit to the store succeeded, else 0."),
)


def _slots() -> dict[tuple[str, tuple[tuple[str, str], ...]], int]:
    slots: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    for series in SERIES:
        if series.kind == "histogram":
            for bucket in (*FLUSH_BUCKETS, "sum", "count"):
                slots[(series.name, (("le", str(bucket)),))] = len(slots)
            continue
        for labels in series.labels:
            slots[(series.name, labels)] = len(slots)
    return slots


_SLOTS = _slots()


class Metrics:
    """This worker's values (`inc`, `set`, `observe`) and everyone's (`render`)."""

    def __init__(self, directory: Path | None, worker: int, workers: int) -> None:
        self.directory = directory
        self.worker = worker
        self.workers = workers
        size = len(_SLOTS) * 8
        if directory is None:
            self._buffer: mmap.mmap | bytearray = bytearray(size)
        else:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"metrics-{worker}.bin"
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.ftruncate(fd, size)
                self._buffer = mmap.mmap(fd, size)
            finally:
                os.close(fd)
        self._values = memoryview(self._buffer).cast("d")

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        self._values[_SLOTS[(name, tuple(labels.items()))]] += value

    def set(self, name: str, value: float, **labels: str) -> None:
        self._values[_SLOTS[(name, tuple(labels.items()))]] = value

    def observe(self, name: str, seconds: float) -> None:
        for bucket in FLUSH_BUCKETS:
            if seconds <= bucket:
                self._values[_SLOTS[(name, (("le", str(bucket)),))]] += 1
                break
        self._values[_SLOTS[(name, (("le", "sum"),))]] += seconds
        self._values[_SLOTS[(name, (("le", "count"),))]] += 1

    def render(self) -> str:
        """Every worker's series in the Prometheus text format."""
        per_worker = [(w, self._read(w)) for w in range(self.workers)]
        lines: list[str] = []
        for series in SERIES:
            full = _PREFIX + series.name
            lines.append(f"# HELP {full} {series.help}")
            lines.append(f"# TYPE {full} {series.kind}")
            for worker, values in per_worker:
                if values is None:
                    continue
                if series.kind == "histogram":
                    lines.extend(_histogram(full, series.name, worker, values))
                    continue
                for labels in series.labels:
                    value = values[_SLOTS[(series.name, labels)]]
                    lines.append(f"{full}{_labels(worker, labels)} {_number(value)}")
        return "\n".join(lines) + "\n"

    def _read(self, worker: int) -> list[float] | None:
        if worker == self.worker or self.directory is None:
            return list(self._values) if worker == self.worker else None
        try:
            data = (self.directory / f"metrics-{worker}.bin").read_bytes()
        except FileNotFoundError:
            return None
        if len(data) != len(_SLOTS) * 8:
            return None
        return list(memoryview(data).cast("d"))


def _histogram(full: str, name: str, worker: int, values: list[float]) -> list[str]:
    lines = []
    running = 0.0
    for bucket in FLUSH_BUCKETS:
        running += values[_SLOTS[(name, (("le", str(bucket)),))]]
        lines.append(f"{full}_bucket{_labels(worker, (('le', str(bucket)),))} {_number(running)}")
    count = values[_SLOTS[(name, (("le", "count"),))]]
    lines.append(f"{full}_bucket{_labels(worker, (('le', '+Inf'),))} {_number(count)}")
    lines.append(f"{full}_sum{_labels(worker, ())} {values[_SLOTS[(name, (('le', 'sum'),))]]}")
    lines.append(f"{full}_count{_labels(worker, ())} {_number(count)}")
    return lines


def _labels(worker: int, labels: tuple[tuple[str, str], ...]) -> str:
    pairs = [("worker", str(worker)), *labels]
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)
