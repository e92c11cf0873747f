"""The stored OpenTelemetry logs layout: Arrow schema and Hive partitions.

Requires: rows in `OTEL_LOGS_SCHEMA` (see LAYOUT.md for why each column is what it is).
Guarantees: one definition of the layout shared by the router (writer), the storage layer and
the runtime (reader): partitions `hour=YYYY-MM-DDTHH/service=<escaped service.name>` below the
table's `incoming/` and `compacted/` folders, where the hour is UTC and sorts lexicographically
in time order; `write_batch` appends rows in one commit through `table.Table.append`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

TABLE_DIR = "otel/logs"
HOUR_FORMAT = "%Y-%m-%dT%H"  # the mapping's `hour` partition transform (model.TRANSFORM_FORMATS)
UNKNOWN_SERVICE = "unknown_service"  # what OTel SDKs report when service.name is not set
_MAX_SEGMENT_BYTES = 200  # file systems cap a name at 255 bytes
NS_PER_HOUR = 3_600 * 1_000_000_000
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
    """The UTC hour holding `ns` (ns since the epoch), as 'YYYY-MM-DDTHH' with a four-digit
    year (strftime's %Y does not pad years before 1000); floors before 1970."""
    moment = _EPOCH + timedelta(hours=ns // NS_PER_HOUR)
    return f"{moment.year:04d}" + moment.strftime(HOUR_FORMAT.removeprefix("%Y"))


def partition_values(time_unix_nano: int, service: str | None) -> dict[str, str]:
    """The partition values of a record (unescaped); a missing service is `unknown_service`."""
    return {"hour": hour_key(time_unix_nano), "service": service or UNKNOWN_SERVICE}


def partition_path(values: dict[str, str]) -> str:
    """`hour=…/service=…` relative to the table directory; values are URI-escaped."""
    if set(values) != set(_PARTITION_NAMES):
        raise ValueError(f"partition values must name exactly {', '.join(_PARTITION_NAMES)}")
    if not _HOUR_VALUE.match(values["hour"]):
        raise ValueError(f"hour must look like 2026-11-27T05, not {values['hour']!r}")
    return "/".join(path_segment(name, values[name]) for name in _PARTITION_NAMES)


def path_segment(name: str, value: str) -> str:
    """`name=<value URI-escaped>` (every stored table's Hive encoding); refused when too long."""
    text = f"{name}={quote(value, safe='')}"
    if len(text.encode()) > _MAX_SEGMENT_BYTES:
        raise ValueError(f"{name} value too long for a directory name: {value[:40]}…")
    return text


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
    """Append `table` to the OTel logs table under `root` in one commit; return the new files.

    `table` holds OTEL_LOGS_SCHEMA columns (missing nullable ones become null) and may add a
    string `service` column; where it is absent or null, resource_attributes['service.name']
    is used, then `unknown_service`. See `table.Table.append`.
    """
    from starbase.storage.table import open_table  # table.py builds on this module

    commit = open_table(root, "otel").append(table)
    if commit is None:
        return []
    return [root / TABLE_DIR / entry.path for entry in commit.add]
