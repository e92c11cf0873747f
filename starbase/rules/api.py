"""HTTP for the evaluator: Prometheus' `/api/v1/rules` and `/api/v1/alerts`, and `/metrics`.

Requires: aiohttp and an `Evaluator`. Guarantees:

- `add_routes(app, evaluator)` adds `GET /api/v1/rules` (optional `type=alert|record`) and
  `GET /api/v1/alerts` to any aiohttp application — `starbase serve` mounts them with that one
  call — answering exactly as Prometheus does (`{"status": "success", "data": …}`; a bad
  `type` is a 400 `{"status": "error", "errorType": "bad_data", "error": …}`), so Grafana's
  alert list and other Prometheus clients read them;
- `run_in_background(evaluator)` is a `cleanup_ctx` entry that runs the evaluator while the
  application runs and stops it (state saved) on shutdown;
- `mount(app, files, config, …)` is all `starbase serve` needs: it loads the rule files
  (raising `RuleFileError` with every problem), builds the evaluator and mounts its routes
  and background run on `app`;
- `rules_app(evaluator)` is the standalone server of `starbase rules run`: those routes,
  `GET /metrics` (the evaluator's series and the recorded ones) and `GET /healthz`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from aiohttp import web

from starbase.config import Config
from starbase.rules.evaluator import OUTAGE_TOLERANCE_S, RESEND_S, Evaluator
from starbase.rules.execution import QueryRunner
from starbase.rules.loader import DEFAULT_INTERVAL_S, load_rule_files
from starbase.rules.metrics import Registry
from starbase.rules.notifier import Notifier
from starbase.rules.recording import RecordingStore

EVALUATOR = web.AppKey("starbase_rules_evaluator", Evaluator)
Allow = Callable[[web.Request], bool]
ALLOW: web.AppKey[Allow] = web.AppKey("starbase_rules_allow")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_TYPES = {"alert": "alert", "record": "record"}


def add_routes(
    app: web.Application, evaluator: Evaluator, allow: Allow = lambda request: True
) -> None:
    """Mount `/api/v1/rules` and `/api/v1/alerts` for `evaluator` on `app`; a request that
    `allow` refuses gets Prometheus' 403 error shape."""
    app[EVALUATOR] = evaluator
    app[ALLOW] = allow
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


def mount(
    app: web.Application,
    files: Sequence[Path],
    config: Config,
    *,
    data: Path,
    alertmanagers: Sequence[str] = (),
    external_url: str = "http://127.0.0.1:8080",
    metrics: Registry | None = None,
    workers: int = 1,
    allow: Allow = lambda request: True,
) -> Evaluator:
    """Run the rules of `files` inside `app` (`starbase serve`); see the module docstring."""
    evaluator = build_evaluator(
        files,
        config,
        data=data,
        alertmanagers=alertmanagers,
        external_url=external_url,
        metrics=metrics,
        workers=workers,
    )
    add_routes(app, evaluator, allow)
    app.cleanup_ctx.append(run_in_background(evaluator))
    return evaluator


def build_evaluator(
    files: Sequence[Path],
    config: Config,
    *,
    data: Path,
    alertmanagers: Sequence[str] = (),
    external_url: str = "http://127.0.0.1:8080",
    metrics: Registry | None = None,
    workers: int = 1,
    state: Path | None = None,
    recorded: Path | None = None,
    resend_s: float = RESEND_S,
    query_timeout_s: float | None = None,
    outage_tolerance_s: float = OUTAGE_TOLERANCE_S,
    default_interval_s: float = DEFAULT_INTERVAL_S,
) -> Evaluator:
    """An evaluator of `files` with the defaults of `starbase rules run`."""
    ruleset = load_rule_files(files, config, default_interval_s=default_interval_s)
    registry = metrics or Registry()
    return Evaluator(
        ruleset,
        QueryRunner(config, workers=workers),
        metrics=registry,
        notifier=Notifier(alertmanagers, registry) if alertmanagers else None,
        recording=RecordingStore(recorded or data / "recorded"),
        state_path=state or data / "_rules" / "state.json",
        external_url=external_url,
        resend_s=resend_s,
        query_timeout_s=query_timeout_s,
        outage_tolerance_s=outage_tolerance_s,
    )


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


def _refused(request: web.Request) -> web.Response | None:
    if request.app[ALLOW](request):
        return None
    body = {
        "status": "error",
        "errorType": "forbidden",
        "error": "rules and alerts are for operators: use a token not bound to a tenant",
    }
    return web.json_response(body, status=403)


async def _rules(request: web.Request) -> web.Response:
    refused = _refused(request)
    if refused is not None:
        return refused
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
    refused = _refused(request)
    if refused is not None:
        return refused
    data = request.app[EVALUATOR].alerts_document()
    return web.json_response({"status": "success", "data": data})
