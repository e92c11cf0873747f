"""The explain pane: how a query runs, stage by stage and backend by backend.

Requires: a `CompiledQuery` (its per-stage trace, kept by the driver's `run_pipeline` hook,
the same one behind `starbase explain` and the golden files) and, when it arrives, the text
of the backend's plan. Guarantees: `explain_text(compiled, plan)` is pure and shows, in this
order: the `note` when one is given (the app says there when the plan is not the editor's
query's, e.g. the editor's text does not compile and the last run is shown instead); where
each source runs and what runs locally; every compiler stage's output (`render_stage`);
each backend's native query — DataFusion's SQL and its optimized logical and physical
plans, CloudWatch Logs Insights text for CloudWatch sources (from
`CompiledQuery.sql("cloudwatch")` where the compiler has that target, else said to be
coming); and the compiler's warnings. The pane scrolls and can be focused; the text can be
copied with `c`.
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

from starbase.compiler import ir
from starbase.compiler.driver import CompiledQuery, render_stage
from starbase.config import Config

PENDING = "(asking DataFusion for its plan…)"
NOTE_TITLE = "Not the query in the editor"


def sources_summary(compiled: CompiledQuery, config: Config) -> list[str]:
    """One line per source: format, backend, location, and what runs where."""
    lines = []
    backends = set()
    for node in ir.plan_walk(compiled.plan):
        if not isinstance(node, ir.Scan):
            continue
        backends.add(node.backend)
        source = config.source(node.source)
        where = ""
        if source is not None:
            where = source.location or ", ".join(source.log_groups) or ""
        if node.backend == "datafusion":
            lines.append(
                f"{node.source} ({node.format}) → DataFusion, in this process, over Parquet"
                + (f" at {where}" if where else "")
            )
        else:
            lines.append(
                f"{node.source} ({node.format}) → {node.backend}: its native query is below;"
                " the fetched rows are finished locally in DataFusion"
            )
    if backends == {"datafusion"}:
        lines.append(
            "runs locally: the whole plan (scan, filters, parse, stats, sort, limit) —"
            " DataFusion is the only engine; nothing is sent elsewhere"
        )
    return lines


def sections(
    compiled: CompiledQuery, config: Config, plan: str, note: str = ""
) -> list[tuple[str, str]]:
    """(title, text) of every part of the pane, in order; the SQL's title is "DataFusion SQL"."""
    out = [(NOTE_TITLE, note)] if note else []
    out.append(("Where it runs", "\n".join(sources_summary(compiled, config))))
    out += [(f"Stage: {name}", render_stage(name, value)) for name, value in compiled.stages]
    try:
        sql = compiled.sql()
    except Exception as exc:  # an unsupported operation is reported, not raised
        sql = f"(not available: {exc})"
    out += [("DataFusion SQL", sql), ("DataFusion plan", plan)]
    scans = [n for n in ir.plan_walk(compiled.plan) if isinstance(n, ir.Scan)]
    if any(n.backend == "cloudwatch" for n in scans):
        try:  # the compiler's CloudWatch target, where it has landed
            insights = compiled.sql("cloudwatch")
        except Exception:
            insights = "(the Insights text appears when the CloudWatch backend lands)"
        out.append(("CloudWatch Logs Insights", insights))
    if compiled.warnings:
        out.append(
            ("Warnings", "\n".join(f"{w.code.value}: {w.message}" for w in compiled.warnings))
        )
    return out


def explain_renderable(
    compiled: CompiledQuery, config: Config, plan: str, note: str = ""
) -> RenderableType:
    parts: list[RenderableType] = []
    for title, text in sections(compiled, config, plan, note):
        parts.append(Text("\n" + title, style="bold underline"))
        if title == NOTE_TITLE:
            parts.append(Text(text, style="bold yellow"))
        elif title == "DataFusion SQL" and not text.startswith("(not available"):
            parts.append(Syntax(text, "sql", theme="ansi_dark", word_wrap=True))
        else:
            parts.append(Text(text))
    return Group(*parts)


def explain_text(compiled: CompiledQuery, config: Config, plan: str, note: str = "") -> str:
    """The pane's content as plain text (what `c` copies)."""
    blocks = [
        f"== {title.removeprefix('Stage: ').lower()} ==\n{text}"
        for title, text in sections(compiled, config, plan, note)
    ]
    return "\n\n".join(blocks) + "\n"


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

    def show(
        self, compiled: CompiledQuery, config: Config, plan: str = PENDING, note: str = ""
    ) -> None:
        self.body.update(explain_renderable(compiled, config, plan, note))
        self.text = explain_text(compiled, config, plan, note)

    def say(self, message: str) -> None:
        """Show `message` instead of a plan (and copy nothing stale)."""
        self.body.update(Text(message))
        self.text = ""

    def action_copy(self) -> None:
        if self.text:
            self.app.copy_to_clipboard(self.text)
            self.app.notify("Explain text copied to the clipboard.", timeout=2)
