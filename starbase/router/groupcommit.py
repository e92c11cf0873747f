"""Group commit: one thread turns every record submitted meanwhile into one WAL write + fsync.

Requires: an opened `Wal` that only this thread appends to. Guarantees: records submitted
while a write is in progress are written together by the next one (so concurrent requests
share an fsync); `on_done(entries, tokens, error)` is called from the writer thread once per
group, in sequence order, after the fsync (entries empty and `error` set when it failed).
`submit` refuses at once (ValueError) a record the WAL cannot hold. The thread never dies of a
failed group: a write that failed was undone by the WAL (nothing of the group is on disk), so
the writer records the error in `error` — for `/readyz` and admission — and probes the disk
every `PROBE_INTERVAL_S` until it takes writes again, then clears it (a full disk recovers by
itself once space is freed). Only a write that could not be undone sets `broken`, after which
every group fails (`/healthz` then fails: the router must be restarted, which reads the log
back). An exception in `on_done` is logged, not fatal. `close` writes what is queued, then
stops the thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from starbase.router.wal import Entry, Record, Wal, WalBroken

OnDone = Callable[[list[Entry], list[object], BaseException | None], None]
PROBE_INTERVAL_S = 1.0
log = logging.getLogger("starbase.router")


class GroupCommit:
    def __init__(self, wal: Wal, on_done: OnDone) -> None:
        self._wal = wal
        self._on_done = on_done
        self._queue: list[tuple[Record, object]] = []
        self._cond = threading.Condition()
        self._closing = False
        self.error: BaseException | None = None  # the last write failed (cleared by a probe)
        self.broken: BaseException | None = None  # the log's tail is unknown: restart
        self.groups = 0
        self._thread = threading.Thread(target=self._run, name="wal-writer", daemon=True)
        self._thread.start()

    def submit(self, record: Record, token: object) -> None:
        """Queue `record`; `token` comes back in `on_done` (e.g. the waiting request)."""
        self._wal.check(record)
        with self._cond:
            if self._closing:
                raise RuntimeError("the WAL writer is closed")
            self._queue.append((record, token))
            self._cond.notify()

    @property
    def failed(self) -> BaseException | None:
        """Why new records cannot be written now (None when they can)."""
        return self.broken or self.error

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() or self._closing

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    retrying = self.error is not None and self.broken is None
                    if not self._cond.wait(timeout=PROBE_INTERVAL_S if retrying else None):
                        break  # time to probe the disk again
                if not self._queue and self._closing:
                    return
                group, self._queue = self._queue, []
            if group:
                self._write(group)
            elif self.error is not None:
                self._probe()

    def _write(self, group: list[tuple[Record, object]]) -> None:
        tokens = [token for _, token in group]
        if self.broken is not None:
            self._done([], tokens, self.broken)
            return
        try:
            entries = self._wal.append([record for record, _ in group])
        except WalBroken as exc:
            log.error("the write-ahead log is broken, restart the router: %s", exc)
            self.broken = exc
            self._done([], tokens, exc)
            return
        except Exception as exc:  # a full disk, an I/O error: undone, retried by the next group
            if self.error is None:
                log.error("writing the write-ahead log failed (will retry): %s", exc)
            self.error = exc
            self._done([], tokens, exc)
            return
        if self.error is not None:
            log.warning("the write-ahead log takes writes again")
        self.error = None
        self.groups += 1
        self._done(entries, tokens, None)

    def _probe(self) -> None:
        try:
            self._wal.probe()
        except OSError:
            return
        log.warning("the write-ahead log's disk takes writes again")
        self.error = None

    def _done(
        self, entries: list[Entry], tokens: list[object], error: BaseException | None
    ) -> None:
        try:
            self._on_done(entries, tokens, error)
        except Exception:
            log.exception("handling a written WAL group failed")

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
