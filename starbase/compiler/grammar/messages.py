"""Syntax errors in the user's words.

Requires: a lark `UnexpectedInput` raised while parsing `text`. Guarantees: `describe` returns
one `Diagnostic` with a stable code, a span over the offending text (or the end of the query),
a message of the form "expected <what> after '<previous>', found '<token>'" that names
language concepts ("an expression", "a stage") instead of grammar terminals, and hints for the
mistakes users make most (`=` for `==`, `&&` for `and`, a misspelt stage keyword).
"""

from __future__ import annotations

import re

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from starbase.compiler.errors import Code, Diagnostic, Span, did_you_mean
from starbase.compiler.format import STAGE_KEYWORDS

STAGES = STAGE_KEYWORDS

# Terminals that can start an expression; if a parser state accepts several of them, the user
# is told "an expression" rather than the list.
_OPERAND_STARTS = frozenset(
    {"STRING", "INT", "FLOAT", "DURATION", "REGEX", "PARAM", "NAME", "QUOTED_NAME", "LPAR"}
)
_WORDS = {
    "$END": "the end of the query",
    "NAME": "a name",
    "QUOTED_NAME": "a name",
    "STRING": "a string",
    "INT": "a whole number",
    "FLOAT": "a number",
    "DURATION": "a duration such as 5m",
    "REGEX": "a regex such as /error/i",
    "PARAM": "a $parameter",
    "STAR": "'*'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "SLASH": "'/'",
    "PERCENT": "'%'",
    "LESSTHAN": "'<'",
    "MORETHAN": "'>'",
    "TILDE": "'~'",
    "VBAR": "'|'",
    "COMMA": "','",
    "LPAR": "'('",
    "RPAR": "')'",
    "DOT": "'.'",
    "EQUAL": "'='",
    "BY": "'by'",
    "ASC": "'asc'",
    "DESC": "'desc'",
}
_KEYWORD_ORDER = ("FROM", "AS", "AND", "OR", "IN", "NOT", "BY", "VBAR", "COMMA", "RPAR", "$END")
_PREVIOUS = re.compile(
    r"""("(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|/(?:\\.|[^/\\\n])+/[A-Za-z]*"""
    r"""|`[^`\n]+`|\$?[A-Za-z_0-9.]+|==|!=|<=|>=|!~|[^\s])"""
)


def describe(exc: UnexpectedInput, text: str, accepts: set[str] | None = None) -> Diagnostic:
    """The diagnostic for a lark parse failure over `text`; `accepts`, when known, is exactly
    what the parser would take where an unknown character stands (lark's own set is too wide)."""
    if isinstance(exc, UnexpectedCharacters):
        return _bad_character(exc, text, accepts)
    if isinstance(exc, UnexpectedEOF):
        return _unexpected(set(exc.expected), None, text)
    assert isinstance(exc, UnexpectedToken)
    return _unexpected(set(exc.accepts or exc.expected), exc.token, text)


def _unexpected(expected: set[str], token: object, text: str) -> Diagnostic:
    at_end = token is None or getattr(token, "type", "") == "$END"
    start = len(text) if at_end else int(getattr(token, "start_pos", 0) or 0)
    what = _expected_words(expected)
    previous = _previous_lexeme(text, start)
    after = f" after '{previous}'" if previous else ""
    hints: list[str] = []
    if at_end:
        # lark's $END token borrows the last token's position: the caret goes just after it,
        # not after a trailing comment
        end = int(getattr(token, "end_pos", None) or len(text.rstrip()))
        span = Span.at(text, end, end)  # empty, just after the last token: the caret goes there
        return Diagnostic(
            Code.UNEXPECTED_END,
            f"expected {what}{after}, but the query ended",
            span,
            tuple(hints),
        )
    found = str(token)
    span = Span.at(text, start, start + max(1, len(found)))
    if found == "/" and "REGEX" in expected:
        line_end = text.find("\n", start)
        return Diagnostic(
            Code.UNTERMINATED_REGEX,
            "this regex is never closed",
            Span.at(text, start, len(text) if line_end == -1 else line_end),
            ("close it with / on the same line; write \\/ for a slash inside it",),
        )
    if found == "=" and any(t.startswith("__ANON") or t == "EQUAL" for t in expected):
        hints.append("use '==' to compare values")
    if previous == "|" or (what.startswith("a stage") and getattr(token, "type", "") == "NAME"):
        suggestion = did_you_mean(found.lower(), STAGES)
        if suggestion:
            hints.append(suggestion)
    if previous == "|" and found.lower() in STAGES:
        hints.append(f"'{found}' must be written in lower case")
    if found == "|" and text[start - 1 : start] == "|":
        span = Span.at(text, start - 1, start + 1)
        hints.append("use 'or'")
    if found in _COMPARISONS and "an expression" not in what:
        hints.append("comparisons do not chain: write 'a < b and b < c'")
    return Diagnostic(
        Code.UNEXPECTED_TOKEN,
        f"expected {what}{after}, found {_show(found)}",
        span,
        tuple(hints),
    )


def _bad_character(
    exc: UnexpectedCharacters, text: str, accepts: set[str] | None = None
) -> Diagnostic:
    pos = exc.pos_in_stream or 0
    char = text[pos] if pos < len(text) else ""
    line_end = text.find("\n", pos)
    line_end = len(text) if line_end == -1 else line_end
    if char in "\"'":
        return Diagnostic(
            Code.UNTERMINATED_STRING,
            "this string is never closed",
            Span.at(text, pos, line_end),
            (f"close it with {char} on the same line",),
        )
    if char == "/" and "REGEX" in (exc.allowed or set()):
        return Diagnostic(
            Code.UNTERMINATED_REGEX,
            "this regex is never closed",
            Span.at(text, pos, line_end),
            ("close it with / on the same line; write \\/ for a slash inside it",),
        )
    if char == "`":
        return Diagnostic(
            Code.UNTERMINATED_STRING,
            "this quoted name is never closed",
            Span.at(text, pos, line_end),
            ("close it with ` on the same line",),
        )
    hints: list[str] = []
    pair = text[pos : pos + 2]
    if pair == "&&":
        hints.append("use 'and'")
    elif pair == "||":
        hints.append("use 'or'")
    elif char == "=":
        hints.append("use '==' to compare values")
    elif char == "!":
        hints.append("use 'not', '!=' or '!~'")
    allowed = accepts if accepts is not None else set(exc.allowed or ())
    previous = _previous_lexeme(text, pos)
    after = f" after '{previous}'" if previous else ""
    found = pair if pair in {"&&", "||"} else char
    return Diagnostic(
        Code.INVALID_CHARACTER,
        f"expected {_expected_words(allowed)}{after}, found {_show(found)}",
        Span.at(text, pos, pos + len(found)),
        tuple(hints),
    )


def _expected_words(expected: set[str]) -> str:
    names = set(expected)
    stages = {s.upper() for s in STAGES}
    if names & stages and len(names & stages) >= 3:
        return "a stage (" + ", ".join(STAGES) + ")"
    parts: list[str] = []
    if len(names & _OPERAND_STARTS) >= 3:
        parts.append("an expression")
        names -= _OPERAND_STARTS | {"MINUS", "NOT", "TRUE", "FALSE", "NULL"}
    if {"NAME", "QUOTED_NAME", "STAR"} <= names:
        parts.append("a source name or '*'")
        names -= {"NAME", "QUOTED_NAME", "STAR"}
    operators = {n for n in names if n.startswith("__ANON") or n in _OPERATOR_TERMINALS}
    if len(operators) >= 3:
        parts.append("an operator")
        names -= operators | {"IN", "NOT", "AND", "OR", "STAR", "SLASH", "MINUS", "PLUS"}
    ordered = sorted(names, key=lambda n: (_rank(n), n))
    parts.extend(_word(n) for n in ordered)
    parts = list(dict.fromkeys(p for p in parts if p))
    if not parts:
        return "something else"
    if len(parts) > 5:
        parts = [*parts[:4], "…"]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "~", "!~"})
_OPERATOR_TERMINALS = frozenset(
    {"LESSTHAN", "MORETHAN", "TILDE", "PLUS", "MINUS", "SLASH", "PERCENT", "CONTAINS"}
    | {"STARTSWITH", "ENDSWITH", "ICONTAINS", "STAR"}
)


def _rank(name: str) -> int:
    return _KEYWORD_ORDER.index(name) if name in _KEYWORD_ORDER else -1


def _word(name: str) -> str:
    if name in _WORDS:
        return _WORDS[name]
    if name.isalpha() and name.isupper():
        return f"'{name.lower()}'"
    return ""


def _previous_lexeme(text: str, pos: int) -> str:
    prefix = re.sub(r"#[^\n]*", "", text[:pos]).rstrip()
    lexemes = _PREVIOUS.findall(prefix)
    return str(lexemes[-1]) if lexemes else ""


def _show(found: str) -> str:
    return f"'{found}'" if len(found) <= 30 else f"'{found[:27]}…'"
