"""The write-ahead log and the flusher, in process: replay, torn tails, corruption, truncation,
monotonic sequence numbers, the directory lock; exactly-once commits when a commit landed but
was not confirmed, and dead-lettering of an entry that cannot be stored.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_router_harness import otlp_request, table_rows

from starbase.router.config import RouterConfig
from starbase.router.convert import to_table
from starbase.router.destinations import Destinations
from starbase.router.flusher import Flusher
from starbase.router.metrics import Metrics
from starbase.router.wal import Kind, Record, Wal, WalBusy, WalCorrupt, writer_name


def opened(directory: Path, segment_bytes: int = 1 << 20) -> tuple[Wal, list[object]]:
    wal = Wal(directory, segment_bytes)
    wal.open(wait_s=0)
    return wal, list(wal.replay())


def record(payload: bytes, kind: Kind = Kind.RAW, tenant: str | None = None) -> Record:
    return Record(123, payload.count(b"\n"), kind, tenant, "src", payload)


def test_append_replay_and_sequence(tmp_path: Path) -> None:
    wal, replayed = opened(tmp_path)
    assert replayed == []
    first = wal.append([record(b"a\n"), record(b"b\n", tenant="acme")])
    second = wal.append([record(b"c\n")])
    assert [e.seq for e in first + second] == [1, 2, 3]
    wal.close()
    wal, replayed = opened(tmp_path)
    assert replayed == first + second
    assert wal.append([record(b"d\n")])[0].seq == 4
    wal.close()


def test_torn_tail_is_truncated_and_never_reused(tmp_path: Path) -> None:
    wal, _ = opened(tmp_path)
    wal.append([record(b"kept\n")])
    wal.close()
    segment = next(tmp_path.glob("*.wal"))
    intact = segment.stat().st_size
    with open(segment, "ab") as handle:  # a write cut short by a crash
        handle.write(b"\x01\x02\x03\x04" + b"\x00" * 40)
    wal, replayed = opened(tmp_path)
    assert [e.payload for e in replayed] == [b"kept\n"]  # type: ignore[attr-defined]
    assert segment.stat().st_size == intact
    assert wal.append([record(b"next\n")])[0].seq == 2
    wal.close()


def test_damage_before_the_newest_segment_is_refused(tmp_path: Path) -> None:
    wal, _ = opened(tmp_path, segment_bytes=64)
    for n in range(3):
        wal.append([record(b"x" * 100 + str(n).encode())])
    wal.close()
    oldest = sorted(tmp_path.glob("*.wal"))[0]
    data = bytearray(oldest.read_bytes())
    data[40] ^= 0xFF
    oldest.write_bytes(bytes(data))
    wal = Wal(tmp_path, 64)
    wal.open(wait_s=0)
    with pytest.raises(WalCorrupt, match="damaged entry"):
        list(wal.replay())
    wal.close()


def test_release_keeps_the_newest_segment_and_seqs_keep_rising(tmp_path: Path) -> None:
    wal, _ = opened(tmp_path, segment_bytes=64)
    entries = [wal.append([record(b"y" * 80)])[0] for _ in range(4)]
    assert len(list(tmp_path.glob("*.wal"))) == 5  # four full segments and an empty newest one
    assert wal.release(entries[1].seq) == 2
    assert wal.release(entries[-1].seq) == 2
    assert len(list(tmp_path.glob("*.wal"))) == 1
    wal.close()
    wal, replayed = opened(tmp_path, segment_bytes=64)
    assert replayed == []
    assert wal.append([record(b"z")])[0].seq == 5
    wal.retire()
    wal.close()


def test_one_process_per_wal_directory(tmp_path: Path) -> None:
    wal, _ = opened(tmp_path)
    with pytest.raises(WalBusy, match="another router"):
        Wal(tmp_path, 1 << 20).open(wait_s=0)
    wal.close()
    Wal(tmp_path, 1 << 20).open(wait_s=0)


def flusher_for(data: Path, wal: Wal) -> tuple[Flusher, RouterConfig]:
    config = RouterConfig(location=str(data), wal_dir=str(wal.directory.parent), flush_bytes=64)
    flusher = Flusher(
        config, wal, writer_name(0, wal.id), Destinations(config), Metrics(None, 0, 1)
    )
    return flusher, config


def test_a_commit_that_landed_unconfirmed_is_not_repeated(tmp_path: Path) -> None:
    """The table already has seq 2 (say the reply to that commit was lost): replaying the WAL
    commits 3 and 4 only, and nothing is skipped."""
    wal, _ = opened(tmp_path / "wal" / "0")
    entries = wal.append(
        [record(f"line {n}\n".encode()) for n in range(1, 3)]
        + [record(otlp_request(["o1", "o2"]), Kind.OTLP), record(b"line 4\n")]
    )
    flusher, config = flusher_for(tmp_path / "data", wal)
    raw_table = Destinations(config).table(None, Kind.RAW)
    raw_table.append(to_table(Kind.RAW, entries[:2]), writer=flusher.writer, seq=2)
    flusher.add(entries)
    assert flusher.stop(deadline_s=10)
    lines = sorted(table_rows(tmp_path / "data", "raw").column("line").to_pylist())
    assert lines == ["line 1", "line 2", "line 4"]
    assert table_rows(tmp_path / "data", "otel").column("body").to_pylist() == ["o1", "o2"]
    assert raw_table.snapshot().writers[flusher.writer] == 4
    again, _ = flusher_for(tmp_path / "data", wal)  # a replay of everything: all skipped
    again.add(entries)
    assert again.stop(deadline_s=10)
    assert table_rows(tmp_path / "data", "raw").num_rows == 3
    wal.close()


def test_an_entry_that_cannot_be_stored_is_dead_lettered(tmp_path: Path) -> None:
    wal, _ = opened(tmp_path / "wal" / "0")
    good = record(otlp_request(["fine"]), Kind.OTLP)
    bad = Record(1, 1, Kind.OTLP, None, "", b"\xff\xff not protobuf")
    entries = wal.append([good, bad, good])
    flusher, _ = flusher_for(tmp_path / "data", wal)
    flusher.add(entries)
    assert flusher.stop(deadline_s=10)
    assert table_rows(tmp_path / "data", "otel").column("body").to_pylist() == ["fine", "fine"]
    letters = sorted(os.listdir(tmp_path / "wal" / "0" / "dead-letter"))
    assert letters == ["00000000000000000002-otlp.bin", "00000000000000000002-otlp.txt"]
    wal.close()


def test_admission_pushes_back_with_the_reason(tmp_path: Path) -> None:
    from starbase.router.groupcommit import GroupCommit
    from starbase.router.server import Ingest

    wal, _ = opened(tmp_path / "wal" / "0")
    flusher, config = flusher_for(tmp_path / "data", wal)
    ingest = Ingest(config, wal, flusher, Metrics(None, 0, 1))
    starting = ingest.pressure()
    assert starting is not None and starting.status == 503 and "replaying" in starting.message
    ingest.group = GroupCommit(wal, ingest.on_durable)
    assert ingest.pressure() is None
    ingest.inflight = config.max_inflight_bytes
    busy = ingest.pressure()
    assert busy is not None and (busy.status, busy.retry_after_s) == (429, 2)
    ingest.inflight = 0
    flusher.buffered_bytes = config.max_buffer_bytes
    flusher.store_error = "EndpointConnectionError: could not connect"
    full = ingest.pressure()
    assert full is not None and full.status == 503 and "store is unreachable" in full.message
    ingest.group.close()
    wal.close()
