"""The stored OpenTelemetry logs layout: Arrow schema, day partitions, clustering, ids.

Requires: pyarrow only (this module imports nothing else of Starbase). Guarantees: one
definition of the layout shared by the router (writer), the storage layer and the runtime
(reader), described in LAYOUT.md:

- files below `<root>/otel/logs/v2/day=YYYY-MM-DD/` (UTC day of `time_unix_nano`, floored,
  so keys sort lexicographically in time order), rows clustered by `CLUSTER_COLUMNS`
  (service, then time) inside each file;
- `OTEL_LOGS_SCHEMA` keeps the OTel logs data model; `service` is a file column; trace and
  span ids are 16 and 8 raw bytes (the mapping shows them as lowercase hex);
- the layout Starbase wrote before (hour × service folders, hex ids:
  `LEGACY_OTEL_LOGS_SCHEMA`, `hour_key`, `legacy_partition_path`) stays readable.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

TABLE_DIR = "otel/logs"
DAY_FORMAT = "%Y-%m-%d"  # the mapping's `day` partition transform (model.TRANSFORM_FORMATS)
HOUR_FORMAT = "%Y-%m-%dT%H"  # legacy hour folders and retention cutoffs
UNKNOWN_SERVICE = "unknown_service"  # what OTel SDKs report when service.name is not set
TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8
MAX_SEGMENT_BYTES = 200  # file systems cap a name at 255 bytes
NS_PER_HOUR = 3_600 * 1_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HOUR_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}$")

_STR_MAP = pa.map_(pa.string(), pa.string())


def _schema(trace: pa.DataType, span: pa.DataType) -> list[pa.Field]:
    return [
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
        pa.field("trace_id", trace),
        pa.field("span_id", span),
        pa.field("flags", pa.int32()),
        pa.field("dropped_attributes_count", pa.int32()),
        pa.field("event_name", pa.string()),
    ]


OTEL_LOGS_SCHEMA = pa.schema(
    [
        *_schema(pa.binary(TRACE_ID_BYTES), pa.binary(SPAN_ID_BYTES)),
        pa.field("service", pa.string(), nullable=False),
    ]
)
# OTel records as writers hand them to `Table.append` (the router's OTLP conversion, tests):
# ids as hex text, the service from `resource_attributes` (or an extra `service` column).
OTEL_RECORDS_SCHEMA = pa.schema(_schema(pa.string(), pa.string()))
# The files of the legacy layout have exactly these columns (the service in the path only).
LEGACY_OTEL_LOGS_SCHEMA = OTEL_RECORDS_SCHEMA
ID_COLUMNS = {"trace_id": TRACE_ID_BYTES, "span_id": SPAN_ID_BYTES}
CLUSTER_COLUMNS = ("service", "time_unix_nano")
# Encoded in the directory path only, never inside the files.
PARTITION_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (("day", pa.string()),)
PARTITION_SCHEMA = pa.schema([pa.field(name, kind) for name, kind in PARTITION_COLUMNS])
LEGACY_PARTITION_COLUMNS = ("hour", "service")


def day_key(ns: int) -> str:
    """The UTC day holding `ns` (ns since the epoch), as 'YYYY-MM-DD' with a four-digit year
    (strftime's %Y does not pad years before 1000); floors before 1970."""
    moment = _EPOCH + timedelta(days=ns // NS_PER_DAY)
    return f"{moment.year:04d}" + moment.strftime(DAY_FORMAT.removeprefix("%Y"))


def hour_key(ns: int) -> str:
    """The UTC hour holding `ns` (ns since the epoch), as 'YYYY-MM-DDTHH' with a four-digit
    year (strftime's %Y does not pad years before 1000); floors before 1970."""
    moment = _EPOCH + timedelta(hours=ns // NS_PER_HOUR)
    return f"{moment.year:04d}" + moment.strftime(HOUR_FORMAT.removeprefix("%Y"))


def hour_start_ns(hour: str) -> int:
    """Inverse of `hour_key`: the first ns of the hour 'YYYY-MM-DDTHH'."""
    if not _HOUR_VALUE.match(hour):
        raise ValueError(f"hour must look like 2026-11-27T05, not {hour!r}")
    when = datetime.strptime(hour, HOUR_FORMAT).replace(tzinfo=UTC)
    return (when - _EPOCH) // timedelta(hours=1) * NS_PER_HOUR


def partition_values(time_unix_nano: int) -> dict[str, str]:
    """The partition values of a record."""
    return {"day": day_key(time_unix_nano)}


def partition_path(values: dict[str, str]) -> str:
    """`day=…` relative to the table's `v2/` folder."""
    if set(values) != {"day"}:
        raise ValueError("partition values must name exactly day")
    if not _DAY_VALUE.match(values["day"]):
        raise ValueError(f"day must look like 2026-11-27, not {values['day']!r}")
    return path_segment("day", values["day"])


def legacy_partition_path(values: dict[str, str]) -> str:
    """`hour=…/service=…`: where the legacy layout kept a partition (values URI-escaped)."""
    if set(values) != set(LEGACY_PARTITION_COLUMNS):
        raise ValueError(
            f"partition values must name exactly {', '.join(LEGACY_PARTITION_COLUMNS)}"
        )
    if not _HOUR_VALUE.match(values["hour"]):
        raise ValueError(f"hour must look like 2026-11-27T05, not {values['hour']!r}")
    return "/".join(path_segment(name, values[name]) for name in LEGACY_PARTITION_COLUMNS)


def path_segment(name: str, value: str) -> str:
    """`name=<value URI-escaped>` (every stored table's Hive encoding); refused when too long."""
    text = f"{name}={quote(value, safe='')}"
    if len(text.encode()) > MAX_SEGMENT_BYTES:
        raise ValueError(f"{name} value too long for a directory name: {value[:40]}…")
    return text


def parse_partition_path(rel: str, names: tuple[str, ...] = ("day",)) -> dict[str, str]:
    """Inverse of `partition_path` (or, with `names`, of the legacy path); other segments (table
    folders, commit folders, file name) are ignored."""
    found: dict[str, str] = {}
    for segment in rel.strip("/").split("/"):
        name, eq, value = segment.partition("=")
        if not eq or name not in names:
            continue
        expected = names[len(found)] if len(found) < len(names) else None
        if name != expected:
            raise ValueError(f"partition '{name}' repeated or out of order in {rel!r}")
        found[name] = unquote(value)
    if len(found) != len(names):
        raise ValueError(f"not a partition path: {rel!r}")
    return found
