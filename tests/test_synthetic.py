"""Synthetic OTel logs: deterministic, in the stored layout, realistic enough, writable."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.dataset as ds  # type: ignore[import-untyped, unused-ignore]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic import (
    DEFAULT_SERVICES,
    SEVERITY_TEXT,
    SYNTHETIC_SCHEMA,
    _batches,
    generate,
    write_dataset,
)

from starbase.storage import OTEL_LOGS_SCHEMA, PARTITION_SCHEMA, TABLE_DIR, day_key, write_batch
from starbase.storage.ids import to_hex
from starbase.storage.otel_layout import LEGACY_OTEL_LOGS_SCHEMA

H = 3_600_000_000_000
START = 1_800_000_000_000_000_000 - 1_800_000_000_000_000_000 % H + 1_234_567  # mid-hour
SPAN = 3 * H


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return generate(20_000, start_ns=START, span_ns=SPAN, seed=11)


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _attrs(table: pa.Table, column: str = "log_attributes") -> list[dict[str, str]]:
    return [dict(entries) for entries in table[column].to_pylist()]


def test_same_seed_same_bytes_other_seed_other_rows() -> None:
    a = generate(3_000, start_ns=START, span_ns=SPAN, seed=3)
    b = generate(3_000, start_ns=START, span_ns=SPAN, seed=3)
    c = generate(3_000, start_ns=START, span_ns=SPAN, seed=4)
    assert a.equals(b)
    assert _ipc_bytes(a) == _ipc_bytes(b)
    assert not a["body"].equals(c["body"])
    assert not a["time_unix_nano"].equals(c["time_unix_nano"])


def test_schema_is_the_stored_columns_as_received(table: pa.Table) -> None:
    assert table.schema.equals(SYNTHETIC_SCHEMA)
    assert SYNTHETIC_SCHEMA.names == OTEL_LOGS_SCHEMA.names  # ids as hex text, not bytes
    assert SYNTHETIC_SCHEMA.field("trace_id").type == pa.string()
    assert table.select(LEGACY_OTEL_LOGS_SCHEMA.names).schema.equals(LEGACY_OTEL_LOGS_SCHEMA)
    assert table.num_rows == 20_000
    empty = generate(0, start_ns=START, span_ns=SPAN)
    assert empty.num_rows == 0 and empty.schema.equals(SYNTHETIC_SCHEMA)


def test_times_in_range_sorted_not_microsecond_aligned(table: pa.Table) -> None:
    times = table["time_unix_nano"].to_numpy()
    observed = table["observed_time_unix_nano"].to_numpy()
    assert times.min() >= START and times.max() < START + SPAN
    assert np.all(np.diff(times) >= 0)
    assert np.mean(times % 1_000 == 0) < 0.01  # ns precision matters
    assert np.all(observed > times) and np.median(observed - times) < 1e9
    # uniform-ish: every one of the three hours holds roughly a third of the rows
    per_hour = np.bincount((times - START) // H)
    assert per_hour.size == 3 and per_hour.min() > 0.25 * times.size
    tiny = generate(50, start_ns=START, span_ns=1)
    assert set(tiny["time_unix_nano"].to_pylist()) == {START}


def test_severities_and_services(table: pa.Table) -> None:
    numbers = table["severity_number"].to_numpy()
    counts = {n: int(np.sum(numbers == n)) for n in SEVERITY_TEXT}
    assert sum(counts.values()) == table.num_rows
    assert counts[9] > 0.5 * table.num_rows  # mostly INFO
    assert counts[9] > counts[5] > counts[13] > counts[17] > counts[21]
    text = table["severity_text"].to_pylist()
    assert 0 < text.count(None) < 0.01 * table.num_rows
    assert all(t is None or t == SEVERITY_TEXT[n] for t, n in zip(text, numbers, strict=True))
    services = table["service"].to_pylist()
    volume = {s: services.count(s) for s in DEFAULT_SERVICES}
    assert set(services) == set(DEFAULT_SERVICES)
    assert len(set(volume.values())) == len(volume)  # different volumes
    assert max(volume, key=volume.__getitem__) == "gateway"


def test_resource_and_scope(table: pa.Table) -> None:
    resources = _attrs(table, "resource_attributes")
    services = table["service"].to_pylist()
    assert all(r["service.name"] == s for r, s in zip(resources, services, strict=True))
    assert all(r["deployment.environment"] and r["service.version"] for r in resources)
    hosts = defaultdict(set)
    for r in resources:
        hosts[r["service.name"]].add(r["host.name"])
    assert all(2 <= len(h) <= 5 for h in hosts.values())
    assert table["scope_name"].null_count == 0 and table["scope_version"].null_count == 0


def test_ids_are_lowercase_hex_and_mostly_present(table: pa.Table) -> None:
    traces, spans = table["trace_id"].to_pylist(), table["span_id"].to_pylist()
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) for t in traces if t is not None)
    assert all(re.fullmatch(r"[0-9a-f]{16}", s) for s in spans if s is not None)
    assert 0.05 < traces.count(None) / len(traces) < 0.15
    assert all((t is None) == (s is None) for t, s in zip(traces, spans, strict=True))
    flags = table["flags"].to_pylist()
    assert all(f == (0 if t is None else 1) for f, t in zip(flags, traces, strict=True))


def test_requests_share_a_trace_across_services(table: pa.Table) -> None:
    rows_by_trace = defaultdict(list)
    attrs = _attrs(table)
    for i, trace in enumerate(table["trace_id"].to_pylist()):
        if trace is not None:
            rows_by_trace[trace].append(i)
    shared = [rows for rows in rows_by_trace.values() if len(rows) > 1]
    assert len(shared) > 0.02 * table.num_rows
    services = table["service"].to_pylist()
    for rows in shared:
        # in time order: payments answers, checkout logs, then the gateway's access line
        assert [services[i] for i in rows] == ["payments", "checkout", "gateway"]
        assert attrs[rows[0]]["order.id"] == attrs[rows[1]]["order.id"]
        assert attrs[rows[1]]["user.id"] == attrs[rows[2]]["user.id"]
        assert attrs[rows[2]]["http.route"] == "/api/checkout"


def test_bodies_and_attributes(table: pa.Table) -> None:
    bodies = table["body"].to_pylist()
    attrs = _attrs(table)
    assert re.fullmatch(r"(GET|POST) /api/\S+ \d{3} \d+ms", bodies[_first(bodies, "GET /api/")])
    assert any(b.startswith("upstream connect error: connection refused to ") for b in bodies)
    assert any(re.fullmatch(r"timeout after \d+ms waiting for \S+", b) for b in bodies)
    assert any(re.fullmatch(r"login failed for user u-\d+: bad password", b) for b in bodies)
    assert 0 < bodies.count("") < 0.01 * len(bodies)
    assert any('"' in b and not b.isascii() for b in bodies)  # quotes and unicode
    assert any(b.startswith("{") for b in bodies)  # JSON text body
    durations = [a["duration_ms"] for a in attrs if "duration_ms" in a]
    odd = {d for d in durations if not d.isdigit()}
    assert "n/a" in odd and len(odd) < 10 and len(durations) < len(attrs)
    for a in attrs:
        if "http.status_code" in a:
            assert a["http.status_code"].isdigit() and {"http.method", "http.route"} <= set(a)
    assert any("order.id" in a for a in attrs) and any("user.id" in a for a in attrs)
    assert any(not a for a in attrs)  # some records carry no attributes at all


def _first(values: list[str], prefix: str) -> int:
    return next(i for i, v in enumerate(values) if v.startswith(prefix))


def test_other_services_and_bad_arguments() -> None:
    table = generate(2_000, start_ns=START, span_ns=SPAN, services=("api", "worker"))
    assert set(table["service"].to_pylist()) == {"api", "worker"}
    traces = [t for t in table["trace_id"].to_pylist() if t is not None]
    assert len(set(traces)) == len(traces)  # no checkout requests without their services
    assert generate(10, start_ns=0, span_ns=10, services=("gateway",)).num_rows == 10
    for bad in [(), ("a", "a"), ("",)]:
        with pytest.raises(ValueError):
            generate(1, start_ns=0, span_ns=1, services=bad)
    with pytest.raises(ValueError):
        generate(-1, start_ns=0, span_ns=1)
    with pytest.raises(ValueError):
        generate(1, start_ns=0, span_ns=0)
    with pytest.raises(ValueError):
        generate(1, start_ns=2**63 - 10, span_ns=20)


def test_write_batch_round_trip(tmp_path: Path) -> None:
    table = generate(3_000, start_ns=START, span_ns=SPAN, seed=5)
    write_batch(tmp_path, table)
    dataset = ds.dataset(
        tmp_path / TABLE_DIR / "v2",
        format="parquet",
        partitioning=ds.partitioning(PARTITION_SCHEMA, flavor="hive"),
    )
    back = dataset.to_table()
    order = [("time_unix_nano", "ascending"), ("observed_time_unix_nano", "ascending")]
    back, table = back.sort_by(order), table.sort_by(order)
    assert back.num_rows == table.num_rows
    for name in SYNTHETIC_SCHEMA.names:
        column = back[name].combine_chunks()
        if name in ("trace_id", "span_id"):
            column = to_hex(column)
        assert column.equals(table[name].combine_chunks()), name
    days = [day_key(t) for t in table["time_unix_nano"].to_pylist()]
    assert back["day"].to_pylist() == days


def test_write_dataset_one_file_per_batch_and_day(tmp_path: Path) -> None:
    start = START + H // 2
    written = write_dataset(
        tmp_path, 6_000, start_ns=start, span_ns=5 * H, seed=2, batch_rows=2_500
    )
    assert written == 6_000
    files = sorted((tmp_path / TABLE_DIR).rglob("*.parquet"))
    days = {day_key(start), day_key(start + 5 * H - 1)}
    assert {f.parent.parent.name for f in files} == {f"day={d}" for d in days}
    assert len(files) == len({f.parent for f in files}) == 3  # 3 batches, one commit each
    back = ds.dataset(tmp_path / TABLE_DIR, format="parquet", partitioning="hive").to_table()
    times = back["time_unix_nano"].to_numpy()
    assert back.num_rows == 6_000 and times.min() >= start and times.max() < start + 5 * H
    assert pc.count_distinct(back["trace_id"]).as_py() < 6_000


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(0, 10**8),
    start=st.integers(-(10**18), 10**18),
    span=st.integers(1, 10**16),
    batch_rows=st.integers(1, 10**7),
)
def test_batches_cover_the_range_with_bounded_rows(
    rows: int, start: int, span: int, batch_rows: int
) -> None:
    if rows > 1_000 * batch_rows:
        rows = 1_000 * batch_rows  # keep the number of batches small
    batches = list(_batches(rows, start, span, batch_rows))
    assert sum(n for _, _, n in batches) == rows
    assert all(0 < n <= batch_rows and lo < hi for lo, hi, n in batches)
    assert all(start <= lo and hi <= start + span for lo, hi, _ in batches)
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(batches))
    if span >= len(batches):
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(batches))
