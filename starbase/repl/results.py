"""The results table: virtualized over an Arrow table, keyboard-first.

Requires: a `pyarrow.Table` as the runtime returns it (`starbase.runtime.output.rows` gives
its JSON-ready values). Guarantees: only the rows on screen are formatted (pages of
`PAGE_ROWS` rows, cached), so a result of any size shows at once and scrolls smoothly;
column widths come from the header and a sample of rows, capped (wider for `message`),
numbers right-aligned, timestamps shortened to milliseconds for display (UTC), maps as
compact JSON, nulls dimmed, severities coloured; columns that are null on every row are
hidden and counted in `hidden` — only in the default record output (the meta-model
columns, where e.g. `log_group` is null for every OTel row; a column the query asks for is
always shown) —, and that output shows `timestamp`, `severity_text`, `service`, `message`
first. The header stays on top while rows scroll.
`RowChosen` is posted on Enter (the app shows every value in full), `RowCopied` on `c`
(the row as JSON, full precision).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from starbase.mappings.metamodel import LEVELS, UNIVERSAL_FIELDS
from starbase.runtime.output import rows

PAGE_ROWS = 200
SAMPLE_ROWS = 200
MAX_WIDTH = 40
MAX_MESSAGE_WIDTH = 120
GAP = 2
_DEFAULT_COLUMNS = [f.name for f in UNIVERSAL_FIELDS]
_FIRST = ("timestamp", "severity_text", "service", "message")
_LEVEL_CLASSES = (
    (21, "results--fatal"),
    (17, "results--error"),
    (13, "results--warn"),
    (9, "results--info"),
    (1, "results--debug"),
)
_TEXT_LEVELS = {name.upper(): low for name, low in LEVELS.items()}


@dataclass(frozen=True)
class ColumnView:
    name: str
    index: int  # in the Arrow table
    width: int
    numeric: bool
    timestamp: bool


def welcome(source: str) -> str:
    """What the table shows before the first run: how to start, with examples."""
    return "\n".join(
        (
            "Type a query above and press F5 (or Ctrl+J) to run it. For example:",
            "",
            f'  from {source} | since 15m | where severity >= "error"',
            f'  from {source} | since 1h | where "timeout" | stats count() by service',
            f"  from {source} | since 24h | stats count() as n by bin(timestamp, 1h) as hour",
            "",
            "Up recalls the last query · Ctrl+T sets the time range · F1 lists every key",
        )
    )


def row_json(table: pa.Table, index: int) -> dict[str, Any]:
    """One row as a JSON-ready dict, every value in full (timestamps with nanoseconds)."""
    return next(rows(table.slice(index, 1)))


def cell_text(value: Any, *, timestamp: bool = False) -> str:
    """How a value reads in a cell (the full value is one Enter away)."""
    if value is None:
        return "null"
    if timestamp and isinstance(value, str) and len(value) >= 20:
        whole, _, fraction = value.rstrip("Z").partition(".")
        return whole.replace("T", " ") + "." + (fraction + "000")[:3]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return text if len(text) <= 12 else f"{value:.6g}"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value).replace("\r", "").replace("\n", "⏎").replace("\t", " ")


class ResultsTable(ScrollView, can_focus=True):
    """A scrolling grid over an Arrow table with a cursor row."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "results--header",
        "results--cursor",
        "results--null",
        "results--fatal",
        "results--error",
        "results--warn",
        "results--info",
        "results--debug",
        "results--empty",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First row", show=False),
        Binding("end,G", "jump(-1)", "Last row", show=False),
        Binding("left,h", "column(-1)", "Scroll left", show=False),
        Binding("right,l", "column(1)", "Scroll right", show=False),
        Binding("enter", "choose", "Show row", show=True),
        Binding("c,y", "copy", "Copy JSON", show=True),
    ]

    cursor_row: reactive[int] = reactive(0)

    class RowChosen(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class RowCopied(Message):
        def __init__(self, index: int, text: str) -> None:
            super().__init__()
            self.index = index
            self.text = text

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.table: pa.Table | None = None
        self.columns: list[ColumnView] = []
        self.hidden: list[str] = []
        self.empty_message = "Run a query (F5 or Ctrl+J) to see rows here."  # may hold lines
        self._pages: dict[int, list[list[str]]] = {}

    # ------------------------------------------------------------------ data

    def show(self, table: pa.Table | None, empty_message: str | None = None) -> None:
        """Display `table` (None: nothing, with `empty_message`)."""
        self.table = table
        self._pages.clear()
        if empty_message is not None:
            self.empty_message = empty_message
        self.columns, self.hidden = ([], []) if table is None else _layout(table)
        width = sum(c.width + GAP for c in self.columns)
        height = 1 + (table.num_rows if table is not None else 0)
        self.virtual_size = Size(width, height)
        self.cursor_row = 0
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    @property
    def row_count(self) -> int:
        return 0 if self.table is None else int(self.table.num_rows)

    def _row_cells(self, index: int) -> list[str]:
        assert self.table is not None
        page = index // PAGE_ROWS
        if page not in self._pages:
            chunk = self.table.slice(page * PAGE_ROWS, PAGE_ROWS)
            self._pages[page] = [
                [cell_text(values[c.name], timestamp=c.timestamp) for c in self.columns]
                for values in rows(chunk)
            ]
            if len(self._pages) > 64:  # keep memory bounded while scrolling far
                self._pages.pop(next(iter(self._pages)))
        return self._pages[page][index % PAGE_ROWS]

    # ------------------------------------------------------------------ drawing

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if self.table is None or not self.columns:
            lines = self.empty_message.split("\n")
            if 1 <= y <= len(lines):
                style = base + self.get_component_rich_style("results--empty")
                strip = Strip([Segment(" " + lines[y - 1], style)])
                return strip.crop(0, width).extend_cell_length(width, base)
            return Strip.blank(width, base)
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            style = base + self.get_component_rich_style("results--header")
            cells = [(c.name, style) for c in self.columns]
            return self._strip(cells, scroll_x, width, style)
        index = scroll_y + y - 1
        if index >= self.row_count:
            if index == 0 and y == 1:
                style = base + self.get_component_rich_style("results--empty")
                return Strip([Segment(" (no rows)", style)]).extend_cell_length(width, base)
            return Strip.blank(width, base)
        texts = self._row_cells(index)
        row_style = base
        if index == self.cursor_row:
            row_style = base + self.get_component_rich_style("results--cursor")
        cells = []
        for column, text in zip(self.columns, texts, strict=True):
            style = row_style
            if text == "null":
                style = row_style + self._partial("results--null")
            elif column.name in ("severity", "severity_text"):
                level = _level(text)
                if level is not None:
                    style = row_style + self._partial(level)
            cells.append((text, style))
        return self._strip(cells, scroll_x, width, row_style)

    def _partial(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    def _strip(
        self, cells: list[tuple[str, Style]], scroll_x: int, width: int, pad: Style
    ) -> Strip:
        segments = []
        for column, (text, style) in zip(self.columns, cells, strict=True):
            shown = text if len(text) <= column.width else text[: column.width - 1] + "…"
            shown = shown.rjust(column.width) if column.numeric else shown.ljust(column.width)
            segments.append(Segment(" " + shown + " ", style))
        strip = Strip(segments).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width, pad)

    # ------------------------------------------------------------------ keys

    def watch_cursor_row(self, old: int, new: int) -> None:
        visible = max(1, self.size.height - 1)
        if new < self.scroll_y:
            self.scroll_to(y=new, animate=False)
        elif new >= self.scroll_y + visible:
            self.scroll_to(y=new - visible + 1, animate=False)
        self.refresh()

    def action_cursor(self, delta: int) -> None:
        if self.row_count:
            self.cursor_row = max(0, min(self.row_count - 1, self.cursor_row + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        if self.row_count:
            self.cursor_row = self.row_count - 1 if where < 0 else 0

    def action_column(self, direction: int) -> None:
        edges = [0]
        for column in self.columns:
            edges.append(edges[-1] + column.width + GAP)
        x = round(self.scroll_x)
        if direction > 0:
            target = next((e for e in edges if e > x), x)
        else:
            target = next((e for e in reversed(edges) if e < x), 0)
        self.scroll_to(x=target, animate=False)

    def action_choose(self) -> None:
        if self.row_count:
            self.post_message(self.RowChosen(self.cursor_row))

    def action_copy(self) -> None:
        if self.table is not None and self.row_count:
            text = json.dumps(row_json(self.table, self.cursor_row), ensure_ascii=False)
            self.post_message(self.RowCopied(self.cursor_row, text))

    def on_click(self, event: events.Click) -> None:
        index = round(self.scroll_y) + event.y - 1
        if event.y >= 1 and 0 <= index < self.row_count:
            if index == self.cursor_row and event.chain >= 2:
                self.action_choose()
            self.cursor_row = index


def _level(text: str) -> str | None:
    number = int(text) if text.isdigit() else _TEXT_LEVELS.get(text.upper())
    if number is None:
        return None
    return next((cls for lowest, cls in _LEVEL_CLASSES if number >= lowest), None)


def _layout(table: pa.Table) -> tuple[list[ColumnView], list[str]]:
    names = list(table.column_names)
    order = list(range(len(names)))
    default_output = names[: len(_DEFAULT_COLUMNS)] == _DEFAULT_COLUMNS
    if default_output:
        first = [names.index(n) for n in _FIRST]
        order = first + [i for i in order if i not in first]
    hidden = []
    sample = list(rows(table.slice(0, SAMPLE_ROWS)))
    columns = []
    for index in order:
        name = names[index]
        column = table.column(index)
        if default_output and name in _DEFAULT_COLUMNS and column.null_count == table.num_rows:
            hidden.append(name)
            continue
        kind = column.type
        timestamp = pa.types.is_timestamp(kind)
        numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind)
        cap = MAX_MESSAGE_WIDTH if name == "message" else MAX_WIDTH
        longest = max(
            (len(cell_text(r[name], timestamp=timestamp)) for r in sample), default=len(name)
        )
        columns.append(
            ColumnView(name, index, max(len(name), min(cap, longest), 4), numeric, timestamp)
        )
    return columns, hidden
