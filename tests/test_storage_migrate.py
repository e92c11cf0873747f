"""Data folders written by the legacy layout (hour x service folders, hex ids) keep working.

The legacy table is written here byte for byte as Starbase wrote it before the day layout:
Parquet files under `incoming/hour=H/service=S/c=V/` and `compacted/hour=H/service=S/g=G/`,
commits whose entries name an hour and a key, a checkpoint in the old columns. Then it is
read as it is (Starbase and DuckDB), appended to in the new layout, and migrated.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest

from starbase import compile
from starbase.cli import main
from starbase.compiler.timestamps import parse_iso
from starbase.config import default_config
from starbase.storage.engines import duckdb_select
from starbase.storage.otel_layout import LEGACY_OTEL_LOGS_SCHEMA, hour_key
from starbase.storage.table import open_table

H = 3_600 * 10**9
T0 = parse_iso("2026-11-20T10:00:00Z")
MAP = pa.map_(pa.string(), pa.string())
SERVICES = ("checkout", "pay/ments")  # an escaped folder name, as the legacy layout had


def _legacy_rows(n: int, seed: int, start: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        rows.append(
            {
                "time_unix_nano": start + rng.randrange(H),
                "severity_number": rng.choice([9, 17]),
                "body": f"legacy {seed}-{i}",
                "trace_id": f"{rng.getrandbits(128):032x}" if i % 4 else None,
                "span_id": f"{rng.getrandbits(64):016x}" if i % 4 else None,
                "service": SERVICES[i % 2],
            }
        )
    return rows


def _write_legacy_file(root: Path, path: str, rows: list[dict[str, object]]) -> dict[str, object]:
    ordered = sorted(rows, key=lambda r: int(r["time_unix_nano"]))  # type: ignore[call-overload]
    columns = {
        f.name: pa.array([r.get(f.name) for r in ordered], f.type) for f in LEGACY_OTEL_LOGS_SCHEMA
    }
    table = pa.Table.from_pydict(columns, schema=LEGACY_OTEL_LOGS_SCHEMA)
    file = root / "otel/logs" / path
    file.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, file, compression="zstd")
    times = [int(r["time_unix_nano"]) for r in ordered]  # type: ignore[call-overload]
    return {
        "path": path,
        "hour": hour_key(times[0]),
        "key": ordered[0]["service"],
        "min_ns": min(times),
        "max_ns": max(times),
        "rows": len(rows),
        "bytes": file.stat().st_size,
    }


def _commit(
    root: Path,
    version: int,
    operation: str,
    state: dict[str, object],
    add: list[dict[str, object]],
    remove: list[str],
) -> None:
    body = {
        "version": version,
        "operation": operation,
        "state": state,
        "add": add,
        "remove": remove,
    }
    log = root / "otel/logs/_log"
    log.mkdir(parents=True, exist_ok=True)
    (log / f"{version:020d}.json").write_text(json.dumps(body))


def _state(
    version: int, floor: int, gen: int, entries: list[dict[str, object]], incoming: int
) -> dict[str, object]:
    return {
        "version": version,
        "floor": floor,
        "gen": gen,
        "cutoff": None,
        "rows": sum(int(e["rows"]) for e in entries),  # type: ignore[call-overload]
        "files": len(entries),
        "incoming": incoming,
        "committed_ns": 1,
        "writers": {"router-0": version},
    }


def write_legacy_table(root: Path) -> list[dict[str, object]]:
    """Three legacy commits (append, compact, append) and an old-style checkpoint at 2."""
    first = _legacy_rows(40, 1, T0)
    entries1 = []
    for service in SERVICES:
        part = [r for r in first if r["service"] == service]
        folder = "checkout" if service == "checkout" else "pay%2Fments"
        path = f"incoming/hour=2026-11-20T10/service={folder}/c=000000000001/0001-a.parquet"
        entries1.append(_write_legacy_file(root, path, part))
    _commit(root, 1, "append", _state(1, 0, 0, entries1, 2), entries1, [])
    compacted = []
    for service in SERVICES:
        part = [r for r in first if r["service"] == service]
        folder = "checkout" if service == "checkout" else "pay%2Fments"
        path = f"compacted/hour=2026-11-20T10/service={folder}/g=000000000001/0002-b.parquet"
        compacted.append(_write_legacy_file(root, path, part))
    removed = [str(e["path"]) for e in entries1]
    _commit(root, 2, "compact", _state(2, 1, 1, compacted, 0), compacted, removed)
    for entry in entries1:  # vacuumed, as the router's compaction loop does
        (root / "otel/logs" / str(entry["path"])).unlink()
    checkpoint = pa.Table.from_pylist(
        compacted,
        schema=pa.schema(
            [
                ("path", pa.string()),
                ("hour", pa.string()),
                ("key", pa.string()),
                ("min_ns", pa.int64()),
                ("max_ns", pa.int64()),
                ("rows", pa.int64()),
                ("bytes", pa.int64()),
            ]
        ),
    )
    sink = io.BytesIO()
    pq.write_table(checkpoint, sink)
    (root / "otel/logs/_log" / f"{2:020d}.checkpoint.parquet").write_bytes(sink.getvalue())
    second = _legacy_rows(30, 2, T0 + H)
    path = "incoming/hour=2026-11-20T11/service=checkout/c=000000000003/0003-c.parquet"
    entry = _write_legacy_file(root, path, [{**r, "service": "checkout"} for r in second])
    _commit(root, 3, "append", _state(3, 1, 1, [*compacted, entry], 1), [entry], [])
    return first + [{**r, "service": "checkout"} for r in second]


def _answers(root: Path) -> dict[str, object]:
    config = default_config(root)
    by_service = compile("from otel | stats count() as n by service | sort service", config).run()
    bodies = compile("from otel | fields message | sort message", config).run()
    return {
        "by_service": list(
            zip(by_service["service"].to_pylist(), by_service["n"].to_pylist(), strict=True)
        ),
        "bodies": bodies["message"].to_pylist(),
    }


def test_a_legacy_table_is_read_appended_to_and_migrated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = write_legacy_table(tmp_path)
    config = default_config(tmp_path)
    expected = sorted(str(r["body"]) for r in rows)
    table = open_table(tmp_path, "otel")
    assert table.snapshot().legacy == 3 and len(table.files()) == 3
    before = _answers(tmp_path)
    assert before["bodies"] == expected
    assert dict(before["by_service"]) == {  # type: ignore[arg-type]
        "checkout": 20 + 30,
        "pay/ments": 20,
    }
    # hex ids read as lowercase hex, and a lookup by one finds its row
    wanted = next(r for r in rows if r["trace_id"])
    found = compile(
        f'from otel | where trace_id == "{wanted["trace_id"]}" | fields message, span_id', config
    ).run()
    assert found.to_pylist() == [{"message": wanted["body"], "span_id": wanted["span_id"]}]
    window = compile(
        'from otel | between "2026-11-20T11:00:00Z" and "2026-11-20T12:00:00Z"'
        " | stats count() as n",
        config,
    ).run()
    assert window["n"].to_pylist() == [30]
    duck = duckdb.sql(f"SELECT count(*), count(DISTINCT day) FROM ({duckdb_select(table)})")
    assert duck.fetchall() == [(70, 1)]

    # appends after the upgrade are in the day layout; both are read together
    table.append(
        pa.table(
            {
                "time_unix_nano": pa.array([T0 + 2 * H], pa.int64()),
                "body": ["new"],
                "service": ["checkout"],
            }
        )
    )
    assert table.snapshot().legacy == 3
    assert len(_answers(tmp_path)["bodies"]) == 71  # type: ignore[arg-type]

    assert main(["migrate", "--data", str(tmp_path), "--grace", "0s"]) == 0
    out = capsys.readouterr().out
    assert "otel (otel): migrated 3 legacy files (4 files in all" in out
    state = open_table(tmp_path, "otel").snapshot()
    assert (state.legacy, state.rows, state.files) == (0, 71, 1)
    assert not list((tmp_path / "otel/logs/incoming").rglob("*.parquet"))
    assert not list((tmp_path / "otel/logs/compacted").rglob("*.parquet"))
    after = _answers(tmp_path)
    assert after["bodies"] == sorted([*expected, "new"])
    found_after = compile(
        f'from otel | where trace_id == "{wanted["trace_id"]}" | fields message, span_id', config
    ).run()
    assert found_after.equals(found)
    assert main(["migrate", "--data", str(tmp_path)]) == 0
    assert "already in the day layout" in capsys.readouterr().out
