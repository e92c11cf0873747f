"""The stored OTel layout: partition math, paths, compact ids, clustered Parquet files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.dataset as ds  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from starbase.mappings import TRANSFORM_FORMATS, load_mapping
from starbase.storage import (
    DAY_FORMAT,
    OTEL_LOGS_SCHEMA,
    PARTITION_COLUMNS,
    PARTITION_SCHEMA,
    TABLE_DIR,
    day_key,
    hour_key,
    parse_partition_path,
    partition_path,
    partition_values,
    write_batch,
)
from starbase.storage.ids import from_hex, to_hex
from starbase.storage.otel_layout import HOUR_FORMAT, hour_start_ns, legacy_partition_path

H = 3_600_000_000_000
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
MAP = pa.map_(pa.string(), pa.string())


# ---------------------------------------------------------------- partition math


@pytest.mark.parametrize(
    ("ns", "hour"),
    [
        (0, "1970-01-01T00"),
        (H - 1, "1970-01-01T00"),
        (H, "1970-01-01T01"),
        (-1, "1969-12-31T23"),
        (-H, "1969-12-31T23"),
        (-H - 1, "1969-12-31T22"),
        (1_795_755_600 * 10**9 - 1, "2026-11-27T04"),
        (1_795_755_600 * 10**9, "2026-11-27T05"),
        (2**63 - 1, "2262-04-11T23"),
        (-(2**63), "1677-09-21T00"),
    ],
)
def test_hour_key_boundaries(ns: int, hour: str) -> None:
    assert hour_key(ns) == hour


@given(st.lists(INT64, min_size=1, max_size=50))
def test_hour_key_agrees_with_the_vectorised_writer(values: list[int]) -> None:
    stamps = pa.array(values, pa.int64()).cast(pa.timestamp("ns"))
    assert pc.strftime(stamps, format=HOUR_FORMAT).to_pylist() == [hour_key(v) for v in values]


@given(INT64, INT64)
def test_hour_and_day_keys_sort_like_time(a: int, b: int) -> None:
    if a <= b:
        assert hour_key(a) <= hour_key(b) and day_key(a) <= day_key(b)
    else:
        assert hour_key(a) >= hour_key(b) and day_key(a) >= day_key(b)


def test_hour_start_inverts_hour_key() -> None:
    for ns in (0, H - 1, -1, 1_795_755_600 * 10**9 + 17):
        assert hour_start_ns(hour_key(ns)) == ns - ns % H
    with pytest.raises(ValueError, match="2026-11-27T05"):
        hour_start_ns("2026-11-27")


@given(st.lists(INT64, min_size=1, max_size=50))
def test_day_key_agrees_with_the_vectorised_writer(values: list[int]) -> None:
    from starbase.storage.formats import day_keys

    stamps = pa.array(values, pa.int64()).cast(pa.timestamp("ns"))
    expected = pc.strftime(stamps, format=DAY_FORMAT).to_pylist()
    assert expected == [day_key(v) for v in values]
    assert day_keys(np.array(values, dtype=np.int64)).to_pylist() == expected


def test_day_keys_have_four_digit_years() -> None:
    from starbase.compiler.timestamps import parse_iso

    # outside int64 nanoseconds: only ever a query bound, never a stored time
    assert day_key(parse_iso("0999-06-01T05:30:00Z")) == "0999-06-01"


def test_partition_values() -> None:
    assert partition_values(1_795_755_600 * 10**9) == {"day": "2026-11-27"}
    assert partition_values(-1) == {"day": "1969-12-31"}


@given(INT64)
def test_partition_path_round_trip(ns: int) -> None:
    values = partition_values(ns)
    path = f"otel/logs/v2/{partition_path(values)}/by=append-000000000001/x.parquet"
    assert parse_partition_path(path) == values


def test_partition_path_shape_and_errors() -> None:
    assert partition_path({"day": "2026-11-27"}) == "day=2026-11-27"
    with pytest.raises(ValueError, match="exactly day"):
        partition_path({"day": "2026-11-27", "service": "x"})
    with pytest.raises(ValueError, match="2026-11-27"):
        partition_path({"day": "2026-11-27T05"})
    with pytest.raises(ValueError, match="not a partition path"):
        parse_partition_path("otel/logs/v2/by=append-1")
    legacy = legacy_partition_path({"hour": "2026-11-27T05", "service": "a/b"})
    assert legacy == "hour=2026-11-27T05/service=a%2Fb"
    back = parse_partition_path(f"incoming/{legacy}/c=1/f.parquet", ("hour", "service"))
    assert back == {"hour": "2026-11-27T05", "service": "a/b"}


def test_mapping_partitions_agree_with_layout() -> None:
    otel = load_mapping("otel")
    parts = [(p.column, p.field, p.transform) for p in otel.partitions]
    assert parts == [("day", "timestamp", "day")]
    assert [p.column for p in otel.partitions] == [name for name, _ in PARTITION_COLUMNS]
    assert all(kind == pa.string() for _, kind in PARTITION_COLUMNS)
    assert all(otel.column_type(p.column) == "string" for p in otel.partitions)
    assert otel.partitions[0].strftime == TRANSFORM_FORMATS["day"] == DAY_FORMAT
    ns = 1_795_755_600 * 10**9 + 123
    when = datetime.fromtimestamp(ns // 10**9, UTC)
    assert partition_values(ns)["day"] == when.strftime(otel.partitions[0].strftime)


# ---------------------------------------------------------------- ids


@given(st.lists(st.one_of(st.none(), st.binary(min_size=16, max_size=16)), max_size=30))
def test_ids_round_trip_between_hex_and_bytes(ids: list[bytes | None]) -> None:
    text = pa.array([None if i is None else i.hex() for i in ids], pa.string())
    stored = from_hex(text, 16)
    assert stored.type == pa.binary(16) and stored.to_pylist() == ids
    assert to_hex(stored).to_pylist() == text.to_pylist()
    upper = pa.array([None if i is None else i.hex().upper() for i in ids], pa.string())
    assert from_hex(upper, 16).equals(stored)
    assert to_hex(stored.slice(1)).to_pylist() == text.to_pylist()[1:]


@pytest.mark.parametrize("bad", ["abc", "zz" * 16, "0" * 34, "é" * 16])
def test_ids_that_are_not_hex_of_the_right_length_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="trace_id must be"):
        from_hex(pa.array(["00" * 16, bad]), 16, "trace_id")


def test_mapping_columns_agree_with_schema() -> None:
    names = {pa.int64(): "int64", pa.int32(): "int32", pa.string(): "string", MAP: MAP_NAME}
    names |= {pa.binary(16): "binary", pa.binary(8): "binary"}
    otel = load_mapping("otel")
    stored = {c: t for c, t in otel.columns.items() if c not in dict(PARTITION_COLUMNS)}
    assert stored == {f.name: names[f.type] for f in OTEL_LOGS_SCHEMA}
    assert list(stored) == OTEL_LOGS_SCHEMA.names


MAP_NAME = "map<string,string>"


# ---------------------------------------------------------------- writing


def _records(times: list[int], services: list[str | None]) -> pa.Table:
    resources = [[("service.name", s)] if s is not None else None for s in services]
    return pa.table(
        {
            "time_unix_nano": pa.array(times, pa.int64()),
            "severity_number": pa.array([9] * len(times), pa.int32()),
            "body": [f"event {i}" for i in range(len(times))],
            "resource_attributes": pa.array(resources, MAP),
            "log_attributes": pa.array([[("k", str(i))] for i in range(len(times))], MAP),
        }
    )


def _read(root: Path) -> pa.Table:
    schema = pa.schema([*PARTITION_SCHEMA, pa.field("by", pa.string())])
    partitioning = ds.partitioning(schema, flavor="hive")
    files = root / TABLE_DIR / "v2"
    return ds.dataset(files, format="parquet", partitioning=partitioning).to_table()


def test_write_batch_round_trip(tmp_path: Path) -> None:
    base = 1_795_755_600 * 10**9  # 2026-11-27T05:00Z
    times = [base + 5, base - 1, base + 1, base + 24 * H, base + 2, -1]
    services = ["checkout", "checkout", "pay/ments", "checkout", None, "checkout"]
    batch = _records(times, services).append_column(
        "trace_id", pa.array(["0af7651916cd43dd8448eb211c80319c", None, *["ab" * 16] * 4])
    )
    written = write_batch(tmp_path, batch)

    rel = sorted(str(p.parent.parent.relative_to(tmp_path / TABLE_DIR / "v2")) for p in written)
    assert {p.parent.name for p in written} == {"by=append-000000000001"}  # one commit
    assert rel == ["day=1969-12-31", "day=2026-11-27", "day=2026-11-28"]
    back = _read(tmp_path).sort_by("time_unix_nano")
    assert back["time_unix_nano"].to_pylist() == sorted(times)
    by_time = dict(zip(times, services, strict=True))
    assert back["service"].to_pylist() == [by_time[t] or "unknown_service" for t in sorted(times)]
    assert back["day"].to_pylist() == [day_key(t) for t in sorted(times)]
    assert back["body"].to_pylist() == [f"event {times.index(t)}" for t in sorted(times)]
    assert back["severity_text"].null_count == len(times)  # missing nullable column -> nulls
    ids = dict(zip(times, batch["trace_id"].to_pylist(), strict=True))
    assert to_hex(back["trace_id"]).to_pylist() == [ids[t] for t in sorted(times)]


def test_files_are_clustered_zstd_with_blooms_and_without_partition_columns(
    tmp_path: Path,
) -> None:
    base = 1_795_755_600 * 10**9
    times = [base + (i * 7919) % 1000 for i in range(1000)]
    services = ["b-service" if i % 3 else "a-service" for i in range(1000)]
    ids = pa.array([f"{i:032x}" for i in range(1000)])
    written = write_batch(tmp_path, _records(times, services).append_column("trace_id", ids))
    assert len(written) == 1
    file = pq.ParquetFile(written[0])
    assert file.schema_arrow.names == OTEL_LOGS_SCHEMA.names
    group = file.metadata.row_group(0)
    assert group.column(0).compression == "ZSTD"
    leaves = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    trace = leaves["trace_id"]
    assert trace.physical_type == "FIXED_LEN_BYTE_ARRAY"
    assert trace.bloom_filter_offset is not None and trace.bloom_filter_offset > 0
    rows = file.read(columns=["service", "time_unix_nano"]).to_pylist()
    keys = [(r["service"], r["time_unix_nano"]) for r in rows]
    assert keys == sorted(zip(services, times, strict=True))
    data_files = tmp_path / TABLE_DIR / "v2"
    leftovers = [p for p in data_files.rglob("*") if p.is_file() and p.suffix != ".parquet"]
    assert leftovers == []


def test_file_names_sort_by_creation(tmp_path: Path) -> None:
    first = write_batch(tmp_path, _records([0], ["s"]))
    second = write_batch(tmp_path, _records([1], ["s"]))
    assert first[0].parent.parent == second[0].parent.parent
    assert first[0].parent.name < second[0].parent.name  # by=append-<commit>
    assert first[0].name < second[0].name


def test_explicit_service_column_wins(tmp_path: Path) -> None:
    table = _records([0, 1], ["from-resource", "from-resource"])
    table = table.append_column("service", pa.array(["explicit", None]))
    write_batch(tmp_path, table)
    assert sorted(_read(tmp_path)["service"].to_pylist()) == ["explicit", "from-resource"]


def test_write_batch_rejects_bad_input(tmp_path: Path) -> None:
    assert write_batch(tmp_path, _records([], [])) == []
    with pytest.raises(ValueError, match="not in the otel layout"):
        write_batch(tmp_path, _records([0], ["s"]).append_column("oops", pa.array([1])))
    with pytest.raises(ValueError, match="time_unix_nano"):
        write_batch(tmp_path, pa.table({"body": ["x"]}))
    assert not list((tmp_path / TABLE_DIR).rglob("*.parquet"))


def test_overlong_service_is_stored_and_only_the_legacy_path_refused_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too long"):
        legacy_partition_path({"hour": "2026-11-27T05", "service": "é" * 100})
    write_batch(tmp_path, _records([0], ["é" * 100]))  # a file column now, any length
    assert _read(tmp_path)["service"].to_pylist() == ["é" * 100]
    with pytest.raises(ValueError, match="trace_id must be 32 hex digits"):
        write_batch(tmp_path, _records([0], ["s"]).append_column("trace_id", pa.array(["xyz"])))
