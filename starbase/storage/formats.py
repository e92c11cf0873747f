"""The stored formats: one native Arrow schema and one partitioning per table, no transformation.

Requires: batches whose columns are a subset of the format's schema (missing nullable columns
become null). Guarantees: `TableFormat.split(batch)` conforms a batch to the format's schema
and cuts it into per-partition slices, each sorted by the format's time column, together with
the partition values (`hour` = UTC hour of the record time, then the format's second key).

| format | table directory | time column | second partition |
|---|---|---|---|
| `otel` | `otel/logs` | `time_unix_nano` (ns) | `service` (resource `service.name`) |
| `cloudwatch` | `cloudwatch/events` | `timestamp` (ms) | `group` (= `log_group`, escaped) |
| `raw` | `raw/lines` | `received_time_unix_nano` (ns) | `source` (an input column) |

Partition values live in the path only, never inside the files; a value that readers need
unescaped (CloudWatch log groups are all '/'-separated) stays a file column as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from starbase.storage.otel_layout import (
    HOUR_FORMAT,
    NS_PER_HOUR,
    OTEL_LOGS_SCHEMA,
    TABLE_DIR,
    UNKNOWN_SERVICE,
    path_segment,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STR_LIST = pa.list_(pa.string())

CLOUDWATCH_EVENTS_SCHEMA = pa.schema(
    [
        pa.field("timestamp", pa.int64(), nullable=False),  # event time, epoch ms
        pa.field("message", pa.string()),
        pa.field("log_group", pa.string(), nullable=False),
        pa.field("log_stream", pa.string()),
        pa.field("event_id", pa.string()),
        pa.field("owner", pa.string()),  # AWS account id of the log group
        pa.field("subscription_filters", _STR_LIST),
        pa.field("received_time_unix_nano", pa.int64()),  # when the router received it
    ]
)

RAW_LINES_SCHEMA = pa.schema(
    [
        pa.field("received_time_unix_nano", pa.int64(), nullable=False),
        pa.field("line", pa.string()),
    ]
)


def hour_keys(ns: np.ndarray[tuple[int], np.dtype[np.int64]]) -> pa.Array:
    """The UTC hour ('YYYY-MM-DDTHH') of each ns timestamp, floored (pre-1970 included)."""
    hours = np.floor_divide(ns, NS_PER_HOUR)
    unique, inverse = np.unique(hours, return_inverse=True)
    names = [(_EPOCH + timedelta(hours=int(h))).strftime(HOUR_FORMAT) for h in unique]
    return pa.DictionaryArray.from_arrays(pa.array(inverse, pa.int32()), names).cast(pa.string())


segment = path_segment  # `name=value` as stored tables spell a partition folder


@dataclass(frozen=True)
class TableFormat:
    name: str
    directory: str  # below the location
    schema: pa.Schema
    time_column: str
    ns_per_unit: int  # time column unit in ns
    key: str  # the partition after `hour`
    key_of: Callable[[pa.Table, pa.Table], pa.ChunkedArray]  # (input, conformed) -> values
    accepts: frozenset[str]  # input columns beyond the schema (used by key_of only)
    # Sorted or nearly sorted integer times: delta-encoded in Parquet (~40% smaller than
    # dictionary/plain + zstd on realistic logs, no slower to read).
    deltas: tuple[str, ...] = ()
    # Values unique per row (ids): no dictionary, which would only cost CPU and bytes (4%
    # fewer bytes and less CPU for OTel logs without it, benchmarks/otlp_decode.py).
    plain: tuple[str, ...] = ()

    @property
    def partitions(self) -> tuple[str, str]:
        return ("hour", self.key)

    def conform(self, batch: pa.Table) -> pa.Table:
        """`batch` as exactly this format's schema; unknown or missing required columns fail."""
        extra = [n for n in batch.column_names if n not in [*self.schema.names, *self.accepts]]
        if extra:
            raise ValueError(f"columns not in the {self.name} layout: {', '.join(extra)}")
        columns = []
        for field in self.schema:
            if field.name in batch.column_names:
                columns.append(batch[field.name].cast(field.type))
            elif field.nullable:
                columns.append(pa.nulls(batch.num_rows, field.type))
            else:
                raise ValueError(f"column {field.name} is required")
        data = pa.Table.from_arrays(columns, schema=self.schema)
        for field in self.schema:
            if not field.nullable and data[field.name].null_count:
                raise ValueError(f"{field.name} must not be null")
        return data

    def times_ns(self, data: pa.Table) -> np.ndarray[tuple[int], np.dtype[np.int64]]:
        times: np.ndarray[tuple[int], np.dtype[np.int64]] = np.asarray(
            data[self.time_column].to_numpy(), dtype=np.int64
        )
        return times * self.ns_per_unit if self.ns_per_unit != 1 else times

    def split(self, batch: pa.Table) -> Iterator[tuple[dict[str, str], pa.Table, int, int]]:
        """(partition values, rows sorted by time, min ns, max ns) per partition touched."""
        batch = batch.combine_chunks()  # sorting and slicing one chunk is 2-3x faster
        data = self.conform(batch)
        if data.num_rows == 0:
            return
        keys = self.key_of(batch, data).combine_chunks()
        hours = hour_keys(self.times_ns(data))
        keyed = data.append_column("__hour", hours).append_column("__key", keys)
        keyed = keyed.sort_by(
            [("__hour", "ascending"), ("__key", "ascending"), (self.time_column, "ascending")]
        )
        times = self.times_ns(keyed)
        for start, stop in _runs(keyed["__hour"], keyed["__key"]):
            values = {
                "hour": keyed["__hour"][start].as_py(),
                self.key: keyed["__key"][start].as_py(),
            }
            part = keyed.slice(start, stop - start).select(self.schema.names)
            yield values, part, int(times[start]), int(times[stop - 1])


def _runs(*keys: pa.ChunkedArray) -> list[tuple[int, int]]:
    """[start, stop) ranges over which every (sorted) key column stays the same."""
    n = len(keys[0])
    if n < 2:
        return [(0, n)]
    changed = pc.not_equal(keys[0][1:], keys[0][:-1])
    for key in keys[1:]:
        changed = pc.or_(changed, pc.not_equal(key[1:], key[:-1]))
    starts = [0, *(i + 1 for i in pc.indices_nonzero(changed).to_pylist())]
    return list(zip(starts, [*starts[1:], n], strict=True))


def _nonempty(values: pa.ChunkedArray | pa.Array, default: str) -> pa.ChunkedArray:
    filled = pc.coalesce(values, pa.scalar(default))
    return pc.if_else(pc.equal(filled, ""), pa.scalar(default), filled)


def _otel_service(batch: pa.Table, data: pa.Table) -> pa.ChunkedArray:
    if "service" in batch.column_names:
        given = batch["service"].cast(pa.string())
        if given.null_count == 0:
            return _nonempty(given, UNKNOWN_SERVICE)
        from_resource = pc.map_lookup(data["resource_attributes"], "service.name", "first")
        return _nonempty(pc.coalesce(given, from_resource), UNKNOWN_SERVICE)
    from_resource = pc.map_lookup(data["resource_attributes"], "service.name", "first")
    return _nonempty(from_resource, UNKNOWN_SERVICE)


def _column(name: str, default: str) -> Callable[[pa.Table, pa.Table], pa.ChunkedArray]:
    def key_of(_batch: pa.Table, data: pa.Table) -> pa.ChunkedArray:
        return _nonempty(data[name], default)

    return key_of


def _given(name: str) -> Callable[[pa.Table, pa.Table], pa.ChunkedArray]:
    def key_of(batch: pa.Table, _data: pa.Table) -> pa.ChunkedArray:
        if name not in batch.column_names:
            raise ValueError(f"column {name} is required")
        values = batch[name].cast(pa.string())
        if values.null_count:
            raise ValueError(f"{name} must not be null")
        return _nonempty(values, "unknown")

    return key_of


OTEL = TableFormat(
    "otel",
    TABLE_DIR,
    OTEL_LOGS_SCHEMA,
    "time_unix_nano",
    1,
    "service",
    _otel_service,
    frozenset({"service"}),
    ("time_unix_nano", "observed_time_unix_nano"),
    ("trace_id", "span_id"),
)
CLOUDWATCH = TableFormat(
    "cloudwatch",
    "cloudwatch/events",
    CLOUDWATCH_EVENTS_SCHEMA,
    "timestamp",
    1_000_000,
    "group",  # the log group again, path-escaped: the column keeps it readable
    _column("log_group", "unknown"),
    frozenset(),
    ("timestamp", "received_time_unix_nano"),
)
RAW = TableFormat(
    "raw",
    "raw/lines",
    RAW_LINES_SCHEMA,
    "received_time_unix_nano",
    1,
    "source",
    _given("source"),
    frozenset({"source"}),
    ("received_time_unix_nano",),
)
FORMATS: dict[str, TableFormat] = {f.name: f for f in (OTEL, CLOUDWATCH, RAW)}
