"""How the API says no: every error is a JSON body with a stable code and a message.

Requires: aiohttp. Guarantees: `ApiError(status, code, message)` raised anywhere in a handler
becomes `{"error": {"code", "message", …details}}` with that status (and `Retry-After` when
given); a compile error becomes a 400 with `{"diagnostics": [{"code", "severity", "message",
"line", "column", "span", "hints"}]}` (contract §8), positioned in the query text the client
sent; `error_response` is the one place such bodies are built.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from starbase.compiler.errors import CompileError, Diagnostic


class ApiError(Exception):
    """A request refused: HTTP status, a stable snake_case code and a one-line message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: int | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retry_after = retry_after
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


def error_response(error: ApiError) -> web.Response:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else None
    return web.json_response(error.body(), status=error.status, headers=headers)


def diagnostic_dict(diagnostic: Diagnostic) -> dict[str, Any]:
    """A diagnostic as the API sends it: the compiler's `to_dict` plus line and column."""
    out = diagnostic.to_dict()
    span = diagnostic.span
    out["line"] = span.line if span is not None else None
    out["column"] = span.column if span is not None else None
    return out


def diagnostics_body(error: CompileError) -> dict[str, Any]:
    return {"diagnostics": [diagnostic_dict(d) for d in error.diagnostics]}


def compile_error_response(error: CompileError) -> web.Response:
    return web.json_response(diagnostics_body(error), status=400)
