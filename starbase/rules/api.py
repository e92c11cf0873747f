"""HTTP for the evaluator: Prometheus' `/api/v1/rules` and `/api/v1/alerts`, and `/metrics`.

Requires: aiohttp and an `Evaluator`. Guarantees:

- `add_routes(app, evaluator)` adds `GET /api/v1/rules` (optional `type=alert|record`) and
  `GET /api/v1/alerts` to any aiohttp application — `starbase serve` mounts them with that one
  call — answering exactly as Prometheus does (`{"status": "success", "data": …}`; a bad
  `type` is a 400 `{"status": "error", "errorType": "bad_data", "error": …}`), so Grafana's
  alert list and other Prometheus clients read them;
- `run_in_background(evaluator)` is a `cleanup_ctx` entry that runs the evaluator while the
  application runs and stops it (state saved) on shutdown;
- `rules_app(evaluator)` is the standalone server of `starbase rules run`: those routes,
  `GET /metrics` (the evaluator's series and the recorded ones) and `GET /healthz`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from starbase.rules.evaluator import Evaluator
from starbase.rules.metrics import Registry

EVALUATOR = web.AppKey("starbase_rules_evaluator", Evaluator)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_TYPES = {"alert": "alert", "record": "record"}


def add_routes(app: web.Application, evaluator: Evaluator) -> None:
    """Mount `/api/v1/rules` and `/api/v1/alerts` for `evaluator` on `app`."""
    app[EVALUATOR] = evaluator
    app.router.add_get("/api/v1/rules", _rules)
    app.router.add_get("/api/v1/alerts", _alerts)


def run_in_background(
    evaluator: Evaluator,
) -> Callable[[web.Application], contextlib.AbstractAsyncContextManager[None]]:
    """A `cleanup_ctx` entry running `evaluator` for the application's lifetime."""

    @contextlib.asynccontextmanager
    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.ensure_future(evaluator.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.to_thread(evaluator.runner.close)

    return lifetime


def metrics_handler(registry: Registry) -> Callable[[web.Request], object]:
    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=registry.render().encode(), headers={"Content-Type": CONTENT_TYPE})

    return metrics


def rules_app(evaluator: Evaluator) -> web.Application:
    """The standalone evaluator's HTTP server (see the module docstring)."""
    app = web.Application()
    add_routes(app, evaluator)
    app.router.add_get("/metrics", metrics_handler(evaluator.metrics))  # type: ignore[arg-type]
    app.router.add_get("/healthz", _healthz)
    app.cleanup_ctx.append(run_in_background(evaluator))
    return app


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _rules(request: web.Request) -> web.Response:
    kind = request.query.get("type")
    if kind is not None and kind not in _TYPES:
        return web.json_response(
            {
                "status": "error",
                "errorType": "bad_data",
                "error": f'unsupported type "{kind}": use "alert" or "record"',
            },
            status=400,
        )
    data = request.app[EVALUATOR].rules_document(_TYPES.get(kind or ""))
    return web.json_response({"status": "success", "data": data})


async def _alerts(request: web.Request) -> web.Response:
    data = request.app[EVALUATOR].alerts_document()
    return web.json_response({"status": "success", "data": data})
