"""Edits the REPL makes to the query text for the user: time range shortcuts, source picker.

Requires: the parser (for spans). Guarantees: each function returns new text and changes only
the stage it is about, leaving comments, layout and every other stage as typed, so what runs
is what the editor shows and history keeps it. `with_since(text, "15m")` replaces the first
`since`/`between` stage (and drops later ones), else inserts `| since 15m` after `from`;
`None` removes them. `with_sources(text, ["otel"])` replaces the `from` stage. Text that
does not parse is edited by pattern, as well as can be; an empty text becomes a new query.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starbase.compiler import ast
from starbase.compiler.errors import CompileError
from starbase.compiler.grammar.parser import parse

SHORTCUTS: tuple[tuple[str, str | None], ...] = (
    ("last 15 minutes", "15m"),
    ("last hour", "1h"),
    ("last 24 hours", "24h"),
    ("last 7 days", "7d"),
    ("all time (no since/between)", None),
)
_SINCE_TEXT = re.compile(r"\|\s*since\s+\S+")
_FROM_TEXT = re.compile(r"^(\s*(?:#[^\n]*\n\s*)*)from\b[^|\n]*?(?=[ \t]*(?:\||\n|$))")


def with_since(text: str, duration: str | None, default_source: str = "otel") -> str:
    """`text` with its time stage set to `since DURATION` (or removed when None)."""
    if not text.strip():
        return f"from {default_source}" + (f"\n| since {duration}" if duration else "")
    try:
        query = parse(text)
    except CompileError:
        return _with_since_text(text, duration)
    timed = [s for s in query.stages if isinstance(s, ast.Since | ast.Between)]
    if not timed:
        if duration is None:
            return text
        return _insert_after_from(text, query.source.span.end, duration)
    first = timed[0]
    out = text
    # remove later time stages (with their leading pipe) from the end backwards
    for stage in reversed(timed[1:]):
        start = text.rfind("|", 0, stage.span.start)
        out = out[:start].rstrip(" \t") + out[stage.span.end :]
    if duration is None:
        start = out.rfind("|", 0, first.span.start)
        return (out[:start].rstrip(" \t\n") + out[first.span.end :]).strip("\n") or out
    return out[: first.span.start] + f"since {duration}" + out[first.span.end :]


def _with_since_text(text: str, duration: str | None) -> str:
    """The same rewrite by pattern, for a query that does not parse (yet)."""
    if _SINCE_TEXT.search(text):
        replacement = f"| since {duration}" if duration else ""
        return _SINCE_TEXT.sub(replacement, text, count=1)
    if duration is None:
        return text
    match = _FROM_TEXT.match(text)
    if match is None:
        return text
    return _insert_after_from(text, match.end(), duration)


def _insert_after_from(text: str, at: int, duration: str) -> str:
    """Insert the stage on a line of its own when the query is laid out one stage a line."""
    rest = text[at:]
    newline = rest.lstrip(" \t").startswith("\n") or not rest.strip()
    if (newline and "\n" in text) or not rest.strip():
        return text[:at] + f"\n| since {duration}" + rest
    return text[:at] + f" | since {duration}" + rest


def with_sources(text: str, sources: Sequence[str]) -> str:
    """`text` reading from `sources` (`["*"]` for every configured source)."""
    stage = "from " + ", ".join(s if s == "*" or s.isidentifier() else f"`{s}`" for s in sources)
    if not text.strip():
        return stage
    try:
        query = parse(text)
    except CompileError:
        match = _FROM_TEXT.match(text)
        if match is None:
            return stage + "\n| " + text.lstrip().lstrip("|").lstrip()
        return text[: match.start()] + match.group(1) + stage + text[match.end() :]
    span = query.source.span
    return text[: span.start] + stage + text[span.end :]
