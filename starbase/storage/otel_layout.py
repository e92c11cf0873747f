"""The stored OpenTelemetry logs layout: Arrow schema, Hive partitions, atomic Parquet writes.

Requires: rows in `OTEL_LOGS_SCHEMA` (see LAYOUT.md for why each column is what it is).
Guarantees: one definition of the layout shared by the router (writer) and runtime (reader);
`<root>/otel/logs/hour=YYYY-MM-DDTHH/service=<escaped service.name>/<name>.parquet`, where the
hour is UTC and sorts lexicographically in time order; `write_batch` makes each file appear
whole or not at all (temp name, fsync, rename, fsync of the directory), names files so they
sort by creation time, and sorts rows by `time_unix_nano` inside each file.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

TABLE_DIR = "otel/logs"
HOUR_FORMAT = "%Y-%m-%dT%H"  # the mapping's `hour` partition transform (model.TRANSFORM_FORMATS)
UNKNOWN_SERVICE = "unknown_service"  # what OTel SDKs report when service.name is not set
ROW_GROUP_ROWS = 128 * 1024
_MAX_SEGMENT_BYTES = 200  # file systems cap a name at 255 bytes
_NS_PER_HOUR = 3_600 * 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}$")

_STR_MAP = pa.map_(pa.string(), pa.string())
OTEL_LOGS_SCHEMA = pa.schema(
    [
        pa.field("time_unix_nano", pa.int64(), nullable=False),
        pa.field("observed_time_unix_nano", pa.int64()),
        pa.field("severity_number", pa.int32()),
        pa.field("severity_text", pa.string()),
        pa.field("body", pa.string()),
        pa.field("log_attributes", _STR_MAP),
        pa.field("resource_attributes", _STR_MAP),
        pa.field("resource_schema_url", pa.string()),
        pa.field("scope_name", pa.string()),
        pa.field("scope_version", pa.string()),
        pa.field("scope_attributes", _STR_MAP),
        pa.field("trace_id", pa.string()),
        pa.field("span_id", pa.string()),
        pa.field("flags", pa.int32()),
        pa.field("dropped_attributes_count", pa.int32()),
        pa.field("event_name", pa.string()),
    ]
)
# Encoded in the directory path only, never inside the files, in path order.
PARTITION_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("hour", pa.string()),
    ("service", pa.string()),
)
PARTITION_SCHEMA = pa.schema([pa.field(name, kind) for name, kind in PARTITION_COLUMNS])
_PARTITION_NAMES = tuple(name for name, _ in PARTITION_COLUMNS)


def hour_key(ns: int) -> str:
    """The UTC hour holding `ns` (ns since the epoch), as 'YYYY-MM-DDTHH'; floors before 1970."""
    return (_EPOCH + timedelta(hours=ns // _NS_PER_HOUR)).strftime(HOUR_FORMAT)


def partition_values(time_unix_nano: int, service: str | None) -> dict[str, str]:
    """The partition values of a record (unescaped); a missing service is `unknown_service`."""
    return {"hour": hour_key(time_unix_nano), "service": service or UNKNOWN_SERVICE}


def partition_path(values: dict[str, str]) -> str:
    """`hour=…/service=…` relative to the table directory; values are URI-escaped."""
    if set(values) != set(_PARTITION_NAMES):
        raise ValueError(f"partition values must name exactly {', '.join(_PARTITION_NAMES)}")
    if not _HOUR_VALUE.match(values["hour"]):
        raise ValueError(f"hour must look like 2026-11-27T05, not {values['hour']!r}")
    segments = []
    for name in _PARTITION_NAMES:
        segment = f"{name}={quote(values[name], safe='')}"
        if len(segment.encode()) > _MAX_SEGMENT_BYTES:
            raise ValueError(f"{name} value too long for a directory name: {values[name][:40]}…")
        segments.append(segment)
    return "/".join(segments)


def parse_partition_path(rel: str) -> dict[str, str]:
    """Inverse of `partition_path`; other segments (table dir, file name) are ignored."""
    found: dict[str, str] = {}
    for segment in rel.strip("/").split("/"):
        name, eq, value = segment.partition("=")
        if not eq or name not in _PARTITION_NAMES:
            continue
        expected = _PARTITION_NAMES[len(found)] if len(found) < len(_PARTITION_NAMES) else None
        if name != expected:
            raise ValueError(f"partition '{name}' repeated or out of order in {rel!r}")
        found[name] = unquote(value)
    if len(found) != len(_PARTITION_NAMES):
        raise ValueError(f"not a partition path: {rel!r}")
    return found


def write_batch(root: Path, table: pa.Table) -> list[Path]:
    """Write `table` under `root/TABLE_DIR`, one new file per partition touched; return them.

    `table` holds OTEL_LOGS_SCHEMA columns (missing nullable ones become null) and may add a
    string `service` column; where it is absent or null, resource_attributes['service.name']
    is used, then `unknown_service`.
    """
    data, services = _conform(table)
    if data.num_rows == 0:
        return []
    hours = pc.strftime(data["time_unix_nano"].cast(pa.timestamp("ns")), format=HOUR_FORMAT)
    keyed = data.append_column("__hour", hours).append_column("__service", services)
    keyed = keyed.sort_by(
        [("__hour", "ascending"), ("__service", "ascending"), ("time_unix_nano", "ascending")]
    )
    written: list[Path] = []
    for start, stop in _runs(keyed["__hour"], keyed["__service"]):
        part = keyed.slice(start, stop - start)
        values = {"hour": part["__hour"][0].as_py(), "service": part["__service"][0].as_py()}
        directory = root / TABLE_DIR / partition_path(values)
        written.append(_write_file(directory, part.select(OTEL_LOGS_SCHEMA.names)))
    return written


def _conform(table: pa.Table) -> tuple[pa.Table, pa.ChunkedArray]:
    """`table` as exactly OTEL_LOGS_SCHEMA, and the service of each row."""
    known = {*OTEL_LOGS_SCHEMA.names, "service"}
    extra = [name for name in table.column_names if name not in known]
    if extra:
        raise ValueError(f"columns not in the OTel logs layout: {', '.join(extra)}")
    columns = []
    for field in OTEL_LOGS_SCHEMA:
        if field.name in table.column_names:
            columns.append(table[field.name].cast(field.type))
        elif field.nullable:
            columns.append(pa.nulls(table.num_rows, field.type))
        else:
            raise ValueError(f"column {field.name} is required")
    data = pa.Table.from_arrays(columns, schema=OTEL_LOGS_SCHEMA)
    if data["time_unix_nano"].null_count:
        raise ValueError("time_unix_nano must not be null (use the observed time when unset)")
    from_resource = pc.map_lookup(data["resource_attributes"], "service.name", "first")
    given = table["service"].cast(pa.string()) if "service" in table.column_names else None
    services = pc.coalesce(
        *([given] if given is not None else []), from_resource, pa.scalar(UNKNOWN_SERVICE)
    )
    services = pc.if_else(pc.equal(services, ""), pa.scalar(UNKNOWN_SERVICE), services)
    return data, services


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


def _write_file(directory: Path, table: pa.Table) -> Path:
    _make_dirs(directory)
    name = f"{time.time_ns():020d}-{secrets.token_hex(8)}.parquet"
    final, temp = directory / name, directory / f".{name}.tmp"  # readers skip dot-files
    try:
        with open(temp, "wb") as sink:
            pq.write_table(
                table,
                sink,
                compression="zstd",
                row_group_size=ROW_GROUP_ROWS,
                write_page_index=True,
                sorting_columns=[pq.SortingColumn(0)],  # time_unix_nano, ascending
            )
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    return final


def _make_dirs(directory: Path) -> None:
    """Create `directory` and fsync each parent that gained an entry, so the path survives."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
