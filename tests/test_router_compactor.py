"""Background compaction's zstd level follows the ingest rate (the router's compactor)."""

from __future__ import annotations

from pathlib import Path

from test_router_harness import otlp_request

from starbase.router.compactor import BUSY_LEVEL, appended_rows, level_for
from starbase.router.native import otlp_table
from starbase.router.wal import Entry, Kind
from starbase.storage.table import COMPACT_ZSTD_LEVEL, open_table


def test_the_level_drops_when_records_arrive_fast() -> None:
    assert level_for(0) == level_for(10_000) == COMPACT_ZSTD_LEVEL
    assert level_for(400_000) == level_for(100_000) == BUSY_LEVEL
    assert BUSY_LEVEL < COMPACT_ZSTD_LEVEL


def test_appended_rows_are_what_the_next_compaction_rewrites(tmp_path: Path) -> None:
    table = open_table(tmp_path, "otel")
    for seq in (1, 2):
        payload = otlp_request(["a", "b", "c"])
        table.append(otlp_table([Entry(seq, 1, 3, Kind.OTLP, None, "", payload)]))
    assert appended_rows(table) == 6
    table.compact(level=level_for(6 / 600))
    assert appended_rows(table) == 0 and table.snapshot().rows == 6
