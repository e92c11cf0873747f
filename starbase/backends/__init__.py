"""The backend registry: the one place a backend is named.

Requires: each registered module defines `BACKEND`, an instance of `base.EngineBackend` or
`base.NativeBackend`, and imports nothing heavy at module level. Guarantees: `names()` lists
the backends in registration order; `get(name)` imports a backend's module on first use only
(so `starbase --help` does not load DataFusion or boto3); `engines()` are the backends that
run whole plans, `DEFAULT_ENGINE` the one a session uses unless told otherwise. The CLI's
`--target`/`--engine` choices (an engine that only translates, `runs_here` false, is a
target and not an `--engine`), mapping validation (`mappings.model.BACKENDS`), the compiler's
`sql(target)`, explain and the REPL all read this registry.

Adding a backend: a folder `starbase/backends/NAME/` whose `__init__` defines `BACKEND`, and
one line in `REGISTRY`.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starbase.backends.base import Backend, EngineBackend, NativeBackend

REGISTRY = MappingProxyType(
    {
        "datafusion": "starbase.backends.datafusion",
        "cloudwatch": "starbase.backends.cloudwatch",
        "spark": "starbase.backends.spark",
        "trino": "starbase.backends.trino",
    }
)
DEFAULT_ENGINE = "datafusion"


class UnknownBackend(LookupError):
    """A name that no backend is registered under; the message lists the known ones."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown backend {name!r}; backends: {', '.join(REGISTRY)}")
        self.name = name


def names() -> tuple[str, ...]:
    """Every registered backend, in registration order."""
    return tuple(REGISTRY)


def get(name: str) -> Backend:
    """The backend registered as `name` (its module is imported on first use)."""
    module = REGISTRY.get(name)
    if module is None:
        raise UnknownBackend(name)
    backend: Backend = importlib.import_module(module).BACKEND
    return backend


def engines() -> tuple[str, ...]:
    """The backends that run whole plans (over stored tables and fetched rows) here."""
    return tuple(n for n in REGISTRY if _runs_here(get(n)))


def _runs_here(backend: Backend) -> bool:
    from starbase.backends.base import EngineBackend

    return isinstance(backend, EngineBackend) and backend.runs_here


def engine(name: str) -> EngineBackend:
    """The engine backend `name` (`UnknownBackend` when there is none of that kind)."""
    from starbase.backends.base import EngineBackend

    backend = get(name)
    if not isinstance(backend, EngineBackend):
        raise UnknownBackend(name)
    return backend


def native(name: str) -> NativeBackend | None:
    """The native backend `name`, or None when `name` is an engine."""
    from starbase.backends.base import NativeBackend

    backend = get(name)
    return backend if isinstance(backend, NativeBackend) else None
