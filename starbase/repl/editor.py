"""The query editor: StarQL highlighting, completion menu, bracket and quote pairing.

Requires: Textual's `TextArea` (no tree-sitter: highlighting comes from `lexer.tokenize`),
`completion.complete` and a `Vocabulary` the app keeps up to date. Guarantees: every token
is styled by a `starql--<kind>` component class (colours live in `editor.tcss`); the span of
the current diagnostic is underlined (`starql--error-span`); typing an opening bracket or
quote inserts its pair (or wraps the selection), typing the closing one steps over it, and
Backspace between an empty pair deletes both; the completion menu opens as a word is typed
(or on Ctrl+Space), Up/Down move in it, Tab accepts, Escape closes it, and it never takes
focus from the editor. Enter accepts only once the user has engaged with the menu (moved in
it with Up/Down, or opened it with Ctrl+Space); otherwise Enter closes the menu and starts a
new line, so finishing a word and pressing Enter never rewrites the query. A menu whose only
candidate is the word already typed is not shown. Up on the first line and Down on the last
post `HistoryRequested` so the app can walk the history.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Offset
from textual.message import Message
from textual.widgets import OptionList, TextArea
from textual.widgets.option_list import Option

from starbase.repl.completion import Candidate, Completion, Vocabulary, adds_something, complete
from starbase.repl.lexer import Kind, tokenize

PAIRS = {"(": ")", '"': '"', "'": "'", "`": "`"}
CLOSERS = frozenset(PAIRS.values())
_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")
_KIND_CLASS = {kind: f"starql--{kind.value}" for kind in Kind}


class CompletionMenu(OptionList, can_focus=False):
    """The candidates at the cursor; shown over everything, below (or above) the cursor."""

    DEFAULT_CSS = """
    CompletionMenu {
        overlay: screen;
        constrain: inside inflect;
        display: none;
    }
    """

    def __init__(self) -> None:
        super().__init__(id="completion-menu")
        self.completion: Completion | None = None
        self.engaged = False  # the user moved in the menu (or asked for it): Enter accepts

    def show(self, completion: Completion, at: Offset, *, engaged: bool = False) -> None:
        self.completion = completion
        self.engage(engaged)
        self.clear_options()
        width = max((len(c.label) for c in completion.candidates), default=10)
        for candidate in completion.candidates[:50]:
            label = Text(candidate.label.ljust(width), style="bold")
            label.append("  " + (candidate.detail or candidate.kind), style="dim")
            self.add_option(Option(label))
        self.highlighted = 0
        self.absolute_offset = at
        self.display = True

    def hide(self) -> None:
        self.display = False
        self.completion = None
        self.engage(False)

    def engage(self, engaged: bool = True) -> None:
        self.engaged = engaged
        self.set_class(engaged, "-engaged")

    @property
    def is_open(self) -> bool:
        return bool(self.display) and self.completion is not None

    def chosen(self) -> Candidate | None:
        if self.completion is None or self.highlighted is None:
            return None
        return self.completion.candidates[self.highlighted]


class QueryEditor(TextArea):
    """A multi-line StarQL editor."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *TextArea.COMPONENT_CLASSES,
        *_KIND_CLASS.values(),
        "starql--error-span",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+space,ctrl+@", "complete", "Complete", show=False),
        Binding("ctrl+l", "clear_query", "Clear", show=False),
    ]

    class HistoryRequested(Message):
        """Up on the first line (`direction` -1) or Down on the last (+1)."""

        def __init__(self, direction: int) -> None:
            super().__init__()
            self.direction = direction

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(
            text,
            id=id,
            soft_wrap=True,
            tab_behavior="focus",
            show_line_numbers=True,
            placeholder='from otel | since 1h | where severity >= "error"',
        )
        self.vocabulary = Vocabulary()
        self.menu = CompletionMenu()
        self.error_span: tuple[int, int] | None = None  # offsets into the text
        self.auto_complete = True
        self._spans_text: str | None = None
        self._spans: dict[int, list[tuple[int, int, str]]] = {}

    def on_mount(self) -> None:
        self.screen.mount(self.menu)

    def index_of(self, location: tuple[int, int]) -> int:
        """The offset into `text` of a (row, column) location."""
        row, column = location
        lines = self.document.lines
        newline = len(self.document.newline)
        return sum(len(line) + newline for line in lines[:row]) + column

    def location_of(self, index: int) -> tuple[int, int]:
        """The (row, column) location of an offset into `text`."""
        newline = len(self.document.newline)
        lines = self.document.lines
        for row, line in enumerate(lines):
            if index <= len(line):
                return row, max(0, index)
            index -= len(line) + newline
        return len(lines) - 1, len(lines[-1])

    @property
    def cursor_index(self) -> int:
        return self.index_of(self.cursor_location)

    # ------------------------------------------------------------------ highlighting

    def get_component_rich_style(
        self, *names: str, partial: bool = False, default: Style | None = None
    ) -> Style:
        style = super().get_component_rich_style(*names, partial=partial, default=default)
        if names == ("text-area--cursor-line",):
            # only the background changes on the cursor line: tokens keep their colours there
            return Style(bgcolor=style.bgcolor)
        return style

    def get_line(self, line_index: int) -> Text:
        line = super().get_line(line_index)
        for start, end, name in self._line_spans().get(line_index, ()):
            style = self.get_component_rich_style(name, partial=True)
            line.stylize(style, start, end)
        return line

    def _line_spans(self) -> dict[int, list[tuple[int, int, str]]]:
        text = self.text
        if text == self._spans_text:
            return self._spans
        spans: dict[int, list[tuple[int, int, str]]] = {}
        starts = [0]
        for index, char in enumerate(text):
            if char == "\n":
                starts.append(index + 1)

        def add(start: int, end: int, name: str) -> None:
            row = _row_of(starts, start)
            while start < end and row < len(starts):
                line_end = starts[row + 1] - 1 if row + 1 < len(starts) else len(text)
                stop = min(end, line_end)
                if stop > start:
                    spans.setdefault(row, []).append(
                        (start - starts[row], stop - starts[row], name)
                    )
                row += 1
                start = starts[row] if row < len(starts) else end

        for token in tokenize(text):
            add(token.start, token.end, _KIND_CLASS[token.kind])
        if self.error_span is not None:
            start, end = self.error_span
            if end <= start:  # an empty span (the end of the query): mark the last character
                start, end = max(0, start - 1), max(start, 1)
            add(start, min(end, len(text)), "starql--error-span")
        self._spans_text, self._spans = text, spans
        return spans

    def set_error_span(self, span: tuple[int, int] | None) -> None:
        if span != self.error_span:
            self.error_span = span
            self._spans_text = None
            self.notify_style_update()
            self.refresh()

    # ------------------------------------------------------------------ keys

    async def _on_key(self, event: events.Key) -> None:
        if self.menu.is_open and self._menu_key(event.key):
            event.stop()
            event.prevent_default()
            return
        if self.read_only:
            await super()._on_key(event)
            return
        if event.character and self._pairing(event.character):
            event.stop()
            event.prevent_default()
            self._after_typing(event.character)
            return
        if event.key == "backspace" and self._delete_pair():
            event.stop()
            event.prevent_default()
            return
        if event.key in ("up", "down") and self._history_key(event.key):
            event.stop()
            event.prevent_default()
            return
        await super()._on_key(event)
        if event.is_printable and event.character:
            self._after_typing(event.character)

    def _menu_key(self, key: str) -> bool:
        menu = self.menu
        if key == "escape":
            menu.hide()
            return True
        if key in ("up", "down"):
            count = menu.option_count
            if count:
                step = -1 if key == "up" else 1
                menu.highlighted = ((menu.highlighted or 0) + step) % count
            menu.engage()
            return True
        if key == "enter" and not menu.engaged:
            menu.hide()
            return False  # a new line, as in any editor
        if key in ("tab", "enter"):
            candidate = menu.chosen()
            completion = menu.completion
            menu.hide()
            if candidate is not None and completion is not None:
                self.accept(completion, candidate)
            return True
        return False

    def _history_key(self, key: str) -> bool:
        row, _ = self.cursor_location
        if key == "up" and row == 0 and self.selection.is_empty:
            self.post_message(self.HistoryRequested(-1))
            return True
        if key == "down" and row == self.document.line_count - 1 and self.selection.is_empty:
            self.post_message(self.HistoryRequested(1))
            return True
        return False

    def _pairing(self, char: str) -> bool:
        """Handle an opening or closing character; True when handled here."""
        row, column = self.cursor_location
        line = self.document.get_line(row)
        after = line[column : column + 1]
        before = line[column - 1 : column] if column else ""
        if char in CLOSERS and after == char and self.selection.is_empty:
            self.move_cursor_relative(columns=1)
            return True
        if char not in PAIRS:
            return False
        start, end = self.selection
        if not self.selection.is_empty:
            selected = self.selected_text
            top, bottom = sorted((start, end))
            self.replace(char + selected + PAIRS[char], top, bottom)
            return True
        if char in "\"'`" and (before in _WORD or before == "\\" or (after and after in _WORD)):
            return False  # an apostrophe or a closing quote: insert it alone
        if char == "(" and after and after in _WORD:
            return False
        self.insert(char + PAIRS[char])
        self.move_cursor_relative(columns=-1)
        return True

    def _delete_pair(self) -> bool:
        if not self.selection.is_empty:
            return False
        row, column = self.cursor_location
        if column == 0:
            return False
        line = self.document.get_line(row)
        before, after = line[column - 1 : column], line[column : column + 1]
        if before in PAIRS and PAIRS[before] == after:
            self.delete((row, column - 1), (row, column + 1))
            return True
        return False

    # ------------------------------------------------------------------ completion

    def _after_typing(self, char: str) -> None:
        if not self.auto_complete:
            return
        if char in _WORD or char in "\"'" or char == " ":
            self.open_completion(explicit=False)
        else:
            self.menu.hide()

    def action_clear_query(self) -> None:
        """Empty the editor (undoable with Ctrl+Z)."""
        self.menu.hide()
        self.delete(self.document.start, self.document.end)

    def action_complete(self) -> None:
        self.open_completion(explicit=True)

    def open_completion(self, *, explicit: bool) -> None:
        offset = self.cursor_index
        completion = complete(self.text, offset, self.vocabulary)
        if not adds_something(completion) or (not explicit and not _worth_showing(completion)):
            self.menu.hide()
            return
        x, y = self.cursor_screen_offset
        at = Offset(max(0, x - len(completion.prefix)), y + 1)
        self.menu.show(completion, at, engaged=explicit)

    def accept(self, completion: Completion, candidate: Candidate) -> None:
        """Replace the word being typed by `candidate`."""
        start = self.location_of(completion.start)
        end = self.location_of(completion.end)
        self.replace(candidate.insert, start, end)
        if candidate.cursor_back:
            self.move_cursor_relative(columns=-candidate.cursor_back)

    def on_blur(self) -> None:
        self.menu.hide()

    def on_text_area_selection_changed(self, event: TextArea.SelectionChanged) -> None:
        if self.menu.is_open:
            completion = self.menu.completion
            offset = self.cursor_index
            if completion is None or not completion.start <= offset <= completion.end + 1:
                self.menu.hide()


def _worth_showing(completion: Completion) -> bool:
    """Typing opens the menu for a word being typed, or where only a few things can follow
    (a stage after `|`, a source after `from`, a level, a duration)."""
    if completion.prefix:
        return True
    return all(c.kind in ("stage", "source", "value") for c in completion.candidates[:1])


def _row_of(starts: list[int], offset: int) -> int:
    low, high = 0, len(starts) - 1
    while low < high:
        mid = (low + high + 1) // 2
        if starts[mid] <= offset:
            low = mid
        else:
            high = mid - 1
    return low
