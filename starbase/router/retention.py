"""Each table's retention cutoff, as the request path needs it to reject expired records.

Requires: `RouterConfig` (tables are opened through `Destinations` of its own). Guarantees:
`cutoff_ns(tenant, kind)` is the first nanosecond of the table's cutoff hour (rows before it
are expired: `Table.append` would drop them), or None when the table has no cutoff or it is
not known yet. It never waits on the store for long: values are read by one background thread
(a small read of the table's commit log) when missing or older than `REFRESH_S`, or set by the
flusher's commits (`update`); only the first ask for a table waits, up to `FIRST_READ_WAIT_S`,
for its first read. A read that fails (the store is away) keeps the last value known and is
tried again after `REFRESH_S`; a hung store holds up only that thread.
"""

from __future__ import annotations

import logging
import threading
import time

from starbase.router.config import RouterConfig
from starbase.router.destinations import Destinations
from starbase.router.wal import Kind
from starbase.storage.otel_layout import hour_start_ns

REFRESH_S = 30.0
FIRST_READ_WAIT_S = 1.0
log = logging.getLogger("starbase.router")
Key = tuple[str | None, Kind]


class Cutoffs:
    def __init__(self, config: RouterConfig) -> None:
        self._tables = Destinations(config)
        self._known: dict[Key, tuple[int | None, float]] = {}  # value, when read or tried
        self._first: dict[Key, threading.Event] = {}  # set once a first read was tried
        self._wanted: set[Key] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def cutoff_ns(self, tenant: str | None, kind: Kind) -> int | None:
        """The cutoff as last read (call it off the event loop: the first ask may wait 1 s)."""
        key = (tenant, kind)
        known = self._known.get(key)
        if known is not None and time.monotonic() - known[1] <= REFRESH_S:
            return known[0]
        with self._cond:
            first = self._first.get(key)
            waiting = first is None
            if first is None:
                first = self._first[key] = threading.Event()
            self._wanted.add(key)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cutoffs", daemon=True)
                self._thread.start()
            self._cond.notify()
        if waiting:
            first.wait(FIRST_READ_WAIT_S)
        known = self._known.get(key)
        return None if known is None else known[0]

    def update(self, tenant: str | None, kind: Kind, cutoff: str | None) -> None:
        """The cutoff a commit just saw (the hour key of the table's state)."""
        try:
            self._known[(tenant, kind)] = (_start(cutoff), time.monotonic())
        except ValueError:  # not an hour key: read it again from the table
            self._known.pop((tenant, kind), None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._wanted:
                    self._cond.wait()
                key = self._wanted.pop()
            known = self._known.get(key)
            if known is not None and time.monotonic() - known[1] <= REFRESH_S:
                continue  # read (or updated by a commit) meanwhile
            value = known[0] if known is not None else None
            try:
                value = _start(self._tables.table(*key).snapshot().cutoff)
            except Exception as exc:  # the store is away: keep what we knew, retry later
                log.warning("cannot read the retention cutoff of a %s table: %s", key[1].name, exc)
            self._known[key] = (value, time.monotonic())
            self._first[key].set()


def _start(cutoff: str | None) -> int | None:
    return None if cutoff is None else hour_start_ns(cutoff)
