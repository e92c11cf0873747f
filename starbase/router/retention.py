"""Each table's retention cutoff, as the request path needs it to reject expired records.

Requires: `RouterConfig` (tables are opened through `Destinations` of its own). Guarantees:
`cutoff_ns(tenant, kind)` is the first nanosecond of the table's cutoff hour (rows before it
are expired: `Table.append` would drop them), or None when the table has no cutoff; a value
is at most `REFRESH_S` old, or fresher when the flusher's commits `update` it. It reads the
table's head (a small read of its commit log) when its value is missing or stale, so call it
off the event loop; concurrent readers wait for one read. If the store cannot be read, the
last value known is kept (None if never read) and the read is tried again after `REFRESH_S`.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from starbase.router.config import RouterConfig
from starbase.router.destinations import Destinations
from starbase.router.wal import Kind

REFRESH_S = 30.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
log = logging.getLogger("starbase.router")


class Cutoffs:
    def __init__(self, config: RouterConfig) -> None:
        self._tables = Destinations(config)
        self._known: dict[tuple[str | None, Kind], tuple[int | None, float]] = {}
        self._lock = threading.Lock()

    def cutoff_ns(self, tenant: str | None, kind: Kind) -> int | None:
        key = (tenant, kind)
        known = self._known.get(key)
        if known is not None and time.monotonic() - known[1] <= REFRESH_S:
            return known[0]
        with self._lock:
            known = self._known.get(key)
            if known is not None and time.monotonic() - known[1] <= REFRESH_S:
                return known[0]  # another thread just read it
            value = known[0] if known is not None else None
            try:
                value = hour_start_ns(self._tables.table(tenant, kind).snapshot().cutoff)
            except Exception as exc:  # the store is away: keep what we knew, retry later
                log.warning("cannot read the retention cutoff of a %s table: %s", kind.name, exc)
            self._known[key] = (value, time.monotonic())
            return value

    def update(self, tenant: str | None, kind: Kind, cutoff: str | None) -> None:
        """The cutoff a commit just saw (the hour key of the table's state)."""
        self._known[(tenant, kind)] = (hour_start_ns(cutoff), time.monotonic())


def hour_start_ns(key: str | None) -> int | None:
    """The first ns of an hour key 'YYYY-MM-DDTHH' (the year may lack leading zeros)."""
    if key is None:
        return None
    date, _, hour = key.partition("T")
    year, month, day = (int(part) for part in date.split("-"))
    start = datetime(year, month, day, int(hour), tzinfo=UTC)
    return int((start - _EPOCH).total_seconds()) * 1_000_000_000
