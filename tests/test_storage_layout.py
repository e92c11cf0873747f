"""The stored OTel layout: partition math, paths, atomic time-sorted Parquet files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.dataset as ds  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from starbase.mappings import TRANSFORM_FORMATS, load_mapping
from starbase.storage import (
    HOUR_FORMAT,
    OTEL_LOGS_SCHEMA,
    PARTITION_COLUMNS,
    PARTITION_SCHEMA,
    TABLE_DIR,
    hour_key,
    parse_partition_path,
    partition_path,
    partition_values,
    write_batch,
)

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
def test_hour_keys_sort_like_time(a: int, b: int) -> None:
    if a <= b:
        assert hour_key(a) <= hour_key(b)
    else:
        assert hour_key(a) >= hour_key(b)


def test_partition_values() -> None:
    assert partition_values(H, "checkout") == {"hour": "1970-01-01T01", "service": "checkout"}
    assert partition_values(0, None)["service"] == "unknown_service"
    assert partition_values(0, "")["service"] == "unknown_service"


@given(INT64, st.text(min_size=1, max_size=15))
def test_partition_path_round_trip(ns: int, service: str) -> None:
    values = partition_values(ns, service)
    rel = partition_path(values)
    assert rel.count("/") == 1 and "\x00" not in rel
    assert parse_partition_path(rel) == values
    assert parse_partition_path(f"{TABLE_DIR}/{rel}/x.parquet") == values


def test_partition_path_shape_and_errors() -> None:
    values = {"hour": "2026-11-27T05", "service": "a/b=c d"}
    assert partition_path(values) == "hour=2026-11-27T05/service=a%2Fb%3Dc%20d"
    with pytest.raises(ValueError):
        partition_path({"hour": "2026-11-27 05", "service": "x"})
    with pytest.raises(ValueError):
        partition_path({"hour": "2026-11-27T05"})
    with pytest.raises(ValueError):
        parse_partition_path("service=x/hour=2026-11-27T05")
    with pytest.raises(ValueError):
        parse_partition_path("otel/logs/hour=2026-11-27T05")


def test_mapping_partitions_agree_with_layout() -> None:
    otel = load_mapping("otel")
    parts = [(p.column, p.field, p.transform) for p in otel.partitions]
    assert parts == [("hour", "timestamp", "hour"), ("service", "service", "identity")]
    assert [p.column for p in otel.partitions] == [name for name, _ in PARTITION_COLUMNS]
    assert all(kind == pa.string() for _, kind in PARTITION_COLUMNS)
    assert all(otel.column_type(p.column) == "string" for p in otel.partitions)
    assert otel.partitions[0].strftime == TRANSFORM_FORMATS["hour"] == HOUR_FORMAT
    ns = 1_795_755_600 * 10**9 + 123
    when = datetime.fromtimestamp(ns // 10**9, UTC)
    assert partition_values(ns, "s")["hour"] == when.strftime(otel.partitions[0].strftime)


def test_mapping_columns_agree_with_schema() -> None:
    names = {pa.int64(): "int64", pa.int32(): "int32", pa.string(): "string", MAP: MAP_NAME}
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
    schema = pa.schema([*PARTITION_SCHEMA, pa.field("c", pa.string())])
    partitioning = ds.partitioning(schema, flavor="hive")
    files = root / TABLE_DIR / "incoming"
    return ds.dataset(files, format="parquet", partitioning=partitioning).to_table()


def test_write_batch_round_trip(tmp_path: Path) -> None:
    base = 1_795_755_600 * 10**9  # 2026-11-27T05:00Z
    times = [base + 5, base - 1, base + 1, base + H, base + 2, -1]
    services = ["checkout", "checkout", "pay/ments", "checkout", None, "checkout"]
    written = write_batch(tmp_path, _records(times, services))

    rel = sorted(
        str(p.parent.parent.relative_to(tmp_path / TABLE_DIR / "incoming")) for p in written
    )
    assert {p.parent.name for p in written} == {"c=000000000001"}  # one commit
    assert rel == [
        "hour=1969-12-31T23/service=checkout",
        "hour=2026-11-27T04/service=checkout",
        "hour=2026-11-27T05/service=checkout",
        "hour=2026-11-27T05/service=pay%2Fments",
        "hour=2026-11-27T05/service=unknown_service",
        "hour=2026-11-27T06/service=checkout",
    ]
    back = _read(tmp_path).sort_by("time_unix_nano")
    assert back["time_unix_nano"].to_pylist() == sorted(times)
    by_time = dict(zip(times, services, strict=True))
    assert back["service"].to_pylist() == [by_time[t] or "unknown_service" for t in sorted(times)]
    assert back["hour"].to_pylist() == [hour_key(t) for t in sorted(times)]
    assert back["body"].to_pylist() == [f"event {times.index(t)}" for t in sorted(times)]
    assert back["severity_text"].null_count == len(times)  # missing nullable column -> nulls


def test_files_are_complete_sorted_zstd_and_without_partition_columns(tmp_path: Path) -> None:
    base = 1_795_755_600 * 10**9
    times = [base + (i * 7919) % 1000 for i in range(1000)]
    written = write_batch(tmp_path, _records(times, ["checkout"] * 1000))
    assert len(written) == 1
    file = pq.ParquetFile(written[0])
    assert file.schema_arrow.names == OTEL_LOGS_SCHEMA.names
    assert file.metadata.row_group(0).column(0).compression == "ZSTD"
    column = file.read(columns=["time_unix_nano"])["time_unix_nano"].to_pylist()
    assert column == sorted(times)
    data_files = tmp_path / TABLE_DIR / "incoming"
    leftovers = [p for p in data_files.rglob("*") if p.is_file() and p.suffix != ".parquet"]
    assert leftovers == []


def test_file_names_sort_by_creation(tmp_path: Path) -> None:
    first = write_batch(tmp_path, _records([0], ["s"]))
    second = write_batch(tmp_path, _records([1], ["s"]))
    assert first[0].parent.parent == second[0].parent.parent
    assert first[0].parent.name < second[0].parent.name  # c=<commit>
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


def test_overlong_service_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        partition_path({"hour": "2026-11-27T05", "service": "é" * 100})
