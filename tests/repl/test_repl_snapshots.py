"""SVG snapshots of the REPL's main screens at 80×24 (pytest-textual-snapshot).

The snapshots live in `__snapshots__/test_repl_snapshots/` beside this file. After a change
to what the REPL shows, look at the failing test's report (`snapshot_report.html`), and when
the new screen is right, rewrite the snapshots with:

    .venv/bin/pytest tests/repl/test_repl_snapshots.py --snapshot-update

then review the changed `.svg` files like any other diff before committing them. Snapshots
are deterministic: fixed terminal size, fixed data and clock (`repl_support.NOW`), no cursor
blink, bytes scanned and DataFusion's physical plan pinned by `StableBackend` (they depend
on file layout and paths), and the elapsed time reads 0 ms under the fixed clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot

from starbase.config import Config
from starbase.repl.app import StarbaseRepl
from starbase.repl.explain import ExplainPane

from .repl_support import SIZE, StableBackend, settle, type_text, until

MakeApp = Callable[..., StarbaseRepl]
SnapCompare = Callable[..., bool]
Scenario = Callable[[Pilot[None]], Awaitable[None]]


def steady(app: StarbaseRepl, scenario: Scenario | None = None) -> Scenario:
    """Stop the cursor blinking, play `scenario`, wait past the check delay."""

    async def run_before(pilot: Pilot[None]) -> None:
        app.editor.cursor_blink = False
        if scenario is not None:
            await scenario(pilot)
        await settle(pilot)

    return run_before


def snapshot(snap_compare: SnapCompare, app: StarbaseRepl, scenario: Scenario | None) -> bool:
    return snap_compare(app, terminal_size=SIZE, run_before=steady(app, scenario))


def stable_app(make_app: MakeApp, config: Config, **options: Any) -> StarbaseRepl:
    return make_app(backend=StableBackend(config), **options)


def test_start_screen(snap_compare: SnapCompare, make_app: MakeApp, config: Config) -> None:
    assert snapshot(snap_compare, stable_app(make_app, config), None)


def test_error_with_caret(snap_compare: SnapCompare, make_app: MakeApp, config: Config) -> None:
    app = stable_app(make_app, config, text='from otel\n| where servce == "checkout"\n| limit 5')
    assert snapshot(snap_compare, app, None)


def test_completion_menu(snap_compare: SnapCompare, make_app: MakeApp, config: Config) -> None:
    app = stable_app(make_app, config)

    async def scenario(pilot: Pilot[None]) -> None:
        await type_text(pilot, "from otel\n| where se")

    assert snapshot(snap_compare, app, scenario)


def test_results_with_histogram(
    snap_compare: SnapCompare, make_app: MakeApp, config: Config
) -> None:
    text = 'from otel\n| since 1h\n| where severity >= "warn"\n| sort timestamp desc'
    app = stable_app(make_app, config, text=text)

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+j")
        await until(pilot, lambda: app.chart.series is not None)

    assert snapshot(snap_compare, app, scenario)


def test_stats_chart(snap_compare: SnapCompare, make_app: MakeApp, config: Config) -> None:
    text = "from otel\n| since 12h\n| stats count() as n by bin(timestamp, 15m) as t\n| sort t"
    app = stable_app(make_app, config, text=text)

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+j")
        await until(pilot, lambda: app.chart.series is not None)

    assert snapshot(snap_compare, app, scenario)


def test_explain_pane(snap_compare: SnapCompare, make_app: MakeApp, config: Config) -> None:
    app = stable_app(make_app, config, text='from otel | since 1h | where severity >= "error"')

    async def scenario(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("f3")
        pane = app.query_one(ExplainPane)
        await until(pilot, lambda: "pinned for the snapshot" in pane.text)

    assert snapshot(snap_compare, app, scenario)


def test_help_screen(snap_compare: SnapCompare, make_app: MakeApp, config: Config) -> None:
    app = stable_app(make_app, config)

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("f1")

    assert snapshot(snap_compare, app, scenario)
