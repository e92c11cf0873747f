"""Background compaction (`--compact-every`): merge the small files that frequent commits leave.

Requires: the flusher's `Destinations` (to learn which tables this router writes). Guarantees:
one daemon thread (run by worker 0 only) that every `compact_every_s` calls `Table.compact()`
then `Table.vacuum()` on each of those tables, through its own `Table` objects (a table's
commit log cache is not shared across threads; the storage layer's lock files order the
compaction against the flushers' appends). A failure is logged and retried next round:
compaction only makes reads faster, it never holds up ingest.

Compaction costs more CPU per record than ingest itself (it reads, sorts and re-encodes every
record: ~4.4 µs a record at zstd 9, ~2.6 at zstd 3, against ~2.5 µs for the router's whole
ingest path; `make bench-decode`). So its zstd level follows the load: `level_for(rate)` keeps
storage's level 9 while the records appended since the last round arrive slowly enough for
compaction to take at most `CPU_SHARE` of a core, and drops to level 3 above (~7% more bytes
at rest on the benchmark's records, ~40% less compaction CPU: docs/router.md).
"""

from __future__ import annotations

import logging
import threading
import time

from starbase.router.config import RouterConfig
from starbase.router.destinations import Destinations
from starbase.storage.table import APPEND, COMPACT_ZSTD_LEVEL, Table

log = logging.getLogger("starbase.router")
CPU_SHARE = 0.25  # of one core, on average, that compaction at the full level may take
FULL_LEVEL_US = 4.4  # CPU µs per record, compaction at COMPACT_ZSTD_LEVEL (measured)
BUSY_LEVEL = 3  # above that rate: ~2.6 µs per record, ~7% more bytes


def level_for(records_per_s: float) -> int:
    """The zstd level compaction uses when records are appended at `records_per_s`."""
    if records_per_s * FULL_LEVEL_US * 1e-6 <= CPU_SHARE:
        return COMPACT_ZSTD_LEVEL
    return BUSY_LEVEL


def appended_rows(table: Table) -> int:
    """Rows in files appended since the last compaction (what the next one rewrites)."""
    return sum(f.rows for f in table.files() if APPEND in f.path)


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
        last = time.monotonic()
        while not self._stop.wait(self.config.compact_every_s):
            now = time.monotonic()
            elapsed, last = max(now - last, 1.0), now
            for tenant, kind in self.written.written():
                table = self._own.table(tenant, kind)
                try:
                    level = level_for(appended_rows(table) / elapsed)
                    report = table.compact(level=level)
                    table.vacuum()
                except Exception as exc:  # the store may be away: next round
                    log.warning("compaction of %s failed: %s", table.store.url(""), exc)
                    continue
                if report.commit is not None:
                    log.info(
                        "compacted %s: %d files into %d (zstd %d)",
                        table.store.url(""),
                        report.inputs,
                        report.outputs,
                        level,
                    )
