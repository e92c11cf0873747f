"""Storage: where and how Starbase keeps the logs it receives.

Requires: nothing beyond pyarrow. Guarantees: the stored OTel logs layout (schema, partition
paths, atomic writes) is defined once, in `otel_layout`, for both the writer and the readers.
"""

from starbase.storage.otel_layout import (
    HOUR_FORMAT,
    OTEL_LOGS_SCHEMA,
    PARTITION_COLUMNS,
    PARTITION_SCHEMA,
    TABLE_DIR,
    UNKNOWN_SERVICE,
    hour_key,
    parse_partition_path,
    partition_path,
    partition_values,
    write_batch,
)

__all__ = [
    "HOUR_FORMAT",
    "OTEL_LOGS_SCHEMA",
    "PARTITION_COLUMNS",
    "PARTITION_SCHEMA",
    "TABLE_DIR",
    "UNKNOWN_SERVICE",
    "hour_key",
    "parse_partition_path",
    "partition_path",
    "partition_values",
    "write_batch",
]
