"""The `starbase serve` application: routes, the web UI's files, and the rules every request
passes through.

Requires: `ServeSettings`. Guarantees, for every request:

- errors are JSON (`errors.py`): handler errors, unknown paths (404), wrong methods (405),
  compile errors (400 with diagnostics), queries that fail (422), unexpected failures (500,
  logged with the traceback, the client gets one line) — never an HTML or text page;
- `/api/…` needs `Authorization: Bearer TOKEN` when tokens are configured (401 missing,
  403 unknown; `WWW-Authenticate: Bearer`); the UI's files, `/openapi.json`, `/healthz` and
  `/readyz` are public; `/metrics` (Prometheus, `api.metrics`) needs a token when tokens are
  configured; with `rule_files`, the rule evaluator runs in the server and answers
  `/api/v1/rules` and `/api/v1/alerts` to tokens not bound to a tenant (`starbase.rules.api`);
- CORS is off unless origins are configured (`--cors-origin`): then those origins, and only
  they, get CORS headers and preflight answers;
- the UI is served from the package (`static/`, no network needed at run time) with a
  content security policy that allows nothing but this origin.
A background task drops expired jobs every `EXPIRE_EVERY_S`; shutting down cancels jobs and
tails and releases the sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from starbase.api.errors import ApiError, compile_error_response, error_response
from starbase.api.execution import QueryCancelled
from starbase.api.openapi import document
from starbase.api.routes import ROUTES
from starbase.api.settings import ServeSettings
from starbase.api.state import PRINCIPAL, STATE, ApiState
from starbase.api.tenants import authenticate
from starbase.compiler.errors import CompileError
from starbase.runtime.errors import QueryFailed

log = logging.getLogger("starbase.api")
STATIC = Path(__file__).parent / "static"
EXPIRE_EVERY_S = 5.0
# A client that hangs up cancels its request's handler, so the query it started is cancelled
# (the handlers release everything in `finally`).
RUNNER_OPTIONS = {"handler_cancellation": True, "access_log": None}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    400: "bad_request",
    415: "unsupported_media_type",
}


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        response = error_response(exc)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response
    except CompileError as exc:
        return compile_error_response(exc)
    except QueryFailed as exc:
        return error_response(ApiError(422, "query_failed", str(exc)))
    except QueryCancelled:
        return error_response(ApiError(409, "cancelled", "the query was cancelled"))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _CODES.get(exc.status, "http_error")
        message = exc.reason
        if exc.status == 404:
            message = f"no such path: {request.path}"
        elif exc.status == 405:
            message = f"{request.method} is not allowed on {request.path}"
        response = error_response(ApiError(exc.status, code, message))
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except (ConnectionError, asyncio.CancelledError):
        raise
    except Exception as exc:
        log.exception("internal error on %s %s", request.method, request.path)
        return error_response(
            ApiError(500, "internal_error", f"internal error: {type(exc).__name__}")
        )


def cors(origins: tuple[str, ...]) -> Middleware:
    allowed = frozenset(origins)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in (
            request.headers
        )
        if preflight:
            if origin not in allowed:
                raise ApiError(403, "cors_refused", "cross-origin requests are not allowed")
            return web.Response(status=204, headers=_cors_headers(origin, preflight=True))
        response = await handler(request)
        if origin is not None and origin in allowed and not response.prepared:
            response.headers.update(_cors_headers(origin, preflight=False))
        return response

    return middleware


def _cors_headers(origin: str, *, preflight: bool) -> dict[str, str]:
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if preflight:
        headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE"
        headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Accept"
        headers["Access-Control-Max-Age"] = "600"
    return headers


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/api/"):
        state = request.app[STATE]
        request[PRINCIPAL] = authenticate(state.settings, request.headers.get("Authorization"))
    return await handler(request)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers=_ui_headers())


def _ui_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


@web.middleware
async def ui_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if request.path.startswith("/static/") and not response.prepared:
        response.headers.update(_ui_headers())
    return response


def build_app(settings: ServeSettings) -> web.Application:
    limits = settings.limits
    app = web.Application(
        middlewares=[json_errors, cors(settings.cors_origins), auth, ui_headers],
        client_max_size=limits.max_body_bytes,
        handler_args={
            # a query in a URL (live tail) may be long: its own limit answers in JSON first
            "max_line_size": 4 * limits.max_query_bytes + 8192,
            "max_field_size": 16384,
        },
    )
    app[STATE] = ApiState(settings)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    _monitoring(app, settings)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
    app.cleanup_ctx.append(_lifetime)
    return app


def _monitoring(app: web.Application, settings: ServeSettings) -> None:
    """`/metrics`, and the rule evaluator with its `/api/v1/rules` and `/api/v1/alerts`."""
    from starbase.api import metrics
    from starbase.rules import api as rules
    from starbase.rules.metrics import Registry

    registry = Registry()

    async def operator(request: web.Request) -> web.StreamResponse:
        authenticate(settings, request.headers.get("Authorization"))
        return web.Response()

    metrics.install(app, registry, operator)
    if settings.rule_files:
        data = settings.data_dir or settings.state_dir.parent
        own = f"http://{settings.listen_host}:{settings.port}"
        rules.mount(
            app,
            settings.rule_files,
            settings.config,
            data=data,
            alertmanagers=settings.alertmanagers,
            external_url=settings.external_url or own,
            metrics=registry,
            allow=lambda request: request[PRINCIPAL].tenant is None,
        )


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]

    async def expire() -> None:
        while True:
            await asyncio.sleep(EXPIRE_EVERY_S)
            state.jobs.expire()

    task = asyncio.ensure_future(expire())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for job_task in list(state.background):
        job_task.cancel()
    state.close()
