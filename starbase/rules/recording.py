"""Recorded series: each recording rule's samples, stored for StarQL and shown on /metrics.

Requires: a folder for the stored table. Guarantees:

- `RecordingStore.write(group, name, samples, at_ns)` appends one evaluation's samples in
  one commit to a stored OTel table under `<folder>` (by default `DATA/recorded`: a data
  folder of its own, so recorded samples never mix with the logs), one record per sample:
  `timestamp` = the evaluation time, `event_name` = the series name, `attributes` = the
  labels plus `value` (the number as text), `service` = the `service` label (else
  `starbase-rules`), `message` = the sample in the exposition format
  (`name{labels} value`), `scope_name` = `starbase.rules`, `scope_version` = the group. So
  `starbase query --data DATA/recorded 'from otel | where event_name == "NAME"'` reads them;
- `latest` holds each series' samples of its last evaluation; `render()` prints them as
  gauges in the Prometheus text format (series names as written, label values escaped), so a
  Prometheus scraping the evaluator gets the same values.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from starbase.rules.metrics import format_labels, number
from starbase.rules.model import Sample

SCOPE = "starbase.rules"
DEFAULT_SERVICE = "starbase-rules"


def exposition(name: str, sample: Sample) -> str:
    return f"{name}{format_labels(list(sample.labels))} {number(sample.value)}"


class RecordingStore:
    """See the module docstring."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.latest: dict[str, list[Sample]] = {}
        self._lock = threading.Lock()

    def write(self, group: str, name: str, samples: Sequence[Sample], at_ns: int) -> None:
        """Store one evaluation's samples (one commit) and make them the latest."""
        with self._lock:
            self.latest[name] = list(samples)
        if self.folder is None or not samples:
            return
        import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

        from starbase.storage import OTEL_LOGS_SCHEMA, write_batch

        rows = len(samples)
        string_map = pa.map_(pa.string(), pa.string())
        attributes = [[*s.labels, ("value", number(s.value))] for s in samples]
        services = [dict(s.labels).get("service", DEFAULT_SERVICE) for s in samples]
        columns = {
            "time_unix_nano": pa.array([at_ns] * rows, pa.int64()),
            "observed_time_unix_nano": pa.array([at_ns] * rows, pa.int64()),
            "body": pa.array([exposition(name, s) for s in samples], pa.string()),
            "log_attributes": pa.array(attributes, string_map),
            "resource_attributes": pa.array([[("service.name", s)] for s in services], string_map),
            "scope_name": pa.array([SCOPE] * rows, pa.string()),
            "scope_version": pa.array([group] * rows, pa.string()),
            "event_name": pa.array([name] * rows, pa.string()),
        }
        fields = [f for f in OTEL_LOGS_SCHEMA if f.name in columns]
        table = pa.Table.from_arrays([columns[f.name] for f in fields], schema=pa.schema(fields))
        with self._lock:  # one writer per table on this host
            write_batch(self.folder, table)

    def forget(self, name: str) -> None:
        with self._lock:
            self.latest.pop(name, None)

    def render(self) -> str:
        with self._lock:
            items = sorted(self.latest.items())
        lines = []
        for name, samples in items:
            lines.append(f"# TYPE {name} gauge")
            lines.extend(exposition(name, s) for s in samples)
        return "\n".join(lines) + ("\n" if lines else "")
