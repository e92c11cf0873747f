"""The API's request bodies and query parameters, as pydantic models (validation and OpenAPI).

Requires: pydantic 2. Guarantees: every body model forbids unknown fields (an unknown field is
a 400 naming it, never silently ignored); `read_body(request, Model, limit)` reads at most
`limit` bytes and returns the validated model or raises an `ApiError` (400 malformed JSON or
invalid fields, 413 too large, 415 not JSON); `check_query_params` refuses unknown or
malformed query-string parameters; the models' JSON schemas are what `/openapi.json`
publishes, so the document and the validation cannot drift.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from starbase.api.errors import ApiError

Scalar = str | int | float | bool | None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimeRange(Strict):
    """The time window the query reads, on top of its own `since`/`between` stages: either
    `last` (a StarQL duration such as `15m`, `1h`, `7d`) or `from`/`to` (ISO-8601 instants; one
    of them may be left open)."""

    last: str | None = Field(default=None, max_length=32, examples=["1h"])
    from_: str | None = Field(default=None, alias="from", max_length=64)
    to: str | None = Field(default=None, max_length=64)
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class QueryBody(Strict):
    query: str = Field(description="StarQL text", examples=["from otel | since 1h | limit 10"])
    params: dict[str, Scalar] = Field(default_factory=dict, description="values of $parameters")
    limit: int | None = Field(default=None, ge=0, description="rows to return at most")
    offset: int = Field(default=0, ge=0, description="rows to skip (pagination)")
    range: TimeRange | None = None


class JobBody(Strict):
    query: str
    params: dict[str, Scalar] = Field(default_factory=dict)
    limit: int | None = Field(default=None, ge=0, description="rows to keep at most")
    range: TimeRange | None = None


class CompileBody(Strict):
    query: str


class ExplainBody(Strict):
    query: str
    params: dict[str, Scalar] = Field(default_factory=dict)
    range: TimeRange | None = None


class CompleteBody(Strict):
    query: str
    offset: int = Field(ge=0, description="cursor position (characters)")


class HistogramBody(Strict):
    query: str
    params: dict[str, Scalar] = Field(default_factory=dict)
    range: TimeRange | None = None
    buckets: int = Field(default=120, ge=1, le=2000)


class FacetsBody(Strict):
    query: str
    params: dict[str, Scalar] = Field(default_factory=dict)
    range: TimeRange | None = None
    fields: list[str] | None = Field(default=None, max_length=16)
    top: int = Field(default=10, ge=1, le=100)


class ContextBody(Strict):
    source: str = Field(max_length=200)
    timestamp: str = Field(max_length=64, description="the line's timestamp (RFC 3339)")
    service: str | None = None
    host: str | None = None
    before: int = Field(default=20, ge=0, le=500)
    after: int = Field(default=20, ge=0, le=500)


class SavedBody(Strict):
    name: str = Field(min_length=1, max_length=200)
    query: str
    range: TimeRange | None = None


M = TypeVar("M", bound=BaseModel)


async def read_body(request: web.Request, model: type[M], limit: int) -> M:
    """The request's JSON body, validated as `model` (see the module docstring)."""
    kind = request.content_type
    if kind != "application/json":  # also what keeps other sites' forms out (no preflight)
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the body must be JSON with 'Content-Type: application/json' (got {kind})",
        )
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large", f"the body is larger than {limit} bytes")
    try:
        data = await request.read()  # at most the application's client_max_size
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "body_too_large", f"the body is larger than {limit} bytes") from None
    try:
        raw = json.loads(data)
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_json", "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "malformed_json",
            f"the body is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
        ) from None
    return validate(model, raw)


def validate(model: type[M], raw: Any) -> M:
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid_body", "the body must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(400, "invalid_body", _explain(exc), fields=_fields(exc)) from None


def _explain(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    if first["type"] == "extra_forbidden":
        return f"unknown field '{where}'"
    if first["type"] == "missing":
        return f"missing field '{where}'"
    return f"{where}: {first['msg']}"


def _fields(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()
    ][:20]


def check_query_params(request: web.Request, allowed: dict[str, type]) -> dict[str, Any]:
    """The query-string parameters, each once and of its type; unknown ones are a 400."""
    values: dict[str, Any] = {}
    for name in request.query:
        if name not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise ApiError(400, "unknown_parameter", f"unknown parameter '{name}' (known: {known})")
        given = request.query.getall(name)
        if len(given) > 1:
            raise ApiError(400, "invalid_parameter", f"parameter '{name}' is given more than once")
        kind = allowed[name]
        text = given[0]
        if kind is int:
            if not text.isdigit() or len(text) > 12:
                raise ApiError(
                    400, "invalid_parameter", f"parameter '{name}' must be a whole number >= 0"
                )
            values[name] = int(text)
        elif kind is bool:
            if text not in ("true", "false", "1", "0"):
                raise ApiError(
                    400, "invalid_parameter", f"parameter '{name}' must be true or false"
                )
            values[name] = text in ("true", "1")
        else:
            values[name] = text
    return values
