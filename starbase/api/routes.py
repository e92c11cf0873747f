"""Every route of `starbase serve`, described once: the router table and `/openapi.json` both
come from `ROUTES`, so the document cannot list a route that does not exist or miss one.

Requires: the handler modules. Guarantees: each `Route` names its method, path, handler,
summary, body model (pydantic), query parameters, the media types it answers and its
statuses; `public` routes (the UI, the document, health probes) need no token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

from starbase.api import assist, catalog, query, saved_routes, tail
from starbase.api import encode as media
from starbase.api.models import (
    CompileBody,
    CompleteBody,
    ContextBody,
    ExplainBody,
    FacetsBody,
    HistogramBody,
    JobBody,
    QueryBody,
    SavedBody,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # string | integer
    required: bool = False
    description: str = ""
    where: str = "query"  # query | path


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    params: tuple[Param, ...] = ()
    produces: tuple[str, ...] = (media.JSON,)
    statuses: tuple[int, ...] = (200,)
    public: bool = False
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)


JOB_ID = Param("id", "string", True, "the job's id", "path")
SAVED_ID = Param("id", "string", True, "the saved query's id", "path")

ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/api/v1/query",
        query.query,
        "Run a query: a JSON page of rows, or the whole result as NDJSON, CSV or Arrow IPC",
        "query",
        QueryBody,
        produces=(media.JSON, media.NDJSON, media.ARROW_STREAM, media.CSV),
        statuses=(200, 400, 413, 422, 429),
        description="Choose the format with the Accept header. A compile error is a 400 "
        "with `diagnostics`; a query running past the time limit is cancelled (422 "
        "`time_limit`).",
    ),
    Route(
        "POST",
        "/api/v1/jobs",
        query.start_job,
        "Start a query in the background (an asynchronous job)",
        "jobs",
        JobBody,
        statuses=(202, 400, 413, 429),
    ),
    Route(
        "GET",
        "/api/v1/jobs/{id}",
        query.get_job,
        "A job's state (running, done, failed, cancelled) and a page of its rows so far",
        "jobs",
        params=(
            JOB_ID,
            Param("offset", "integer", description="first row of the page"),
            Param("limit", "integer", description="rows in the page"),
        ),
        statuses=(200, 400, 404),
    ),
    Route(
        "DELETE",
        "/api/v1/jobs/{id}",
        query.cancel_job,
        "Cancel a job (its rows so far are kept until it expires)",
        "jobs",
        params=(JOB_ID,),
        statuses=(200, 400, 404),
    ),
    Route(
        "GET",
        "/api/v1/tail",
        tail.tail,
        "Live tail: rows of a row-only query as commits make them visible (WebSocket or SSE)",
        "query",
        params=(
            Param("query", "string", True, "a row-only StarQL query"),
            Param("params", "string", description="values of $parameters, a JSON object"),
        ),
        produces=("text/event-stream",),
        statuses=(101, 200, 400, 413, 429),
    ),
    Route(
        "POST",
        "/api/v1/compile",
        assist.compile_check,
        "Check a query without running it: diagnostics, tokens, output columns",
        "assist",
        CompileBody,
        statuses=(200, 400, 413),
    ),
    Route(
        "POST",
        "/api/v1/complete",
        assist.complete_at,
        "Completion candidates at a cursor position",
        "assist",
        CompleteBody,
        statuses=(200, 400, 413),
    ),
    Route(
        "GET",
        "/api/v1/completions",
        assist.vocabulary,
        "Completion data: sources, fields, functions, attribute keys and top values",
        "assist",
        statuses=(200, 400),
    ),
    Route(
        "POST",
        "/api/v1/explain",
        assist.explain,
        "How a query runs: every stage, the backend texts, the engine's plans",
        "assist",
        ExplainBody,
        statuses=(200, 400, 413, 429),
    ),
    Route(
        "POST",
        "/api/v1/histogram",
        assist.histogram,
        "Matching records per time bucket over the query's window",
        "assist",
        HistogramBody,
        statuses=(200, 400, 413, 422, 429),
    ),
    Route(
        "POST",
        "/api/v1/facets",
        assist.facets,
        "Most frequent values, with counts, of fields among the rows a query selects",
        "assist",
        FacetsBody,
        statuses=(200, 400, 413, 422, 429),
    ),
    Route(
        "POST",
        "/api/v1/context",
        assist.context,
        "The lines before and after an instant from the same source, service and host",
        "assist",
        ContextBody,
        statuses=(200, 400, 404, 422, 429),
    ),
    Route(
        "GET",
        "/api/v1/saved",
        saved_routes.list_saved,
        "This tenant's saved queries",
        "saved",
        statuses=(200, 400),
    ),
    Route(
        "POST",
        "/api/v1/saved",
        saved_routes.create_saved,
        "Save a query",
        "saved",
        SavedBody,
        statuses=(201, 400, 409, 413),
    ),
    Route(
        "GET",
        "/api/v1/saved/{id}",
        saved_routes.get_saved,
        "One saved query",
        "saved",
        params=(SAVED_ID,),
        statuses=(200, 400, 404),
    ),
    Route(
        "PUT",
        "/api/v1/saved/{id}",
        saved_routes.replace_saved,
        "Replace a saved query",
        "saved",
        SavedBody,
        params=(SAVED_ID,),
        statuses=(200, 400, 404, 413),
    ),
    Route(
        "DELETE",
        "/api/v1/saved/{id}",
        saved_routes.delete_saved,
        "Delete a saved query",
        "saved",
        params=(SAVED_ID,),
        statuses=(200, 400, 404),
    ),
    Route(
        "GET",
        "/api/v1/sources",
        catalog.sources,
        "Configured sources and their mappings",
        "admin",
        statuses=(200, 400),
    ),
    Route(
        "GET",
        "/api/v1/tables",
        catalog.tables,
        "Stored tables: files, bytes, rows, time range, compaction backlog",
        "admin",
        statuses=(200, 400),
    ),
    Route(
        "GET",
        "/api/v1/router",
        catalog.router,
        "The router's health, ingest rates and errors",
        "admin",
        statuses=(200, 400),
    ),
    Route(
        "GET",
        "/api/v1/status",
        catalog.status,
        "This server: auth mode, the caller's tenant, limits",
        "admin",
        statuses=(200, 400),
    ),
    Route(
        "GET",
        "/healthz",
        catalog.healthz,
        "Liveness: the process answers",
        "health",
        public=True,
        statuses=(200, 400),
    ),
    Route(
        "GET",
        "/readyz",
        catalog.readyz,
        "Readiness: ready to run queries",
        "health",
        public=True,
        statuses=(200, 400, 503),
    ),
)
