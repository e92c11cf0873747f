"""Storage: where and how Starbase keeps the logs it receives.

Requires: pyarrow and numpy. Guarantees: the stored layouts (schemas, day partitions,
clustering, compact ids) are defined once, in `otel_layout` and `formats`, for both the
writer and the readers; `table` commits, compacts and expires them over the commit log in
`index`; `write_batch` appends OTel records in one commit. Modules import downwards only:
`otel_layout` → `ids`, `formats` → `index` → `table` → `engines`, `migrate`.
"""

from starbase.storage.otel_layout import (
    DAY_FORMAT,
    OTEL_LOGS_SCHEMA,
    PARTITION_COLUMNS,
    PARTITION_SCHEMA,
    TABLE_DIR,
    UNKNOWN_SERVICE,
    day_key,
    hour_key,
    parse_partition_path,
    partition_path,
    partition_values,
)
from starbase.storage.table import write_batch

__all__ = [
    "DAY_FORMAT",
    "OTEL_LOGS_SCHEMA",
    "PARTITION_COLUMNS",
    "PARTITION_SCHEMA",
    "TABLE_DIR",
    "UNKNOWN_SERVICE",
    "day_key",
    "hour_key",
    "parse_partition_path",
    "partition_path",
    "partition_values",
    "write_batch",
]
