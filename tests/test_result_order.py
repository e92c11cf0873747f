"""The order of a result when the query gives no `sort` (docs/reference.md, "Result order").

Row queries come newest first (by the source's `timestamp`, even after `fields` drops it or
`extend` replaces it), so `limit` keeps the newest rows and `dedup` the newest row of each
key; `stats … by bin(…)` comes in time order (bins first, then the other keys); a `sort`
anywhere decides instead. Files are written out of time order, so storage order differs.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest

from starbase import compile
from starbase.compiler.timestamps import parse_iso
from starbase.config import config_from_dict, default_config
from starbase.storage import write_batch

T0 = parse_iso("2026-11-20T10:00:00Z")
MINUTE = 60 * 1_000_000_000
MAP = pa.map_(pa.string(), pa.string())
# (minutes after T0, service, message): three hours, written in the order below
ROWS = [
    (5, "api", "m05"),
    (130, "web", "m130"),
    (70, "api", "m70"),
    (0, "web", "m00"),
    (125, "api", "m125"),
    (65, "web", "m65"),
    (10, "api", "m10"),
]


def _table(rows: list[tuple[int, str, str]]) -> pa.Table:
    return pa.table(
        {
            "time_unix_nano": pa.array([T0 + m * MINUTE for m, _, _ in rows], pa.int64()),
            "observed_time_unix_nano": pa.array(
                [T0 + (200 - m) * MINUTE for m, _, _ in rows], pa.int64()
            ),
            "severity_number": pa.array([9] * len(rows), pa.int32()),
            "body": [text for _, _, text in rows],
            "resource_attributes": pa.array([[("service.name", s)] for _, s, _ in rows], MAP),
        }
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("order-data")
    for row in ROWS:  # one file each: storage order is not time order
        write_batch(root, _table([row]))
    return root


def messages(root: Path, text: str) -> list[object]:
    return compile(text, default_config(root)).run().column("message").to_pylist()


NEWEST_FIRST = [m for _, _, m in sorted(ROWS, reverse=True)]


def test_rows_come_newest_first(data: Path) -> None:
    assert messages(data, "from otel") == NEWEST_FIRST
    assert messages(data, "from otel | limit 3") == NEWEST_FIRST[:3]
    assert messages(data, 'from otel | where service == "api" | limit 2') == ["m125", "m70"]


def test_after_fields_and_extend_the_source_time_still_orders(data: Path) -> None:
    assert messages(data, "from otel | fields message | limit 3") == NEWEST_FIRST[:3]
    replaced = "from otel | extend timestamp = observed_timestamp | limit 2 | fields message"
    assert messages(data, replaced) == NEWEST_FIRST[:2]  # the source's time, not the new one
    parsed = 'from otel | parse message "m*" as n | fields n, message | limit 2'
    assert messages(data, parsed) == NEWEST_FIRST[:2]


def test_dedup_keeps_the_newest_row_of_each_key(data: Path) -> None:
    assert messages(data, "from otel | dedup service") == ["m130", "m125"]


def test_a_sort_decides(data: Path) -> None:
    assert messages(data, "from otel | sort timestamp | limit 2") == ["m00", "m05"]
    assert messages(data, "from otel | limit 3 | sort message") == sorted(NEWEST_FIRST[:3])


def test_time_buckets_come_in_time_order(data: Path) -> None:
    config = default_config(data)
    hours = compile("from otel | stats count() as n by bin(timestamp, 1h) as h", config).run()
    stamps = hours.column("h").cast(pa.int64()).to_pylist()
    assert stamps == [T0, T0 + 60 * MINUTE, T0 + 120 * MINUTE]
    assert hours.column("n").to_pylist() == [3, 2, 2]
    both = compile(
        "from otel | stats count() as n by service, bin(timestamp, 1h) as h | limit 3", config
    ).run()
    assert both.column("service").to_pylist() == ["api", "web", "api"]
    assert both.column("h").cast(pa.int64()).to_pylist() == [T0, T0, T0 + 60 * MINUTE]


def test_several_sources_merge_newest_first(data: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_batch(other, _table([(126, "db", "other126"), (1, "db", "other01")]))
    config = config_from_dict(
        {
            "sources": {
                "otel": {"format": "otel", "location": str(data)},
                "more": {"format": "otel", "location": str(other)},
            }
        }
    )
    got = compile("from otel, more | limit 4", config).run().column("message").to_pylist()
    assert got == ["m130", "other126", "m125", "m70"]
