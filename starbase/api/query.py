"""`POST /api/v1/query` (JSON page, NDJSON / CSV / Arrow IPC streams) and `/api/v1/jobs`.

Requires: the shared `ApiState` and an authenticated principal (the middleware's). Guarantees:

- JSON (the default): `{"columns", "rows", "stats", "offset", "next_offset"?}` with at most
  `limit` rows (default `default_rows`, at most `max_rows`; more is a 400) after skipping
  `offset`; `next_offset` is there when more rows follow (pages are stable when the query
  sorts; for a frozen result use a job).
- `Accept: application/x-ndjson`, `application/vnd.apache.arrow.stream` or `text/csv`: the
  whole result (or `limit` rows; at most `max_stream_rows`) streams batch by batch as the
  engine produces it; the response starts once the engine has planned the query, so
  planning failures are still a 4xx JSON. A failure after that ends NDJSON with a line
  `{"error": {…}}` and breaks off the chunked body (clients see an incomplete response).
  A client that goes away mid-stream cancels the query.
- Every query holds one of its principal's `max_concurrent` slots while it runs and is
  cancelled after `max_seconds` (`time_limit`, 422).
- Jobs: `POST /api/v1/jobs` → 202 `{"id", "state"}`; `GET /api/v1/jobs/{id}?offset&limit` →
  state and rows so far; `DELETE` → cancelled (see `jobs.py`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from starbase.api import encode
from starbase.api.errors import ApiError
from starbase.api.execution import Cursor, QueryCancelled
from starbase.api.models import JobBody, QueryBody, check_query_params, read_body
from starbase.api.running import Deadline, batches, prepare, schema_of
from starbase.api.state import ApiState, principal_of, state_of
from starbase.runtime.errors import QueryFailed

log = logging.getLogger("starbase.api")
STREAMED = (encode.NDJSON, encode.ARROW_STREAM, encode.CSV)
FIRST_ROWS = 256  # rows in a stream's first write: the first row reaches the client sooner


def negotiate(request: web.Request) -> str:
    accept = request.headers.get("Accept", "")
    for kind in STREAMED:
        if kind in accept:
            return kind
    return encode.JSON


async def query(request: web.Request) -> web.StreamResponse:
    state, principal = state_of(request), principal_of(request)
    check_query_params(request, {})
    limits = state.settings.limits
    body = await read_body(request, QueryBody, limits.max_body_bytes)
    kind = negotiate(request)
    if kind == encode.JSON:
        limit = limits.default_rows if body.limit is None else body.limit
        if limit > limits.max_rows:
            raise ApiError(
                400,
                "limit_too_large",
                f"limit is at most {limits.max_rows} for a JSON answer "
                "(stream NDJSON or Arrow, or page with offset)",
            )
    else:
        limit = limits.max_stream_rows if body.limit is None else body.limit
        if limit > limits.max_stream_rows:
            raise ApiError(
                400, "limit_too_large", f"limit is at most {limits.max_stream_rows} for a stream"
            )
    session = state.tenants.session(principal.tenant)
    loop = asyncio.get_running_loop()
    prepared = await loop.run_in_executor(
        state.executor, prepare, session, body.query, body.range, limits
    )
    with state.queries.slot(principal):
        cursor = session.execute(prepared.compiled, body.params, limit=body.offset + limit + 1)
        deadline = Deadline(cursor, limits.max_seconds)
        try:
            if kind == encode.JSON:
                return await _json_page(state, cursor, body.offset, limit, deadline)
            return await _stream(request, state, cursor, kind, body.offset, limit, deadline)
        except QueryCancelled:
            if deadline.expired:
                raise deadline.error() from None
            raise
        finally:
            deadline.stop()
            cursor.cancel()


async def _json_page(
    state: ApiState, cursor: Cursor, offset: int, limit: int, deadline: Deadline
) -> web.Response:
    schema = await schema_of(cursor, state.executor)
    rows: list[list[Any]] = []
    seen = 0
    more = False
    async for batch in batches(cursor, state.executor):
        start = max(0, offset - seen)
        seen += batch.num_rows
        if start >= batch.num_rows:
            continue
        wanted = limit - len(rows)
        part = batch.slice(start, wanted + 1)
        page = encode.rows(part)
        if len(page) > wanted:
            rows.extend(page[:wanted])
            more = True
            break
        rows.extend(page)
    more = more or cursor.metrics.truncated
    stats = cursor.metrics.to_dict() | {"rows": len(rows), "truncated": more}
    out: dict[str, Any] = {
        "columns": encode.columns(schema),
        "rows": rows,
        "stats": stats,
        "offset": offset,
    }
    if more:
        out["next_offset"] = offset + len(rows)
    return web.json_response(out, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


async def _stream(
    request: web.Request,
    state: ApiState,
    cursor: Cursor,
    kind: str,
    offset: int,
    limit: int,
    deadline: Deadline,
) -> web.StreamResponse:
    schema = await schema_of(cursor, state.executor)  # planning errors are still a 4xx
    response = web.StreamResponse(headers={"Content-Type": kind, "Cache-Control": "no-store"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    arrow = encode.ArrowStream(schema) if kind == encode.ARROW_STREAM else None
    if arrow is not None:
        await response.write(arrow.start())
    elif kind == encode.CSV:
        await response.write(encode.csv_header(schema))
    seen = sent = 0
    try:
        async for batch in batches(cursor, state.executor):
            start = max(0, offset - seen)
            seen += batch.num_rows
            if start >= batch.num_rows:
                continue
            part = batch.slice(start, limit - sent)
            sent += part.num_rows
            for chunk in encode.chunks(part, first=FIRST_ROWS if sent == part.num_rows else None):
                if arrow is not None:
                    data = arrow.batch(chunk)
                elif kind == encode.CSV:
                    data = encode.csv_rows(chunk)
                else:
                    data = encode.ndjson(chunk)
                await response.write(data)
            if sent >= limit:
                break
    except (QueryFailed, QueryCancelled) as exc:
        error = deadline.error() if deadline.expired else ApiError(422, "query_failed", str(exc))
        log.warning("stream broken off: %s", error.message)
        if kind == encode.NDJSON:
            await response.write(_dumps(error.body()).encode() + b"\n")
        _break_off(request)
        return response
    if arrow is not None:
        await response.write(arrow.end())
    await response.write_eof()
    return response


def _break_off(request: web.Request) -> None:
    """End the connection without the chunked body's last chunk: an incomplete response."""
    if request.transport is not None:
        request.transport.abort()


# ---------------------------------------------------------------- jobs


async def start_job(request: web.Request) -> web.Response:
    state, principal = state_of(request), principal_of(request)
    check_query_params(request, {})
    limits = state.settings.limits
    body = await read_body(request, JobBody, limits.max_body_bytes)
    limit = limits.max_rows if body.limit is None else body.limit
    if limit > limits.max_rows:
        raise ApiError(400, "limit_too_large", f"a job keeps at most {limits.max_rows} rows")
    session = state.tenants.session(principal.tenant)
    loop = asyncio.get_running_loop()
    prepared = await loop.run_in_executor(
        state.executor, prepare, session, body.query, body.range, limits
    )
    slot = state.queries.slot(principal)
    slot.__enter__()  # held by the collecting task until the job ends
    try:
        cursor = session.execute(prepared.compiled, body.params, limit=limit + 1)
        job = state.jobs.add(principal, body.query, cursor, limit)
    except BaseException:
        slot.__exit__(None, None, None)
        raise

    async def run() -> None:
        try:
            await state.jobs.collect(job, state.executor)
        finally:
            slot.__exit__(None, None, None)

    task = asyncio.ensure_future(run())
    state.background.add(task)
    task.add_done_callback(state.background.discard)
    return web.json_response({"id": job.id, "state": job.state}, status=202)


async def get_job(request: web.Request) -> web.Response:
    state, principal = state_of(request), principal_of(request)
    params = check_query_params(request, {"offset": int, "limit": int})
    job = state.jobs.get(principal, request.match_info["id"])
    limits = state.settings.limits
    limit = params.get("limit", limits.default_rows)
    if limit > limits.max_rows:
        raise ApiError(400, "limit_too_large", f"limit is at most {limits.max_rows}")
    loop = asyncio.get_running_loop()
    page = await loop.run_in_executor(state.executor, job.page, params.get("offset", 0), limit)
    return web.json_response(page, dumps=_dumps)


async def cancel_job(request: web.Request) -> web.Response:
    state, principal = state_of(request), principal_of(request)
    check_query_params(request, {})
    job = state.jobs.get(principal, request.match_info["id"])
    state.jobs.cancel(job)
    return web.json_response({"id": job.id, "state": job.state})
