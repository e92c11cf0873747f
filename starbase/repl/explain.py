"""The explain pane: how a query runs, stage by stage and backend by backend.

Requires: an `Explain` from the session (`Session.explain`, the same value `starbase explain`
prints): first without the engine's plans (at once), then with them when they arrive.
Guarantees: the pane shows, in order, the note when there is one (`with_note`: e.g. the
editor's text does not compile and the last run is shown instead), then every part of the
explanation — where each source runs, every compiler stage's output, each backend's text
(SQL highlighted), the engine's plans (or that they are being asked for) and the compiler's
warnings; `explain_text` is `Explain.render_text()`, what `c` copies. The pane scrolls and
can be focused.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from starbase.backends.base import Section
from starbase.runtime.explain import Explain, Part

PENDING = "(asking the engine for its plan…)"
NOTE_TITLE = "Not the query in the editor"


def pending(explain: Explain) -> Explain:
    """`explain` with a placeholder where the engine's plans will be."""
    before = [p for p in explain.parts if p.kind != "warnings"]
    after = [p for p in explain.parts if p.kind == "warnings"]
    waiting = Part("plan", Section("Plan", PENDING))
    return Explain(explain.query, (*before, waiting, *after))


def with_note(explain: Explain, note: str) -> Explain:
    """`explain` headed by `note` (nothing changes when `note` is empty)."""
    if not note:
        return explain
    return Explain(explain.query, (Part("note", Section(NOTE_TITLE, note)), *explain.parts))


def explain_renderable(explain: Explain) -> RenderableType:
    parts: list[RenderableType] = []
    for part in explain.parts:
        title = f"Stage: {part.title}" if part.kind == "stage" else part.title
        parts.append(Text("\n" + title, style="bold underline"))
        if part.kind == "note":
            parts.append(Text(part.body, style="bold yellow"))
        elif part.language == "sql" and not part.body.startswith("(not available"):
            parts.append(Syntax(part.body, "sql", theme="ansi_dark", word_wrap=True))
        else:
            parts.append(Text(part.body))
    return Group(*parts)


def explain_text(explain: Explain) -> str:
    """The pane's content as plain text (what `c` copies)."""
    return explain.render_text() + "\n"


class ExplainPane(VerticalScroll, can_focus=True):
    """A scrolling view of `explain_renderable`."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("c,y", "copy", "Copy text", show=True)]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.body = Static(
            Text("Run or check a query, then F3 shows how it runs."), id="explain-body"
        )
        self.text = ""

    def compose(self) -> ComposeResult:
        yield self.body

    def show(self, explain: Explain) -> None:
        self.body.update(explain_renderable(explain))
        self.text = explain_text(explain)

    def say(self, message: str) -> None:
        """Show `message` instead of a plan (and copy nothing stale)."""
        self.body.update(Text(message))
        self.text = ""

    def action_copy(self) -> None:
        if self.text:
            self.app.copy_to_clipboard(self.text)
            self.app.notify("Explain text copied to the clipboard.", timeout=2)
