"""WAL payloads of OTLP requests → one Arrow table in the stored files' `OTEL_LOGS_SCHEMA`.

Requires: payloads accepted by `otlp.decode` (protobuf ExportLogsServiceRequest). Guarantees
(storage/LAYOUT.md): one row per LogRecord; `time_unix_nano` is the record's time, else its
observed time, else the time the router received it; body and attribute values are the text
`anyvalue.text` gives; trace and span ids are their 16/8 bytes, null when absent, all zero or
of another length (OTLP: an invalid id means "no trace context"); resource- and scope-level columns
are built once per resource or scope and repeated with `take`; a `service` column carries the
partition key (`anyvalue.service_name`). Streaming: payloads are read piece by piece
(`otlp_wire.pieces`) and turned into Arrow every `SLICE_RECORDS` records (or `SLICE_VALUES`
attribute values), so Python objects exist for one slice at a time whatever the shape of the
payloads. This is the hot loop of the router (see the profile in docs/router.md): per record
it reads each field once, in comprehensions over one list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.router import otlp_wire
from starbase.router.anyvalue import service_name, text
from starbase.router.limits import unlimited
from starbase.router.wal import Entry
from starbase.storage.otel_layout import OTEL_LOGS_SCHEMA

_STR_MAP = pa.map_(pa.string(), pa.string())
_TRACE_ZERO = bytes(16)
_SPAN_ZERO = bytes(8)
SLICE_RECORDS = 16384
SLICE_VALUES = 256 * 1024  # attribute values (keys and values of every record) in a slice


class _Columns:
    """Lists that grow per record (`r_*`), per resource (`res_*`) and per scope (`g_*`)."""

    def __init__(self) -> None:
        self.r_time: list[int] = []
        self.r_observed: list[int] = []
        self.r_severity: list[int] = []
        self.r_severity_text: list[str] = []
        self.r_body: list[str | None] = []
        self.r_attr_offsets: list[int] = [0]
        self.r_attr_keys: list[str] = []
        self.r_attr_values: list[str | None] = []
        self.r_trace: list[bytes] = []
        self.r_span: list[bytes] = []
        self.r_flags: list[int] = []
        self.r_dropped: list[int] = []
        self.r_event: list[str] = []
        self.res_attr_offsets: list[int] = [0]
        self.res_attr_keys: list[str] = []
        self.res_attr_values: list[str | None] = []
        self.res_schema_url: list[str] = []
        self.res_service: list[str] = []
        self.g_resource: list[int] = []
        self.g_count: list[int] = []
        self.g_received: list[int] = []
        self.g_scope_name: list[str] = []
        self.g_scope_version: list[str] = []
        self.g_attr_offsets: list[int] = [0]
        self.g_attr_keys: list[str] = []
        self.g_attr_values: list[str | None] = []
        self._resource: Any = None  # the ResourceLogs of the last group (its row is reused)
        self._resource_values = 0
        self.rows = 0
        self.values = 0  # attribute values the rows hold (resource and scope ones repeated)

    def add(self, piece: otlp_wire.Piece, received_ns: int) -> None:
        records = list(piece.records)
        if not records:
            return
        if piece.resource_logs is not self._resource:
            self._resource = piece.resource_logs
            resource = piece.resource_logs.resource
            _attributes(resource.attributes, self.res_attr_keys, self.res_attr_values)
            self.res_attr_offsets.append(len(self.res_attr_keys))
            self.res_schema_url.append(piece.resource_logs.schema_url)
            self.res_service.append(service_name(resource))
            self._resource_values = len(resource.attributes)
        scope = piece.scope_logs.scope
        self.g_resource.append(len(self.res_service) - 1)
        self.g_count.append(len(records))
        self.g_received.append(received_ns)
        self.g_scope_name.append(scope.name)
        self.g_scope_version.append(scope.version)
        _attributes(scope.attributes, self.g_attr_keys, self.g_attr_values)
        self.g_attr_offsets.append(len(self.g_attr_keys))
        before = len(self.r_attr_keys)
        self._records(records)
        self.rows += len(records)
        shared = self._resource_values + len(scope.attributes)
        self.values += len(self.r_attr_keys) - before + shared * len(records)

    @property
    def full(self) -> bool:
        return self.rows >= SLICE_RECORDS or len(self.r_attr_keys) >= SLICE_VALUES

    def _records(self, records: list[Any]) -> None:
        self.r_time += [r.time_unix_nano for r in records]
        self.r_observed += [r.observed_time_unix_nano for r in records]
        self.r_severity += [r.severity_number for r in records]
        self.r_severity_text += [r.severity_text for r in records]
        self.r_trace += [r.trace_id for r in records]
        self.r_span += [r.span_id for r in records]
        self.r_flags += [r.flags for r in records]
        self.r_dropped += [r.dropped_attributes_count for r in records]
        self.r_event += [r.event_name for r in records]
        body = self.r_body.append
        keys, values = self.r_attr_keys, self.r_attr_values
        key, value, offset = keys.append, values.append, self.r_attr_offsets.append
        for record in records:
            item = record.body
            string = item.string_value
            body(string if string else text(item))
            for kv in record.attributes:  # the hottest loop: the common kinds inline
                item = kv.value
                key(kv.key)
                string = item.string_value
                if string:
                    value(string)
                    continue
                kind = item.WhichOneof("value")
                if kind == "int_value":
                    value(str(item.int_value))
                elif kind == "double_value":
                    number = item.double_value
                    value(repr(number) if number - number == 0 else text(item))
                else:
                    value(text(item))
            offset(len(keys))

    def table(self) -> pa.Table:
        counts = np.asarray(self.g_count, dtype=np.int64)
        group_of_row = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        resource_of_row = np.asarray(self.g_resource, dtype=np.int64)[group_of_row]
        times = np.asarray(self.r_time, dtype=np.uint64)
        observed = np.asarray(self.r_observed, dtype=np.uint64)
        received = np.asarray(self.g_received, dtype=np.uint64)[group_of_row]
        filled = np.where(times != 0, times, np.where(observed != 0, observed, received))
        resources = _map(self.res_attr_offsets, self.res_attr_keys, self.res_attr_values)
        scopes = _map(self.g_attr_offsets, self.g_attr_keys, self.g_attr_values)
        by_resource = pa.array(resource_of_row)
        by_group = pa.array(group_of_row)
        columns = {
            "time_unix_nano": pa.array(filled.astype(np.int64)),
            "observed_time_unix_nano": pa.array(observed.astype(np.int64)),
            "severity_number": pa.array(self.r_severity, pa.int32()),
            "severity_text": pa.array(self.r_severity_text, pa.string()),
            "body": pa.array(self.r_body, pa.string()),
            "log_attributes": _map(self.r_attr_offsets, self.r_attr_keys, self.r_attr_values),
            "resource_attributes": resources.take(by_resource),
            "resource_schema_url": pa.array(self.res_schema_url, pa.string()).take(by_resource),
            "scope_name": pa.array(self.g_scope_name, pa.string()).take(by_group),
            "scope_version": pa.array(self.g_scope_version, pa.string()).take(by_group),
            "scope_attributes": scopes.take(by_group),
            "trace_id": pa.array(_ids(self.r_trace, 16, _TRACE_ZERO), pa.binary(16)),
            "span_id": pa.array(_ids(self.r_span, 8, _SPAN_ZERO), pa.binary(8)),
            "flags": pa.array(np.asarray(self.r_flags, dtype=np.uint32).view(np.int32)),
            "dropped_attributes_count": pa.array(
                np.minimum(np.asarray(self.r_dropped, dtype=np.int64), 2**31 - 1).astype(np.int32)
            ),
            "event_name": pa.array(self.r_event, pa.string()),
            "service": pa.array(self.res_service, pa.string()).take(by_resource),
        }
        empty_to_null = ("severity_text", "resource_schema_url", "scope_name", "scope_version")
        for name in (*empty_to_null, "event_name"):
            columns[name] = _null_if_empty(columns[name])
        return pa.Table.from_arrays(list(columns.values()), schema=OTEL_LOGS_SCHEMA)


def otlp_table(entries: Sequence[Entry]) -> pa.Table:
    """One table of every record in `entries` (WAL entries of kind OTLP)."""
    return otlp_prefix_table(entries, None)[0]


def otlp_prefix_table(entries: Sequence[Entry], max_values: int | None) -> tuple[pa.Table, int]:
    """The table of the first entries, stopping after the one that brings the attribute
    values (resource and scope ones counted per row) to `max_values`; and how many were used.

    Python objects exist for one slice at a time (each slice becomes Arrow, which is
    compact); the result is one chunk per column.
    """
    parts = []
    columns = _Columns()
    values = used = 0
    for entry in entries:
        used += 1
        for piece in otlp_wire.pieces(entry.payload, unlimited()):
            columns.add(piece, entry.received_ns)
            if columns.full:
                values += columns.values
                parts.append(columns.table())
                columns = _Columns()
        if max_values is not None and values + columns.values >= max_values:
            break
    if columns.rows or not parts:
        parts.append(columns.table())
    table = parts[0] if len(parts) == 1 else pa.concat_tables(parts).combine_chunks()
    return table, used


def _attributes(attributes: Any, keys: list[str], values: list[str | None]) -> None:
    for kv in attributes:
        keys.append(kv.key)
        values.append(text(kv.value))


def _map(offsets: list[int], keys: list[str], values: list[str | None]) -> pa.MapArray:
    return pa.MapArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(keys, pa.string()), pa.array(values, pa.string())
    )


def _ids(raw: list[bytes], size: int, zero: bytes) -> list[bytes | None]:
    return [i if len(i) == size and i != zero else None for i in raw]


def _null_if_empty(column: pa.Array) -> pa.Array:
    """Proto3 cannot tell "" from unset: store unset strings as null (what readers expect)."""
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
