"""Running a rule's query with a deadline, through the shared execution API.

Requires: the runtime. Guarantees: `QueryRunner.run(compiled, now_ns, timeout_s)` returns the
result table of `compiled` evaluated as of `now_ns` (its `since` counts back from there), or
raises `QueryTimeout` when it ran past `timeout_s` (the run is cancelled: with a session's
worker process, its CPU is freed at once) or `QueryFailed` with a one-line cause. Safe to
call from several threads (one per rule group).

The runner uses `starbase.runtime.Session` (queries in warm worker processes, real cancel)
when the runtime provides it; before that it runs them on the in-process engine, where a
query past its deadline is abandoned — reported as a timeout at once — but finishes in the
background.
"""

from __future__ import annotations

import importlib
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from starbase.compiler.driver import CompiledQuery
from starbase.config import Config
from starbase.runtime.errors import QueryFailed


class QueryTimeout(QueryFailed):
    """The query ran longer than its deadline and was cancelled."""


def _session_class() -> Any:
    try:
        return importlib.import_module("starbase.runtime.session").Session
    except ImportError:
        return None


class QueryRunner:
    """See the module docstring."""

    def __init__(self, config: Config, *, workers: int = 1) -> None:
        self.config = config
        session = _session_class()
        self._session: Any = session(config, workers=workers) if session else None
        self._engine: Any = None
        self._lock = threading.Lock()

    def compile(self, text: str) -> CompiledQuery:
        if self._session is not None:
            return self._session.compile(text)  # type: ignore[no-any-return]
        from starbase.compiler.driver import compile

        return compile(text, self.config)

    def run(self, compiled: CompiledQuery, now_ns: int, timeout_s: float) -> Any:
        if self._session is not None:
            return self._run_session(compiled, now_ns, timeout_s)
        return self._run_inline(compiled, now_ns, timeout_s)

    def _run_session(self, compiled: CompiledQuery, now_ns: int, timeout_s: float) -> Any:
        cancelled: Any = importlib.import_module("starbase.runtime.errors").QueryCancelled
        cursor = self._session.execute(compiled, now_ns=now_ns)
        timer = threading.Timer(timeout_s, cursor.cancel)
        timer.daemon = True
        timer.start()
        try:
            return cursor.fetch_all()
        except cancelled:
            message = f"the query ran longer than {timeout_s:g}s and was cancelled"
            raise QueryTimeout(message) from None
        finally:
            timer.cancel()

    def _run_inline(self, compiled: CompiledQuery, now_ns: int, timeout_s: float) -> Any:
        with self._lock:
            if self._engine is None:
                from starbase.runtime.engine import Engine

                self._engine = Engine(self.config)
        done: Future[Any] = Future()

        def work() -> None:
            try:
                with self._lock:  # one in-process engine: one query at a time
                    done.set_result(self._engine.execute(compiled.plan, {}, now_ns))
            except BaseException as exc:  # handed to the waiting caller
                done.set_exception(exc)

        threading.Thread(target=work, daemon=True, name="starbase-rule-query").start()
        try:
            return done.result(timeout=timeout_s)
        except FutureTimeout:
            raise QueryTimeout(f"the query ran longer than {timeout_s:g}s") from None

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
