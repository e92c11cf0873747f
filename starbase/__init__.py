"""Starbase: one query language (StarQL) compiled to where your logs already live.

`starbase.compile(text, config=None) -> CompiledQuery` is the Python entry point.
"""

from starbase.compiler.driver import CompiledQuery, compile
from starbase.compiler.errors import CompileError, Diagnostic

__all__ = ["CompileError", "CompiledQuery", "Diagnostic", "compile"]
