"""What the REPL's workers report back to the app: past-tense messages, one per event.

Requires: Textual's `Message`. Guarantees: workers never touch widgets; they post these
(thread-safe) and the app updates the screen in its handlers, so the UI thread only draws.
Every message about a query carries the `run_id` (or token) it belongs to: the app ignores a message
whose run is no longer current (it was cancelled or superseded), so a late answer never
overwrites a newer one.
"""

from __future__ import annotations

from pathlib import Path

from textual.message import Message

from starbase.compiler.errors import Diagnostic
from starbase.repl.chart import Series
from starbase.repl.runner import QueryResult
from starbase.runtime.explain import Explain


class QuerySubmitted(Message):
    def __init__(self, run_id: int, text: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.text = text


class ResultsFetched(Message):
    def __init__(self, run_id: int, result: QueryResult, elapsed: float) -> None:
        super().__init__()
        self.run_id = run_id
        self.result = result
        self.elapsed = elapsed


class QueryFailed(Message):
    def __init__(self, run_id: int, message: str, diagnostics: tuple[Diagnostic, ...] = ()) -> None:
        super().__init__()
        self.run_id = run_id
        self.message = message
        self.diagnostics = diagnostics


class QueryCancelled(Message):
    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id


class HistogramFetched(Message):
    def __init__(self, run_id: int, series: Series | None, message: str = "") -> None:
        super().__init__()
        self.run_id = run_id
        self.series = series
        self.message = message


class ExplainFetched(Message):
    """How a query runs, with the engine's plans; `token` tells which request of the pane it
    answers."""

    def __init__(self, token: int, explain: Explain) -> None:
        super().__init__()
        self.token = token
        self.explain = explain


class KeysFetched(Message):
    def __init__(self, attribute_keys: tuple[str, ...], resource_keys: tuple[str, ...]) -> None:
        super().__init__()
        self.attribute_keys = attribute_keys
        self.resource_keys = resource_keys


class ResultsExported(Message):
    def __init__(self, path: Path, rows: int, error: str | None = None) -> None:
        super().__init__()
        self.path = path
        self.rows = rows
        self.error = error
