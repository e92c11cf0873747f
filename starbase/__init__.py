"""Starbase: one query language (StarQL) compiled to where your logs already live.

`starbase.compile(text, config=None) -> CompiledQuery` is the Python entry point. The compiler
is imported on first use, so processes that do not query (the router) start without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starbase.compiler.driver import CompiledQuery, compile
    from starbase.compiler.errors import CompileError, Diagnostic

__all__ = ["CompileError", "CompiledQuery", "Diagnostic", "compile"]
_LAZY = {
    "CompiledQuery": "starbase.compiler.driver",
    "compile": "starbase.compiler.driver",
    "CompileError": "starbase.compiler.errors",
    "Diagnostic": "starbase.compiler.errors",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'starbase' has no attribute {name!r}")
