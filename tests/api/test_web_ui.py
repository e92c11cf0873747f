"""The web UI in Debian's Chromium (headless, through Playwright): what a person does with it.

One browser and one server for the module: the server reads a data folder of synthetic
records that a real router also writes to (live tail sees the emitter's records arrive), and
a configuration with twenty sources over the same records, so `from *` is a query slow
enough to cancel. Screenshots of the main views at 1280×800 are written to
`.test-artifacts/screenshots/` in the checkout (not committed) for a reviewer to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from synthetic import write_dataset

from starbase.api.settings import Limits
from starbase.config import Config, SourceConfig
from starbase.devenv import free_port, spawn, wait_answering
from tests.api.conftest import Served, served
from tests.conftest import DATASET_SPAN, DATASET_START

CHROMIUM = os.environ.get("STARBASE_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / ".test-artifacts" / "screenshots"
COPIES = 20  # sources over the same records: `from *` reads them all
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SLOW = (
    "from *\n| parse message /(?<a>[a-z]+) (?<b>[a-z]+)/"
    "\n| stats count_distinct(concat(a, b, message)) as n by host, service"
)


@pytest.fixture(scope="module")
def ui_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ui-data")
    write_dataset(root, 100_000, start_ns=DATASET_START, span_ns=DATASET_SPAN, seed=11)
    return root


@pytest.fixture(scope="module")
def router(ui_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("router") / "router.log"
    command = [sys.executable, "-m", "starbase", "router", "--data", str(ui_data)]
    command += ["--port", str(port), "--flush-age", "0.3", "--workers", "1"]
    process = spawn(command, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_answering(f"{url}/readyz", process, log)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


@pytest.fixture(scope="module")
def ui_server(
    ui_data: Path, router: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    sources = [SourceConfig("otel", "otel", str(ui_data))]
    sources += [SourceConfig(f"copy{k}", "otel", str(ui_data)) for k in range(COPIES - 1)]
    running = served(
        ui_data,
        tmp_path_factory.mktemp("ui-serve"),
        config=Config(tuple(sources)),
        router_url=router,
        limits=Limits(max_concurrent=8),
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run does it)")
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, ui_server: Served) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(f"{ui_server.url}/#/explore?q=")
    expect(opened.locator("#auth-note")).to_contain_text("local mode")
    yield opened
    context.close()
    assert not errors, errors


def type_query(page: Page, text: str) -> None:
    editor = page.locator(".editor-input")
    editor.click()
    editor.press("Control+a")
    editor.press("Delete")
    editor.type(text)  # keystrokes, as a person types (completion pops up; Escape closes it)
    editor.press("Escape")


def run(page: Page) -> None:
    page.locator(".editor-input").press("Control+Enter")
    expect(page.locator("#status")).to_contain_text("done", timeout=30_000)


def test_type_a_query_see_rows_and_a_diagnostic_under_the_text(page: Page) -> None:
    type_query(page, 'from otel | where severity >= "error"')
    run(page)
    rows = page.locator(".log-row")
    expect(rows.first).to_be_visible()
    assert page.locator(".log-row.level-error, .log-row.level-fatal").count() == rows.count()
    expect(page.locator(".bar").first).to_be_visible()
    page.screenshot(path=SHOTS / "explore-logs.png")
    rows.first.click()
    expect(page.locator(".log-detail .json")).to_contain_text('"severity"')
    page.screenshot(path=SHOTS / "explore-row-expanded.png")
    type_query(page, 'from otel\n| where servce == "checkout"')
    underlined = page.locator(".editor-highlight .diag-error")
    expect(underlined).to_have_text("servce")
    expect(page.locator("#diagnostics li")).to_contain_text("2:9 E302 unknown field 'servce'")
    page.screenshot(path=SHOTS / "editor-diagnostic.png")


def test_completion_offers_fields_and_values(page: Page) -> None:
    editor = page.locator(".editor-input")
    type_query(page, "from otel | where service == ")
    editor.press("Control+Space")
    menu = page.locator(".completion")
    expect(menu).to_be_visible()
    expect(menu.locator("li").first).to_contain_text(re.compile("gateway|checkout|auth"))
    page.screenshot(path=SHOTS / "editor-completion.png")
    editor.press("Enter")
    assert re.fullmatch(r'from otel \| where service == "\w+"', editor.input_value())


def _records(caption: str) -> int:
    return int(caption.split(" records")[0].replace(",", ""))


def test_zoom_the_histogram_by_dragging(page: Page) -> None:
    type_query(page, "from otel")
    run(page)
    caption = page.locator(".chart-caption")
    expect(caption).to_contain_text("all time")
    before = _records(caption.inner_text())
    box = page.locator("svg.histogram").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.30, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
    page.mouse.up()
    expect(page.locator("#time-select")).to_have_value("custom")
    expect(caption).not_to_contain_text("all time", timeout=30_000)
    expect(page.locator("#status")).to_contain_text("done", timeout=30_000)
    assert page.locator("#time-from").input_value().startswith("2026-11-2")
    assert 0 < _records(caption.inner_text()) < before / 2
    assert "range" not in page.locator(".editor-input").input_value()
    page.screenshot(path=SHOTS / "histogram-zoomed.png")


def test_filter_from_a_facet(page: Page) -> None:
    type_query(page, "from otel")
    run(page)
    facet = page.locator('.facet[data-field="service"] .facet-value', has_text="auth")
    facet.locator("button.in").click()
    expect(page.locator(".editor-input")).to_have_value('from otel\n| where service == "auth"')
    expect(page.locator("#status")).to_contain_text("done", timeout=30_000)
    services = page.locator(".log-row .svc").all_inner_texts()
    assert services and set(services) == {"auth"}
    expect(page.locator('.facet[data-field="service"] .facet-value')).to_have_count(1)
    page.screenshot(path=SHOTS / "facet-filtered.png")


def test_stats_by_bin_is_a_table_and_a_chart_with_a_legend(page: Page) -> None:
    type_query(page, "from otel | stats count() as n by bin(timestamp, 1h) as t, service")
    run(page)
    expect(page.locator("table.grid th").first).to_have_text("t")
    expect(page.locator(".legend-item")).to_have_count(5)
    assert page.locator("svg.series path.line").count() == 5
    page.screenshot(path=SHOTS / "stats-chart.png")


def test_live_tail_shows_what_the_emitter_sends(page: Page, router: str) -> None:
    type_query(page, 'from otel | where service == "checkout"')
    page.locator("#live").click()
    expect(page.locator("#status")).to_contain_text("live")
    emit = [sys.executable, "-m", "starbase", "emit", "--endpoint", router, "--quiet"]
    emit += ["--count", "1500", "--rate", "500", "--seed", "5"]
    sender = subprocess.Popen(emit)
    try:
        expect(page.locator(".log-row").first).to_be_visible(timeout=30_000)
        page.locator("#pause").click()
        expect(page.locator("#pause")).to_have_text(re.compile("Resume"))
        shown = page.locator(".log-row").count()
        expect(page.locator("#status")).to_contain_text("waiting", timeout=30_000)
        assert page.locator(".log-row").count() == shown  # paused: rows wait
        page.locator("#pause").click()
        expect(page.locator(".log-row")).not_to_have_count(shown)
        assert set(page.locator(".log-row .svc").all_inner_texts()) == {"checkout"}
        page.screenshot(path=SHOTS / "live-tail.png")
    finally:
        assert sender.wait(timeout=60) == 0
    page.locator("#live").click()
    expect(page.locator("#status")).to_contain_text("stopped")


def test_cancel_a_slow_query(page: Page) -> None:
    type_query(page, SLOW)
    page.locator("#run").click()
    expect(page.locator("#cancel")).to_be_visible()
    page.locator("#cancel").click()
    expect(page.locator("#status")).to_have_text("cancelled")
    expect(page.locator("#results")).to_contain_text("The query was cancelled.")
    type_query(page, "from otel | limit 3")
    run(page)  # the server is free for the next query
    expect(page.locator(".log-row")).to_have_count(3)


def test_save_reopen_and_share_a_query(page: Page, ui_server: Served) -> None:
    text = 'from otel | where service == "payments"'
    type_query(page, text)
    page.locator("#time-select").select_option("7d")
    expect(page.locator("#status")).to_contain_text(re.compile("done|running"))
    page.once("dialog", lambda dialog: dialog.accept("payments, last week"))
    page.locator("#save").click()
    expect(page.locator("#status")).to_contain_text("saved")
    type_query(page, "from otel | limit 1")
    page.locator("#time-select").select_option("all")
    page.locator("#saved-button").click()
    page.locator(".saved-item .open", has_text="payments, last week").click()
    expect(page.locator(".editor-input")).to_have_value(text)
    expect(page.locator("#time-select")).to_have_value("7d")
    expect(page).to_have_url(re.compile(r"last=7d"))
    shared = page.url
    assert "payments" in shared
    other = page.context.new_page()
    other.goto(shared)
    expect(other.locator(".editor-input")).to_have_value(text)
    expect(other.locator("#time-select")).to_have_value("7d")
    other.close()


def test_explain_context_admin_and_a_narrow_window(page: Page) -> None:
    type_query(page, "from otel | where service == 'auth'")
    run(page)
    page.locator(".log-row").nth(3).click()
    page.locator(".log-detail button[data-action=context]").click()
    expect(page.locator("#context-body .log-row.current")).to_have_count(1)
    page.screenshot(path=SHOTS / "context.png")
    page.locator("#context-close").click()
    page.keyboard.press("Alt+e")
    expect(page.locator("#explain-body")).to_contain_text("DataFusion SQL")
    page.screenshot(path=SHOTS / "explain.png")
    page.locator("#explain-close").click()
    page.locator("#nav-admin").click()
    expect(page.locator("#tables-table tbody tr")).to_have_count(COPIES)
    expect(page.locator("#router-table")).to_contain_text("live, ready")
    page.screenshot(path=SHOTS / "admin.png")
    page.set_viewport_size({"width": 420, "height": 800})
    page.locator("#nav-explore").click()
    run(page)
    page.screenshot(path=SHOTS / "explore-narrow.png")


SLOW_FETCHES = """
const original = window.fetch;
window.__delays = { page: 0, start: 0 };
window.fetch = async (input, init = {}) => {
  const url = String(input instanceof Request ? input.url : input);
  const method = (init.method || "GET").toUpperCase();
  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  if (/\\/api\\/v1\\/jobs\\/[^/?]+/.test(url) && method === "GET") await wait(window.__delays.page);
  if (/\\/api\\/v1\\/jobs$/.test(url) && method === "POST") await wait(window.__delays.start);
  return original(input, init);
};
"""


def test_a_page_of_the_previous_run_never_lands_in_the_next(page: Page) -> None:
    """A result page still in flight when a new run starts is dropped, not drawn with the
    new run's (still unknown) columns: that threw in the page and mixed two results."""
    page.add_init_script(SLOW_FETCHES)
    page.reload()
    expect(page.locator("#auth-note")).to_contain_text("local mode")
    type_query(page, "from otel | fields service, host")  # a table of many pages
    page.locator(".editor-input").press("Control+Enter")
    expect(page.locator("#results td").first).to_be_visible(timeout=30_000)
    page.evaluate("window.__delays.page = 4000")  # a page of the first run is on its way
    page.evaluate("window.__delays.start = 6000; window.__delays.page = 0")  # the next starts late
    type_query(page, "from otel | stats count() as total")
    page.locator(".editor-input").press("Control+Enter")
    expect(page.locator("#status")).to_contain_text("done", timeout=30_000)
    expect(page.locator("#results th")).to_have_text(["total"])
