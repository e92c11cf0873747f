"""The metadata index of a table: a commit log of file additions and removals, with checkpoints.

Requires: a `Store` holding the table. Guarantees: commit `v` is the object
`_log/<v:020d>.json`, created with `put_new`, so two writers can never both commit `v`; each
commit carries the files it adds (path, day, time range, rows, bytes, and rows and time range
per cluster value — what metadata answers read), the paths it removes, and the table's whole
`State` after it (so the head alone tells a reader what is visible); `files(state)` folds the
latest checkpoint (`_log/<v:020d>.checkpoint.parquet`, the live files at `v`) and the commits
after it; nothing here lists the data files themselves. Commits and checkpoints written by
the legacy layout (hour × key folders) read as files with `legacy` set and a state whose
`legacy` count is all its files.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from starbase.storage.formats import KeyStats
from starbase.storage.store import Store

LOG = "_log"
_COMMIT = ".json"
_CHECKPOINT = ".checkpoint.parquet"
_KEYS = pa.list_(
    pa.struct(
        [("key", pa.string()), ("rows", pa.int64()), ("min_ns", pa.int64()), ("max_ns", pa.int64())]
    )
)
_CHECKPOINT_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("day", pa.string()),
        ("min_ns", pa.int64()),
        ("max_ns", pa.int64()),
        ("rows", pa.int64()),
        ("bytes", pa.int64()),
        ("keys", _KEYS),
        ("hour", pa.string()),  # legacy files only
    ]
)
LAYOUT_DIR = "v2"  # data files of the day layout live below it; legacy ones beside it


@dataclass(frozen=True)
class FileEntry:
    """One data file: its key below the table root, partition values and statistics."""

    path: str
    day: str
    min_ns: int
    max_ns: int
    rows: int
    bytes: int
    keys: tuple[KeyStats, ...] = ()  # per cluster value (service, log group, source)
    hour: str | None = None  # legacy files: the hour folder they are in

    @property
    def legacy(self) -> bool:
        """Written in the legacy hour x key layout (compaction migrates it)."""
        return not self.path.startswith(f"{LAYOUT_DIR}/")

    @property
    def folder(self) -> str:
        """`day=…/by=…`: the folder below `v2/` (superseded as a whole by compaction)."""
        return self.path[len(LAYOUT_DIR) + 1 :].rsplit("/", 1)[0]

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "path": self.path,
            "day": self.day,
            "min_ns": self.min_ns,
            "max_ns": self.max_ns,
            "rows": self.rows,
            "bytes": self.bytes,
            "keys": [[k.key, k.rows, k.min_ns, k.max_ns] for k in self.keys],
        }
        if self.hour is not None:
            body["hour"] = self.hour
        return body

    @staticmethod
    def from_json(body: dict[str, Any]) -> FileEntry:
        if "day" not in body:  # the legacy layout's entry: one hour and one key per file
            return FileEntry(
                body["path"],
                body["hour"][:10],
                body["min_ns"],
                body["max_ns"],
                body["rows"],
                body["bytes"],
                (KeyStats(body["key"], body["rows"], body["min_ns"], body["max_ns"]),),
                body["hour"],
            )
        return FileEntry(
            body["path"],
            body["day"],
            body["min_ns"],
            body["max_ns"],
            body["rows"],
            body["bytes"],
            tuple(KeyStats(*k) for k in body["keys"]),
            body.get("hour"),
        )


@dataclass(frozen=True)
class State:
    """What is visible after commit `version` (see `visibility` in `table.py`)."""

    version: int = 0
    floor: int = 0  # incoming files with c <= floor were compacted away
    gen: int = 0  # compacted files with g <= gen are visible
    cutoff: str | None = None  # retention: hours before this one are expired
    rows: int = 0
    files: int = 0
    incoming: int = 0  # of `files`, how many are in incoming/ (the rest: compacted/)
    committed_ns: int = 0
    writers: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    legacy: int = 0  # of `files`, how many are in the legacy layout (compaction migrates them)
    # compacted folders (`day=…/by=…`) superseded by the commit given, still on disk until
    # vacuum deletes them: readers exclude them
    dead: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Commit:
    version: int
    operation: str  # append | compact | expire
    state: State
    add: tuple[FileEntry, ...] = ()
    remove: tuple[str, ...] = ()
    # what the writer says about the batch (e.g. the raw lines' detected format per source);
    # JSON values, written only when present, so older commits read as empty
    meta: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def to_json(self) -> bytes:
        state = {f.name: getattr(self.state, f.name) for f in fields(State)}
        state["writers"] = dict(self.state.writers)
        state["dead"] = [list(d) for d in self.state.dead]
        body = {
            "version": self.version,
            "operation": self.operation,
            "state": state,
            "add": [f.to_json() for f in self.add],
            "remove": list(self.remove),
        }
        if self.meta:
            body["meta"] = dict(self.meta)
        return json.dumps(body, separators=(",", ":")).encode()

    @staticmethod
    def from_json(data: bytes) -> Commit:
        body = json.loads(data)
        raw = dict(body["state"])
        raw.setdefault("legacy", raw["files"])  # written by the legacy layout: all its files
        raw["dead"] = tuple((str(d[0]), int(d[1])) for d in raw.get("dead", ()))
        state = State(**(raw | {"writers": MappingProxyType(dict(raw["writers"]))}))
        return Commit(
            body["version"],
            body["operation"],
            state,
            tuple(FileEntry.from_json(f) for f in body["add"]),
            tuple(body["remove"]),
            MappingProxyType(dict(body.get("meta") or {})),
        )


def commit_name(version: int) -> str:
    return f"{version:020d}{_COMMIT}"


class CommitLog:
    """Reads and appends a table's `_log/`; remembers what it has read (one instance per table)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._head: Commit | None = None
        self._seen: str | None = None  # largest commit name listed so far
        self._files: tuple[int, dict[str, FileEntry]] | None = None

    def head(self) -> State:
        """The state after the latest commit (`State()` for a table never written)."""
        names = [n for n in self._names(self._seen) if n.endswith(_COMMIT)]
        if names:
            self._seen = names[-1]
            data = self.store.get(f"{LOG}/{names[-1]}")
            if data is not None:
                self._head = Commit.from_json(data)
        return self._head.state if self._head else State()

    def commit(self, commit: Commit) -> bool:
        """Publish `commit`; False if its version was already taken."""
        return self.store.put_new(f"{LOG}/{commit_name(commit.version)}", commit.to_json())

    def commits(self, after: int, upto: int) -> list[Commit]:
        """The commits with after < version <= upto that are still in the log, in order."""
        found = []
        for name in self._names(commit_name(after)):
            if not name.endswith(_COMMIT):
                continue
            version = int(name[: -len(_COMMIT)])
            if version > upto:
                break
            data = self.store.get(f"{LOG}/{name}")
            if data is not None:
                found.append(Commit.from_json(data))
        return found

    def files(self, state: State) -> list[FileEntry]:
        """The live files at `state.version`, from the newest checkpoint at or before it."""
        base, live = self._files if self._files else (0, {})
        if base > state.version:
            base, live = 0, {}
        newest = self._checkpoint_version(state.version)
        if newest > base or base == 0:
            base, live = newest, self._checkpoint(newest)
        live = dict(live)
        for commit in self.commits(base, state.version):
            for path in commit.remove:
                live.pop(path, None)
            for entry in commit.add:
                live[entry.path] = entry
        self._files = (state.version, live)
        return sorted(live.values(), key=lambda f: f.path)

    def write_checkpoint(self, state: State, files: list[FileEntry]) -> None:
        columns = {
            name: [getattr(f, name) for f in files]
            for name in _CHECKPOINT_SCHEMA.names
            if name != "keys"
        }
        columns["keys"] = [[asdict(k) for k in f.keys] for f in files]
        table = pa.Table.from_pydict(columns, schema=_CHECKPOINT_SCHEMA)
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        self.store.put(f"{LOG}/{state.version:020d}{_CHECKPOINT}", sink.getvalue())

    def prune(self, checkpoint: int, older_than_ns: int) -> int:
        """Drop commits before `checkpoint` older than `older_than_ns`, and older checkpoints."""
        doomed = []
        for name in self._names(None):
            if name.endswith(_CHECKPOINT):
                if int(name[: -len(_CHECKPOINT)]) < checkpoint:
                    doomed.append(name)
            elif name.endswith(_COMMIT) and int(name[: -len(_COMMIT)]) < checkpoint:
                data = self.store.get(f"{LOG}/{name}")
                if data is None or Commit.from_json(data).state.committed_ns < older_than_ns:
                    doomed.append(name)
        self.store.delete([f"{LOG}/{n}" for n in doomed])
        return len(doomed)

    def _checkpoint_version(self, upto: int) -> int:
        versions = [
            int(n[: -len(_CHECKPOINT)]) for n in self._names(None) if n.endswith(_CHECKPOINT)
        ]
        return max((v for v in versions if v <= upto), default=0)

    def _checkpoint(self, version: int) -> dict[str, FileEntry]:
        """The live files of the checkpoint at `version` (none for version 0)."""
        data = self.store.get(f"{LOG}/{version:020d}{_CHECKPOINT}") if version else None
        if data is None:
            return {}
        rows = pq.read_table(io.BytesIO(data)).to_pylist()
        entries = []
        for row in rows:
            if "keys" in row:
                row["keys"] = [[k["key"], k["rows"], k["min_ns"], k["max_ns"]] for k in row["keys"]]
            entries.append(FileEntry.from_json({k: v for k, v in row.items() if v is not None}))
        return {e.path: e for e in entries}

    def _names(self, start_after: str | None) -> list[str]:
        return self.store.names(LOG, start_after)


def next_state(head: State, **changes: Any) -> State:
    """`head` after one more commit: version + 1, stamped now, with `changes` applied."""
    return replace(head, version=head.version + 1, committed_ns=time.time_ns(), **changes)
