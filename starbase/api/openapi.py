"""The OpenAPI 3.1 document of `starbase serve`, built from the route table and the models.

Requires: `routes.ROUTES` and the pydantic body models. Guarantees: every route appears with
its parameters, request body schema (the model's own JSON schema: what validation enforces),
the media types it answers and its statuses; every error status is documented as a JSON body
(`Error`, or `Diagnostics` for a compile error); the document is built once per process.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from starbase.api import encode as media
from starbase.api.routes import ROUTES, Route

_REF = "#/components/schemas/{model}"
_REASONS = {
    101: "Switching to the WebSocket protocol",
    200: "OK",
    201: "Created",
    202: "Accepted: the job runs",
    400: "Bad request: malformed JSON, an unknown field or parameter, an invalid value, or "
    "a compile error (with `diagnostics`)",
    401: "No bearer token (tokens are configured)",
    403: "Unknown bearer token",
    404: "Not found",
    409: "Conflict",
    413: "The body or the query text is too large",
    422: "The query compiled but could not run, or ran past the time limit",
    429: "Too many queries, tails or jobs for this token at once",
    503: "Not ready",
}

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
DIAGNOSTICS = {
    "type": "object",
    "required": ["diagnostics"],
    "properties": {
        "diagnostics": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["code", "message", "line", "column", "hints"],
                "properties": {
                    "code": {"type": "string"},
                    "severity": {"type": "string"},
                    "message": {"type": "string"},
                    "line": {"type": ["integer", "null"]},
                    "column": {"type": ["integer", "null"]},
                    "hints": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}


@cache
def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": ERROR, "Diagnostics": DIAGNOSTICS}
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        operation = _operation(route, schemas)
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Starbase",
            "version": "1",
            "description": "Query logs where they live, in one language: StarQL. The contract "
            "is shared/spec/starql.md §8; the decisions it leaves open are in docs/api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(route: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "tags": [route.tag],
        "responses": {},
    }
    if route.description:
        operation["description"] = route.description
    if not route.public:
        operation["security"] = [{"bearer": []}]
    if route.params:
        operation["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.required or p.where == "path",
                "description": p.description,
                "schema": {"type": p.kind, **({"minimum": 0} if p.kind == "integer" else {})},
            }
            for p in route.params
        ]
    if route.body is not None:
        schema = route.body.model_json_schema(ref_template=_REF, by_alias=True)
        for name, definition in schema.pop("$defs", {}).items():
            schemas[name] = definition
        schemas[route.body.__name__] = schema
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(model=route.body.__name__)}}
            },
        }
    statuses = list(route.statuses)
    if not route.public:
        statuses += [401, 403]
    for status in statuses:
        operation["responses"][str(status)] = _response(route, status)
    return operation


def _response(route: Route, status: int) -> dict[str, Any]:
    reason = _REASONS.get(status, "")
    if status == 101:
        return {"description": reason}
    if status >= 400:
        error: dict[str, Any] = {"$ref": _REF.format(model="Error")}
        if status == 400 and route.body is not None:
            error = {"oneOf": [error, {"$ref": _REF.format(model="Diagnostics")}]}
        return {"description": reason, "content": {media.JSON: {"schema": error}}}
    content: dict[str, Any] = {}
    for kind in route.produces:
        if kind == media.JSON:
            content[kind] = {"schema": {"type": "object"}}
        else:
            content[kind] = {"schema": {"type": "string"}}
    return {"description": reason, "content": content}
