"""The query benchmark's peers: other engines answering the same questions over the same rows.

Requires: duckdb and chdb (`pip install -e '.[bench]'`), a table whose live files are all
compacted (`benchmarks/query.py` compacts after generating). Guarantees: each peer takes the
SQL its engine speaks (`questions.Question`) and runs it to an Arrow table; the Parquet peers
read exactly the table's compacted files; `ClickHouseMergeTree` is a copy of the same rows
loaded once into ClickHouse's own storage, kept next to the dataset and reused, created as
the OpenTelemetry Collector's ClickHouse exporter creates its logs table (partition by day,
ORDER BY (service, time), ZSTD(1) and Delta codecs, a bloom-filter skip index on the trace
id). ClickHouse's query condition cache (which remembers, across runs, the granules a
predicate matched) is turned off so that repeated runs measure the work, not the cache.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.backends.datafusion.engine import new_session


class Peer(Protocol):
    name: str

    def run(self, sql: str) -> pa.Table: ...


class DataFusionFiles:
    """Hand-written DataFusion SQL over the compacted files, Starbase's session settings."""

    name = "DataFusion"

    def __init__(self, compacted: Path, schema: pa.Schema, settings: tuple[str, ...] = ()) -> None:
        self.ctx = new_session()
        for setting in settings:  # a variant of Starbase's settings, to measure one
            self.ctx.sql(setting)
        self.ctx.register_listing_table(
            "otel",
            str(compacted) + "/",
            table_partition_cols=[("day", pa.string()), ("by", pa.string())],
            file_extension=".parquet",
            schema=schema,
        )

    def run(self, sql: str) -> pa.Table:
        return self.ctx.sql(sql).to_arrow_table()

    def explain_analyze(self, sql: str) -> str:
        rows = self.ctx.sql(f"EXPLAIN ANALYZE {sql}").to_arrow_table().to_pylist()
        return "\n".join(str(r["plan"]) for r in rows)


class DuckDBFiles:
    name = "DuckDB"

    def __init__(self, compacted: Path) -> None:
        self.db = duckdb.connect()
        self.db.execute(
            "CREATE VIEW logs AS SELECT * FROM read_parquet("
            f"'{compacted}/**/*.parquet', hive_partitioning = true, "
            "hive_types = {'day': 'VARCHAR', 'by': 'VARCHAR'})"
        )

    def run(self, sql: str) -> pa.Table:
        return self.db.sql(sql).to_arrow_table()


_CHDB: dict[str, object] = {}


def _chdb_session(path: Path) -> object:
    """chDB's one embedded server per process (a second path is refused): shared."""
    from chdb import session

    if "session" in _CHDB:
        return _CHDB["session"]
    path.mkdir(parents=True, exist_ok=True)
    chs = session.Session(str(path))
    _CHDB["session"] = chs
    chs.query("SET use_query_condition_cache = 0")
    chs.query("SET use_hive_partitioning = 1")
    chs.query("SET input_format_try_infer_datetimes = 0")
    chs.query("SET input_format_try_infer_dates = 0")
    return chs


class ClickHouseParquet:
    """ClickHouse (chDB) reading the same Parquet files, `day` from the folder names."""

    name = "CH Parquet"

    def __init__(self, compacted: Path, state: Path) -> None:
        self.chs = _chdb_session(state)
        self.source = f"file('{compacted}/**/*.parquet', Parquet)"

    def run(self, sql: str) -> pa.Table:
        return self.chs.query(sql.format(t=self.source), "ArrowTable")  # type: ignore[attr-defined]


MERGE_TREE = """
CREATE TABLE IF NOT EXISTS logs (
    time_unix_nano Int64 CODEC(Delta, ZSTD(1)),
    observed_time_unix_nano Int64 CODEC(Delta, ZSTD(1)),
    severity_number Int32 CODEC(ZSTD(1)),
    severity_text LowCardinality(String) CODEC(ZSTD(1)),
    body String CODEC(ZSTD(1)),
    log_attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    resource_attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    resource_schema_url LowCardinality(String) CODEC(ZSTD(1)),
    scope_name String CODEC(ZSTD(1)),
    scope_version LowCardinality(String) CODEC(ZSTD(1)),
    scope_attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    trace_id FixedString(16) CODEC(ZSTD(1)),
    span_id FixedString(8) CODEC(ZSTD(1)),
    flags Int32 CODEC(ZSTD(1)),
    dropped_attributes_count Int32 CODEC(ZSTD(1)),
    event_name String CODEC(ZSTD(1)),
    service LowCardinality(String) CODEC(ZSTD(1)),
    day String,
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY day
ORDER BY (service, time_unix_nano)
"""


class ClickHouseMergeTree:
    """ClickHouse's own storage, loaded once from the same Parquet files (see the module doc)."""

    name = "CH MergeTree"

    def __init__(self, compacted: Path, state: Path, rows: int) -> None:
        self.chs = _chdb_session(state)
        self.load_seconds: float | None = None
        loaded = self._count()
        if loaded != rows:
            self.chs.query("DROP TABLE IF EXISTS logs")  # type: ignore[attr-defined]
            self.chs.query(MERGE_TREE)  # type: ignore[attr-defined]
            started = time.perf_counter()
            self.chs.query(  # type: ignore[attr-defined]
                "INSERT INTO logs SELECT * EXCEPT (by) REPLACE (coalesce(trace_id, "
                "toFixedString('', 16)) AS trace_id, coalesce(span_id, toFixedString('', 8)) "
                "AS span_id) FROM file('" + str(compacted) + "/**/*.parquet', Parquet)"
            )
            self.chs.query("OPTIMIZE TABLE logs FINAL")  # type: ignore[attr-defined]
            self.load_seconds = time.perf_counter() - started

    def _count(self) -> int:
        try:
            result = self.chs.query("SELECT count() FROM logs", "CSV")  # type: ignore[attr-defined]
        except Exception:  # no table yet
            return -1
        return int(str(result).strip() or -1)

    def bytes_on_disk(self) -> tuple[int, int]:
        """(parts, bytes) of the table's active parts."""
        text = str(
            self.chs.query(  # type: ignore[attr-defined]
                "SELECT count(), sum(bytes_on_disk) FROM system.parts "
                "WHERE active AND table = 'logs'",
                "CSV",
            )
        )
        parts, size = text.strip().split(",")
        return int(parts), int(size)

    def read_bytes(self, sql: str) -> tuple[int, int]:
        """(rows, bytes) ClickHouse read from storage for `sql` (decompressed bytes)."""
        result = self.chs.query(sql.format(t="logs"), "CSV")  # type: ignore[attr-defined]
        return int(result.storage_rows_read()), int(result.storage_bytes_read())

    def run(self, sql: str) -> pa.Table:
        return self.chs.query(sql.format(t="logs"), "ArrowTable")  # type: ignore[attr-defined]
