"""How stored files are encoded, and that every reader still sees the rows as written.

- the observed time is stored as null where it equals the record's time (OTel SDKs set both
  alike) and read back whole by the storage API, Starbase's queries and DuckDB;
- a sparse day (under a page of rows per service and hour) is written hour-major, so a
  one-hour window reads one page run, not most of the file; a dense one stays clustered by
  (service, time); per-service statistics in the index are right either way;
- map keys are dictionary-encoded, free text and random ids carry no statistics.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from starbase import compile
from starbase.compiler.timestamps import parse_iso
from starbase.config import default_config
from starbase.runtime.session import Session
from starbase.storage.engines import duckdb_select
from starbase.storage.formats import DENSE_ROWS, OTEL
from starbase.storage.table import PAGE_ROWS, open_table

T0 = parse_iso("2026-11-20T00:00:00Z")
S = 1_000_000_000
H = 3_600 * S
MAP = pa.map_(pa.string(), pa.string())


def _records(times: list[int], services: list[str], observed: list[int | None]) -> pa.Table:
    n = len(times)
    return pa.table(
        {
            "time_unix_nano": pa.array(times, pa.int64()),
            "observed_time_unix_nano": pa.array(observed, pa.int64()),
            "severity_number": pa.array([9] * n, pa.int32()),
            "body": [f"event {i}" for i in range(n)],
            "log_attributes": pa.array([[("duration_ms", str(i % 97))] for i in range(n)], MAP),
            "service": services,
        }
    )


def _only_file(root: Path) -> Path:
    (path,) = (root / OTEL.directory / "v2").rglob("*.parquet")
    return path


def test_observed_time_equal_to_the_time_is_stored_null_and_read_back(tmp_path: Path) -> None:
    times = [T0 + i * S for i in range(4)]
    observed = [times[0], times[1] + 250, times[2], 0]  # equal, later, equal, unset (OTLP 0)
    table = open_table(tmp_path, "otel")
    table.append(_records(times, ["api"] * 4, observed))

    stored = pq.read_table(_only_file(tmp_path))["observed_time_unix_nano"].to_pylist()
    assert stored == [None, times[1] + 250, None, 0]
    (entry,) = table.files()
    assert table.read_file(entry)["observed_time_unix_nano"].to_pylist() == observed

    got = compile(
        "from otel | sort timestamp asc | fields observed_timestamp", default_config(tmp_path)
    ).run()
    as_ns = got["observed_timestamp"].cast(pa.int64()).to_pylist()
    assert as_ns == observed
    duck = duckdb.sql(
        f"SELECT observed_time_unix_nano FROM ({duckdb_select(table)}) ORDER BY time_unix_nano"
    ).fetchall()
    assert [r[0] for r in duck] == observed


def test_compaction_keeps_the_observed_time(tmp_path: Path) -> None:
    times = [T0 + i * S for i in range(6)]
    observed = [t + (i % 2) * 7 for i, t in enumerate(times)]
    table = open_table(tmp_path, "otel")
    table.append(_records(times[:3], ["api"] * 3, observed[:3]))
    table.append(_records(times[3:], ["api"] * 3, observed[3:]))
    table.compact()
    (entry,) = table.files()
    back = table.read_file(entry).sort_by("time_unix_nano")
    assert back["observed_time_unix_nano"].to_pylist() == observed


def _day(rows_per_service_hour: int, hours: int = 24) -> tuple[list[int], list[str]]:
    times, services = [], []
    for hour in range(hours):
        for k, service in enumerate(("web", "api", "db")):
            for i in range(rows_per_service_hour):
                times.append(T0 + hour * H + i * H // rows_per_service_hour + k)
                services.append(service)
    return times, services


def test_a_sparse_day_is_written_hour_major_with_right_statistics(tmp_path: Path) -> None:
    times, services = _day(5)
    table = open_table(tmp_path, "otel")
    table.append(_records(times, services, times))
    file = pq.ParquetFile(_only_file(tmp_path))
    assert file.metadata.row_group(0).sorting_columns == ()
    rows = file.read(columns=["service", "time_unix_nano"]).to_pylist()
    keys = [((r["time_unix_nano"] - T0) // H, r["service"], r["time_unix_nano"]) for r in rows]
    assert keys == sorted(keys)  # by hour, then service, then time
    (entry,) = table.files()
    assert [(k.key, k.rows) for k in entry.keys] == [("api", 120), ("db", 120), ("web", 120)]
    for key in entry.keys:
        own = [t for t, s in zip(times, services, strict=True) if s == key.key]
        assert (key.min_ns, key.max_ns) == (min(own), max(own))
    got = compile(
        "from otel | stats count() as n by service | sort service", default_config(tmp_path)
    )
    assert got.run().to_pylist() == [
        {"service": "api", "n": 120},
        {"service": "db", "n": 120},
        {"service": "web", "n": 120},
    ]


def test_a_dense_day_stays_clustered_by_service_then_time(tmp_path: Path) -> None:
    times, services = _day(DENSE_ROWS, hours=2)
    table = open_table(tmp_path, "otel")
    table.append(_records(times, services, times))
    file = pq.ParquetFile(_only_file(tmp_path))
    assert len(file.metadata.row_group(0).sorting_columns) == 2
    rows = file.read(columns=["service", "time_unix_nano"]).to_pylist()
    keys = [(r["service"], r["time_unix_nano"]) for r in rows]
    assert keys == sorted(keys)


def test_a_one_hour_window_of_a_sparse_day_reads_one_page_run(tmp_path: Path) -> None:
    times, services = _day(PAGE_ROWS // 8)  # 12 pages of rows over the day
    table = open_table(tmp_path, "otel")
    table.append(_records(times, services, times))
    table.compact()
    session = Session(default_config(tmp_path))
    query = session.compile(
        'from otel | between "2026-11-20T05:00:00Z" and "2026-11-20T06:00:00Z"'
        " | stats count() as n, avg(attributes.duration_ms) as ms by service"
    )
    plan = session.explain(query, analyze=True).part("DataFusion plan")
    assert plan is not None
    (pages,) = re.findall(r"page_index_pages_pruned=(\d+) total → (\d+) matched", plan.body)
    assert int(pages[0]) >= 9 and int(pages[1]) <= 2, pages  # the hour straddles two pages
    counts = {r["service"]: r["n"] for r in session.run(query).to_pylist()}
    assert counts == {"web": PAGE_ROWS // 8, "api": PAGE_ROWS // 8, "db": PAGE_ROWS // 8}


def test_map_keys_have_dictionaries_and_free_text_no_statistics(tmp_path: Path) -> None:
    times, services = _day(3, hours=1)
    open_table(tmp_path, "otel").append(_records(times, services, times))
    group = pq.ParquetFile(_only_file(tmp_path)).metadata.row_group(0)
    leaves = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    assert "RLE_DICTIONARY" in leaves["log_attributes.key_value.key"].encodings
    assert "RLE_DICTIONARY" in leaves["resource_attributes.key_value.value"].encodings
    assert "RLE_DICTIONARY" not in leaves["log_attributes.key_value.value"].encodings
    assert "RLE_DICTIONARY" not in leaves["body"].encodings
    assert not leaves["body"].is_stats_set
    assert not leaves["trace_id"].is_stats_set
    assert leaves["time_unix_nano"].is_stats_set and leaves["service"].is_stats_set
