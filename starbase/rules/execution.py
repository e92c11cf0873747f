"""Running a rule's query with a deadline, through the shared execution API.

Requires: a `Session` of the shared execution API (`compile`, `execute(compiled, now_ns=…)`
→ a `Cursor` with `fetch_all()` and `cancel()`). Guarantees: `QueryRunner.run(compiled,
now_ns, timeout_s)` returns the result table of `compiled` evaluated as of `now_ns` (its
`since` counts back from there), or raises `QueryTimeout` when it ran past `timeout_s` (the
cursor is cancelled) or `QueryFailed` with a one-line cause. Safe to call from several
threads (one per rule group).

The session is `starbase.runtime.Session` where the runtime provides it (queries in `workers`
warm worker processes: a cancelled query's CPU is freed at once); until then it is the one
`starbase serve` uses (`starbase.api.execution.Session`, the same shape, `workers` engines in
process: a cancelled aggregation finishes its current batch in the background).
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from starbase.compiler.driver import CompiledQuery
from starbase.config import Config
from starbase.runtime.errors import QueryFailed


class QueryTimeout(QueryFailed):
    """The query ran longer than its deadline and was cancelled."""


def _session(config: Config, workers: int) -> tuple[Any, tuple[type[BaseException], ...]]:
    """The shared execution API's session, and what reading a cancelled cursor raises."""
    try:
        module = importlib.import_module("starbase.runtime.session")
        errors = importlib.import_module("starbase.runtime.errors")
        return module.Session(config, workers=workers), (errors.QueryCancelled,)
    except (ImportError, AttributeError):
        from starbase.api.execution import QueryCancelled, Session

        return Session(config, engines=max(1, workers)), (QueryCancelled,)


class QueryRunner:
    """See the module docstring."""

    def __init__(self, config: Config, *, workers: int = 1) -> None:
        self.config = config
        self._session, self._cancelled = _session(config, workers)

    def compile(self, text: str) -> CompiledQuery:
        compiled: CompiledQuery = self._session.compile(text)
        return compiled

    def run(self, compiled: CompiledQuery, now_ns: int, timeout_s: float) -> Any:
        cursor = self._session.execute(compiled, now_ns=now_ns)
        timer = threading.Timer(timeout_s, cursor.cancel)
        timer.daemon = True
        timer.start()
        try:
            return cursor.fetch_all()
        except self._cancelled:
            message = f"the query ran longer than {timeout_s:g}s and was cancelled"
            raise QueryTimeout(message) from None
        finally:
            timer.cancel()

    def close(self) -> None:
        self._session.close()
