"""Background compaction (`--compact-every`): merge the small files that frequent commits leave.

Requires: the flusher's `Destinations` (to learn which tables this router writes). Guarantees:
one daemon thread (run by worker 0 only) that every `compact_every_s` calls `Table.compact()`
then `Table.vacuum()` on each of those tables, through its own `Table` objects (a table's
commit log cache is not shared across threads; the storage layer's lock files order the
compaction against the flushers' appends). A failure is logged and retried next round:
compaction only makes reads faster, it never holds up ingest.
"""

from __future__ import annotations

import logging
import threading

from starbase.router.config import RouterConfig
from starbase.router.destinations import Destinations

log = logging.getLogger("starbase.router")


class Compactor:
    def __init__(self, config: RouterConfig, written: Destinations) -> None:
        self.config = config
        self.written = written  # the flusher's: which tables exist
        self._own = Destinations(config)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="compactor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.config.compact_every_s):
            for tenant, kind in self.written.written():
                table = self._own.table(tenant, kind)
                try:
                    report = table.compact()
                    table.vacuum()
                except Exception as exc:  # the store may be away: next round
                    log.warning("compaction of %s failed: %s", table.store.url(""), exc)
                    continue
                if report.commit is not None:
                    log.info(
                        "compacted %s: %d files into %d",
                        table.store.url(""),
                        report.inputs,
                        report.outputs,
                    )
