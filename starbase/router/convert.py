"""WAL entries → the Arrow batch of their table (`Table.append` input), one function per kind.

Requires: entries written by the router (payloads already checked by the decoders).
Guarantees: `to_table(kind, entries)` returns rows in entry order with exactly the columns of
the kind's stored format (OTLP adds a `service` partition key column); CloudWatch events keep
their id, timestamp and message as sent, with the log group, stream, owner and subscription
filters of their message and the time the router received them; raw lines are `raw.lines` of
the payload with the entry's receive time, plus the `source` partition key column.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.router import raw
from starbase.router.convert_otlp import otlp_table
from starbase.router.wal import Entry, Kind
from starbase.storage.formats import CLOUDWATCH_EVENTS_SCHEMA, RAW_LINES_SCHEMA

FORMAT_OF_KIND = {Kind.OTLP: "otel", Kind.CLOUDWATCH: "cloudwatch", Kind.RAW: "raw"}


def to_table(kind: Kind, entries: Sequence[Entry]) -> pa.Table:
    if kind is Kind.OTLP:
        return otlp_table(entries)
    if kind is Kind.CLOUDWATCH:
        return cloudwatch_table(entries)
    return raw_table(entries)


def cloudwatch_table(entries: Sequence[Entry]) -> pa.Table:
    columns: dict[str, list[object]] = {name: [] for name in CLOUDWATCH_EVENTS_SCHEMA.names}
    for entry in entries:
        for message in json.loads(entry.payload):
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
    return pa.Table.from_pydict(columns, schema=CLOUDWATCH_EVENTS_SCHEMA)


def raw_table(entries: Sequence[Entry]) -> pa.Table:
    received: list[int] = []
    sources: list[str] = []
    lines: list[str] = []
    for entry in entries:
        found = raw.lines(entry.payload)
        lines += found
        received += [entry.received_ns] * len(found)
        sources += [entry.meta] * len(found)
    schema = RAW_LINES_SCHEMA.append(pa.field("source", pa.string(), nullable=False))
    columns = {"received_time_unix_nano": received, "line": lines, "source": sources}
    return pa.Table.from_pydict({name: columns[name] for name in schema.names}, schema=schema)
