"""As-you-type checking: the compiler's diagnostic for the editor's text, with a caret.

Requires: the compiler (`compile` with the REPL's `Config`); compiling is pure and takes a
few milliseconds, so it runs on the UI thread after a short pause in typing. Guarantees:
`check(text, config)` never raises for any text: it returns the compiled query (and its
warnings) or the compiler's diagnostics, as `CompileError` carries them (codes, spans and
hints are the compiler's, so the REPL, the CLI and the API cannot disagree). The
`DiagnosticBar` shows one line when the query compiles (sources, time range, columns) or when
the error sits where the user is typing (shown muted: the query is probably unfinished),
and three lines for any other error: the message, the source line, and a caret under the
offending text followed by the first hint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from starbase.compiler.driver import CompiledQuery, compile
from starbase.compiler.errors import CompileError, Diagnostic, Severity
from starbase.config import Config
from starbase.repl.runner import plan_sources
from starbase.repl.timerange import query_window


@dataclass(frozen=True)
class Check:
    text: str
    compiled: CompiledQuery | None = None
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def error(self) -> Diagnostic | None:
        return next((d for d in self.diagnostics if d.severity is Severity.ERROR), None)


def check(text: str, config: Config) -> Check:
    if not text.strip():
        return Check(text)
    try:
        compiled = compile(text, config)
    except CompileError as exc:
        return Check(text, None, exc.diagnostics)
    except Exception as exc:  # a compiler bug must not take the REPL down while typing
        return Check(text, None, (_internal(exc),))
    return Check(text, compiled, compiled.warnings)


def _internal(exc: Exception) -> Diagnostic:
    from starbase.compiler.errors import Code

    return Diagnostic(Code.UNSUPPORTED_OPERATION, f"internal compiler error: {exc}")


def is_typing(diagnostic: Diagnostic, text: str, cursor: int) -> bool:
    """Whether the error is where the cursor is, at the end of the text being typed."""
    span = diagnostic.span
    if span is None:
        return False
    tail = text[cursor:].strip()
    return span.start <= cursor <= max(span.end, span.start + 1) + 1 and not tail


class DiagnosticBar(Static):
    """One to three lines under the editor saying whether the query compiles, and why not."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "diagnostic--ok",
        "diagnostic--error",
        "diagnostic--warning",
        "diagnostic--muted",
        "diagnostic--caret",
        "diagnostic--gutter",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.current: Check = Check("")

    def show_check(self, result: Check, cursor: int, now_ns: int, *, loud: bool = False) -> None:
        """Display `result`; `loud` shows an error in full even where the user is typing."""
        self.current = result
        self.set_class(False, "-error", "-ok", "-muted")
        error = result.error
        if not result.text.strip():
            self.update(
                Text("Type a query; F5 or Ctrl+J runs it, F1 lists the keys.", self._s("muted"))
            )
            self.add_class("-muted")
        elif error is None and result.compiled is not None:
            self.update(self._ok(result, now_ns))
            self.add_class("-ok")
        elif error is not None and not loud and is_typing(error, result.text, cursor):
            self.update(Text("… " + error.message, self._s("muted"), no_wrap=True, end=""))
            self.add_class("-muted")
        elif error is not None:
            self.update(self._error(error, result.text))
            self.add_class("-error")

    def _s(self, name: str) -> Style:
        return self.get_component_rich_style(f"diagnostic--{name}")

    def _ok(self, result: Check, now_ns: int) -> Text:
        compiled = result.compiled
        assert compiled is not None
        out = Text(no_wrap=True, end="")
        if result.diagnostics:
            warning = result.diagnostics[0]
            out.append(f"⚠ {warning.code.value} ", self._s("warning"))
            out.append(warning.message)
            return out
        window = query_window(compiled, now_ns)
        sources = ", ".join(plan_sources(compiled.plan))
        columns = len(compiled.columns)
        out.append("✓ ", self._s("ok"))
        out.append(f"{sources} · {window.label} · {columns} column{'s' if columns != 1 else ''}")
        if compiled.parameters:
            out.append(" · parameters: " + ", ".join("$" + p for p in compiled.parameters))
        out.append("   F5 or Ctrl+J runs", self._s("muted"))
        return out

    def _error(self, diag: Diagnostic, text: str) -> Text:
        width = max(20, self.size.width or 80)
        out = Text(no_wrap=True, end="")
        head = f"✗ error[{diag.code.value}]"
        if diag.span is not None:
            head += f" {diag.span.line}:{diag.span.column}"
        out.append(head + " ", self._s("error"))
        out.append(diag.message)
        hints = list(diag.hints)
        if diag.span is None:
            if hints:
                out.append("\n  hint: " + hints[0], self._s("muted"))
            return out
        span = diag.span
        lines = text.split("\n")
        source = lines[span.line - 1] if 0 < span.line <= len(lines) else ""
        gutter = f"{span.line} │ "
        start = span.column - 1
        line_end = span.start - start + len(source)
        length = max(1, min(span.end, line_end) - span.start)
        room = width - len(gutter) - 1
        shift = 0
        if start + length > room:  # keep the caret on screen: cut the line's start
            shift = min(start, start + length - room + 10)
        shown = source[shift:]
        if shift:
            shown = "…" + shown[1:]
        out.append("\n" + gutter, self._s("gutter"))
        out.append(shown[:room])
        out.append("\n" + " " * len(gutter) + " " * (start - shift), self._s("gutter"))
        out.append("^" * min(length, room), self._s("caret"))
        if hints:
            out.append(" " + hints[0], self._s("muted"))
        return out
