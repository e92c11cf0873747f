"""Helpers for the REPL tests: a fixed clock, backends that pin or stall, pilot shortcuts."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Mapping

from textual import events
from textual.keys import _character_to_key
from textual.pilot import Pilot

from starbase.backends.base import Section
from starbase.compiler.driver import CompiledQuery
from starbase.compiler.timestamps import parse_iso
from starbase.config import Config
from starbase.repl.app import StarbaseRepl
from starbase.repl.runner import Cancelled, QueryResult, RunRequest, SessionBackend
from starbase.runtime.explain import Explain, Part
from starbase.runtime.session import Session

NOW = parse_iso("2026-11-22T00:00:00Z")
SIZE = (80, 24)


class FixedClock:
    """`now` never moves and no time ever passes: elapsed times read 0 ms."""

    def now_ns(self) -> int:
        return NOW

    def monotonic(self) -> float:
        return 1000.0


class InlineBackend(SessionBackend):
    """The real backend on a session that runs DataFusion in this process (quicker to start
    than worker processes; the tests of cancelling and quitting use the REPL's default)."""

    def __init__(self, config: Config) -> None:
        super().__init__(Session(config))


class StableBackend(InlineBackend):
    """The real backend with the two machine-dependent outputs pinned, for snapshots: bytes
    scanned (DataFusion's count depends on file layout) and the physical plan (file paths)."""

    def execute(self, request: RunRequest) -> QueryResult:
        result = super().execute(request)
        return QueryResult(result.table, result.truncated, 1_234_567, result.sources)

    def explain(
        self, compiled: CompiledQuery, params: Mapping[str, object], *, plans: bool = True
    ) -> Explain:
        explain = self.session.explain(compiled, params, plans=False)
        if not plans:
            return explain
        plan = Section("DataFusion plan", "-- optimized logical plan --\n(pinned for the snapshot)")
        parts = [p for p in explain.parts if p.kind != "warnings"]
        warnings = [p for p in explain.parts if p.kind == "warnings"]
        return Explain(explain.query, (*parts, Part("plan", plan), *warnings))


class SlowBackend(InlineBackend):
    """Blocks every query until `release` is set (or the query is cancelled)."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.cancelled = threading.Event()

    def execute(self, request: RunRequest) -> QueryResult:
        self.started.set()
        try:
            while not self.release.wait(0.01):
                if request.cancel.is_set():
                    self.cancelled.set()
                    raise Cancelled
            return super().execute(request)
        finally:
            self.finished.set()


def drive(app: StarbaseRepl, scenario: Callable[[Pilot[None]], Awaitable[None]]) -> None:
    """Run `scenario` against `app`, headless, at 80×24."""

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await scenario(pilot)

    asyncio.run(main())


async def until(pilot: Pilot[None], predicate: Callable[[], object], timeout: float = 10) -> None:
    """Let the app run until `predicate()` holds (fails the test after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await pilot.pause(0.02)


async def type_text(pilot: Pilot[None], text: str) -> None:
    """Type `text` as a fast typist would: one key event per character, sent in a burst (as a
    terminal delivers a paste-speed typist), then wait until the app has handled them all.
    (`pilot.press` waits for the app to go idle after every key: ~50 ms a key.)"""
    names = {" ": "space", "\n": "enter"}
    for char in text:
        key = names.get(char) or (char if char.isalnum() else _character_to_key(char))
        pilot.app.post_message(events.Key(key, char))
    await pilot.pause()


async def settle(pilot: Pilot[None]) -> None:
    """Wait past the editor's check delay."""
    await pilot.pause(0.3)
