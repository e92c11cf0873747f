"""Sending alerts to Alertmanager (API v2: `POST /api/v2/alerts`), never losing them silently.

Requires: a running asyncio loop for `run()`; Alertmanager base URLs. Guarantees:

- `send(alerts)` queues Alertmanager's `postableAlert` objects (labels, annotations,
  startsAt, endsAt, generatorURL) from any thread; the queue holds the newest version of
  each label set (an update replaces the queued one), at most `capacity` alerts — past that
  the oldest are dropped and counted (`starbase_notifications_dropped_total`);
- `run()` posts batches of up to `batch` alerts to every Alertmanager; a batch is done when
  one of them accepted it (2xx); when none did, the batch stays queued and is retried with
  exponential backoff (`backoff_s` doubling up to `max_backoff_s`), each failed attempt
  counted (`starbase_notifications_errors_total{alertmanager}`) and logged once per outage,
  `starbase_alertmanager_up{alertmanager}` 0 until one answers again;
- a batch an Alertmanager refuses as invalid (HTTP 400 or 422: it will never accept it) does
  not block the queue: its alerts are posted one by one, those refused are dropped, counted
  (`starbase_notifications_rejected_total{alertmanager}`) and logged with Alertmanager's
  reason, the others delivered;
- `queued` is the queue's length (`starbase_notifications_queue_length`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from starbase.rules.metrics import Registry

log = logging.getLogger("starbase.rules.notifier")

Payload = Mapping[str, Any]
Key = tuple[tuple[str, str], ...]  # an alert's labels, sorted
ACCEPTED, REJECTED, FAILED = "accepted", "rejected", "failed"
INVALID = frozenset({400, 422})  # Alertmanager's answers to alerts it will never accept


def declare(metrics: Registry) -> None:
    metrics.counter(
        "starbase_notifications_sent_total",
        "Alerts accepted by Alertmanager.",
        ("alertmanager",),
    )
    metrics.counter(
        "starbase_notifications_errors_total",
        "Failed attempts to post alerts to Alertmanager (the alerts stay queued).",
        ("alertmanager",),
    )
    metrics.counter(
        "starbase_notifications_dropped_total", "Alerts dropped because the queue was full."
    )
    metrics.counter(
        "starbase_notifications_rejected_total",
        "Alerts Alertmanager refused as invalid (HTTP 400/422): dropped and logged.",
        ("alertmanager",),
    )
    metrics.gauge("starbase_notifications_queue_length", "Alerts waiting to be sent.")
    metrics.gauge("starbase_notifications_queue_capacity", "Most alerts the queue holds.")
    metrics.gauge(
        "starbase_alertmanager_up",
        "1 if the last post to this Alertmanager succeeded, else 0.",
        ("alertmanager",),
    )


class Notifier:
    """See the module docstring."""

    def __init__(
        self,
        urls: Sequence[str],
        metrics: Registry,
        *,
        capacity: int = 10_000,
        batch: int = 64,
        timeout_s: float = 10.0,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.urls = tuple(u.rstrip("/") for u in urls)
        self.metrics = metrics
        self.capacity = capacity
        self.batch = batch
        self.timeout_s = timeout_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._queue: OrderedDict[Key, Payload] = OrderedDict()
        self._lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._down: set[str] = set()
        self.sleep = asyncio.sleep  # how a retry waits (a test reads the backoff from it)
        declare(metrics)
        metrics.set("starbase_notifications_queue_capacity", capacity)
        metrics.set("starbase_notifications_queue_length", 0)
        for url in self.urls:
            metrics.inc("starbase_notifications_sent_total", 0, alertmanager=url)
            metrics.inc("starbase_notifications_errors_total", 0, alertmanager=url)
            metrics.inc("starbase_notifications_rejected_total", 0, alertmanager=url)
        metrics.inc("starbase_notifications_dropped_total", 0)

    @property
    def queued(self) -> int:
        with self._lock:
            return len(self._queue)

    def send(self, alerts: Sequence[Payload]) -> None:
        """Queue `alerts` (any thread); see the module docstring."""
        if not self.urls or not alerts:
            return
        with self._lock:
            for alert in alerts:
                key = tuple(sorted(alert["labels"].items()))
                self._queue.pop(key, None)
                self._queue[key] = alert
            dropped = 0
            while len(self._queue) > self.capacity:
                self._queue.popitem(last=False)
                dropped += 1
            size = len(self._queue)
        if dropped:
            self.metrics.inc("starbase_notifications_dropped_total", dropped)
            log.warning("alert queue full: dropped %d alerts", dropped)
        self.metrics.set("starbase_notifications_queue_length", size)
        self._poke()

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            loop.call_soon_threadsafe(wake.set)

    def _take(self) -> list[tuple[Key, Payload]]:
        with self._lock:
            return list(self._queue.items())[: self.batch]

    def _done(self, taken: list[tuple[Key, Payload]]) -> None:
        with self._lock:
            for key, payload in taken:
                if self._queue.get(key) is payload:  # not replaced by a newer version meanwhile
                    del self._queue[key]
            size = len(self._queue)
        self.metrics.set("starbase_notifications_queue_length", size)

    async def run(self) -> None:
        """Send until cancelled (see the module docstring)."""
        import aiohttp

        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        backoff = self.backoff_s
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as client:
            while True:
                taken = self._take()
                if not taken:
                    self._wake.clear()
                    if self.queued == 0:
                        await self._wake.wait()
                    continue
                outcome = await self._deliver(client, taken)
                if outcome == FAILED:
                    await self.sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff_s)
                    continue
                backoff = self.backoff_s
                if outcome == ACCEPTED or len(taken) == 1:
                    self._done(taken)  # delivered, or one alert refused (counted, logged)
                    continue
                for one in taken:  # a batch refused: find its invalid alerts
                    if await self._deliver(client, [one]) == FAILED:
                        break  # an outage began: the rest are retried with backoff
                    self._done([one])

    async def _deliver(self, client: Any, taken: list[tuple[Key, Payload]]) -> str:
        """Post `taken` to every Alertmanager: ACCEPTED when one took it, REJECTED when none
        did and one refused it as invalid (then, for a single alert, it is counted and
        logged as dropped), else FAILED."""
        body = [payload for _, payload in taken]
        refused: tuple[str, str] | None = None
        accepted = False
        for url in self.urls:
            status, error = await self._post(client, url, body)
            if error is None:
                accepted = True
                self.metrics.inc("starbase_notifications_sent_total", len(body), alertmanager=url)
                self._up(url, True)
                continue
            if status in INVALID:
                self._up(url, True)  # it answered: the alerts are the problem
                refused = refused or (url, error)
                continue
            self.metrics.inc("starbase_notifications_errors_total", alertmanager=url)
            if self._up(url, False):
                log.warning(
                    "cannot send %d alerts to Alertmanager %s: %s (kept, retrying)",
                    len(body),
                    url,
                    error,
                )
        if accepted:
            return ACCEPTED
        if refused is None:
            return FAILED
        if len(body) == 1:
            url, error = refused
            self.metrics.inc("starbase_notifications_rejected_total", alertmanager=url)
            log.error(
                "Alertmanager %s refused alert %s: %s (dropped)", url, dict(taken[0][0]), error
            )
        return REJECTED

    def _up(self, url: str, up: bool) -> bool:
        """Record whether `url` answers; True when that changed."""
        self.metrics.set("starbase_alertmanager_up", 1 if up else 0, alertmanager=url)
        changed = (url in self._down) == up
        if up and changed:
            self._down.discard(url)
            log.info("Alertmanager %s answers again", url)
        elif changed:
            self._down.add(url)
        return changed

    async def _post(self, client: Any, url: str, body: list[Payload]) -> tuple[int, str | None]:
        """The HTTP status (0 when none came) and None when Alertmanager accepted the alerts,
        else why not (one line)."""
        import aiohttp

        try:
            async with client.post(f"{url}/api/v2/alerts", json=body) as reply:
                if 200 <= reply.status < 300:
                    return reply.status, None
                text = (await reply.text())[:200]
                return reply.status, f"HTTP {reply.status}: {' '.join(text.split())}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return 0, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
