"""Running a rule's query with a deadline, through the runtime's `Session`.

Requires: `starbase.runtime.session.Session` (`compile`, `execute(compiled, now_ns=…)` → a
`Cursor` with `fetch_all()` and `cancel()`), as `starbase serve` runs its queries.
Guarantees: `QueryRunner.run(compiled, now_ns, timeout_s)` returns the result table of
`compiled` evaluated as of `now_ns` (its `since` counts back from there), or raises
`QueryTimeout` when it ran past `timeout_s` (the cursor is cancelled) or `QueryFailed` with a
one-line cause. Safe to call from several threads (one per rule group). With `workers=N` the
queries run in up to N warm worker processes, so a timed-out query's CPU is freed at once;
`workers=0` runs them in this process (cancel stops DataFusion at its next batch).
"""

from __future__ import annotations

import threading

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.compiler.driver import CompiledQuery
from starbase.config import Config
from starbase.runtime.errors import QueryCancelled, QueryFailed
from starbase.runtime.session import Session


class QueryTimeout(QueryFailed):
    """The query ran longer than its deadline and was cancelled."""


class QueryRunner:
    """See the module docstring."""

    def __init__(self, config: Config, *, workers: int = 1) -> None:
        self.config = config
        self._session = Session(config, workers=max(0, workers))

    def compile(self, text: str) -> CompiledQuery:
        return self._session.compile(text)

    def run(self, compiled: CompiledQuery, now_ns: int, timeout_s: float) -> pa.Table:
        cursor = self._session.execute(compiled, now_ns=now_ns)
        timer = threading.Timer(timeout_s, cursor.cancel)
        timer.daemon = True
        timer.start()
        try:
            return cursor.fetch_all()
        except QueryCancelled:
            message = f"the query ran longer than {timeout_s:g}s and was cancelled"
            raise QueryTimeout(message) from None
        finally:
            timer.cancel()

    def close(self) -> None:
        self._session.close()
