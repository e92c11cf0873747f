"""The REPL's modal screens: help, open/save, history search, sources, time range, export,
a row in full, and parameter values.

Requires: Textual. Guarantees: each screen is a `ModalScreen` that returns its answer through
`dismiss` (None when the user backs out with Escape) and never changes application state
itself; every one is fully usable from the keyboard (Enter confirms, Escape cancels, arrows
move) and fits in an 80×24 terminal. Styles are in `screens.tcss`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from starbase.repl.export import FORMATS, format_for
from starbase.repl.rewrite import SHORTCUTS

HELP_SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Run",
        (
            ("F5 or Ctrl+J", "run the query"),
            ("Ctrl+Enter", "runs too, where the terminal sends it"),
            ("Esc", "cancel the running query"),
            ("Ctrl+T", "time range 15m/1h/24h/7d/all (edits `since`)"),
            ("F2", "pick the source (edits `from`)"),
            ("F3", "explain (stages, SQL, plan) / results"),
        ),
    ),
    (
        "Edit",
        (
            ("Ctrl+Space", "complete (opens by itself while typing)"),
            ("Tab", "accept the highlighted completion"),
            ("↑↓ then Enter", "pick in the list (else Enter is a new line)"),
            ("Up / Down", "history, from the first / last line"),
            ("Ctrl+R", "search the history"),
            ("Ctrl+O / Ctrl+S", "open / save a .starql file"),
            ("Ctrl+L", "clear the query"),
            ("Ctrl+Z / Ctrl+Y", "undo / redo"),
        ),
    ),
    (
        "Results",
        (
            ("Tab / Shift+Tab", "move between editor, results and explain"),
            ("↑ ↓ PgUp PgDn Home End", "move the row cursor"),
            ("← →", "scroll by column"),
            ("Enter", "show the row in full"),
            ("c", "copy the row as JSON"),
            ("F4", "export the results (CSV, JSON, NDJSON, Parquet)"),
        ),
    ),
    (
        "App",
        (
            ("F1", "this help"),
            ("Ctrl+P", "command palette"),
            ("Ctrl+Q", "quit (asks first if edits are unsaved: ● in the title)"),
        ),
    ),
)


class _Modal(ModalScreen[Any]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss_none", "Close")]

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class HelpScreen(_Modal):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q", "dismiss_none", "Close"),
    ]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for title, rows in HELP_SECTIONS:
            table.add_row(Text(title, style="underline"), "")
            for keys, what in rows:
                table.add_row(keys, what)
        with VerticalScroll(classes="dialog", id="help") as box:
            box.border_title = "Keys"
            box.border_subtitle = "↑↓ scroll · Esc closes"
            yield Static(table)

    def on_mount(self) -> None:
        self.query_one("#help").focus()


class PathSuggester(Suggester):
    """Completes a file path: the first entry of the folder that starts with what is typed."""

    def __init__(self, suffix: str = "") -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.suffix = suffix

    async def get_suggestion(self, value: str) -> str | None:
        path = Path(value).expanduser()
        folder, stem = (path, "") if value.endswith("/") else (path.parent, path.name)
        try:
            names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
        except OSError:
            return None
        for name in names:
            wanted = name.endswith("/") or not self.suffix or name.endswith(self.suffix)
            if wanted and name.startswith(stem) and name != stem and not name.startswith("."):
                return value + name[len(stem) :]
        return None


class PathScreen(_Modal):
    """Ask for a file path (open, save, export)."""

    def __init__(self, title: str, initial: str, hint: str = "", suffix: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.initial = initial
        self.hint = hint
        self.suffix = suffix

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="path-dialog") as box:
            box.border_title = self.title_text
            box.border_subtitle = "Enter confirms · → accepts the suggestion · Esc cancels"
            yield Input(self.initial, id="path", suggester=PathSuggester(self.suffix))
            if self.hint:
                yield Label(self.hint, classes="hint")

    @on(Input.Submitted, "#path")
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        self.dismiss(self.answer(Path(value).expanduser()) if value else None)

    def answer(self, path: Path) -> object:
        return path


class ExportScreen(PathScreen):
    """Ask where to export; the format follows the extension (.csv, .json, .ndjson, .parquet)."""

    def __init__(self, initial: str) -> None:
        super().__init__(
            "Export results",
            initial,
            hint="The extension picks the format: " + ", ".join(f".{f}" for f in FORMATS),
        )

    def answer(self, path: Path) -> object:
        return (path, format_for(path))


class ChoiceScreen(_Modal):
    """Pick one of a few options; digits 1–9 pick directly."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Close"),
        *(Binding(str(n), f"pick({n - 1})", show=False) for n in range(1, 10)),
    ]

    def __init__(
        self, title: str, options: Sequence[tuple[str | Text, object]], highlighted: int = 0
    ) -> None:
        super().__init__()
        self.title_text = title
        self.options = list(options)
        self.highlighted = highlighted

    def compose(self) -> ComposeResult:
        labels = [
            Option(Text.assemble((f"{i + 1}  ", "dim"), label))
            for i, (label, _) in enumerate(self.options)
        ]
        with Vertical(classes="dialog", id="choice-dialog") as box:
            box.border_title = self.title_text
            box.border_subtitle = "Enter or 1–9 picks · Esc cancels"
            yield OptionList(*labels, id="choices")

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = self.highlighted

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.action_pick(event.option_index)

    def action_pick(self, index: int) -> None:
        if 0 <= index < len(self.options):
            self.dismiss(self.options[index][1])


def time_range_screen(current: str | None) -> ChoiceScreen:
    """Returns the duration text (or "" for all time); None if cancelled."""
    options = [(label, duration or "") for label, duration in SHORTCUTS]
    highlighted = next((i for i, (_, d) in enumerate(options) if d == current), 1)
    return ChoiceScreen("Time range", options, highlighted)


class HistoryScreen(_Modal):
    """Search the history: type words, Enter loads the highlighted query into the editor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Close"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]

    def __init__(self, entries: Sequence[str], search: Any) -> None:
        super().__init__()
        self.entries = list(entries)
        self.search = search  # Callable[[str], list[str]]
        self.shown: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="history-dialog") as box:
            box.border_title = "History"
            box.border_subtitle = "type to filter · ↑↓ · Enter loads · Esc cancels"
            yield Input(placeholder="search words…", id="history-search")
            yield OptionList(id="history-list")

    def on_mount(self) -> None:
        self._refill("")

    def _refill(self, needle: str) -> None:
        self.shown = list(self.search(needle))
        options = self.query_one("#history-list", OptionList)
        options.clear_options()
        for entry in self.shown[:200]:
            one_line = " ".join(entry.split())
            options.add_option(Option(Text(one_line, no_wrap=True, overflow="ellipsis")))
        options.highlighted = 0 if self.shown else None

    @on(Input.Changed, "#history-search")
    def _changed(self, event: Input.Changed) -> None:
        self._refill(event.value)

    def action_move(self, step: int) -> None:
        options = self.query_one("#history-list", OptionList)
        if options.option_count:
            options.highlighted = ((options.highlighted or 0) + step) % options.option_count

    @on(Input.Submitted, "#history-search")
    def _submitted(self) -> None:
        index = self.query_one("#history-list", OptionList).highlighted
        self.dismiss(self.shown[index] if index is not None and self.shown else None)

    @on(OptionList.OptionSelected, "#history-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.shown[event.option_index])


class RowScreen(_Modal):
    """One result row with every value in full, as JSON."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "dismiss_none", "Close"),
        Binding("c,y", "copy", "Copy JSON"),
    ]

    def __init__(self, index: int, row: dict[str, Any]) -> None:
        super().__init__()
        self.index = index
        self.row = row

    def compose(self) -> ComposeResult:
        text = json.dumps(self.row, ensure_ascii=False, indent=2)
        with VerticalScroll(classes="dialog", id="row-dialog") as box:
            box.border_title = f"Row {self.index + 1}"
            box.border_subtitle = "c copies as JSON · Esc closes"
            yield Static(Syntax(text, "json", theme="ansi_dark", word_wrap=True))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(json.dumps(self.row, ensure_ascii=False))
        self.app.notify(f"Row {self.index + 1} copied as JSON.", timeout=2)


class ParamsScreen(_Modal):
    """Values for the query's `$parameters`; returns {name: text} or None."""

    def __init__(self, expected: dict[str, str], previous: dict[str, str]) -> None:
        super().__init__()
        self.expected = expected
        self.previous = previous

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="params-dialog") as box:
            box.border_title = "Parameters"
            box.border_subtitle = "Enter on the last runs · Esc cancels"
            for name, kind in self.expected.items():
                yield Label(f"${name}  ({kind})")
                yield Input(self.previous.get(name, ""), id=f"param-{name}")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
            return
        self.dismiss({name: inputs[i].value for i, name in enumerate(self.expected)})
