"""A stored table: atomic appends, compaction, retention and vacuum over one commit log.

Requires: a `Store` (local folder or S3 prefix) and a `TableFormat`; one host writes a table at
a time (writers on that host serialize on local lock files; on S3 the commit log's conditional
create still refuses a second commit of the same version). Guarantees:

- Layout below the table root (e.g. `<data>/otel/logs/`):
  `incoming/hour=H/<key>=K/c=<commit>/<name>.parquet` — files of appends, one folder per commit;
  `compacted/hour=H/<key>=K/g=<generation>/<name>.parquet` — files written by compaction;
  `_log/` — the commit log (`index.py`).
- Visibility (`Visibility`): at state S a reader sees incoming files with
  S.floor < c <= S.version and compacted files with g <= S.gen, in hours >= S.cutoff. Files of a
  commit are written before the commit names them, under a version no reader admits yet, so a
  reader sees all of a commit or none of it; compaction swaps its inputs (c <= new floor) for
  its outputs (g = new gen) in one commit, so rows are never seen twice nor missed.
- Files that a commit removes are deleted by `vacuum` only after a grace period, so readers
  that planned before the commit can finish; an interrupted append or compaction leaves an
  intent file that the next one uses to delete the partial files before reusing the version.
- `append(batch, writer=, seq=)` is idempotent per (writer, seq): a replayed batch whose
  sequence number was already committed is skipped (the router's exactly-once replay).

A `Table` caches what it read of the commit log and is not thread-safe: give each thread
its own (`open_table` is cheap); processes and threads then coordinate through the locks.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import secrets
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from starbase.storage.formats import FORMATS, TableFormat
from starbase.storage.index import LOG, Commit, CommitLog, FileEntry, State, next_state
from starbase.storage.otel_layout import hour_key, path_segment
from starbase.storage.store import LocalStore, S3Location, S3Store, Store

ROW_GROUP_ROWS = 128 * 1024
TARGET_FILE_BYTES = 128 * 1024 * 1024
VACUUM_GRACE_S = 600.0
# zstd levels: appends stay cheap (they are on the ingest path and compaction rewrites them
# within minutes: level 1 encodes OTLP batches in 25% less CPU than 3, for 2% more bytes,
# benchmarks/otlp_decode.py); compaction, off the ingest path, spends ~2x the CPU for ~10%
# fewer bytes at rest; level 19 (`starbase compact --level 19`) another ~10% fewer for ~10x
# the CPU (measured on the emitter's traffic, docs/storage.md).
APPEND_ZSTD_LEVEL = 1
COMPACT_ZSTD_LEVEL = 9
_WIDTH = 12  # digits of the c= and g= folder values, so that string order is number order
_WRITE_INTENT = f"{LOG}/_append.intent"
_COMPACT_INTENT = f"{LOG}/_compact.intent"
_VACUUMED = f"{LOG}/_vacuumed"  # every commit up to this version had its removals deleted


class ConcurrentCommit(Exception):
    """Another host committed the version this writer was about to commit."""


@dataclass(frozen=True)
class Visibility:
    """The predicates that make a listing of the table's folders equal to a snapshot."""

    state: State

    @property
    def incoming(self) -> str:
        s = self.state
        return f"c > '{s.floor:0{_WIDTH}d}' AND c <= '{s.version:0{_WIDTH}d}'" + self._hours

    @property
    def compacted(self) -> str:
        return f"g <= '{self.state.gen:0{_WIDTH}d}'" + self._hours

    @property
    def _hours(self) -> str:
        return f" AND hour >= '{self.state.cutoff}'" if self.state.cutoff else ""


@dataclass(frozen=True)
class CompactReport:
    commit: Commit | None
    inputs: int
    outputs: int
    bytes_in: int
    bytes_out: int


@dataclass(frozen=True)
class VacuumReport:
    deleted_files: int
    pruned_commits: int
    checkpoint: int


class Table:
    def __init__(self, store: Store, fmt: TableFormat, lock_dir: Path) -> None:
        self.store = store
        self.format = fmt
        self.log = CommitLog(store)
        self._lock_dir = lock_dir

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> State:
        """The latest committed state (one small read of the commit log)."""
        return self.log.head()

    def files(self, state: State | None = None) -> list[FileEntry]:
        """The live files at `state` (default: the latest), from the index."""
        return self.log.files(state if state is not None else self.snapshot())

    def visibility(self, state: State | None = None) -> Visibility:
        return Visibility(state if state is not None else self.snapshot())

    def url(self, part: str) -> str:
        """Where a reader lists `incoming/` or `compacted/` (with a trailing '/')."""
        return self.store.url(f"{part}/")

    # ------------------------------------------------------------------ writing

    def append(
        self,
        batch: pa.Table,
        *,
        writer: str | None = None,
        seq: int | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Commit | None:
        """Write `batch` (one file per partition touched) and commit it; None if nothing to do.

        With `writer` and `seq`, a batch whose `seq` is not above the writer's last committed
        one is skipped. Rows in hours that retention already expired are dropped. `meta` (JSON
        values) is kept in the commit (`Commit.meta`).
        """
        # Parquet encoding, the costly part, runs before the lock: writers on one host overlap.
        parts = [
            (values, self._encode(data, APPEND_ZSTD_LEVEL), data.num_rows, lo, hi)
            for values, data, lo, hi in self.format.split(batch)
        ]
        with self._locked("append"):
            self._recover(_WRITE_INTENT)
            head = self.log.head()
            if writer is not None and seq is not None and head.writers.get(writer, -1) >= seq:
                return None
            if not parts and writer is None:
                return None
            version = head.version + 1
            folder = f"c={version:0{_WIDTH}d}"
            planned = [
                (self._path("incoming", values, folder), values, payload, rows, lo, hi)
                for values, payload, rows, lo, hi in parts
                if head.cutoff is None or values["hour"] >= head.cutoff  # else already expired
            ]
            self._intend(_WRITE_INTENT, version, [p for p, *_ in planned])
            entries = [self._put(*plan) for plan in planned]
            writers = dict(head.writers)
            if writer is not None and seq is not None:
                writers[writer] = seq
            state = next_state(
                head,
                rows=head.rows + sum(e.rows for e in entries),
                files=head.files + len(entries),
                incoming=head.incoming + len(entries),
                writers=writers,
            )
            commit = Commit(version, "append", state, tuple(entries), (), dict(meta or {}))
            self._publish(commit)
            self.store.delete([_WRITE_INTENT])
            return commit

    def compact(
        self,
        *,
        target_bytes: int = TARGET_FILE_BYTES,
        min_files: int = 2,
        level: int = COMPACT_ZSTD_LEVEL,
    ) -> CompactReport:
        """Merge every incoming file into compacted files of about `target_bytes` per partition.

        Runs while appends go on: inputs are the incoming files committed when it starts; the
        swap is one commit that raises the floor to that version and the generation by one.
        Does nothing when fewer than `min_files` incoming files exist.
        """
        with self._locked("compact"):
            self._recover(_COMPACT_INTENT)
            start = self.log.head()
            inputs = [f for f in self.log.files(start) if f.path.startswith("incoming/")]
            if len(inputs) < min_files:
                return CompactReport(None, len(inputs), 0, 0, 0)
            gen = start.gen + 1
            folder = f"g={gen:0{_WIDTH}d}"
            groups: dict[tuple[str, str], list[FileEntry]] = defaultdict(list)
            for entry in inputs:
                groups[(entry.hour, entry.key)].append(entry)
            prefixes = [
                self._path("compacted", {"hour": h, self.format.key: k}, folder).rsplit("/", 1)[0]
                for h, k in groups
            ]
            self._intend(_COMPACT_INTENT, gen, prefixes)
            outputs: list[FileEntry] = []
            for (hour, key), files in sorted(groups.items()):
                values = {"hour": hour, self.format.key: key}
                outputs.extend(self._merge(files, values, folder, target_bytes, level))
            with self._locked("append"):
                head = self.log.head()
                expired = [o for o in outputs if head.cutoff and o.hour < head.cutoff]
                kept = [o for o in outputs if o not in expired]
                live = [f for f in inputs if not (head.cutoff and f.hour < head.cutoff)]
                state = next_state(
                    head,
                    floor=start.version,
                    gen=gen,
                    files=head.files - len(live) + len(kept),
                    incoming=head.incoming - len(live),
                    rows=head.rows - sum(f.rows for f in live) + sum(o.rows for o in kept),
                )
                commit = Commit(
                    state.version,
                    "compact",
                    state,
                    tuple(kept),
                    tuple(f.path for f in inputs) + tuple(o.path for o in expired),
                )
                self._publish(commit)
            self.store.delete([_COMPACT_INTENT])
            return CompactReport(
                commit,
                len(inputs),
                len(kept),
                sum(f.bytes for f in inputs),
                sum(o.bytes for o in kept),
            )

    def expire(self, older_than_ns: int, *, now_ns: int | None = None) -> Commit | None:
        """Retention: hide every hour that ended more than `older_than_ns` ago, in one commit.

        Their files are deleted by the next `vacuum` after the grace period.
        """
        now = time.time_ns() if now_ns is None else now_ns
        cutoff = hour_key(now - older_than_ns)
        with self._locked("append"):
            head = self.log.head()
            if head.cutoff is not None and cutoff <= head.cutoff:
                return None
            doomed = [f for f in self.log.files(head) if f.hour < cutoff]
            state = next_state(
                head,
                cutoff=cutoff,
                rows=head.rows - sum(f.rows for f in doomed),
                files=head.files - len(doomed),
                incoming=head.incoming - sum(1 for f in doomed if f.path.startswith("incoming/")),
            )
            commit = Commit(state.version, "expire", state, (), tuple(f.path for f in doomed))
            self._publish(commit)
            return commit

    def vacuum(self, *, grace_s: float = VACUUM_GRACE_S, now_ns: int | None = None) -> VacuumReport:
        """Delete files removed more than `grace_s` ago; checkpoint; prune the old commits."""
        now = time.time_ns() if now_ns is None else now_ns
        horizon = now - int(grace_s * 1e9)
        with self._locked("compact"):
            head = self.log.head()
            marker = self.store.get(_VACUUMED)
            done = int(marker) if marker else 0
            doomed: list[str] = []
            for commit in self.log.commits(done, head.version):
                if commit.state.committed_ns >= horizon:
                    break  # later commits are newer still: their removals wait
                doomed.extend(commit.remove)
                done = commit.version
            self.store.delete(doomed)
            self.store.put(_VACUUMED, str(done).encode())
            self.log.write_checkpoint(head, self.log.files(head))
            pruned = self.log.prune(min(head.version, done + 1), horizon)
            return VacuumReport(len(doomed), pruned, head.version)

    # ------------------------------------------------------------------ internals

    def _path(self, part: str, values: dict[str, str], folder: str) -> str:
        hour = path_segment("hour", values["hour"])
        key = path_segment(self.format.key, values[self.format.key])
        return f"{part}/{hour}/{key}/{folder}/{time.time_ns():020d}-{secrets.token_hex(8)}.parquet"

    def _encode(self, data: pa.Table, level: int) -> bytes:
        deltas = self.format.deltas
        sink = io.BytesIO()
        pq.write_table(
            data,
            sink,
            compression="zstd",
            compression_level=level,
            use_dictionary=[
                c for c in data.column_names if c not in deltas and c not in self.format.plain
            ],
            column_encoding={c: "DELTA_BINARY_PACKED" for c in deltas},
            row_group_size=ROW_GROUP_ROWS,
            write_page_index=True,
            sorting_columns=[
                pq.SortingColumn(data.schema.get_field_index(self.format.time_column))
            ],
        )
        return sink.getvalue()

    def _put(
        self, path: str, values: dict[str, str], payload: bytes, rows: int, lo: int, hi: int
    ) -> FileEntry:
        self.store.put(path, payload)
        key = values[self.format.key]
        return FileEntry(path, values["hour"], key, lo, hi, rows, len(payload))

    def _merge(
        self,
        files: list[FileEntry],
        values: dict[str, str],
        folder: str,
        target_bytes: int,
        level: int,
    ) -> Iterator[FileEntry]:
        """Rows of `files` sorted by time, cut into files of about `target_bytes`."""
        rows = sum(f.rows for f in files)
        per_row = max(1.0, sum(f.bytes for f in files) / max(rows, 1))
        rows_per_file = max(1, int(target_bytes / per_row))
        tables = [self._read(f) for f in sorted(files, key=lambda f: f.min_ns)]
        merged = pa.concat_tables(tables).sort_by(self.format.time_column)
        times = self.format.times_ns(merged)
        for start in range(0, merged.num_rows, rows_per_file):
            part = merged.slice(start, rows_per_file)
            stop = start + part.num_rows - 1
            path = self._path("compacted", values, folder)
            payload = self._encode(part, level)
            lo, hi = int(times[start]), int(times[stop])
            yield self._put(path, values, payload, part.num_rows, lo, hi)

    def _read(self, entry: FileEntry) -> pa.Table:
        local = self.store.local_path(entry.path)
        if local is not None:
            return pq.read_table(local, schema=self.format.schema)
        data = self.store.get(entry.path)
        if data is None:
            raise FileNotFoundError(f"{self.store.url(entry.path)} is in the index but missing")
        return pq.read_table(io.BytesIO(data), schema=self.format.schema)

    def _publish(self, commit: Commit) -> None:
        if not self.log.commit(commit):
            raise ConcurrentCommit(
                f"version {commit.version} of {self.store.url('')} was committed by another writer"
            )

    def _intend(self, key: str, version: int, paths: list[str]) -> None:
        self.store.put(key, json.dumps({"version": version, "paths": paths}).encode())

    def _recover(self, key: str) -> None:
        """Delete what an interrupted append or compaction wrote, if it never committed."""
        data = self.store.get(key)
        if data is None:
            return
        intent = json.loads(data)
        head = self.log.head()
        committed = (
            intent["version"] <= head.version
            if key == _WRITE_INTENT
            else intent["version"] <= head.gen
        )
        if not committed:
            doomed = []
            for path in intent["paths"]:
                if path.endswith(".parquet"):
                    doomed.append(path)
                else:  # a compaction's output folder
                    doomed.extend(f"{path}/{n}" for n in self.store.names(path))
            self.store.delete(doomed)
        self.store.delete([key])

    @contextmanager
    def _locked(self, purpose: str) -> Iterator[None]:
        self._lock_dir.mkdir(parents=True, exist_ok=True)
        with open(self._lock_dir / f".{purpose}.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def open_table(
    location: str | os.PathLike[str],
    format_name: str,
    *,
    s3: S3Location | None = None,
    lock_dir: Path | None = None,
) -> Table:
    """The table of `format_name` under `location` (a folder, or `s3://bucket/prefix` with `s3`)."""
    fmt = FORMATS.get(format_name)
    if fmt is None:
        raise ValueError(f"no stored format '{format_name}' (known: {', '.join(FORMATS)})")
    text = str(location)
    if text.startswith("s3://"):
        if s3 is None:
            bucket, _, prefix = text[len("s3://") :].partition("/")
            s3 = S3Location(bucket, prefix.strip("/"))
        root = "/".join(p for p in (s3.prefix, fmt.directory) if p)
        store: Store = S3Store.connect(replace(s3, prefix=root))
        digest = hashlib.sha256(f"{s3.endpoint}|{s3.bucket}|{root}".encode()).hexdigest()[:16]
        locks = lock_dir or Path(os.environ.get("STARBASE_STATE", tempfile.gettempdir())) / (
            f"starbase-locks-{digest}"
        )
        return Table(store, fmt, locks)
    root_path = Path(text).expanduser() / fmt.directory
    return Table(LocalStore(root_path), fmt, lock_dir or root_path / LOG)


__all__ = [
    "CompactReport",
    "ConcurrentCommit",
    "Table",
    "VacuumReport",
    "Visibility",
    "open_table",
]
