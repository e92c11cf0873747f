"""Per-table buffers of acknowledged WAL entries, committed to the tables exactly once.

Requires: entries handed to `add` in sequence order (the group-commit thread does), a
`Destinations`, and this WAL's writer name. Guarantees:

- Buffers hold payload-less references to WAL entries (`Entry.reference`); a commit reads
  its slice back from the log, so a backlog (a slow or unreachable store) costs disk, not RAM.
- Policy: a table's buffer is committed when it holds `flush_bytes` of payload, or entries
  touching `max_partitions` distinct days (a file each), or its oldest entry is `flush_age_s`
  old (and on `stop`); one commit takes a prefix of the buffer of at most `flush_bytes` and
  `max_records` records, ended early once its OTLP attribute values reach what one request
  may hold (so a backlog drains in bounded slices, and a commit's Arrow batch is bounded
  however small or attribute-dense the records are).
- Retention: every commit refreshes `cutoffs` (the request path's view of each table's
  retention cutoff); rows that a commit still drops because the cutoff moved after they were
  acknowledged are counted in `expired_records_total`.
- Exactly once: each commit is `Table.append(batch, writer=W, seq=S)` with S the last entry's
  sequence number, and entries leave the buffer only after it returns. Before the first commit
  to a table, and after any failure (the commit may have landed anyway), the flusher re-reads
  the table's last committed seq for W and drops the entries at or below it, so a retry or a
  replay never commits an entry twice, and never skips one.
- Failures: a store error keeps the entries and retries with backoff (0.2 s doubling to 5 s);
  `store_error` says why until a commit succeeds. An entry that cannot be converted or stored
  as data (a bug, not an outage) is moved to `<wal>/dead-letter/` and its seq committed empty,
  so one bad entry cannot block a table.
- The WAL is released up to the highest seq below which everything is committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]

from starbase.router.config import RouterConfig
from starbase.router.convert import FORMAT_OF_KIND, to_table
from starbase.router.destinations import Destinations
from starbase.router.limits import VALUES_PER_RECORD
from starbase.router.metrics import Metrics
from starbase.router.native import otlp_prefix_table
from starbase.router.retention import Cutoffs
from starbase.router.wal import Entry, Kind, Wal
from starbase.storage.otel_layout import hour_start_ns
from starbase.storage.table import Table

log = logging.getLogger("starbase.router")
_DATA_ERRORS = (ValueError, TypeError, KeyError, IndexError, UnicodeError, DecodeError)
_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.2, 5.0


@dataclass
class _Buffer:
    tenant: str | None
    kind: Kind
    entries: list[Entry] = field(default_factory=list)
    bytes: int = 0
    records: int = 0
    committed: int | None = None  # the table's last seq for our writer; None = re-read
    partitions: set[int] = field(default_factory=set)  # days touched since emptied


class Flusher:
    def __init__(
        self,
        config: RouterConfig,
        wal: Wal,
        writer: str,
        destinations: Destinations,
        metrics: Metrics,
    ) -> None:
        self.config = config
        self.wal = wal
        self.writer = writer
        self.destinations = destinations
        self.metrics = metrics
        self._buffers: dict[tuple[str | None, Kind], _Buffer] = {}
        self._cond = threading.Condition()
        self._last_added = 0
        self._stopping = False
        self.store_error: str | None = None
        self.buffered_bytes = 0
        self.buffered_records = 0
        self._thread: threading.Thread | None = None
        self.cutoffs = Cutoffs(config)

    # ------------------------------------------------------------------ intake

    def add(self, entries: list[Entry]) -> None:
        """Buffer durable entries (in sequence order)."""
        with self._cond:
            for entry in entries:
                key = (entry.tenant, entry.kind)
                buffer = self._buffers.get(key)
                if buffer is None:
                    buffer = self._buffers[key] = _Buffer(entry.tenant, entry.kind)
                records = entry.records
                buffer.entries.append(entry.reference())
                buffer.bytes += entry.size
                buffer.records += records
                buffer.partitions |= entry.partitions
                self.buffered_bytes += entry.size
                self.buffered_records += records
                self._last_added = entry.seq
                if self._full(buffer):
                    self._cond.notify()
            self._gauges()

    # ------------------------------------------------------------------ the thread

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="flusher", daemon=True)
        self._thread.start()

    def stop(self, deadline_s: float) -> bool:
        """Commit everything buffered (retrying until `deadline_s`); True if nothing is left."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        end = time.monotonic() + deadline_s
        while self.buffered_bytes or self._pending():
            if not self.flush_all() and time.monotonic() > end:
                return False
            if self.store_error:
                time.sleep(_BACKOFF_MIN_S)
        return True

    def _pending(self) -> bool:
        with self._cond:
            return any(b.entries for b in self._buffers.values())

    def _run(self) -> None:
        backoff = _BACKOFF_MIN_S
        while True:
            with self._cond:
                if self._stopping:
                    return
                due = self._due(time.time_ns())
                if not due:
                    self._cond.wait(timeout=self._wait_s(time.time_ns()))
                    continue
            if all(self._flush(buffer) for buffer in due):
                backoff = _BACKOFF_MIN_S
                continue
            with self._cond:  # a store error: wait, unless asked to stop
                self._cond.wait(timeout=backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX_S)

    def _full(self, buffer: _Buffer) -> bool:
        return (
            buffer.bytes >= self.config.flush_bytes
            or buffer.records >= self.config.max_records
            or len(buffer.partitions) >= self.config.max_partitions
        )

    def _due(self, now_ns: int) -> list[_Buffer]:
        age_ns = int(self.config.flush_age_s * 1e9)
        return [
            b
            for b in self._buffers.values()
            if b.entries and (self._full(b) or now_ns - b.entries[0].received_ns >= age_ns)
        ]

    def _wait_s(self, now_ns: int) -> float:
        """Until the oldest buffered entry is due (ages are from the entries' receive time)."""
        oldest = [b.entries[0].received_ns for b in self._buffers.values() if b.entries]
        if not oldest:
            return self.config.flush_age_s
        return max(0.01, (min(oldest) - now_ns) / 1e9 + self.config.flush_age_s)

    def flush_all(self) -> bool:
        """Commit every buffer now (used at start-up replay and shutdown); False on an error."""
        with self._cond:
            buffers = [b for b in self._buffers.values() if b.entries]
        return all(self._flush(b) for b in buffers)

    # ------------------------------------------------------------------ one commit

    def _flush(self, buffer: _Buffer) -> bool:
        """Commit a prefix of `buffer`; False if the store failed (entries kept)."""
        table = self.destinations.table(buffer.tenant, buffer.kind)
        try:
            if buffer.committed is None:
                last = table.snapshot().writers.get(self.writer, 0)
                self._drop(buffer, lambda e: e.seq <= last)
                buffer.committed = last
            with self._cond:
                take = _prefix(buffer.entries, self.config.flush_bytes, self.config.max_records)
            if not take:  # everything was committed before (a replay)
                self._release()
                return True
            started = time.perf_counter()
            try:
                batch, take = self._convert(buffer.kind, take)
                meta = _raw_meta(batch) if buffer.kind is Kind.RAW else None
                commit = table.append(batch, writer=self.writer, seq=take[-1].seq, meta=meta)
                if commit is not None:
                    self._count_expired(table, buffer.kind, batch, commit.state.cutoff)
                    self.cutoffs.update(buffer.tenant, buffer.kind, commit.state.cutoff)
                del batch
            except _DATA_ERRORS as exc:
                self._one_by_one(table, buffer, take, exc)
            self.metrics.observe("flush_seconds", time.perf_counter() - started)
        except Exception as exc:  # the store: unreachable, slow, refusing
            buffer.committed = None
            self.store_error = f"{type(exc).__name__}: {exc}"
            self.metrics.inc("flush_errors_total")
            self.metrics.set("store_up", 0)
            log.warning("commit to %s failed, will retry: %s", table.store.url(""), exc)
            return False
        committed = take[-1].seq
        self._drop(buffer, lambda e: e.seq <= committed)
        buffer.committed = committed
        if not buffer.entries:
            buffer.partitions = set()
        self.store_error = None
        self.metrics.set("store_up", 1)
        self.metrics.inc(
            "records_committed_total",
            sum(e.records for e in take),
            format=FORMAT_OF_KIND[buffer.kind],
        )
        self._release()
        return True

    def _one_by_one(
        self, table: Table, buffer: _Buffer, take: list[Entry], first: Exception
    ) -> None:
        """Commit the entries of a batch that failed as data one at a time; dead-letter the bad."""
        log.error(
            "a %s batch failed as data (%s); committing entry by entry", buffer.kind.name, first
        )
        for entry in take:
            try:
                batch = to_table(buffer.kind, self._load([entry]))
                table.append(batch, writer=self.writer, seq=entry.seq)
            except _DATA_ERRORS as exc:
                self._dead_letter(entry, exc)
                table.append(to_table(buffer.kind, []), writer=self.writer, seq=entry.seq)

    def _convert(self, kind: Kind, take: list[Entry]) -> tuple[pa.Table, list[Entry]]:
        """The batch of `take`, or of a prefix of it whose attribute values (OTLP) reach the
        limit a request has (`limits.VALUES_PER_RECORD` x max_records): a commit's Arrow batch
        stays bounded however attribute-dense the records are. OTLP converts through the
        compiled decoder (`native`, the Python reference without it), rows already in the
        stored files' order."""
        if kind is not Kind.OTLP:
            return to_table(kind, self._load(take)), take
        limit = self.config.max_records * VALUES_PER_RECORD
        batch, used = otlp_prefix_table(self._load(take), limit, ordered=True)
        return batch, take[:used]

    def _count_expired(self, table: Table, kind: Kind, batch: pa.Table, cutoff: str | None) -> None:
        """Rows committed before the table's cutoff (it moved after they were accepted):
        dropped or hidden by the table, so counted as expired."""
        if cutoff is None or not batch.num_rows:
            return
        first = -(-hour_start_ns(cutoff) // table.format.ns_per_unit)  # in the column's unit
        times = batch.column(table.format.time_column)
        expired = int(pc.sum(pc.less(times, first)).as_py() or 0)
        if expired:
            log.warning("%d %s records were past the retention cutoff at commit", expired, kind)
            self.metrics.inc("expired_records_total", expired, format=FORMAT_OF_KIND[kind])

    @property
    def alive(self) -> bool:
        """False if the flusher thread died (a bug): /healthz fails."""
        return self._thread is None or self._thread.is_alive() or self._stopping

    def _load(self, entries: list[Entry]) -> list[Entry]:
        return [replace(e, payload=self.wal.load(e)) for e in entries]

    def _dead_letter(self, entry: Entry, exc: Exception) -> None:
        folder = Path(self.wal.directory) / "dead-letter"
        folder.mkdir(exist_ok=True)
        name = f"{entry.seq:020d}-{entry.kind.name.lower()}"
        (folder / f"{name}.bin").write_bytes(self.wal.load(entry))
        (folder / f"{name}.txt").write_text(
            f"tenant={entry.tenant} meta={entry.meta} received_ns={entry.received_ns}\n{exc}\n"
        )
        log.error("entry %d moved to %s: %s", entry.seq, folder, exc)

    def _drop(self, buffer: _Buffer, done: Callable[[Entry], bool]) -> None:
        with self._cond:
            count = 0
            while count < len(buffer.entries) and done(buffer.entries[count]):
                count += 1
            if not count:
                return
            gone = buffer.entries[:count]
            del buffer.entries[:count]
            size = sum(e.size for e in gone)
            records = sum(e.records for e in gone)
            buffer.bytes -= size
            buffer.records -= records
            self.buffered_bytes -= size
            self.buffered_records -= records
            self._gauges()

    def _release(self) -> None:
        with self._cond:
            firsts = [b.entries[0].seq for b in self._buffers.values() if b.entries]
            upto = min(firsts) - 1 if firsts else self._last_added
        self.wal.release(upto)
        self.metrics.set("wal_bytes", self.wal.size)

    def _gauges(self) -> None:
        self.metrics.set("queue_bytes", self.buffered_bytes)
        self.metrics.set("queue_records", self.buffered_records)


def _raw_meta(batch: pa.Table) -> dict[str, Any] | None:
    """Which format each raw source's lines in the commit fit (a few sampled lines by rule:
    `analyzer.detect`), so `mapping = "auto"` sees a new format without scanning history."""
    from starbase.analyzer.detect import raw_batch_meta

    try:
        return raw_batch_meta(batch, learned=False)
    except Exception:  # detection is advisory: never hold a commit back
        log.exception("raw format detection failed")
        return None


def _prefix(entries: list[Entry], limit: int, max_records: int) -> list[Entry]:
    taken: list[Entry] = []
    size = records = 0
    for entry in entries:
        if taken and (size + entry.size > limit or records + entry.records > max_records):
            break
        taken.append(entry)
        size += entry.size
        records += entry.records
    return taken
