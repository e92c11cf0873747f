"""Trino/Athena: the tables `python -m starbase.backends.trino.ddl` makes show exactly the
committed snapshot (partitions from the index, never a folder listing), and `--target trino`
is a target, not an engine."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from starbase import backends
from starbase.backends.trino.ddl import ddl, main
from starbase.compiler.timestamps import parse_iso
from starbase.storage import write_batch
from starbase.storage.table import open_table

T0 = parse_iso("2026-11-20T10:00:00Z")


def _rows(n: int, offset: int) -> pa.Table:
    return pa.table(
        {
            "time_unix_nano": pa.array([T0 + offset + i for i in range(n)], pa.int64()),
            "body": [f"m{i}" for i in range(n)],
            "resource_attributes": pa.array(
                [[("service.name", "auth")]] * n, pa.map_(pa.string(), pa.string())
            ),
        }
    )


def _partitions(text: str) -> list[str]:
    return [
        line.split("LOCATION")[1].strip() for line in text.splitlines() if "PARTITION (" in line
    ]


def test_partitions_are_the_committed_folders(tmp_path: Path) -> None:
    write_batch(tmp_path, _rows(3, 0))
    write_batch(tmp_path, _rows(2, 100))
    table = open_table(tmp_path, "otel")
    appended = _partitions(ddl("otel", table, "s3://logs/prefix"))
    assert len(appended) == 2 and all("by=append-" in p for p in appended)
    assert appended[0].startswith("'s3://logs/prefix/otel/logs/v2/day=2026-11-20/by=append-")
    table.compact()  # the append folders stay on disk until vacuum: superseded, not listed
    v2 = tmp_path / "otel" / "logs" / "v2" / "day=2026-11-20"
    assert sum(1 for p in v2.iterdir() if p.name.startswith("by=append-")) == 2
    (v2 / "by=append-999999999999").mkdir()  # a commit in flight: never listed either
    text = ddl("otel", table, "s3://logs/prefix")
    compacted = _partitions(text)
    assert len(compacted) == 1 and "by=compact-" in compacted[0]
    assert "-- otel: commit 3, 5 rows in 1 files" in text
    assert 'CREATE OR REPLACE VIEW "otel" AS SELECT "time_unix_nano",' in text


def test_the_command_prints_the_ddl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_batch(tmp_path, _rows(1, 0))
    assert main(["--data", str(tmp_path), "--location", "s3://b/p", "--name", "logs"]) == 0
    out = capsys.readouterr().out
    assert "CREATE EXTERNAL TABLE `logs__files`" in out and "STORED AS PARQUET" in out
    assert "`trace_id` binary" in out and "`log_attributes` map<string,string>" in out


def test_trino_is_a_target_not_an_engine() -> None:
    assert "trino" in backends.names() and "trino" not in backends.engines()
