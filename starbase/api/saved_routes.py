"""`/api/v1/saved`: the principal's tenant's saved queries (list, create, read, replace, delete).

Requires: the shared `ApiState` (its `SavedQueries` store). Guarantees: a saved query is
`{"id", "name", "query", "range"?, "created", "updated"}`; its query text obeys the same length
limit as a query run; a tenant never reads or changes another tenant's saved queries (each
tenant has its own file, chosen by the token, not by the request).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from starbase.api.models import SavedBody, check_query_params, read_body
from starbase.api.running import check_length
from starbase.api.state import principal_of, state_of


async def list_saved(request: web.Request) -> web.Response:
    check_query_params(request, {})
    state, principal = state_of(request), principal_of(request)
    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(state.executor, state.saved.list, principal.namespace)
    return web.json_response({"saved": found})


async def create_saved(request: web.Request) -> web.Response:
    check_query_params(request, {})
    state, principal = state_of(request), principal_of(request)
    body = await read_body(request, SavedBody, state.settings.limits.max_body_bytes)
    check_length(body.query, state.settings.limits)
    data = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    loop = asyncio.get_running_loop()
    entry = await loop.run_in_executor(
        state.executor, state.saved.create, principal.namespace, data
    )
    return web.json_response(entry, status=201)


async def get_saved(request: web.Request) -> web.Response:
    check_query_params(request, {})
    state, principal = state_of(request), principal_of(request)
    loop = asyncio.get_running_loop()
    entry = await loop.run_in_executor(
        state.executor, state.saved.get, principal.namespace, request.match_info["id"]
    )
    return web.json_response(entry)


async def replace_saved(request: web.Request) -> web.Response:
    check_query_params(request, {})
    state, principal = state_of(request), principal_of(request)
    body = await read_body(request, SavedBody, state.settings.limits.max_body_bytes)
    check_length(body.query, state.settings.limits)
    data = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    loop = asyncio.get_running_loop()
    entry = await loop.run_in_executor(
        state.executor, state.saved.update, principal.namespace, request.match_info["id"], data
    )
    return web.json_response(entry)


async def delete_saved(request: web.Request) -> web.Response:
    check_query_params(request, {})
    state, principal = state_of(request), principal_of(request)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(
        state.executor, state.saved.delete, principal.namespace, request.match_info["id"]
    )
    return web.json_response({"deleted": request.match_info["id"]})
