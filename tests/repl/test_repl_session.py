"""The REPL on its real session (queries in worker processes): Esc stops a running aggregation
for real, and quitting while a query runs leaves at once with nothing left running.

The query is `heavy_data.HEAVY_QUERY` (seconds of DataFusion); the worker's CPU is read from
/proc, as in tests/test_session.py.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from heavy_data import HEAVY_QUERY, cpu_seconds
from textual.pilot import Pilot

from starbase.config import Config, SourceConfig
from starbase.repl.app import StarbaseRepl
from starbase.repl.history import HistoryStore
from starbase.repl.runner import SessionBackend

from .repl_support import SIZE, FixedClock, until


def heavy_app(heavy_data: Path, tmp_path: Path) -> StarbaseRepl:
    config = Config((SourceConfig("otel", "otel", str(heavy_data)),))
    return StarbaseRepl(
        config,
        history=HistoryStore(tmp_path / "history.ndjson"),
        clock=FixedClock(),
        sample_keys=False,
        text=HEAVY_QUERY,
    )


async def busy_worker(pilot: Pilot[None], app: StarbaseRepl) -> int:
    """Run the query and return the worker computing it, once it has aggregated for 1 s."""
    backend = app.backend
    assert isinstance(backend, SessionBackend) and backend.session.workers  # the real one
    await until(pilot, lambda: backend.session.worker_pids, timeout=30)
    idle = {pid: cpu_seconds(pid) or 0.0 for pid in backend.session.worker_pids}
    await pilot.press("f5")
    assert app.running

    def aggregating() -> int | None:
        for pid in backend.session.worker_pids:
            if (cpu_seconds(pid) or 0.0) > idle.get(pid, 0.5) + 1.0:
                return pid
        return None

    await until(pilot, aggregating, timeout=30)
    pid = aggregating()
    assert pid is not None and app.running
    return pid


def test_esc_stops_the_aggregation_in_its_worker(heavy_data: Path, tmp_path: Path) -> None:
    app = heavy_app(heavy_data, tmp_path)

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            pid = await busy_worker(pilot, app)
            await pilot.press("escape")
            pressed = time.monotonic()
            assert not app.running and app.status.has_class("-cancelled")
            while cpu_seconds(pid) is not None and time.monotonic() - pressed < 1.0:
                await asyncio.sleep(0.01)
            assert cpu_seconds(pid) is None  # its worker is gone: the CPU is free
            assert app.table is None

    asyncio.run(main())


def test_quitting_while_a_query_runs_stops_everything(heavy_data: Path, tmp_path: Path) -> None:
    app = heavy_app(heavy_data, tmp_path)
    workers: tuple[int, ...] = ()

    async def main() -> None:
        nonlocal workers
        async with app.run_test(size=SIZE) as pilot:
            await busy_worker(pilot, app)
            assert isinstance(app.backend, SessionBackend)
            workers = app.backend.session.worker_pids
            quitting.append(time.monotonic())
            await pilot.press("ctrl+q")

    quitting: list[float] = []
    asyncio.run(main())
    # the aggregation needs seconds more (heavy_data); quitting does not wait for it (with
    # DataFusion in the REPL's own process it did: 2 s and more here) …
    assert time.monotonic() - quitting[0] < 1.0
    assert workers and all(cpu_seconds(pid) is None for pid in workers)  # … it was stopped
