"""Running compiled queries: `Session` (engines, registered tables, connectors), `Cursor`
(streamed Arrow record batches, metrics, cancel) and `Explain`.

Requires: the compiler and the registered backends. Guarantees: the names below are imported
on first use, so importing `starbase.runtime.errors` (as backends do) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starbase.runtime.cursor import Cursor, Metrics
    from starbase.runtime.errors import QueryCancelled, QueryFailed
    from starbase.runtime.explain import Explain
    from starbase.runtime.session import Sample, Session

__all__ = [
    "Cursor",
    "Explain",
    "Metrics",
    "QueryCancelled",
    "QueryFailed",
    "Sample",
    "Session",
]

_HOMES = {
    "Cursor": "starbase.runtime.cursor",
    "Metrics": "starbase.runtime.cursor",
    "QueryCancelled": "starbase.runtime.errors",
    "QueryFailed": "starbase.runtime.errors",
    "Explain": "starbase.runtime.explain",
    "Sample": "starbase.runtime.session",
    "Session": "starbase.runtime.session",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name not in _HOMES:
        raise AttributeError(f"module 'starbase.runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
