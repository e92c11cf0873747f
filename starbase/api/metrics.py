"""`starbase serve`'s Prometheus metrics: `GET /metrics`, and the query figures behind it.

Requires: aiohttp and the rules' `Registry`. Guarantees: `install(app, registry)` adds
`GET /metrics` (when tokens are configured it needs a bearer token, as `/api` does) and a
middleware that counts every answered request (`starbase_http_requests_total{route,
status}`) and times queries answered by `POST /api/v1/query` — JSON pages and streams alike,
to their last byte — in `starbase_query_duration_seconds{origin="api"}` and
`starbase_queries_total{origin="api",outcome}` (`ok`, `failed` for 4xx/5xx answers,
`cancelled` when the client went away), the families the rule evaluator fills with
`origin="rules"`. The evaluator running inside serve shares the registry.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from starbase.rules.api import CONTENT_TYPE
from starbase.rules.metrics import Registry

QUERY_PATH = "/api/v1/query"


def install(app: web.Application, registry: Registry, authenticate: Handler) -> None:
    """Serve `registry` on `/metrics` (after `authenticate(request)`) and fill it."""
    registry.counter(
        "starbase_http_requests_total",
        "Requests answered, by route and status.",
        ("route", "status"),
    )
    registry.histogram(
        "starbase_query_duration_seconds", "Time to run one query to its end.", ("origin",)
    )
    registry.counter("starbase_queries_total", "Queries run, by outcome.", ("origin", "outcome"))

    async def metrics(request: web.Request) -> web.Response:
        await authenticate(request)
        return web.Response(body=registry.render().encode(), headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/metrics", metrics)
    app.middlewares.insert(0, _counting(registry))


def _counting(registry: Registry) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.monotonic()
        status, outcome = 500, "failed"
        try:
            response = await handler(request)
            status = response.status
            outcome = "ok" if status < 400 else "failed"
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except (asyncio.CancelledError, ConnectionError):
            status, outcome = 499, "cancelled"
            raise
        finally:
            info = request.match_info.route.resource
            route = info.canonical if info is not None else "unmatched"
            registry.inc("starbase_http_requests_total", route=route, status=str(status))
            if request.path == QUERY_PATH and request.method == "POST":
                registry.observe(
                    "starbase_query_duration_seconds", time.monotonic() - started, origin="api"
                )
                registry.inc("starbase_queries_total", origin="api", outcome=outcome)

    return middleware
