"""A stored table: atomic appends, compaction, retention and vacuum over one commit log.

Requires: a `Store` (local folder or S3 prefix) and a `TableFormat`; one host writes a table at
a time (writers on that host serialize on local lock files; on S3 the commit log's conditional
create still refuses a second commit of the same version). Guarantees:

- Layout below the table root (e.g. `<data>/otel/logs/`), see `docs/storage.md`:
  `v2/day=D/by=append-<commit>/<name>.parquet` — files of appends, one folder per commit;
  `v2/day=D/by=compact-<generation>/<name>.parquet` — files written by compaction;
  `_log/` — the commit log (`index.py`). Files are zstd Parquet, rows clustered by the
  format's cluster column then time, with statistics, a page index (pages of `PAGE_ROWS`
  rows: a one-hour window reads a few pages per cluster value) and bloom filters on the
  format's id columns. Tables written by the legacy layout (`incoming/hour=H/<key>=K/c=…`,
  `compacted/hour=H/<key>=K/g=…`) stay readable; the next compaction migrates them.
- Visibility (`Visibility`): at state S a reader sees append folders with
  S.floor < commit <= S.version, compaction folders with generation <= S.gen except the
  folders S.dead lists, rows at or after S.cutoff (retention), and while S.legacy > 0 the
  legacy files under the legacy predicates. Files of a commit are written before the commit
  names them, under a version no reader admits yet, so a reader sees all of a commit or none
  of it; compaction swaps its inputs (appends with commit <= new floor, legacy files, small
  compacted folders it lists as dead) for its outputs (generation = new gen) in one commit,
  so rows are never seen twice nor missed.
- Compaction reaches target sizes at any ingest rate: each run merges every appended file
  into one folder per day, and re-merges a day's small compacted folders (under half the
  target size) once `FAN_IN` of them exist or the day is over.
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
import math
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
from urllib.parse import unquote

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from starbase.storage.formats import DENSE_ROWS, FORMATS, Slice, TableFormat
from starbase.storage.index import (
    LAYOUT_DIR,
    LOG,
    Commit,
    CommitLog,
    FileEntry,
    State,
    next_state,
)
from starbase.storage.otel_layout import (
    NS_PER_DAY,
    TABLE_DIR,
    hour_key,
    hour_start_ns,
    partition_path,
)
from starbase.storage.store import LocalStore, S3Location, S3Store, Store

# Row groups of 256 Ki rows with dictionary pages of up to 4 MiB: a trace's ids then share one
# dictionary where 128 Ki-row groups (or the writer's 1 MiB dictionary pages, which make a
# large dictionary fall back to plain) stored them in several: trace ids 10.8 -> 7.4 B/record
# on the emitter's traffic (docs/design/storage-index.md).
ROW_GROUP_ROWS = 256 * 1024
DICTIONARY_PAGE_BYTES = 4 * 1024 * 1024
# Rows per Parquet page: the page index then narrows a time window inside a row group to a
# few pages per cluster value (measured on 10M rows: a one-hour window reads 1/1,500 of the
# bytes with 2,048-row pages, 1/330 with the writer's default of 20,000; ~3% more bytes).
# Files with fewer rows than that per cluster value and hour are written hour-major.
PAGE_ROWS = DENSE_ROWS
# Bloom filters' false-positive rates: trace ids are looked up by users (a false positive
# reads a 256 Ki-row group: at 5% a trace lookup over 60 groups read 5 instead of 1-2, 39 MB
# instead of ~12, at 10M records); span ids, unique per record, would cost 2x the bytes.
BLOOM_FPP = {"trace_id": 0.01}
DEFAULT_BLOOM_FPP = 0.05
TARGET_FILE_BYTES = 128 * 1024 * 1024
FAN_IN = 4  # small compacted folders of one day merged together once there are this many
VACUUM_GRACE_S = 600.0
# zstd levels: appends stay cheap (they are on the ingest path and compaction rewrites them
# within minutes: level 1 encodes OTLP batches in 25% less CPU than 3, for 2% more bytes,
# benchmarks/otlp_decode.py); compaction, off the ingest path, spends ~2x the CPU for ~10%
# fewer bytes at rest; level 19 (`starbase compact --level 19`) another ~10% fewer for ~10x
# the CPU (measured on the emitter's traffic, docs/storage.md).
APPEND_ZSTD_LEVEL = 1
COMPACT_ZSTD_LEVEL = 9
_WIDTH = 12  # digits of commit and generation numbers, so that string order is number order
APPEND = "append-"
COMPACT = "compact-"
_WRITE_INTENT = f"{LOG}/_append.intent"
_COMPACT_INTENT = f"{LOG}/_compact.intent"
_VACUUMED = f"{LOG}/_vacuumed"  # every commit up to this version had its removals deleted


def _leaves(data: pa.Table, column: str) -> list[str]:
    """The Parquet leaf columns of `column`, as the writer's per-column options name them."""
    kind = data.schema.field(column).type
    if pa.types.is_map(kind):
        return [f"{column}.key_value.key", f"{column}.key_value.value"]
    if pa.types.is_list(kind):
        return [f"{column}.list.element"]
    return [column]


class ConcurrentCommit(Exception):
    """Another host committed the version this writer was about to commit."""


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _value(segment: str) -> str:
    """The value of a `name=value` folder name (unescaped)."""
    return unquote(segment.partition("=")[2])


@dataclass(frozen=True)
class Visibility:
    """The predicates that make a listing of the table's folders equal to a snapshot."""

    state: State
    format: TableFormat

    @property
    def folders(self) -> str:
        """Over the `v2/` listing's partition columns `day` and `by`."""
        s = self.state
        appended = (
            f"(by > '{APPEND}{s.floor:0{_WIDTH}d}' AND by <= '{APPEND}{s.version:0{_WIDTH}d}')"
        )
        compacted = f"by >= '{COMPACT}' AND by <= '{COMPACT}{s.gen:0{_WIDTH}d}'"
        if s.dead:
            gone = " OR ".join(
                f"(day = {_sql_text(_value(d))} AND by = {_sql_text(_value(b))})"
                for d, b in (folder.split("/", 1) for folder, _ in s.dead)
            )
            compacted += f" AND NOT ({gone})"
        where = f"({appended} OR ({compacted}))"
        if s.cutoff:
            where += f" AND day >= '{s.cutoff[:10]}'"
        return where

    @property
    def rows(self) -> str | None:
        """Over the file columns: what retention hides inside a day (None: nothing)."""
        if not self.state.cutoff:
            return None
        unit = self.format.ns_per_unit
        first = -(-hour_start_ns(self.state.cutoff) // unit)  # ceiling: no earlier row
        return f'"{self.format.time_column}" >= {first}'

    @property
    def legacy_incoming(self) -> str:
        s = self.state
        return f"c > '{s.floor:0{_WIDTH}d}' AND c <= '{s.version:0{_WIDTH}d}'" + self._hours

    @property
    def legacy_compacted(self) -> str:
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
    migrated: int = 0  # of `inputs`, files of the legacy layout


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
        return Visibility(state if state is not None else self.snapshot(), self.format)

    def url(self, part: str) -> str:
        """Where a reader lists `v2/` (or the legacy `incoming/`, `compacted/`), with '/'."""
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
        """Write `batch` (one file per day touched) and commit it; None if nothing to do.

        With `writer` and `seq`, a batch whose `seq` is not above the writer's last committed
        one is skipped. Rows in hours that retention already expired are dropped. `meta` (JSON
        values) is kept in the commit (`Commit.meta`).
        """
        # Parquet encoding, the costly part, runs before the lock: writers on one host overlap.
        parts = [
            (piece, self._encode(piece.data, APPEND_ZSTD_LEVEL, count_ids=False))
            for piece in self.format.split(batch)
        ]
        with self._locked("append"):
            self._recover(_WRITE_INTENT)
            head = self.log.head()
            if writer is not None and seq is not None and head.writers.get(writer, -1) >= seq:
                return None
            if not parts and writer is None:
                return None
            version = head.version + 1
            folder = f"by={APPEND}{version:0{_WIDTH}d}"
            expired = hour_start_ns(head.cutoff) if head.cutoff else None
            planned = [
                (self._path(piece.values, folder), piece, payload)
                for piece, payload in parts
                if expired is None or piece.max_ns >= expired  # else already expired
            ]
            self._intend(_WRITE_INTENT, version, [p for p, *_ in planned])
            entries = [self._put(path, piece, payload) for path, piece, payload in planned]
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
        now_ns: int | None = None,
    ) -> CompactReport:
        """Merge appended files, small compacted folders and legacy files into large ones.

        Runs while appends go on: inputs are the files committed when it starts; the swap is
        one commit that raises the floor to that version and the generation by one. Does
        nothing when fewer than `min_files` appended or legacy files exist and no day has
        small compacted folders to merge (see the module docstring).
        """
        now = time.time_ns() if now_ns is None else now_ns
        with self._locked("compact"):
            self._recover(_COMPACT_INTENT)
            start = self.log.head()
            live = self.log.files(start)
            fresh = [f for f in live if f.legacy or APPEND in f.path]
            days: dict[str, list[FileEntry]] = defaultdict(list)
            for entry in fresh:
                days[entry.day].append(entry)
            dead: list[str] = []
            for day, folders in sorted(self._small_folders(live, target_bytes).items()):
                over = hour_start_ns(f"{day}T00") + NS_PER_DAY <= now - 3_600 * 10**9
                waiting = len(folders) + (1 if day in days else 0)
                if waiting >= FAN_IN or (over and waiting >= 2):
                    for name, files in folders.items():
                        dead.append(name)
                        days[day].extend(files)
            if len(fresh) < min_files and not dead:
                return CompactReport(None, len(fresh), 0, 0, 0)
            gen = start.gen + 1
            folder = f"by={COMPACT}{gen:0{_WIDTH}d}"
            prefixes = [self._path({"day": day}, folder).rsplit("/", 1)[0] for day in days]
            self._intend(_COMPACT_INTENT, gen, prefixes)
            outputs: list[FileEntry] = []
            hidden = hour_start_ns(start.cutoff) if start.cutoff else None
            for day, files in sorted(days.items()):
                outputs.extend(self._merge(files, day, folder, target_bytes, level, hidden))
            inputs = [f for files in days.values() for f in files]
            marker = self.store.get(_VACUUMED)
            vacuumed = int(marker) if marker else 0
            with self._locked("append"):
                head = self.log.head()
                at_head = {f.path for f in self.log.files(head)}
                gone = [f for f in inputs if f.path in at_head]  # retention may have taken some
                cutoff = hour_start_ns(head.cutoff) if head.cutoff else None
                expired = [o for o in outputs if cutoff is not None and o.max_ns < cutoff]
                kept = [o for o in outputs if o not in expired]
                state = next_state(
                    head,
                    floor=start.version,
                    gen=gen,
                    files=head.files - len(gone) + len(kept),
                    incoming=head.incoming - sum(1 for f in gone if APPEND in f.path),
                    legacy=head.legacy - sum(1 for f in gone if f.legacy),
                    rows=head.rows - sum(f.rows for f in gone) + sum(o.rows for o in kept),
                    dead=tuple(d for d in head.dead if d[1] > vacuumed)
                    + tuple((name, head.version + 1) for name in dead),
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
                sum(1 for f in inputs if f.legacy),
            )

    def expire(self, older_than_ns: int, *, now_ns: int | None = None) -> Commit | None:
        """Retention: hide every hour that ended more than `older_than_ns` ago, in one commit.

        Files wholly before the cutoff are removed (deleted by the next `vacuum` after the
        grace period); readers skip the earlier rows of a file that straddles it.
        """
        now = time.time_ns() if now_ns is None else now_ns
        cutoff = hour_key(now - older_than_ns)
        first = hour_start_ns(cutoff)
        with self._locked("append"):
            head = self.log.head()
            if head.cutoff is not None and cutoff <= head.cutoff:
                return None
            doomed = [f for f in self.log.files(head) if f.max_ns < first]
            state = next_state(
                head,
                cutoff=cutoff,
                rows=head.rows - sum(f.rows for f in doomed),
                files=head.files - len(doomed),
                incoming=head.incoming - sum(1 for f in doomed if APPEND in f.path),
                legacy=head.legacy - sum(1 for f in doomed if f.legacy),
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

    def _path(self, values: dict[str, str], folder: str) -> str:
        name = f"{time.time_ns():020d}-{secrets.token_hex(8)}.parquet"
        return f"{LAYOUT_DIR}/{partition_path(values)}/{folder}/{name}"

    def _small_folders(
        self, live: list[FileEntry], target_bytes: int
    ) -> dict[str, dict[str, list[FileEntry]]]:
        """day -> compacted folder -> its files, for folders under half the target size."""
        folders: dict[str, list[FileEntry]] = defaultdict(list)
        for entry in live:
            if not entry.legacy and COMPACT in entry.path:
                folders[entry.folder].append(entry)
        small: dict[str, dict[str, list[FileEntry]]] = defaultdict(dict)
        for name, files in folders.items():
            if sum(f.bytes for f in files) < target_bytes // 2:
                small[files[0].day][name] = files
        return small

    def _encode(self, data: pa.Table, level: int, *, count_ids: bool = True) -> bytes:
        fmt = self.format
        plain = {*fmt.deltas, *fmt.plain}
        groups = max(1, math.ceil(data.num_rows / ROW_GROUP_ROWS))
        # Bloom filters sized for the distinct ids; appends (rewritten by compaction within
        # minutes) take every id as distinct (`count_ids=False`) instead of counting them,
        # which cost ~17% of their encoding (~0.2 µs a record: count_distinct of binary ids),
        # for filters at most ~100 KiB larger per row group.
        distinct = {
            column: pc.count_distinct(data[column]).as_py() if count_ids else data.num_rows
            for column in fmt.blooms
        }
        blooms = {
            column: {
                "ndv": max(64, int(count / groups * 1.1)),
                "fpp": BLOOM_FPP.get(column, DEFAULT_BLOOM_FPP),
            }
            for column, count in distinct.items()
        }
        # (cluster, time) order is declared; hour-major files (`TableFormat.hour_major`) are
        # sorted by neither column alone.
        ordered = not fmt.hour_major(data)
        sink = io.BytesIO()
        pq.write_table(
            fmt.elide(data),
            sink,
            compression="zstd",
            compression_level=level,
            use_dictionary=[
                leaf
                for column in data.column_names
                if column not in plain
                for leaf in _leaves(data, column)
                if leaf not in plain
            ],
            column_encoding={c: "DELTA_BINARY_PACKED" for c in fmt.deltas},
            write_statistics=[c for c in data.column_names if c not in fmt.unpruned],
            row_group_size=ROW_GROUP_ROWS,
            dictionary_pagesize_limit=DICTIONARY_PAGE_BYTES,
            max_rows_per_page=PAGE_ROWS,
            write_page_index=True,
            bloom_filter_options=blooms or None,
            sorting_columns=[
                pq.SortingColumn(data.schema.get_field_index(fmt.cluster)),
                pq.SortingColumn(data.schema.get_field_index(fmt.time_column)),
            ]
            if ordered
            else None,
        )
        return sink.getvalue()

    def _put(self, path: str, piece: Slice, payload: bytes) -> FileEntry:
        self.store.put(path, payload)
        return FileEntry(
            path,
            piece.values["day"],
            piece.min_ns,
            piece.max_ns,
            piece.data.num_rows,
            len(payload),
            piece.keys,
        )

    def _merge(
        self,
        files: list[FileEntry],
        day: str,
        folder: str,
        target_bytes: int,
        level: int,
        expired: int | None,
    ) -> Iterator[FileEntry]:
        """Rows of `files` clustered by (key, time), cut into files of about `target_bytes`;
        rows before `expired` (ns: retention's cutoff) are dropped.

        Inputs are taken in time order in batches of about `target_bytes` each, so memory
        stays bounded however large a day is (a day's files then each cover a time range).
        """
        batch: list[FileEntry] = []
        for entry in sorted(files, key=lambda f: (f.min_ns, f.path)):
            batch.append(entry)
            if sum(f.bytes for f in batch) >= target_bytes:
                yield from self._merge_batch(batch, day, folder, target_bytes, level, expired)
                batch = []
        if batch:
            yield from self._merge_batch(batch, day, folder, target_bytes, level, expired)

    def _merge_batch(
        self,
        files: list[FileEntry],
        day: str,
        folder: str,
        target_bytes: int,
        level: int,
        expired: int | None,
    ) -> Iterator[FileEntry]:
        fmt = self.format
        rows = sum(f.rows for f in files)
        per_row = max(1.0, sum(f.bytes for f in files) / max(rows, 1))
        rows_per_file = max(1, int(target_bytes / per_row))
        merged = pa.concat_tables([self.read_file(f) for f in files])
        if expired is not None and any(f.min_ns < expired for f in files):
            merged = merged.filter(pa.array(fmt.times_ns(merged) >= expired))
        merged = fmt.sort(merged)
        for start in range(0, merged.num_rows, rows_per_file):
            part = merged.slice(start, rows_per_file)
            lo, hi, keys = fmt.statistics(part)
            piece = Slice({"day": day}, part, lo, hi, keys)
            yield self._put(self._path({"day": day}, folder), piece, self._encode(part, level))

    def read_file(self, entry: FileEntry) -> pa.Table:
        """A live file's rows in the file schema (legacy files upgraded)."""
        schema = self.format.legacy_schema if entry.legacy else self.format.schema
        local = self.store.local_path(entry.path)
        if local is not None:
            table = pq.read_table(local, schema=schema)
        else:
            data = self.store.get(entry.path)
            if data is None:
                raise FileNotFoundError(f"{self.store.url(entry.path)} is in the index but missing")
            table = pq.read_table(io.BytesIO(data), schema=schema)
        if entry.legacy:
            return self.format.upgrade(table, entry.keys[0].key)
        return self.format.restore(table)

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


def write_batch(root: Path, table: pa.Table) -> list[Path]:
    """Append `table` to the OTel logs table under `root` in one commit; return the new files.

    `table` holds OTEL_LOGS_SCHEMA columns (missing nullable ones become null; ids may be hex)
    and may add a string `service` column; where it is absent or null,
    resource_attributes['service.name'] is used, then `unknown_service`. See `Table.append`.
    """
    commit = open_table(root, "otel").append(table)
    if commit is None:
        return []
    return [root / TABLE_DIR / entry.path for entry in commit.add]


__all__ = [
    "CompactReport",
    "ConcurrentCommit",
    "Table",
    "VacuumReport",
    "Visibility",
    "open_table",
    "write_batch",
]
