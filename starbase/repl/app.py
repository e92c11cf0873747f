"""`starbase repl`: the Textual application that ties the REPL's parts together.

Requires: a `Config` (the sources) and, optionally, replacements for what touches the world:
`backend` (runs queries; default: a `SessionBackend` on a session of its own whose engine
runs in `WORKERS` worker processes; tests inject a slow or fake one), `history` (a
`HistoryStore`; tests give a temporary file), `clock` (now and a monotonic clock; snapshots
fix both). Guarantees: `compose` only builds the widget tree; queries, histograms, explain
plans, key sampling and exports run in thread workers that post the past-tense messages of
`messages.py`, so the screen never freezes and keys typed during a query reach the editor
(a message that arrives while the app shuts down is dropped); Esc cancels the running query
at once (the session kills the worker process running it, so the CPU is free at once, and
any late answer is ignored by run id); quitting closes the session (its workers are
killed), so the REPL leaves at once even while a query runs; a query with a compile error is
never sent to a backend — its diagnostic is shown in full instead. Edits that quitting would
lose (the text differs from its `.starql` file, or — no file — it was neither saved nor run,
so the history does not have it) are marked `●` in the editor's title, and Ctrl+Q asks
before dropping them; Save adds `.starql` to a name without an extension and asks before
replacing another file. The explain pane follows the editor and says so when it shows the
last run instead (the editor's text does not compile).
Styles live in the `.tcss` files beside this one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path, PurePath
from typing import Any, ClassVar

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Footer

from starbase.compiler.driver import CompiledQuery, compile
from starbase.compiler.errors import CompileError
from starbase.compiler.passes.bind import value_from_text
from starbase.config import Config
from starbase.repl.chart import Chart
from starbase.repl.diagnostics import Check, DiagnosticBar, check, is_typing
from starbase.repl.editor import QueryEditor
from starbase.repl.explain import ExplainPane, pending, with_note
from starbase.repl.export import export
from starbase.repl.histogram import count_over_time, stats_series
from starbase.repl.history import HistoryCursor, HistoryStore, default_history_path
from starbase.repl.messages import (
    ExplainFetched,
    HistogramFetched,
    KeysFetched,
    QueryCancelled,
    QueryFailed,
    QuerySubmitted,
    ResultsExported,
    ResultsFetched,
)
from starbase.repl.results import ResultsTable, row_json, welcome
from starbase.repl.rewrite import with_since, with_sources
from starbase.repl.runner import (
    DEFAULT_MAX_ROWS,
    Backend,
    Cancelled,
    Clock,
    Run,
    RunRequest,
    SessionBackend,
    SystemClock,
)
from starbase.repl.screens import (
    ChoiceScreen,
    ExportScreen,
    HelpScreen,
    HistoryScreen,
    ParamsScreen,
    PathScreen,
    RowScreen,
    time_range_screen,
)
from starbase.repl.status import StatusLine
from starbase.repl.timerange import query_window
from starbase.runtime.errors import QueryFailed as EngineFailed
from starbase.runtime.explain import Explain
from starbase.runtime.session import Session

CHECK_DELAY = 0.25  # seconds of quiet typing before the query is checked
WORKERS = 2  # worker processes of the REPL's session: a query, and its histogram or explain
TICK = 0.1  # how often the running time in the status line is refreshed


class StarbaseRepl(App[None]):
    """The interactive way to query Starbase."""

    TITLE = "Starbase"
    CSS_PATH: ClassVar[list[str | PurePath]] = [
        "app.tcss",
        "editor.tcss",
        "results.tcss",
        "chart.tcss",
        "screens.tcss",
    ]
    BINDINGS: ClassVar[list[BindingType]] = [
        # Ctrl+Enter reaches the app only where the terminal tells it from Enter (not in tmux
        # nor most terminals): F5 and Ctrl+J work everywhere, so they are the ones shown.
        Binding("f5,ctrl+j,ctrl+enter", "run", "Run", key_display="F5"),
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("f1", "help", "Help"),
        Binding("f2", "sources", "Source", show=False),
        Binding("f3", "toggle_explain", "Explain"),
        Binding("f4", "export", "Export", show=False),
        Binding("ctrl+t", "time_range", "Range"),
        Binding("ctrl+r", "history_search", "History"),
        Binding("ctrl+o", "open", "Open", show=False),
        Binding("ctrl+s", "save", "Save", show=False),
    ]

    def __init__(
        self,
        config: Config,
        *,
        backend: Backend | None = None,
        history: HistoryStore | None = None,
        clock: Clock | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        text: str = "",
        sample_keys: bool = True,
    ) -> None:
        super().__init__()
        self.config = config
        self.backend: Backend = backend or SessionBackend(Session(config, workers=WORKERS))
        self.history = history if history is not None else HistoryStore(default_history_path())
        self.history_cursor = HistoryCursor(self.history)
        self.clock: Clock = clock or SystemClock()
        self.max_rows = max_rows
        self.initial_text = text
        self.sample_keys = sample_keys
        self.run_state: Run | None = None  # the current (or last) run
        self.last_check: Check = Check("")
        self.table: pa.Table | None = None
        self.current_file: Path | None = None
        self._saved_text = text  # the text as last opened or saved (untitled: as started)
        self._quit_dialog: ChoiceScreen | None = None
        self.params: dict[str, str] = {}
        self._run_ids = 0
        self._check_timer: Timer | None = None
        self._tick_timer: Timer | None = None
        self._history_text: str | None = None
        self._result_keys: set[str] = set()
        self._sampled_keys: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self._explain_token = 0
        self._histogram_pending = False

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield QueryEditor(self.initial_text, id="editor")
        yield DiagnosticBar(id="diagnostic")
        with ContentSwitcher(initial="results-view", id="views"):
            with Vertical(id="results-view"):
                yield Chart(id="chart")
                yield ResultsTable(id="results")
            yield ExplainPane(id="explain")
        yield StatusLine(id="status")
        yield Footer()

    @property
    def editor(self) -> QueryEditor:
        return self.query_one("#editor", QueryEditor)

    @property
    def results(self) -> ResultsTable:
        return self.query_one("#results", ResultsTable)

    @property
    def status(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    @property
    def chart(self) -> Chart:
        return self.query_one("#chart", Chart)

    @property
    def closing(self) -> bool:
        """Shutting down: the widgets are gone, so a late worker message or timer is dropped."""
        return not self.is_running

    @property
    def running(self) -> bool:
        return self.run_state is not None and not self.run_state.finished

    def on_mount(self) -> None:
        editor = self.editor
        editor.vocabulary = replace(
            editor.vocabulary,
            sources=self.config.names,
            source_details={s.name: _where(s) for s in self.config.sources},
        )
        self._update_title()
        editor.focus()
        editor.move_cursor(editor.document.end)
        self.chart.display = False  # until the first run
        self.results.empty_message = welcome(self.config.names[0] if self.config.names else "otel")
        self._check_now()
        self._warm_up()
        if isinstance(self.backend, SessionBackend):
            self.backend.session.warm()  # a worker starts importing its engine now
        if self.sample_keys:
            self._sample_keys()
        if self.history.error:
            self.notify(self.history.error, severity="warning")

    def on_unmount(self) -> None:
        """Stop the session's workers: nothing keeps running once the REPL is gone."""
        self.backend.close()

    def _update_title(self) -> None:
        name = self.current_file.name if self.current_file else "untitled"
        marker = " ●" if self.unsaved else ""
        self.editor.border_title = f"StarQL · {name}{marker}"
        sources = ", ".join(self.config.names)
        self.editor.border_subtitle = f"sources: {sources}"

    # ------------------------------------------------------------------ checking as you type

    @property
    def unsaved(self) -> bool:
        """Whether quitting now would lose edits: the text differs from its file or, with no
        file, from what the REPL started with, and it is not in the history either."""
        text = self.editor.text.rstrip("\n")
        if text == self._saved_text.rstrip("\n"):
            return False
        return self.current_file is not None or text.strip() not in self.history.entries

    @on(QueryEditor.Changed, "#editor")
    def _text_changed(self) -> None:
        if self.closing:
            return
        self._update_title()
        if self.editor.text != self._history_text:
            self.history_cursor.reset()
            self._history_text = None
        if self._check_timer is not None:
            self._check_timer.stop()
        self._check_timer = self.set_timer(CHECK_DELAY, self._check_after_typing)

    def _check_after_typing(self) -> None:
        if not self.closing:  # a timer can fire while the app shuts down
            self._check_now()

    def _check_now(self, *, loud: bool = False) -> Check:
        editor = self.editor
        text = editor.text
        result = check(text, self.config)
        changed = result.text != self.last_check.text
        self.last_check = result
        cursor = editor.cursor_index
        error = result.error
        if error is not None and error.span is not None:
            typing = not loud and is_typing(error, text, cursor)
            editor.set_error_span(None if typing else (error.span.start, error.span.end))
        else:
            editor.set_error_span(None)
        self.query_one(DiagnosticBar).show_check(result, cursor, self.clock.now_ns(), loud=loud)
        if changed and self.query_one(ContentSwitcher).current == "explain":
            self._show_explain()  # the pane follows the editor
        return result

    @work(thread=True, group="warm-up")
    def _warm_up(self) -> None:
        """Build the parser and load the mappings off the UI thread, before the first key."""
        for source in self.config.names[:1]:
            with contextlib.suppress(CompileError):
                compile(f"from {source} | where severity >= 'warn' | limit 1", self.config)

    @work(thread=True, group="keys")
    def _sample_keys(self) -> None:
        attributes: list[str] = []
        resource: list[str] = []
        for source in self.config.names:
            sample = self.backend.sample(source)
            attributes += sample.attribute_keys
            resource += sample.resource_keys
        self.post_message(KeysFetched(_unique(attributes), _unique(resource)))

    def on_keys_fetched(self, message: KeysFetched) -> None:
        if self.closing:
            return
        self._sampled_keys = (message.attribute_keys, message.resource_keys)
        self._refresh_vocabulary()

    def _refresh_vocabulary(self) -> None:
        attributes, resource = self._sampled_keys
        merged = _unique([*attributes, *sorted(self._result_keys)])
        self.editor.vocabulary = replace(
            self.editor.vocabulary, attribute_keys=merged, resource_keys=resource
        )

    # ------------------------------------------------------------------ running

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While a dialog is open, the app's own keys (run, F-keys…) are off."""
        return not isinstance(self.screen, ModalScreen) or action in ("quit", "help")

    def action_run(self) -> None:
        self.editor.menu.hide()
        if self._check_timer is not None:
            self._check_timer.stop()
        result = self._check_now(loud=True)
        if result.compiled is None:
            if result.error is not None:
                self.status.failed(f"Not run: {result.error.message} (see above)")
            else:
                self.status.failed("Nothing to run: type a query first.")
            self.bell()
            return
        compiled = result.compiled
        expected = compiled.parameters
        if expected:
            previous = {k: v for k, v in self.params.items() if k in expected}

            def with_values(values: dict[str, str] | None) -> None:
                if values is not None:
                    self.params.update(values)
                    self._start(
                        compiled, {k: value_from_text(v, expected[k]) for k, v in values.items()}
                    )

            self.push_screen(ParamsScreen(expected, previous), with_values)
            return
        self._start(compiled, {})

    def _start(self, compiled: CompiledQuery, params: dict[str, object]) -> None:
        if self.run_state is not None:  # stops the previous query, or its histogram
            self.run_state.cancel.set()
        self.history.add(compiled.text)
        self.history_cursor.reset()
        self._update_title()  # a query in the history is no longer at risk
        self._run_ids += 1
        run = Run(
            self._run_ids,
            compiled,
            params,
            self.clock.now_ns(),
            self.clock.monotonic(),
            threading.Event(),
        )
        self.run_state = run
        self.chart.display = True
        self.status.running(0.0)
        if self._tick_timer is not None:
            self._tick_timer.stop()
        self._tick_timer = self.set_interval(TICK, self._tick)
        self.post_message(QuerySubmitted(run.run_id, compiled.text))
        request = RunRequest(compiled, params, run.now_ns, self.max_rows, run.cancel)
        self._execute(run.run_id, request)

    def _tick(self) -> None:
        run = self.run_state
        if run is not None and not run.finished and not self.closing:
            self.status.running(self.clock.monotonic() - run.started)

    @work(thread=True, group="query")
    def _execute(self, run_id: int, request: RunRequest) -> None:
        started = self.clock.monotonic()
        try:
            result = self.backend.execute(request)
        except Cancelled:
            self.post_message(QueryCancelled(run_id))
        except CompileError as exc:
            self.post_message(QueryFailed(run_id, exc.first.message, exc.diagnostics))
        except EngineFailed as exc:
            self.post_message(QueryFailed(run_id, str(exc)))
        except Exception as exc:  # never let a backend bug take the REPL down
            self.post_message(QueryFailed(run_id, f"unexpected error: {exc!r}"))
        else:
            self.post_message(ResultsFetched(run_id, result, self.clock.monotonic() - started))

    def _current(self, run_id: int) -> Run | None:
        run = self.run_state
        return run if run is not None and run.run_id == run_id else None

    def _finish(self, run: Run) -> None:
        run.finished = True
        if self._tick_timer is not None:
            self._tick_timer.stop()
            self._tick_timer = None

    def on_query_submitted(self, message: QuerySubmitted) -> None:
        self.log.info(f"query {message.run_id} submitted")

    def on_results_fetched(self, message: ResultsFetched) -> None:
        if self.closing:
            return
        run = self._current(message.run_id)
        if run is None or run.finished:
            return
        self._finish(run)
        result = message.result
        self.table = result.table
        self.results.show(result.table, empty_message="No rows matched.")
        window = query_window(run.compiled, run.now_ns)
        self.status.done(
            rows=result.table.num_rows,
            truncated=result.truncated,
            elapsed=message.elapsed,
            bytes_scanned=result.bytes_scanned,
            sources=result.sources,
            window=window.label,
            hidden=self.results.hidden,
        )
        self._learn_keys(result.table)
        series = stats_series(run.compiled, result.table, run.now_ns)
        if series is not None:
            self.chart.series = series
        else:
            self.chart.series = None
            self.chart.message = "Counting matching records over time… (Esc stops)"
            self._histogram_pending = True
            self._histogram(run, max(10, self.chart.size.width or 70))
        if self.query_one(ContentSwitcher).current == "explain":
            self._show_explain()

    def on_query_failed(self, message: QueryFailed) -> None:
        if self.closing:
            return
        run = self._current(message.run_id)
        if run is None or run.finished:
            return
        self._finish(run)
        self.status.failed(message.message)
        if message.diagnostics:
            result = Check(run.compiled.text, None, message.diagnostics)
            cursor = len(run.compiled.text)
            self.query_one(DiagnosticBar).show_check(result, cursor, run.now_ns, loud=True)
        self.bell()

    def on_query_cancelled(self, message: QueryCancelled) -> None:
        if self.closing:
            return
        run = self._current(message.run_id)
        if run is not None and not run.finished:
            self._finish(run)
            self.status.cancelled()

    def action_cancel(self) -> None:
        run = self.run_state
        if run is not None and not run.finished:
            run.cancel.set()
            self._finish(run)
            self.status.cancelled()
            self.chart.message = "Cancelled."
            self.notify("Query cancelled.", timeout=2)
            return
        if run is not None and self._histogram_pending:
            run.cancel.set()
            self._histogram_pending = False
            self.chart.message = "Histogram cancelled."
            return
        if self.query_one(ContentSwitcher).current == "explain":
            self.query_one(ContentSwitcher).current = "results-view"
        self.editor.focus()

    def _learn_keys(self, table: pa.Table) -> None:
        if "attributes" not in table.column_names or table.num_rows == 0:
            return
        column = table.column("attributes")
        if not pa.types.is_map(column.type):
            return
        keys = pc.unique(column.slice(0, 5000).combine_chunks().keys).to_pylist()
        fresh = {str(k) for k in keys if k} - self._result_keys
        if fresh:
            self._result_keys |= fresh
            self._refresh_vocabulary()

    # ------------------------------------------------------------------ histogram

    @work(thread=True, group="histogram", exclusive=True)
    def _histogram(self, run: Run, width: int) -> None:
        try:
            series = count_over_time(
                self.backend, self.config, run.compiled, run.params, run.now_ns, run.cancel, width
            )
        except Cancelled:
            return
        except (CompileError, EngineFailed) as exc:
            self.post_message(HistogramFetched(run.run_id, None, f"No histogram: {exc}"))
            return
        except Exception as exc:
            self.post_message(HistogramFetched(run.run_id, None, f"No histogram: {exc!r}"))
            return
        if series is None:
            self.post_message(HistogramFetched(run.run_id, None, "No matching records."))
        else:
            self.post_message(HistogramFetched(run.run_id, series))

    def on_histogram_fetched(self, message: HistogramFetched) -> None:
        if self.closing:
            return
        run = self._current(message.run_id)
        if run is None or run.cancel.is_set():
            return
        self._histogram_pending = False
        self.chart.series = message.series
        if message.series is None:
            self.chart.message = message.message

    # ------------------------------------------------------------------ explain

    def action_toggle_explain(self) -> None:
        switcher = self.query_one(ContentSwitcher)
        if switcher.current == "explain":
            switcher.current = "results-view"
            self.editor.focus()
            return
        switcher.current = "explain"
        self._show_explain()

    def _show_explain(self) -> None:
        """The editor's query; if it does not compile, the last run's, saying so."""
        pane = self.query_one(ExplainPane)
        self._explain_token += 1  # a plan still being fetched for older text is dropped
        compiled = self.last_check.compiled
        params: Mapping[str, object] = {}
        note = ""
        if compiled is None and self.run_state is not None:
            compiled, params = self.run_state.compiled, self.run_state.params
            note = _not_the_editors(self.last_check, compiled.text)
        elif self.run_state is not None and self.run_state.compiled.text == self.editor.text:
            params = self.run_state.params
        if compiled is None:
            pane.say("The query does not compile; fix it to see how it runs.")
            return
        pane.show(with_note(pending(self._static_explain(compiled)), note))
        self._fetch_plan(self._explain_token, compiled, dict(params), note)

    def _static_explain(self, compiled: CompiledQuery) -> Explain:
        """What explains the query without an engine (stages, each backend's text)."""
        return self.backend.explain(compiled, {}, plans=False)

    @work(thread=True, group="explain", exclusive=True)
    def _fetch_plan(
        self, token: int, compiled: CompiledQuery, params: dict[str, object], note: str
    ) -> None:
        try:
            explain = self.backend.explain(compiled, params)
        except Exception as exc:  # the plan is a nicety: say why it is missing
            explain = pending(self._static_explain(compiled))
            explain = with_note(explain, f"The plan is not available: {exc}")
        self.post_message(ExplainFetched(token, with_note(explain, note)))

    def on_explain_fetched(self, message: ExplainFetched) -> None:
        if self.closing:
            return
        if message.token == self._explain_token:
            self.query_one(ExplainPane).show(message.explain)

    # ------------------------------------------------------------------ history

    @on(QueryEditor.HistoryRequested)
    def _walk_history(self, message: QueryEditor.HistoryRequested) -> None:
        editor = self.editor
        if message.direction < 0:
            text = self.history_cursor.older(editor.text)
        else:
            text = self.history_cursor.newer()
        if text is None:
            return
        self._history_text = text
        self.set_query(text)

    def action_history_search(self) -> None:
        def chosen(text: str | None) -> None:
            if text is not None:
                self.set_query(text)

        self.push_screen(HistoryScreen(self.history.entries, self.history.search), chosen)

    def set_query(self, text: str) -> None:
        """Replace the editor's text (undoable), cursor at the end."""
        editor = self.editor
        editor.replace(text, editor.document.start, editor.document.end)
        editor.move_cursor(editor.document.end)
        editor.focus()

    # ------------------------------------------------------------------ rewrites

    def action_time_range(self) -> None:
        def chosen(duration: str | None) -> None:
            if duration is None:
                return
            default = self.config.names[0] if self.config.names else "otel"
            self.set_query(with_since(self.editor.text, duration or None, default))
            if self._check_now().compiled is not None:
                self.action_run()

        self.push_screen(time_range_screen(None), chosen)

    def action_sources(self) -> None:
        options: list[tuple[str | Text, object]] = [
            (Text.assemble((s.name, "bold"), f"  {s.format} · {_where(s)}"), s.name)
            for s in self.config.sources
        ]
        options.append((Text.assemble(("*", "bold"), "  every configured source"), "*"))

        def chosen(source: object) -> None:
            if isinstance(source, str):
                self.set_query(with_sources(self.editor.text, [source]))

        self.push_screen(ChoiceScreen("Source", options), chosen)

    # ------------------------------------------------------------------ files

    def action_open(self) -> None:
        initial = str(self.current_file or Path.cwd()) + ("" if self.current_file else "/")

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self.notify(f"Cannot open {path}: {_reason(exc)}", severity="error")
                return
            self.current_file = path
            self._saved_text = text.rstrip("\n")
            self.set_query(self._saved_text)
            self._update_title()
            self.notify(f"Opened {path}.", timeout=2)

        self.push_screen(PathScreen("Open a .starql file", initial, suffix=".starql"), chosen)

    def action_save(self) -> None:
        self._save_as()

    def _save_as(self, then: Callable[[], object] | None = None) -> None:
        """Ask for a path and save there; `then` runs once the query is saved."""
        initial = str(self.current_file or Path.cwd() / "query.starql")

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            path = with_starql_suffix(path)
            if self.current_file is not None and _same_file(path, self.current_file):
                self._write(path, then)
            elif path.exists():
                self._confirm_overwrite(path, then)
            else:
                self._write(path, then)

        self.push_screen(PathScreen("Save the query as", initial, suffix=".starql"), chosen)

    def _confirm_overwrite(self, path: Path, then: Callable[[], object] | None) -> None:
        options: list[tuple[str | Text, object]] = [
            (f"Replace {path.name}", True),
            ("Keep it (Ctrl+S to pick another name)", False),
        ]

        def answered(replace_it: object) -> None:
            if replace_it is True:
                self._write(path, then)

        self.push_screen(ChoiceScreen(f"{path} exists", options, highlighted=1), answered)

    def _write(self, path: Path, then: Callable[[], object] | None = None) -> None:
        text = self.editor.text.rstrip("\n")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            self.notify(f"Cannot save {path}: {_reason(exc)}", severity="error")
            return
        self.current_file = path
        self._saved_text = text
        self._update_title()
        self.notify(f"Saved {path}.", timeout=2)
        if then is not None:
            then()

    async def action_quit(self) -> None:
        """Quit; with unsaved edits, ask first (Ctrl+Q again in the question quits)."""
        if not self.unsaved or self.screen is self._quit_dialog:
            self.exit()
            return
        name = self.current_file.name if self.current_file else "the query"
        options: list[tuple[str | Text, object]] = [
            (f"Save {name}, then quit", "save"),
            ("Quit without saving", "quit"),
            ("Keep editing", None),
        ]

        def answered(answer: object) -> None:
            self._quit_dialog = None
            if answer == "quit":
                self.exit()
            elif answer == "save" and self.current_file is not None:
                self._write(self.current_file, self.exit)
            elif answer == "save":
                self._save_as(then=self.exit)

        self._quit_dialog = ChoiceScreen(f"Unsaved edits to {name}", options)
        self.push_screen(self._quit_dialog, answered)

    def action_export(self) -> None:
        table = self.table
        if table is None:
            self.notify("Nothing to export yet: run a query first.", severity="warning")
            return
        stamp = dt.datetime.fromtimestamp(self.clock.now_ns() / 1e9, dt.UTC)
        initial = str(Path.cwd() / f"starbase-{stamp:%Y%m%d-%H%M%S}.csv")

        def chosen(answer: tuple[Path, str] | None) -> None:
            if answer is not None:
                self._export(table, *answer)

        self.push_screen(ExportScreen(initial), chosen)

    @work(thread=True, group="export")
    def _export(self, table: pa.Table, path: Path, fmt: str) -> None:
        try:
            rows = export(table, path, fmt)
        except (OSError, ValueError, pa.ArrowException) as exc:
            self.post_message(ResultsExported(path, 0, _reason(exc)))
        else:
            self.post_message(ResultsExported(path, rows))

    def on_results_exported(self, message: ResultsExported) -> None:
        if message.error:
            self.notify(f"Export failed: {message.error}", severity="error")
        else:
            self.notify(f"Exported {message.rows:,} rows to {message.path}.", timeout=3)

    # ------------------------------------------------------------------ results

    @on(ResultsTable.RowChosen)
    def _row_chosen(self, message: ResultsTable.RowChosen) -> None:
        if self.table is not None:
            self.push_screen(RowScreen(message.index, row_json(self.table, message.index)))

    @on(ResultsTable.RowCopied)
    def _row_copied(self, message: ResultsTable.RowCopied) -> None:
        self.copy_to_clipboard(message.text)
        self.notify(f"Row {message.index + 1} copied as JSON.", timeout=2)

    # ------------------------------------------------------------------ help, palette

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Run query", "Run the query in the editor", self.action_run)
        yield SystemCommand(
            "Explain", "Stages, DataFusion SQL and plan", self.action_toggle_explain
        )
        yield SystemCommand("Time range", "Last 15m / 1h / 24h / 7d / all", self.action_time_range)
        yield SystemCommand("Source", "Pick the source to query", self.action_sources)
        yield SystemCommand("History", "Search the queries run before", self.action_history_search)
        yield SystemCommand("Open", "Open a .starql file", self.action_open)
        yield SystemCommand("Save", "Save the query to a .starql file", self.action_save)
        yield SystemCommand(
            "Export", "Export results (CSV, JSON, NDJSON, Parquet)", self.action_export
        )
        yield SystemCommand("Keys", "Show every key binding", self.action_help)


def _where(source: Any) -> str:
    return str(source.location or ", ".join(source.log_groups) or "")


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split())


def with_starql_suffix(path: Path) -> Path:
    """`path`, with `.starql` added when its name has no extension."""
    return path if path.suffix else path.with_name(path.name + ".starql")


def _same_file(a: Path, b: Path) -> bool:
    return a.expanduser().resolve() == b.expanduser().resolve()


def _not_the_editors(check: Check, last_run: str) -> str:
    """What the explain pane says above the last run's plan when the editor's text has none."""
    error = check.error
    if error is None:
        why = "the editor is empty"
    else:
        where = f"{error.span.line}:{error.span.column} " if error.span is not None else ""
        why = f"the query in the editor does not compile ({where}{error.message})"
    shown = "\n".join("  " + line for line in last_run.splitlines() if line.strip())
    return f"{why[0].upper()}{why[1:]}; this is the plan of the last query run:\n{shown}"
