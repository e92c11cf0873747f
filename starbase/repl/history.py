"""Query history: persisted across sessions, walked with Up/Down, searched with Ctrl+R.

Requires: a writable file path (default `$XDG_STATE_HOME/starbase/history.ndjson`, else
`~/.local/state/starbase/history.ndjson`). Guarantees: one JSON object per line
(`{"query": …, "at": "RFC 3339"}`), appended as queries run, so concurrent sessions interleave
rather than overwrite; the same query run twice in a row is kept once; at most `limit`
entries are loaded (the newest); a missing, unreadable or partly corrupt file never stops the
REPL (bad lines are skipped; a failed write is reported, not raised). `HistoryCursor` walks
the entries newest first and gives back the draft being edited when it walks past the newest.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path

DEFAULT_LIMIT = 1000


def default_history_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "starbase" / "history.ndjson"


class HistoryStore:
    """The queries run, oldest first, backed by an append-only NDJSON file (or memory only)."""

    def __init__(self, path: Path | None, limit: int = DEFAULT_LIMIT) -> None:
        self.path = path
        self.limit = limit
        self.entries: list[str] = []
        self.error: str | None = None
        self._load()

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            self.error = f"cannot read history {self.path}: {exc.strerror}"
            return
        for line in lines[-self.limit * 2 :]:
            try:
                query = json.loads(line).get("query")
            except (ValueError, AttributeError):
                continue
            if isinstance(query, str) and query.strip():
                self._remember(query)
        self.entries = self.entries[-self.limit :]

    def _remember(self, query: str) -> bool:
        if self.entries and self.entries[-1] == query:
            return False
        self.entries.append(query)
        return True

    def add(self, query: str, now: dt.datetime | None = None) -> None:
        """Record a query that was run (not twice in a row); persist it."""
        query = query.strip()
        if not query or not self._remember(query):
            return
        del self.entries[: -self.limit]
        if self.path is None:
            return
        at = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps({"query": query, "at": at}, ensure_ascii=False) + "\n")
        except OSError as exc:
            self.error = f"cannot write history {self.path}: {exc.strerror}"

    def newest_first(self) -> Iterator[str]:
        return reversed(self.entries)

    def search(self, needle: str) -> list[str]:
        """Entries containing every word of `needle` (case-insensitive), newest first, unique."""
        words = needle.lower().split()
        seen: set[str] = set()
        found = []
        for entry in self.newest_first():
            if entry in seen:
                continue
            lowered = entry.lower()
            if all(w in lowered for w in words):
                seen.add(entry)
                found.append(entry)
        return found


class HistoryCursor:
    """Up/Down through a store: `older(draft)` and `newer()` return the text to show."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self.index: int | None = None  # position in store.entries; None: editing the draft
        self.draft = ""

    def reset(self) -> None:
        self.index = None

    def older(self, current: str) -> str | None:
        entries = self.store.entries
        if not entries:
            return None
        if self.index is None:
            self.draft = current
            self.index = len(entries)
        # skip entries equal to what is shown, so one press always changes the text
        index = self.index - 1
        while index >= 0 and entries[index] == current:
            index -= 1
        if index < 0:
            return None
        self.index = index
        return entries[index]

    def newer(self) -> str | None:
        if self.index is None:
            return None
        self.index += 1
        if self.index >= len(self.store.entries):
            self.index = None
            return self.draft
        return self.store.entries[self.index]
