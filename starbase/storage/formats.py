"""The stored formats: one native Arrow schema, day partitions and a clustering per table.

Requires: batches whose columns are a subset of the format's schema (missing nullable columns
become null; ids may come as hex text). Guarantees: `TableFormat.split(batch)` conforms a
batch to the format's file schema and cuts it into per-day slices, each sorted by the
format's cluster column then its time column, with the slice's time range and per-cluster
row counts and time ranges (the index keeps them: metadata answers and pruning).

| format | table directory | time column | cluster column (legacy path key) |
|---|---|---|---|
| `otel` | `otel/logs` | `time_unix_nano` (ns) | `service` (resource `service.name`) |
| `cloudwatch` | `cloudwatch/events` | `timestamp` (ms) | `log_group` (`group`) |
| `raw` | `raw/lines` | `received_time_unix_nano` (ns) | `source` (an input column) |

The day is in the path only; the cluster value is a file column. `upgrade` turns rows read
from the legacy layout (hour × key folders, hex ids, key in the path only) into the file
schema, for compaction's migration.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from starbase.storage.ids import from_hex
from starbase.storage.otel_layout import (
    ID_COLUMNS,
    LEGACY_OTEL_LOGS_SCHEMA,
    NS_PER_DAY,
    NS_PER_HOUR,
    OTEL_LOGS_SCHEMA,
    TABLE_DIR,
    UNKNOWN_SERVICE,
    day_key,
    path_segment,
)

_STR_LIST = pa.list_(pa.string())
# Rows per cluster value and hour under which a file is sparse (`TableFormat.hour_major`):
# the Parquet page size of the files (`table.PAGE_ROWS`).
DENSE_ROWS = 4096

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

# Raw lines as writers hand them (with a `source` column beside) and as the legacy files held
# them; the files of the day layout add the source.
RAW_LINES_SCHEMA = pa.schema(
    [
        pa.field("received_time_unix_nano", pa.int64(), nullable=False),
        pa.field("line", pa.string()),
    ]
)
RAW_FILE_SCHEMA = RAW_LINES_SCHEMA.append(pa.field("source", pa.string(), nullable=False))


def day_keys(ns: np.ndarray[tuple[int], np.dtype[np.int64]]) -> pa.Array:
    """The UTC day ('YYYY-MM-DD', `day_key`) of each ns timestamp, floored (pre-1970 included)."""
    days = np.floor_divide(ns, NS_PER_DAY)
    unique, inverse = np.unique(days, return_inverse=True)
    names = [day_key(int(d) * NS_PER_DAY) for d in unique]
    return pa.DictionaryArray.from_arrays(pa.array(inverse, pa.int32()), names).cast(pa.string())


segment = path_segment  # `name=value` as stored tables spell a partition folder


@dataclass(frozen=True)
class KeyStats:
    """Rows and time range of one cluster value inside one file (for metadata answers)."""

    key: str
    rows: int
    min_ns: int
    max_ns: int


@dataclass(frozen=True)
class Slice:
    """The rows of one batch that go to one file: partition values, rows, statistics."""

    values: dict[str, str]
    data: pa.Table
    min_ns: int
    max_ns: int
    keys: tuple[KeyStats, ...]


@dataclass(frozen=True)
class TableFormat:
    name: str
    directory: str  # below the location
    schema: pa.Schema  # of the files
    legacy_schema: pa.Schema  # of the files in the legacy (hour x key) layout
    time_column: str
    ns_per_unit: int  # time column unit in ns
    key: str  # the cluster value's name: the legacy layout's second path partition
    cluster: str  # the file column rows are clustered by (then by time)
    key_of: Callable[[pa.Table, pa.Table], pa.ChunkedArray]  # (input, conformed) -> values
    accepts: frozenset[str]  # input columns beyond the schema (used by key_of only)
    # Sorted or nearly sorted integer times: delta-encoded in Parquet (~40% smaller than
    # dictionary/plain + zstd on realistic logs, no slower to read).
    deltas: tuple[str, ...] = ()
    ids: dict[str, int] = field(default_factory=dict)  # id column -> bytes (hex on input)
    # Columns with a Parquet bloom filter: ids looked up by equality (trace lookups).
    blooms: tuple[str, ...] = ()
    # Columns written without a dictionary: values nearly unique per row. Span ids: ~20%
    # smaller without; trace ids, shared by the rows of a request, are smaller with one once
    # compaction clusters rows; bodies ~4% smaller without. A map's leaves are named
    # `<map>.key_value.key|value`: record attribute values (addresses, sizes, durations) are
    # ~1% larger without, but a dictionary page is read whole by any query that reads the
    # column, however few of its rows it needs (docs/design/storage-index.md).
    plain: tuple[str, ...] = ()
    # column -> the column it usually equals: stored as null where it does (a copy of the
    # time costs ~3.7 B/record at rest) and read back with `coalesce` (`restore`, the views).
    same_as: dict[str, str] = field(default_factory=dict)
    # Columns written without statistics (nor page index bounds): free text, maps and random
    # ids, whose min/max prune nothing; the page index shrinks (~10% of what a one-hour
    # window reads on a sparse day) and files by ~0.1 B/record.
    unpruned: tuple[str, ...] = ()

    @property
    def partitions(self) -> tuple[str, ...]:
        return ("day",)

    @property
    def legacy_partitions(self) -> tuple[str, str]:
        return ("hour", self.key)

    @property
    def derived_cluster(self) -> bool:
        """Whether the cluster column is computed by `key_of` (not an input column as such)."""
        return self.cluster not in self.legacy_schema.names

    def conform(self, batch: pa.Table) -> pa.Table:
        """`batch` as exactly this format's file schema; unknown or missing required columns
        fail, ids given as hex become bytes (anything but hex of the right length fails)."""
        extra = [n for n in batch.column_names if n not in [*self.schema.names, *self.accepts]]
        if extra:
            raise ValueError(f"columns not in the {self.name} layout: {', '.join(extra)}")
        columns = []
        for spec in self.legacy_schema:
            kind = self.schema.field(spec.name).type
            if spec.name in batch.column_names:
                column = batch[spec.name]
                if spec.name in self.ids:
                    columns.append(from_hex(column, self.ids[spec.name], spec.name))
                else:
                    columns.append(column.cast(kind))
            elif spec.nullable:
                columns.append(pa.nulls(batch.num_rows, kind))
            else:
                raise ValueError(f"column {spec.name} is required")
        names = self.legacy_schema.names
        data = pa.Table.from_arrays(
            columns, schema=pa.schema([self.schema.field(n) for n in names])
        )
        for spec in self.legacy_schema:
            if not spec.nullable and data[spec.name].null_count:
                raise ValueError(f"{spec.name} must not be null")
        if self.derived_cluster:
            keys = self.key_of(batch, data).combine_chunks()
            data = data.append_column(self.schema.field(self.cluster), keys)
        return data

    def upgrade(self, legacy: pa.Table, key: str) -> pa.Table:
        """Rows read from a legacy file of cluster value `key` in the file schema."""
        columns = []
        for spec in self.schema:
            if spec.name == self.cluster and self.derived_cluster:
                columns.append(pa.array([key] * legacy.num_rows, pa.string()))
            elif spec.name in self.ids:
                columns.append(from_hex(legacy[spec.name], self.ids[spec.name], spec.name))
            else:
                columns.append(legacy[spec.name].cast(spec.type))
        return pa.Table.from_arrays(columns, schema=self.schema)

    def times_ns(self, data: pa.Table) -> np.ndarray[tuple[int], np.dtype[np.int64]]:
        times: np.ndarray[tuple[int], np.dtype[np.int64]] = np.asarray(
            data[self.time_column].to_numpy(), dtype=np.int64
        )
        return times * self.ns_per_unit if self.ns_per_unit != 1 else times

    def sort(self, data: pa.Table) -> pa.Table:
        """Rows in the file order (`hour_major` decides which): by cluster value then time, or
        by hour, then cluster value, then time."""
        if not self.hour_major(data):
            return data.sort_by([(self.cluster, "ascending"), (self.time_column, "ascending")])
        hours = np.floor_divide(self.times_ns(data), NS_PER_HOUR)
        keyed = data.append_column("__hour", pa.array(hours, pa.int64()))
        order = [("__hour", "ascending"), (self.cluster, "ascending")]
        return keyed.sort_by([*order, (self.time_column, "ascending")]).drop_columns(["__hour"])

    def hour_major(self, data: pa.Table) -> bool:
        """Whether `data` (a file's rows) is sparse: under `DENSE_ROWS` rows per cluster value
        and hour. Then a cluster value's hour is smaller than a Parquet page and (cluster,
        time) order would make a one-hour window read most pages of the file; in hour-major
        order the hour is one run of rows and its pages are the only ones read. Rows of one
        hour are in the same order either way."""
        if data.num_rows == 0:
            return False
        times = self.times_ns(data)
        first, last = int(times.min()) // NS_PER_HOUR, int(times.max()) // NS_PER_HOUR
        if first == last:
            return False
        keys = max(1, pc.count_distinct(data[self.cluster]).as_py())
        return bool(data.num_rows < DENSE_ROWS * keys * (last - first + 1))

    def elide(self, data: pa.Table) -> pa.Table:
        """`data` as written to a file: each `same_as` column null where it equals its
        reference column (`restore` undoes it)."""
        for column, reference in self.same_as.items():
            values = data[column]
            equal = pc.fill_null(pc.equal(values, data[reference]), False)
            elided = pc.if_else(equal, pa.scalar(None, values.type), values)
            data = data.set_column(data.schema.get_field_index(column), column, elided)
        return data

    def restore(self, data: pa.Table) -> pa.Table:
        """Rows read from a file with the `same_as` columns filled in again."""
        for column, reference in self.same_as.items():
            if column in data.column_names and reference in data.column_names:
                filled = pc.coalesce(data[column], data[reference])
                data = data.set_column(data.schema.get_field_index(column), column, filled)
        return data

    def split(self, batch: pa.Table) -> Iterator[Slice]:
        """One `Slice` per day touched, rows sorted by (cluster, time), ties in batch order —
        or hour-major where the day's rows are sparse (`hour_major`).

        A batch already in (day, cluster, time) order (the router's compiled decoder hands
        batches so) is cut into slices without copying; any other is sorted first.
        """
        batch = batch.combine_chunks()  # sorting and slicing one chunk is 2-3x faster
        data = self.conform(batch)
        if data.num_rows == 0:
            return
        times = self.times_ns(data)
        days = np.floor_divide(times, NS_PER_DAY)
        if not _in_order(days, data[self.cluster], times):
            keyed = pa.table({"day": days, "key": data[self.cluster], "time": times})
            order = pc.sort_indices(
                keyed, [("day", "ascending"), ("key", "ascending"), ("time", "ascending")]
            )
            data = data.take(order)
            index = order.to_numpy()
            times, days = times[index], days[index]
        starts = [0, *(np.flatnonzero(days[1:] != days[:-1]) + 1).tolist(), len(days)]
        for start, stop in itertools.pairwise(starts):
            rows = data.slice(start, stop - start)
            if self.hour_major(rows):
                rows = self.sort(rows)
            lo, hi, keys = self.statistics(rows)
            yield Slice({"day": day_key(int(days[start]) * NS_PER_DAY)}, rows, lo, hi, keys)

    def statistics(self, rows: pa.Table) -> tuple[int, int, tuple[KeyStats, ...]]:
        """(min ns, max ns, per cluster value stats, in value order) of a file's rows."""
        times = self.times_ns(rows)
        grouped = (
            pa.table({"key": rows[self.cluster], "t": pa.array(times, pa.int64())})
            .group_by("key")
            .aggregate([("t", "count"), ("t", "min"), ("t", "max")])
            .sort_by("key")
        )
        keys = tuple(
            KeyStats(key, rows_, lo, hi)
            for key, rows_, lo, hi in zip(
                grouped["key"].to_pylist(),
                grouped["t_count"].to_pylist(),
                grouped["t_min"].to_pylist(),
                grouped["t_max"].to_pylist(),
                strict=True,
            )
        )
        return int(times.min()), int(times.max()), keys


def _in_order(
    days: np.ndarray[tuple[int], np.dtype[np.int64]],
    keys: pa.ChunkedArray,
    times: np.ndarray[tuple[int], np.dtype[np.int64]],
) -> bool:
    """Whether rows are sorted by (day, key, time): a few vectorised passes, no copy."""
    if len(days) < 2:
        return True
    if (days[1:] < days[:-1]).any():
        return False
    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    same_day = pa.array(days[1:] == days[:-1])
    before, after = keys[:-1], keys[1:]
    backwards = pc.or_(
        pc.less(after, before),
        pc.and_(pc.equal(after, before), pa.array(times[1:] < times[:-1])),
    )
    return not pc.any(pc.and_(same_day, backwards)).as_py()


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
    LEGACY_OTEL_LOGS_SCHEMA,
    "time_unix_nano",
    1,
    "service",
    "service",
    _otel_service,
    frozenset(),
    ("time_unix_nano", "observed_time_unix_nano"),
    ID_COLUMNS,
    ("trace_id", "span_id"),
    ("span_id", "body", "log_attributes.key_value.value"),
    # SDKs set the observed time to the record's time (the emitter's traffic: every record)
    {"observed_time_unix_nano": "time_unix_nano"},
    ("body", "log_attributes", "resource_attributes", "scope_attributes", "trace_id", "span_id"),
)
CLOUDWATCH = TableFormat(
    "cloudwatch",
    "cloudwatch/events",
    CLOUDWATCH_EVENTS_SCHEMA,
    CLOUDWATCH_EVENTS_SCHEMA,
    "timestamp",
    1_000_000,
    "group",  # the legacy layout's path-escaped log group
    "log_group",
    _column("log_group", "unknown"),
    frozenset(),
    ("timestamp", "received_time_unix_nano"),
)
RAW = TableFormat(
    "raw",
    "raw/lines",
    RAW_FILE_SCHEMA,
    RAW_LINES_SCHEMA,
    "received_time_unix_nano",
    1,
    "source",
    "source",
    _given("source"),
    frozenset({"source"}),
    ("received_time_unix_nano",),
)
FORMATS: dict[str, TableFormat] = {f.name: f for f in (OTEL, CLOUDWATCH, RAW)}
