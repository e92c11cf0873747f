"""The write-ahead log of one worker: numbered entries in segment files, fsynced before an ack.

Requires: a local directory of its own (a POSIX file system with working fsync); one process
at a time (an exclusive `flock` on `LOCK`, released by the kernel even on SIGKILL).
Guarantees:

- Layout: `<dir>/ID` (random id fixed at creation: names this log's writer in the tables, so
  a new log never reuses the sequence numbers of a deleted one), `<dir>/<first seq:020d>.wal`
  segments. An entry is a 34-byte header (crc32, length, seq, received ns, record count, kind,
  tenant and meta lengths), then tenant, meta and payload bytes; the crc covers all but itself.
- `append` assigns consecutive sequence numbers, writes every entry of the group with one
  `writev` and makes it durable with one `fdatasync` before returning: group commit. It is all
  or nothing: if the write or the fsync fails (a full disk), the segment is truncated back and
  the sequence numbers are given back, so the log is as before and the next `append` may
  succeed; only if that undo fails too is `WalBroken` raised (the log's tail is unknown until
  the next `open` reads it back). `check` refuses a record whose lengths do not fit the header
  (payload and tenant + meta + payload under 4 GiB, tenant and meta under 64 KiB, records
  under 2**32) before anything is written. `probe` tells whether the log's disk takes writes.
- `open` reads the log back: a torn or corrupt tail of the newest segment (a write cut short
  by a crash, never acknowledged) is truncated away; damage anywhere else is `WalCorrupt`.
  Sequence numbers keep rising across restarts: the newest segment is never deleted, and an
  empty one carries the next number in its name.
- `release(seq)` deletes the segments whose entries all have sequence numbers <= `seq`.
- `load` reads an entry's payload back (the flusher keeps payload-less references, so what
  waits for the store is on disk, not in memory).
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import IntEnum
from pathlib import Path

from starbase.storage.store import fsync_dir

log = logging.getLogger("starbase.router")
_HEADER = struct.Struct("<IIQqIBxHH")  # crc, length, seq, received ns, records, kind, lengths
_SUFFIX = ".wal"
_IOV_MAX = 512
_MAX_U32, _MAX_U16 = 2**32 - 1, 2**16 - 1
_PROBE_BYTES = 4096


class Kind(IntEnum):
    """What a payload holds (and so which table it goes to)."""

    OTLP = 1  # an ExportLogsServiceRequest, protobuf
    CLOUDWATCH = 2  # a JSON list of CloudWatch Logs subscription DATA_MESSAGEs
    RAW = 3  # newline-delimited lines; meta = the source name


@dataclass(frozen=True)
class Entry:
    seq: int
    received_ns: int
    records: int
    kind: Kind
    tenant: str | None
    meta: str
    payload: bytes  # b"" in a reference (see `reference`)
    segment: int = 0  # first seq of the segment file holding it
    offset: int = 0  # where its payload starts in that file
    stored: int = 0  # payload length, kept by a reference
    partitions: frozenset[int] = frozenset()  # days touched, if known

    @property
    def size(self) -> int:
        """Payload bytes (also of a reference)."""
        return len(self.payload) or self.stored

    def reference(self) -> Entry:
        """This entry without its payload, which `Wal.load` reads back from the log."""
        return replace(self, payload=b"", stored=self.size, partitions=frozenset())


@dataclass(frozen=True)
class Record:
    """An entry before it has a sequence number."""

    received_ns: int
    records: int
    kind: Kind
    tenant: str | None
    meta: str
    payload: bytes
    partitions: frozenset[int] = frozenset()  # days touched; not logged: for the flusher only


class WalCorrupt(Exception):
    """A segment other than the newest is damaged: refusing to guess what was acknowledged."""


class WalBusy(Exception):
    """Another process holds this WAL directory."""


class WalBroken(Exception):
    """A failed write could not be undone: the log must be reopened (restart the router)."""


@dataclass
class _Segment:
    first: int
    path: Path
    last: int  # highest seq in it (first - 1 when empty)
    size: int


class Wal:
    """One worker's log; `open()` first, then `append` from one thread at a time."""

    def __init__(self, directory: Path, segment_bytes: int) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.id = ""
        self._segments: list[_Segment] = []
        self._fd = -1
        self._lock_fd = -1
        self._mutex = threading.Lock()  # guards _segments against release() from the flusher
        self.next_seq = 1

    # ------------------------------------------------------------------ opening

    def open(self, wait_s: float = 5.0) -> None:
        """Take the directory (WalBusy if another process has it) and read its id."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_s  # a killed predecessor may take a moment to go
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(self._lock_fd)
                    self._lock_fd = -1
                    raise WalBusy(f"another router is using the WAL in {self.directory}") from None
                time.sleep(0.05)
        self.id = self._read_id()

    def replay(self) -> Iterator[Entry]:
        """Every intact entry in order; the log is ready for `append` once this is exhausted."""
        names = sorted(p for p in self.directory.iterdir() if p.name.endswith(_SUFFIX))
        for index, path in enumerate(names):
            newest = index == len(names) - 1
            first = int(path.name[: -len(_SUFFIX)])
            segment = _Segment(first, path, first - 1, 0)
            yield from self._scan(segment, newest)
            self._segments.append(segment)
            self.next_seq = max(self.next_seq, segment.last + 1)
        if self._segments:
            self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_APPEND)
        else:
            self._roll()

    def _read_id(self) -> str:
        path = self.directory / "ID"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        ident = secrets.token_hex(4)
        temp = self.directory / ".ID.tmp"
        with open(temp, "w") as handle:
            handle.write(ident)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        fsync_dir(self.directory)
        return ident

    def _scan(self, segment: _Segment, newest: bool) -> Iterator[Entry]:
        data = segment.path.read_bytes()
        offset = 0
        while offset < len(data):
            entry, end = _decode(data, offset, segment.first)
            if entry is None or entry.seq <= segment.last:
                if not newest:
                    raise WalCorrupt(f"{segment.path}: damaged entry at byte {offset}")
                with open(segment.path, "r+b") as handle:  # a torn tail: never acknowledged
                    handle.truncate(offset)
                    os.fsync(handle.fileno())
                break
            segment.last = entry.seq
            offset = end
            yield entry
        segment.size = offset

    # ------------------------------------------------------------------ writing

    @staticmethod
    def check(record: Record) -> None:
        """ValueError if `record` cannot be an entry (a length overflows its header field)."""
        tenant, meta = len((record.tenant or "").encode()), len(record.meta.encode())
        if tenant > _MAX_U16 or meta > _MAX_U16:
            raise ValueError(f"tenant or meta longer than {_MAX_U16} bytes")
        if tenant + meta + len(record.payload) > _MAX_U32:
            raise ValueError(f"entry larger than {_MAX_U32} bytes")
        if not 0 <= record.records <= _MAX_U32:
            raise ValueError(f"record count {record.records} out of range")

    def append(self, records: list[Record]) -> list[Entry]:
        """Write `records` as consecutive entries and fsync them; return the entries.

        All or nothing (see the module docstring): on an error nothing stays written.
        """
        for record in records:
            self.check(record)
        entries: list[Entry] = []
        buffers: list[bytes] = []
        with self._mutex:
            segment = self._segments[-1]
            position = before = segment.size
        first_seq = self.next_seq
        for record in records:
            tenant, meta = (record.tenant or "").encode(), record.meta.encode()
            offset = position + _HEADER.size + len(tenant) + len(meta)
            entry = Entry(
                first_seq + len(entries),
                *_fields(record),
                segment.first,
                offset,
                partitions=record.partitions,
            )
            entries.append(entry)
            encoded = _encode(entry)
            buffers.extend(encoded)
            position += sum(len(b) for b in encoded)
        size = position - before
        try:
            for start in range(0, len(buffers), _IOV_MAX):
                _write_all(self._fd, buffers[start : start + _IOV_MAX])
            os.fdatasync(self._fd)
        except BaseException as exc:
            self._undo(before, exc)
            raise
        self.next_seq = first_seq + len(entries)
        with self._mutex:
            active = self._segments[-1]
            active.last = entries[-1].seq if entries else active.last
            active.size += size
            if active.size >= self.segment_bytes:
                try:
                    self._roll()
                except OSError as exc:  # the entries are durable: roll at the next append
                    log.warning("could not start a new WAL segment (will retry): %s", exc)
        return entries

    def _undo(self, size: int, cause: BaseException) -> None:
        """Cut the active segment back to `size` bytes after a failed write (WalBroken if not)."""
        try:
            os.ftruncate(self._fd, size)
            os.fdatasync(self._fd)
        except OSError as exc:
            raise WalBroken(
                f"a write to {self.directory} failed ({cause}) and could not be undone ({exc})"
            ) from exc

    def probe(self) -> None:
        """OSError unless a small file can be written and fsynced in the log's directory."""
        path = self.directory / ".probe"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_all(fd, [bytes(_PROBE_BYTES)])
                os.fdatasync(fd)
            finally:
                os.close(fd)
        finally:
            path.unlink(missing_ok=True)

    def load(self, entry: Entry) -> bytes:
        """The payload of `entry` (read back from its segment for a reference)."""
        if entry.payload or not entry.stored:
            return entry.payload
        fd = os.open(self.directory / f"{entry.segment:020d}{_SUFFIX}", os.O_RDONLY)
        try:
            data = os.pread(fd, entry.stored, entry.offset)
        finally:
            os.close(fd)
        if len(data) != entry.stored:
            raise WalCorrupt(f"{self.directory}: entry {entry.seq} is cut short")
        return data

    def _roll(self) -> None:
        path = self.directory / f"{self.next_seq:020d}{_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fsync_dir(self.directory)
        except OSError:
            os.close(fd)
            raise
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = fd
        self._segments.append(_Segment(self.next_seq, path, self.next_seq - 1, 0))

    # ------------------------------------------------------------------ truncating

    def release(self, upto_seq: int) -> int:
        """Delete every segment (but the newest) whose entries all have seq <= `upto_seq`."""
        with self._mutex:
            doomed = [s for s in self._segments[:-1] if s.last <= upto_seq]
            self._segments = [s for s in self._segments if s not in doomed]
        for segment in doomed:
            segment.path.unlink(missing_ok=True)
        if doomed:
            fsync_dir(self.directory)
        return len(doomed)

    def retire(self) -> None:
        """Everything is committed: start an empty segment and delete the others."""
        with self._mutex:
            active = self._segments[-1]
            if active.last >= active.first:  # not already an empty segment
                self._roll()
        self.release(self.next_seq - 1)

    @property
    def size(self) -> int:
        """Bytes in the log's segments."""
        with self._mutex:
            return sum(s.size for s in self._segments)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1


def writer_name(worker: int, wal_id: str) -> str:
    """The writer whose sequence numbers a table remembers for this log."""
    return f"router-{worker}-{wal_id}"


def _fields(record: Record) -> tuple[int, int, Kind, str | None, str, bytes]:
    return (
        record.received_ns,
        record.records,
        record.kind,
        record.tenant,
        record.meta,
        record.payload,
    )


def _encode(entry: Entry) -> list[bytes]:
    tenant = (entry.tenant or "").encode()
    meta = entry.meta.encode()
    body = len(tenant) + len(meta) + len(entry.payload)
    head = _HEADER.pack(
        0, body, entry.seq, entry.received_ns, entry.records, entry.kind, len(tenant), len(meta)
    )
    crc = zlib.crc32(entry.payload, zlib.crc32(meta, zlib.crc32(tenant, zlib.crc32(head[4:]))))
    return [struct.pack("<I", crc) + head[4:], tenant, meta, entry.payload]


def _decode(data: bytes, offset: int, segment: int) -> tuple[Entry | None, int]:
    end = offset + _HEADER.size
    if end > len(data):
        return None, offset
    crc, body, seq, received, records, kind, tenant_len, meta_len = _HEADER.unpack_from(
        data, offset
    )
    stop = end + body
    if body < tenant_len + meta_len or stop > len(data):
        return None, offset
    view = memoryview(data)
    if zlib.crc32(view[offset + 4 : stop]) != crc or kind not in Kind._value2member_map_:
        return None, offset
    tenant = bytes(view[end : end + tenant_len]).decode()
    meta = bytes(view[end + tenant_len : end + tenant_len + meta_len]).decode()
    start = end + tenant_len + meta_len
    payload = bytes(view[start:stop])
    entry = Entry(seq, received, records, Kind(kind), tenant or None, meta, payload, segment, start)
    return entry, stop


def _write_all(fd: int, buffers: list[bytes]) -> None:
    total = sum(len(b) for b in buffers)
    written = os.writev(fd, buffers)
    if written < total:  # rare: finish the rest in one piece
        rest = b"".join(buffers)[written:]
        while rest:
            rest = rest[os.write(fd, rest) :]
