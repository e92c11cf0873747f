"""Group commit: one thread turns every record submitted meanwhile into one WAL write + fsync.

Requires: an opened `Wal` that only this thread appends to. Guarantees: records submitted
while a write is in progress are written together by the next one (so concurrent requests
share an fsync); `on_done(entries, tokens, error)` is called from the writer thread once per
group, in sequence order, after the fsync (entries empty and `error` set when it failed, after
which every later group fails too: the log's state on disk is unknown); `close` writes what is
queued, then stops the thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from starbase.router.wal import Entry, Record, Wal

OnDone = Callable[[list[Entry], list[object], BaseException | None], None]


class GroupCommit:
    def __init__(self, wal: Wal, on_done: OnDone) -> None:
        self._wal = wal
        self._on_done = on_done
        self._queue: list[tuple[Record, object]] = []
        self._cond = threading.Condition()
        self._closing = False
        self._failed: BaseException | None = None
        self.groups = 0
        self._thread = threading.Thread(target=self._run, name="wal-writer", daemon=True)
        self._thread.start()

    def submit(self, record: Record, token: object) -> None:
        """Queue `record`; `token` comes back in `on_done` (e.g. the waiting request)."""
        with self._cond:
            if self._closing:
                raise RuntimeError("the WAL writer is closed")
            self._queue.append((record, token))
            self._cond.notify()

    @property
    def failed(self) -> BaseException | None:
        return self._failed

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                group, self._queue = self._queue, []
            tokens = [token for _, token in group]
            if self._failed is not None:
                self._on_done([], tokens, self._failed)
                continue
            try:
                entries = self._wal.append([record for record, _ in group])
            except OSError as exc:
                self._failed = exc
                self._on_done([], tokens, exc)
                continue
            self.groups += 1
            self._on_done(entries, tokens, None)

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
