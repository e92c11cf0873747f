"""The REPL driven as a person would, headless (Textual's pilot): typing, completion, running,
cancelling, errors, history, files, export, shortcuts and the explain pane."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
from textual.pilot import Pilot

from starbase.config import Config, SourceConfig
from starbase.repl.app import StarbaseRepl
from starbase.repl.diagnostics import DiagnosticBar
from starbase.repl.explain import ExplainPane
from starbase.repl.history import HistoryStore
from starbase.repl.screens import ChoiceScreen, HelpScreen, HistoryScreen, ParamsScreen, RowScreen

from .repl_support import SlowBackend, drive, settle, type_text, until

MakeApp = Callable[..., StarbaseRepl]
ERRORS_LAST_HOUR = 'from otel | since 1h | where severity >= "error"'


def bar_text(app: StarbaseRepl) -> str:
    return str(app.query_one(DiagnosticBar).render())


def status_text(app: StarbaseRepl) -> str:
    return str(app.status.render())


async def run_query(pilot: Pilot[None], app: StarbaseRepl) -> None:
    await pilot.press("ctrl+j")
    await until(pilot, lambda: not app.running)


# ---------------------------------------------------------------- typing and checking


def test_typing_checks_the_query_as_you_type(make_app: MakeApp) -> None:
    app = make_app()

    async def scenario(pilot: Pilot[None]) -> None:
        await type_text(pilot, "from otel | since 1h")
        await settle(pilot)
        assert app.editor.text == "from otel | since 1h"
        assert "✓ otel · last 1h · 14 columns" in bar_text(app)
        assert app.editor.error_span is None

    drive(app, scenario)


def test_an_error_is_shown_with_a_caret_and_the_span_underlined(make_app: MakeApp) -> None:
    app = make_app(text='from otel | where servce == "checkout"')

    async def scenario(pilot: Pilot[None]) -> None:
        await settle(pilot)
        text = bar_text(app)
        assert "error[E302] 1:19 unknown field 'servce'" in text
        caret = text.splitlines()[2]
        assert caret.strip().startswith("^^^^^^ did you mean 'service'")
        assert caret.index("^") == text.splitlines()[1].index("servce")
        assert app.editor.error_span == (18, 24)

    drive(app, scenario)


def test_an_unfinished_query_is_not_shouted_at(make_app: MakeApp) -> None:
    app = make_app()

    async def scenario(pilot: Pilot[None]) -> None:
        await type_text(pilot, "from otel | where severity >=")
        await settle(pilot)
        assert app.query_one(DiagnosticBar).has_class("-muted")
        assert "expected an expression after '>='" in bar_text(app)
        assert app.editor.error_span is None
        await pilot.press("ctrl+j")  # running it shows the error in full
        await pilot.pause()
        assert app.query_one(DiagnosticBar).has_class("-error")
        assert "Not run" in status_text(app)

    drive(app, scenario)


def test_brackets_and_quotes_pair(make_app: MakeApp) -> None:
    app = make_app()

    async def scenario(pilot: Pilot[None]) -> None:
        await type_text(pilot, "from otel | stats count(")
        assert app.editor.text == "from otel | stats count()"
        await pilot.press(")")  # steps over the closing bracket
        assert app.editor.text == "from otel | stats count()"
        await type_text(pilot, ' | where message contains "time')
        assert app.editor.text.endswith('contains "time"')
        await pilot.press('"')
        assert app.editor.text.endswith('contains "time"')
        assert app.editor.cursor_location == (0, len(app.editor.text))
        await type_text(pilot, " and (")
        await pilot.press("backspace")  # deletes the empty pair
        assert app.editor.text.endswith('"time" and ')

    drive(app, scenario)


# ---------------------------------------------------------------- completion


def test_completion_offers_stage_keywords_and_tab_accepts(make_app: MakeApp) -> None:
    app = make_app()

    async def scenario(pilot: Pilot[None]) -> None:
        await type_text(pilot, "from otel | wh")
        menu = app.editor.menu
        assert menu.is_open
        assert [c.label for c in menu.completion.candidates] == ["where"]  # type: ignore[union-attr]
        await pilot.press("tab")
        assert app.editor.text == "from otel | where "
        assert app.editor.has_focus

    drive(app, scenario)


def test_completion_offers_attribute_keys_seen_in_the_data(make_app: MakeApp) -> None:
    app = make_app(sample_keys=True)

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: app.editor.vocabulary.attribute_keys)
        assert "http.status_code" in app.editor.vocabulary.attribute_keys
        await type_text(pilot, "from otel | where attributes.http.st")
        labels = [c.label for c in app.editor.menu.completion.candidates]  # type: ignore[union-attr]
        assert labels == ["attributes.http.status_code"]
        await pilot.press("tab")
        assert app.editor.text == "from otel | where attributes.http.status_code"

    drive(app, scenario)


def test_completion_of_levels_functions_and_escape(make_app: MakeApp) -> None:
    app = make_app()

    async def scenario(pilot: Pilot[None]) -> None:
        await type_text(pilot, "from otel | where severity >= ")
        labels = [c.label for c in app.editor.menu.completion.candidates]  # type: ignore[union-attr]
        assert labels[:3] == ['"trace"', '"debug"', '"info"']
        await pilot.press("down", "down", "down", "down", "enter")
        assert app.editor.text.endswith('>= "error"')
        await type_text(pilot, " | stats cou")
        assert app.editor.menu.is_open
        await pilot.press("escape")
        assert not app.editor.menu.is_open
        await pilot.press("ctrl+@")  # Ctrl+Space opens it again
        assert app.editor.menu.is_open
        await pilot.press("enter")
        assert app.editor.text.endswith("stats count()")
        assert app.editor.cursor_location[1] == len(app.editor.text) - 1  # inside ( )

    drive(app, scenario)


# ---------------------------------------------------------------- running


def test_run_shows_rows_status_and_histogram(make_app: MakeApp) -> None:
    app = make_app(text=ERRORS_LAST_HOUR)

    async def scenario(pilot: Pilot[None]) -> None:
        await run_query(pilot, app)
        rows = app.results.row_count
        assert rows > 0
        assert all(s >= 17 for s in app.table.column("severity").to_pylist())  # type: ignore[union-attr]
        status = status_text(app)
        assert f"✓ {rows} rows" in status and "KB scanned" in status
        assert "· otel · last 1h" in status and "2 empty columns hidden" in status
        await until(pilot, lambda: app.chart.series is not None)
        series = app.chart.series
        assert series is not None and series.total == rows
        assert series.title == "records" and len(series.values) == 60  # 1m buckets

    drive(app, scenario)


def test_stats_by_bin_results_are_charted(make_app: MakeApp) -> None:
    query = "from otel | since 6h | stats count() as n by service, bin(timestamp, 30m) as t"
    app = make_app(text=query)

    async def scenario(pilot: Pilot[None]) -> None:
        await run_query(pilot, app)
        series = app.chart.series
        assert series is not None
        assert series.title == "n by t, summed over service"
        assert len(series.values) == 12 and series.bucket_ns == 30 * 60 * 10**9
        assert series.total == sum(app.table.column("n").to_pylist())  # type: ignore[union-attr]

    drive(app, scenario)


def test_a_query_with_an_error_never_reaches_the_backend(make_app: MakeApp, config: Config) -> None:
    backend = SlowBackend(config)
    app = make_app(text="from otel | where nope > 1", backend=backend)

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("f5")
        await pilot.pause()
        assert not backend.started.is_set()
        assert "Not run: unknown field 'nope'" in status_text(app)

    drive(app, scenario)


def test_a_runtime_failure_is_one_line_in_the_status(make_app: MakeApp) -> None:
    missing = Config((SourceConfig("otel", "otel", "no/such/folder"),))
    app = make_app(config=missing, text="from otel | limit 1")

    async def scenario(pilot: Pilot[None]) -> None:
        await run_query(pilot, app)
        assert app.status.has_class("-failed")
        assert "data folder no/such/folder does not exist" in status_text(app)

    drive(app, scenario)


def test_a_slow_query_does_not_block_input_and_esc_cancels(
    make_app: MakeApp, config: Config
) -> None:
    backend = SlowBackend(config)
    app = make_app(text="from otel | since 1h", backend=backend)

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+j")
        await until(pilot, backend.started.is_set)
        assert app.running and app.status.has_class("-running")
        await type_text(pilot, " | limit 3")  # keys typed while the query runs …
        assert app.editor.text == "from otel | since 1h | limit 3"  # … reach the editor
        assert app.running
        await pilot.press("escape")
        assert not app.running and app.status.has_class("-cancelled")
        await until(pilot, backend.cancelled.is_set)  # the worker saw the cancel …
        await until(pilot, backend.finished.is_set)
        await pilot.pause(0.1)
        assert app.table is None  # … and no late result replaced anything
        backend.release.set()
        await run_query(pilot, app)  # the next run works
        assert app.results.row_count == 3

    drive(app, scenario)


def test_parameters_are_asked_for(make_app: MakeApp) -> None:
    app = make_app(text="from otel | since $window | where severity >= $level")

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+j")
        await pilot.pause()
        assert isinstance(app.screen, ParamsScreen)
        await type_text(pilot, "1h")
        await pilot.press("enter")
        await type_text(pilot, "fatal")
        await pilot.press("enter")
        await until(pilot, lambda: app.table is not None)
        assert set(app.table.column("severity").to_pylist()) <= {21}  # type: ignore[union-attr]
        assert app.params == {"window": "1h", "level": "fatal"}

    drive(app, scenario)


# ---------------------------------------------------------------- results


def test_a_row_in_full_and_copied_as_json(make_app: MakeApp) -> None:
    app = make_app(text=ERRORS_LAST_HOUR + " | sort timestamp | limit 5")

    async def scenario(pilot: Pilot[None]) -> None:
        await run_query(pilot, app)
        await pilot.press("tab")  # to the results
        assert app.results.has_focus
        await pilot.press("down", "enter")
        assert isinstance(app.screen, RowScreen)
        row = app.screen.row
        assert row["timestamp"].endswith("Z") and len(row["timestamp"]) > 20  # full precision
        await pilot.press("escape")
        await pilot.press("c")
        copied = json.loads(app.clipboard)
        assert copied == row
        assert app.results.cursor_row == 1

    drive(app, scenario)


def test_export_writes_csv_ndjson_and_parquet(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(text=ERRORS_LAST_HOUR + " | fields timestamp, service, message | limit 7")

    async def scenario(pilot: Pilot[None]) -> None:
        await run_query(pilot, app)
        for name in ("out.csv", "out.ndjson", "out.parquet"):
            await pilot.press("f4")
            await pilot.pause()
            field = app.screen.query_one("#path")
            field.value = str(tmp_path / name)  # type: ignore[attr-defined]
            await pilot.press("enter")
            await until(pilot, (tmp_path / name).exists)
        csv_lines = (tmp_path / "out.csv").read_text().splitlines()
        assert csv_lines[0] == "timestamp,service,message" and len(csv_lines) == 8
        records = [json.loads(line) for line in (tmp_path / "out.ndjson").read_text().splitlines()]
        assert len(records) == 7 and records[0]["timestamp"].endswith("Z")
        assert pq.read_table(tmp_path / "out.parquet").num_rows == 7

    drive(app, scenario)


# ---------------------------------------------------------------- history


def test_history_persists_across_sessions_and_walks_with_up_down(
    make_app: MakeApp, tmp_path: Path
) -> None:
    first = make_app(text="from otel | limit 1")

    async def run_two(pilot: Pilot[None]) -> None:
        await run_query(pilot, first)
        first.set_query("from otel | limit 2")
        await run_query(pilot, first)

    drive(first, run_two)
    assert len((tmp_path / "history.ndjson").read_text().splitlines()) == 2

    second = make_app()  # a new session reading the same file

    async def walk(pilot: Pilot[None]) -> None:
        await type_text(pilot, "draft")
        await pilot.press("up")
        assert second.editor.text == "from otel | limit 2"
        await pilot.press("up")
        assert second.editor.text == "from otel | limit 1"
        await pilot.press("up")  # nothing older: stays
        assert second.editor.text == "from otel | limit 1"
        await pilot.press("down")
        assert second.editor.text == "from otel | limit 2"
        await pilot.press("down")
        assert second.editor.text == "draft"

    drive(second, walk)


def test_history_search(make_app: MakeApp, tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.ndjson")
    for query in (
        "from otel | limit 1",
        'from otel | where service == "auth"',
        "from otel | since 5m",
    ):
        store.add(query)
    app = make_app(history=store)

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+r")
        assert isinstance(app.screen, HistoryScreen)
        assert app.screen.shown[0] == "from otel | since 5m"  # newest first
        await type_text(pilot, "auth")
        assert app.screen.shown == ['from otel | where service == "auth"']
        await pilot.press("enter")
        assert app.editor.text == 'from otel | where service == "auth"'

    drive(app, scenario)


# ---------------------------------------------------------------- files and shortcuts


def test_save_then_open_a_starql_file(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(text="from otel\n| since 15m")
    target = tmp_path / "queries" / "incident.starql"

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.screen.query_one("#path").value = str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, target.exists)
        assert target.read_text() == "from otel\n| since 15m\n"
        assert "incident.starql" in str(app.editor.border_title)
        other = tmp_path / "other.starql"
        other.write_text("# errors\nfrom otel | where severity >= 'error'\n")
        await pilot.press("ctrl+o")
        await pilot.pause()
        app.screen.query_one("#path").value = str(other)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        assert app.editor.text == "# errors\nfrom otel | where severity >= 'error'"
        assert app.current_file == other
        await pilot.press("ctrl+o")
        await pilot.pause()
        app.screen.query_one("#path").value = str(tmp_path / "missing.starql")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_file == other  # a failed open changes nothing

    drive(app, scenario)


def test_time_range_shortcut_edits_since_and_runs(make_app: MakeApp) -> None:
    app = make_app(text="from otel\n| since 1h\n| stats count() as n")

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+t")
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("1")  # last 15 minutes
        assert app.editor.text == "from otel\n| since 15m\n| stats count() as n"
        await until(pilot, lambda: app.table is not None)
        fifteen = app.table.column("n")[0].as_py()  # type: ignore[union-attr]
        await pilot.press("ctrl+t", "3")
        await until(pilot, lambda: app.table.column("n")[0].as_py() != fifteen)  # type: ignore[union-attr]
        assert "| since 24h" in app.editor.text

    drive(app, scenario)


def test_source_picker_rewrites_from(make_app: MakeApp) -> None:
    two = Config((SourceConfig("otel", "otel", "data"), SourceConfig("archive", "otel", "data")))
    app = make_app(config=two, text="from otel | limit 5")

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("f2")
        await pilot.press("2")
        assert app.editor.text == "from archive | limit 5"
        await pilot.press("f2", "3")
        assert app.editor.text == "from * | limit 5"

    drive(app, scenario)


def test_explain_pane_shows_stages_sql_and_plan(make_app: MakeApp) -> None:
    app = make_app(text=ERRORS_LAST_HOUR)

    async def scenario(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("f3")
        pane = app.query_one(ExplainPane)
        await until(pilot, lambda: "optimized logical plan" in pane.text)
        for part in (
            "== parse ==",
            "== federate ==",
            "== DataFusion SQL ==",
            "DataFusion, over Parquet",
        ):
            assert part in pane.text
        assert "full_filters" in pane.text or "TableScan" in pane.text
        await pilot.press("f3")
        assert app.editor.has_focus

    drive(app, scenario)


def test_help_lists_the_keys(make_app: MakeApp) -> None:
    app = make_app()

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        assert app.editor.has_focus

    drive(app, scenario)


# ---------------------------------------------------------------- found by outside testing


def menu_labels(app: StarbaseRepl) -> list[str]:
    completion = app.editor.menu.completion
    return [c.label for c in completion.candidates] if completion is not None else []


def test_enter_after_a_complete_word_is_a_new_line_not_a_completion(make_app: MakeApp) -> None:
    app = make_app()

    async def scenario(pilot: Pilot[None]) -> None:
        for typed in (
            "from otel | stats count() by severity",  # was rewritten to severity_text
            "from otel | fields timestamp",  # was rewritten to observed_timestamp
            "from otel | stats count() as n",  # was rewritten to now()
            "from otel | wh",  # a word being typed: Enter still does not pick for the user
        ):
            await pilot.press("ctrl+l")
            await type_text(pilot, typed)
            await pilot.press("enter")
            assert app.editor.text == typed + "\n", typed
            assert not app.editor.menu.is_open

    drive(app, scenario)


def test_a_typed_word_that_is_a_candidate_stays_first_and_tab_keeps_it(make_app: MakeApp) -> None:
    app = make_app()

    async def scenario(pilot: Pilot[None]) -> None:
        await type_text(pilot, "from otel | fields timestamp")
        assert app.editor.menu.is_open
        assert menu_labels(app)[:2] == ["timestamp", "observed_timestamp"]
        await pilot.press("tab")
        assert app.editor.text == "from otel | fields timestamp"
        await type_text(pilot, ", severity")
        assert menu_labels(app)[:2] == ["severity", "severity_text"]
        await pilot.press("down", "enter")  # moving into the list makes Enter pick
        assert app.editor.text == "from otel | fields timestamp, severity_text"

    drive(app, scenario)


def test_no_name_is_suggested_after_as(make_app: MakeApp) -> None:
    app = make_app()

    async def scenario(pilot: Pilot[None]) -> None:
        await type_text(pilot, "from otel | stats count() as ")
        assert not app.editor.menu.is_open
        await type_text(pilot, "n")
        assert not app.editor.menu.is_open
        await pilot.press("ctrl+@")  # not even when asked: a new name is being typed
        assert not app.editor.menu.is_open
        await type_text(pilot, " by ser")
        assert menu_labels(app)[:1] == ["service"]  # after the name, fields again

    drive(app, scenario)


def test_the_advertised_run_key_works_in_every_terminal(make_app: MakeApp) -> None:
    from textual.widgets._footer import FooterKey

    from starbase.repl.results import welcome
    from starbase.repl.screens import HELP_SECTIONS

    app = make_app()

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.pause()
        keys = {k.action: k.key_display for k in app.query(FooterKey)}
        assert keys["run"] == "F5"
        advertised = [
            bar_text(app),  # the empty editor's hint
            welcome("otel"),
            app.results.empty_message,
            " ".join(keys for keys, _ in HELP_SECTIONS[0][1][:1]),
        ]
        await type_text(pilot, "from otel | limit 2")
        await settle(pilot)
        advertised.append(bar_text(app))  # the hint beside a query that compiles
        for text in advertised:
            assert "F5" in text and "Ctrl+J" in text, text
            assert "Ctrl+Enter runs" not in text and "press Ctrl+Enter" not in text, text
        await pilot.press("f5")  # the keys named there run the query
        await until(pilot, lambda: app.table is not None and app.table.num_rows == 2)
        app.table = None
        await pilot.press("ctrl+j")
        await until(pilot, lambda: app.table is not None)
        readme = (Path(__file__).parents[2] / "README.md").read_text()
        assert "| F5 or Ctrl+J" in readme

    drive(app, scenario)


def test_running_closes_the_completion_menu(make_app: MakeApp) -> None:
    app = make_app()

    async def scenario(pilot: Pilot[None]) -> None:
        await type_text(pilot, "from otel | limit 2 | fields severity")
        assert app.editor.menu.is_open
        await pilot.press("f5")
        assert not app.editor.menu.is_open
        await until(pilot, lambda: not app.running)
        assert app.table is not None and app.table.num_rows == 2

    drive(app, scenario)


def chart_rows(app: StarbaseRepl) -> list[str]:
    """The chart's bars (without the axis line); each must be as wide as the chart."""
    rows = str(app.chart.render()).split("\n")[:-1]
    assert {len(row) for row in rows} == {app.chart.size.width}
    return rows


def test_the_histogram_fills_the_width_and_keeps_its_shape_across_resizes(
    make_app: MakeApp,
) -> None:
    app = make_app(text=ERRORS_LAST_HOUR)

    async def scenario(pilot: Pilot[None]) -> None:
        await run_query(pilot, app)
        await until(pilot, lambda: app.chart.series is not None)
        first = chart_rows(app)  # 60 one-minute buckets over the whole width
        assert app.chart.size.width == 78  # 80 columns less the padding
        for width in (50, 61, 123, 80):
            await pilot.resize_terminal(width, 24)
            await pilot.pause()
            assert app.chart.size.width == width - 2
            chart_rows(app)
        assert chart_rows(app) == first  # back at 80 columns: the very same bars
        series = app.chart.series
        assert series is not None
        app.chart.series = replace(series, values=(3.0,) * len(series.values))  # flat data …
        for width in (50, 61, 123, 80):
            await pilot.resize_terminal(width, 24)
            await pilot.pause()
            assert set(chart_rows(app)) == {"█" * (width - 2)}  # … draws flat bars

    drive(app, scenario)


def test_save_adds_the_extension_asks_before_overwriting_and_marks_edits(
    make_app: MakeApp, tmp_path: Path
) -> None:
    app = make_app(text="from otel | since 15m")
    other = tmp_path / "other.starql"
    other.write_text("from otel | limit 1\n")

    async def save_as(pilot: Pilot[None], path: Path) -> None:
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.screen.query_one("#path").value = str(path)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()

    async def scenario(pilot: Pilot[None]) -> None:
        await save_as(pilot, tmp_path / "incident")
        saved = tmp_path / "incident.starql"
        assert saved.read_text() == "from otel | since 15m\n"
        assert app.current_file == saved
        assert str(app.editor.border_title) == "StarQL · incident.starql"
        await type_text(pilot, " | limit 5")
        assert str(app.editor.border_title) == "StarQL · incident.starql ●"  # modified
        await save_as(pilot, saved)  # the file being edited: saved without a question
        assert saved.read_text() == "from otel | since 15m | limit 5\n"
        assert str(app.editor.border_title) == "StarQL · incident.starql"
        await save_as(pilot, other)  # someone else's file: asks first
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("escape")
        assert other.read_text() == "from otel | limit 1\n"
        assert app.current_file == saved
        await save_as(pilot, other)
        await pilot.press("1")  # overwrite
        await until(pilot, lambda: other.read_text() == "from otel | since 15m | limit 5\n")
        assert app.current_file == other

    drive(app, scenario)


def test_quitting_with_unsaved_edits_asks_first(make_app: MakeApp, tmp_path: Path) -> None:
    query = tmp_path / "q.starql"
    query.write_text("from otel | limit 1\n")
    app = make_app()

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+o")
        await pilot.pause()
        app.screen.query_one("#path").value = str(query)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        await type_text(pilot, " | since 1h")
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ChoiceScreen)  # Save / Quit without saving / Cancel
        assert not app._exit
        await pilot.press("escape")  # keep editing
        assert not app._exit and app.editor.text == "from otel | limit 1 | since 1h"
        await pilot.press("ctrl+q")
        await pilot.press("1")  # save, then quit
        await until(pilot, lambda: app._exit)
        assert query.read_text() == "from otel | limit 1 | since 1h\n"

    drive(app, scenario)


def test_quitting_an_unchanged_query_does_not_ask(make_app: MakeApp) -> None:
    app = make_app(text="from otel | limit 1")

    async def scenario(pilot: Pilot[None]) -> None:
        await run_query(pilot, app)  # a query that was run is in the history: nothing is lost
        await pilot.press("ctrl+q")
        assert app._exit

    drive(app, scenario)


def test_explain_says_when_it_shows_the_last_run_instead_of_the_editor(
    make_app: MakeApp,
) -> None:
    app = make_app(text="from otel | limit 3")

    async def scenario(pilot: Pilot[None]) -> None:
        await run_query(pilot, app)
        app.set_query("from otel | where nope > 1")
        await settle(pilot)
        await pilot.press("f3")
        pane = app.query_one(ExplainPane)
        await until(pilot, lambda: "optimized logical plan" in pane.text)
        head = pane.text.split("\n\n")[0]
        assert "does not compile" in head and "unknown field 'nope'" in head
        assert "last query run" in head and "from otel | limit 3" in head
        app.set_query("from otel | limit 4")  # while the pane is open, it follows the editor
        await settle(pilot)
        await until(pilot, lambda: "LIMIT 4" in pane.text or "limit 4" in pane.text)
        assert "does not compile" not in pane.text

    drive(app, scenario)


def test_export_to_json_is_a_json_document(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(text=ERRORS_LAST_HOUR + " | fields timestamp, service | limit 4")

    async def scenario(pilot: Pilot[None]) -> None:
        await run_query(pilot, app)
        await pilot.press("f4")
        await pilot.pause()
        app.screen.query_one("#path").value = str(tmp_path / "out.json")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, (tmp_path / "out.json").exists)
        document = json.loads((tmp_path / "out.json").read_text())
        assert isinstance(document, list) and len(document) == 4
        assert set(document[0]) == {"timestamp", "service"}

    drive(app, scenario)
