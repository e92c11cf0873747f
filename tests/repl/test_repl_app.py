"""The REPL driven as a person would, headless (Textual's pilot): typing, completion, running,
cancelling, errors, history, files, export, shortcuts and the explain pane."""

from __future__ import annotations

import json
from collections.abc import Callable
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
        await pilot.press("enter")
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
