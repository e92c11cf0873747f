"""What every handler of one `starbase serve` process shares.

Requires: `ServeSettings`. Guarantees: one `ApiState` per application, reachable from a
request as `state_of(request)`; it owns the tenants' sessions, the per-token limiters, the
job registry, the saved-query store and the thread pool that reads cursors (sized so that
every admitted query can have a reader); `close()` cancels jobs and releases sessions.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from starbase.api.jobs import Jobs
from starbase.api.running import Limiter
from starbase.api.saved import SavedQueries
from starbase.api.settings import ServeSettings
from starbase.api.tenants import Principal, Tenants


class RouterScrapes:
    """The previous scrape of the router's metrics, to turn counters into rates."""

    def __init__(self) -> None:
        self.previous: tuple[float, dict[str, float]] | None = None


class ApiState:
    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        limits = settings.limits
        self.tenants = Tenants(settings)
        self.queries = Limiter(limits.max_concurrent, "queries")
        self.tails = Limiter(limits.max_tails, "live tails")
        self.executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="starbase-api")
        self.jobs = Jobs(limits)
        self.saved = SavedQueries(settings.state_dir / "saved")
        self.background: set[asyncio.Future[None]] = set()  # jobs' collecting tasks
        self.router_scrapes = RouterScrapes()

    def close(self) -> None:
        self.jobs.close()
        self.tenants.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


STATE: web.AppKey[ApiState] = web.AppKey("starbase.state", ApiState)
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("starbase.principal", Principal)


def state_of(request: web.Request) -> ApiState:
    return request.app[STATE]


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]  # set by the auth middleware for every /api route
