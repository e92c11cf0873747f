"""Starbase: one query language (StarQL) compiled to where your logs already live.

`starbase.compile(text, config=None) -> Query` is the Python entry point (contract §6): a
compiled query paired with a session that runs it — `.run(**params) -> pyarrow.Table`,
`.explain()`, `.sql(target)`. `starbase.runtime.Session` runs compiled queries with more
control (streaming cursors, cancel, worker processes). Names are imported on first use, so
`import starbase` (and the command line's start) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starbase.compiler.driver import CompiledQuery
    from starbase.compiler.errors import CompileError, Diagnostic
    from starbase.config import Config
    from starbase.runtime.query import Query
    from starbase.runtime.session import Session

__all__ = ["CompileError", "CompiledQuery", "Diagnostic", "Query", "Session", "compile"]

_HOMES = {
    "CompileError": "starbase.compiler.errors",
    "CompiledQuery": "starbase.compiler.driver",
    "Diagnostic": "starbase.compiler.errors",
    "Query": "starbase.runtime.query",
    "Session": "starbase.runtime.session",
}


def compile(text: str, config: Config | None = None, *, session: Session | None = None) -> Query:
    """Compile StarQL `text` against `config` (default: the embedded one-source setup); the
    result runs on `session` (default: a session shared by every query of that config)."""
    from starbase.runtime.query import compile_query

    return compile_query(text, config, session=session)


def __getattr__(name: str) -> Any:
    import importlib

    if name not in _HOMES:
        raise AttributeError(f"module 'starbase' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
