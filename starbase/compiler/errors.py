"""Diagnostics as data, and their rendering.

Requires nothing from the rest of Starbase. Guarantees: every compile problem is a
`Diagnostic` (stable code, message, optional span, hints); `CompileError` carries one or more
of them plus the source text; rendering for a terminal (`render_terminal`) and for machines
(`Diagnostic.to_dict`) live here and nowhere else, so CLI, REPL and API cannot drift.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open range of character offsets into the query text, with its 1-based start."""

    start: int
    end: int
    line: int = 1
    column: int = 1

    @staticmethod
    def at(text: str, start: int, end: int | None = None) -> Span:
        """The span [start, end) of `text`, with line and column computed."""
        end = start if end is None else end
        line = text.count("\n", 0, start) + 1
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        return Span(start, end, line, column)

    def cover(self, other: Span | None) -> Span:
        """The smallest span containing both."""
        if other is None:
            return self
        first, _last = (self, other) if self.start <= other.start else (other, self)
        return Span(first.start, max(self.end, other.end), first.line, first.column)


class Code(StrEnum):
    """Stable diagnostic codes. Never renumber; add new ones at the end of their group."""

    # syntax (E1xx)
    UNEXPECTED_TOKEN = "E101"
    UNEXPECTED_END = "E102"
    UNTERMINATED_STRING = "E103"
    INVALID_ESCAPE = "E104"
    UNTERMINATED_REGEX = "E105"
    INVALID_CHARACTER = "E106"
    INVALID_NUMBER = "E107"
    TOO_COMPLEX = "E108"  # nested too deeply, too many stages
    INVALID_ENCODING = "E109"  # a query file that is not UTF-8 text
    # regexes (E2xx)
    INVALID_REGEX = "E201"
    NON_PORTABLE_REGEX = "E202"
    INVALID_REGEX_FLAG = "E203"
    # names and scopes (E3xx)
    UNKNOWN_SOURCE = "E301"
    UNKNOWN_FIELD = "E302"
    FIELD_NOT_IN_SCOPE = "E303"
    UNKNOWN_FUNCTION = "E304"
    WRONG_ARGUMENTS = "E305"
    DUPLICATE_NAME = "E306"
    INVALID_NAME = "E307"
    NO_SOURCES = "E308"
    # values and types (E4xx)
    INVALID_LEVEL = "E401"
    INVALID_TIMESTAMP = "E402"
    PCT_OUT_OF_RANGE = "E403"
    AGGREGATE_OUTSIDE_STATS = "E404"
    TYPE_MISMATCH = "E405"
    INVALID_LIMIT = "E406"
    INVALID_SEVERITY_NUMBER = "E407"
    INVALID_DURATION = "E408"
    MISSING_AGGREGATE = "E409"
    NESTED_AGGREGATE = "E410"
    INTEGER_OVERFLOW = "E411"
    # parameters (E5xx)
    UNBOUND_PARAMETER = "E501"
    INVALID_PARAMETER = "E502"
    # mappings and configuration (E6xx)
    INVALID_MAPPING = "E601"
    UNSUPPORTED_OPERATION = "E602"
    # warnings (W)
    FIELD_ABSENT_IN_SOURCE = "W301"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a query: what, where, and what to try instead."""

    code: Code
    message: str
    span: Span | None = None
    hints: tuple[str, ...] = ()
    severity: Severity = Severity.ERROR

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form for the API."""
        out: dict[str, object] = {
            "code": self.code.value,
            "severity": self.severity.value,
            "message": self.message,
            "hints": list(self.hints),
        }
        if self.span is not None:
            out["span"] = {
                "start": self.span.start,
                "end": self.span.end,
                "line": self.span.line,
                "column": self.span.column,
            }
        return out


@dataclass(eq=False)
class CompileError(Exception):
    """Raised by the compiler when a query cannot be compiled; holds every error found."""

    diagnostics: tuple[Diagnostic, ...]
    source: str = ""
    origin: str = field(default="<query>")

    def __post_init__(self) -> None:
        super().__init__(self.diagnostics[0].message if self.diagnostics else "compile error")

    @property
    def first(self) -> Diagnostic:
        return self.diagnostics[0]

    def render(self) -> str:
        return render_terminal(self.diagnostics, self.source, self.origin)


def error(code: Code, message: str, span: Span | None = None, *hints: str) -> CompileError:
    """A `CompileError` holding a single error diagnostic (source attached by the driver)."""
    return CompileError((Diagnostic(code, message, span, tuple(h for h in hints if h)),))


def did_you_mean(name: str, known: Iterable[str], limit: int = 3) -> str:
    """A hint naming the closest known names, or '' when nothing is close."""
    candidates = sorted(set(known))
    close = difflib.get_close_matches(name, candidates, n=limit, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[c] for c in difflib.get_close_matches(name.lower(), lowered, limit)]
    if not close:
        return ""
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


def render_terminal(diagnostics: Iterable[Diagnostic], source: str, origin: str = "<query>") -> str:
    """Render diagnostics as `origin:line:col: error[E101]: message`, the line, and a caret."""
    lines = source.split("\n")
    blocks: list[str] = []
    for diag in diagnostics:
        head = f"{diag.severity.value}[{diag.code.value}]: {diag.message}"
        if diag.span is None:
            blocks.append(f"{origin}: {head}" + _hints(diag.hints))
            continue
        span = diag.span
        text = lines[span.line - 1] if 0 < span.line <= len(lines) else ""
        gutter = f"{span.line} | "
        line_end = span.start - (span.column - 1) + len(text)
        width = max(1, min(span.end, line_end) - span.start)
        caret = " " * (len(gutter) + _display_width(text[: span.column - 1])) + "^" * width
        blocks.append(
            f"{origin}:{span.line}:{span.column}: {head}\n{gutter}{text}\n{caret}"
            + _hints(diag.hints)
        )
    return "\n\n".join(blocks)


def _hints(hints: tuple[str, ...]) -> str:
    return "".join(f"\n  hint: {h}" for h in hints)


def _display_width(prefix: str) -> int:
    # Tabs would misalign the caret; count them as the terminal shows them is unknowable, so
    # the source line is printed as-is and a tab counts as one column (documented behaviour).
    return len(prefix)
