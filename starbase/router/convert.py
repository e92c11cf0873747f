"""WAL entries → the Arrow batch of their table (`Table.append` input), one function per kind.

Requires: entries written by the router (payloads already checked by the decoders).
Guarantees: `to_table(kind, entries)` returns rows in entry order with exactly the columns of
the kind's stored format (OTLP: the files' `OTEL_LOGS_SCHEMA`, converted by the compiled
decoder when it is built — `native` — else by the Python reference, `convert_otlp`); CloudWatch
events keep their id, timestamp and message as sent, with the log group, stream, owner and
subscription filters of their message and the time the router received them; raw lines are
`raw.lines` of the payload with the entry's receive time, plus the `source` partition key
column. Each kind streams (see `convert_otlp`): Python objects exist for a bounded slice at a
time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.router import raw
from starbase.router.native import otlp_table
from starbase.router.wal import Entry, Kind
from starbase.storage.formats import CLOUDWATCH_EVENTS_SCHEMA, RAW_LINES_SCHEMA

FORMAT_OF_KIND = {Kind.OTLP: "otel", Kind.CLOUDWATCH: "cloudwatch", Kind.RAW: "raw"}
SLICE_EVENTS = 16384


def to_table(kind: Kind, entries: Sequence[Entry]) -> pa.Table:
    if kind is Kind.OTLP:
        return otlp_table(entries)
    if kind is Kind.CLOUDWATCH:
        return cloudwatch_table(entries)
    return raw_table(entries)


def cloudwatch_table(entries: Sequence[Entry]) -> pa.Table:
    """Streaming: messages are parsed one at a time (a payload holds one per line) and turned
    into Arrow every `SLICE_EVENTS` events."""
    parts: list[pa.Table] = []
    columns = _cloudwatch_columns()
    for entry in entries:
        for message in _messages(entry.payload):
            events = message["logEvents"]
            n = len(events)
            columns["timestamp"] += [e["timestamp"] for e in events]
            columns["message"] += [e["message"] for e in events]
            columns["event_id"] += [e.get("id") for e in events]
            columns["log_group"] += [message["logGroup"]] * n
            columns["log_stream"] += [message.get("logStream")] * n
            columns["owner"] += [message.get("owner")] * n
            columns["subscription_filters"] += [message.get("subscriptionFilters")] * n
            columns["received_time_unix_nano"] += [entry.received_ns] * n
            if len(columns["timestamp"]) >= SLICE_EVENTS:
                parts.append(pa.Table.from_pydict(columns, schema=CLOUDWATCH_EVENTS_SCHEMA))
                columns = _cloudwatch_columns()
    if columns["timestamp"] or not parts:
        parts.append(pa.Table.from_pydict(columns, schema=CLOUDWATCH_EVENTS_SCHEMA))
    return parts[0] if len(parts) == 1 else pa.concat_tables(parts).combine_chunks()


def _cloudwatch_columns() -> dict[str, list[object]]:
    return {name: [] for name in CLOUDWATCH_EVENTS_SCHEMA.names}


def _messages(payload: bytes) -> Iterator[Any]:
    """The DATA_MESSAGEs of a payload: one per line (`[`, then `{…},` lines, then `]`), or an
    older payload written as one line, parsed whole."""
    if not payload.startswith(b"[\n"):
        yield from json.loads(payload)
        return
    for line in payload.split(b"\n"):
        if line not in (b"[", b"]"):
            yield json.loads(line[:-1] if line.endswith(b",") else line)


def raw_table(entries: Sequence[Entry]) -> pa.Table:
    """Lines are split by Arrow (`raw.lines`): no Python object per line."""
    lines = [raw.lines(entry.payload) for entry in entries]
    counts = [len(found) for found in lines]
    received = np.repeat(np.array([e.received_ns for e in entries], dtype=np.int64), counts)
    sources = pa.array([e.meta for e in entries], pa.string()).take(
        np.repeat(np.arange(len(entries), dtype=np.int64), counts)
    )
    schema = RAW_LINES_SCHEMA.append(pa.field("source", pa.string(), nullable=False))
    columns = {
        "received_time_unix_nano": pa.array(received, pa.int64()),
        "line": pa.concat_arrays(lines) if lines else pa.array([], pa.string()),
        "source": sources,
    }
    return pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema)
