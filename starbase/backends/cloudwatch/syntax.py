"""Logs Insights tokens: string literals, regexes, field names, numbers and bin periods.

Requires: plain Python values (from IR literals, regexes and names). Guarantees: each function
returns exactly one Insights token that reads back as the given value, or raises
`NotExpressible` naming what cannot be written exactly — never a token that could end early or
change the query's structure:

- a string is quoted with a quote character it does not contain and never holds a backslash or
  a control character (Insights documents no escape sequences for strings, so none is relied
  on: a value that would need one is not expressible);
- a regex body is never empty and never holds an unescaped `/` or `#` nor a raw control or
  line-separator character (those are written `\\/`, `\\#` and `\\x{…}`), so it ends
  exactly at its closing slash and cannot be read as a comment;
- a field name is bare only when it is an `@` system field made of letters, digits, `_` and
  `.`, or a plain identifier Starbase chose; anything else is in backticks, and a name holding
  a backtick or a control character is not expressible.

References: "Fields that contain special characters" (CWL_QuerySyntax-Guidelines), the regex
section of the `filter` command (CWL_QuerySyntax-Filter), the `bin` units of `stats`
(CWL_QuerySyntax-Stats); see docs/cloudwatch-insights.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from decimal import Decimal

# Words with a meaning in Insights syntax: a name spelled like one is always backticked.
KEYWORDS = frozenset(
    {"and", "or", "not", "in", "like", "as", "by", "asc", "desc", "true", "false", "null"}
    | {"fields", "filter", "stats", "sort", "limit", "parse", "display", "dedup", "unmask"}
)
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_SYSTEM = re.compile(r"@[A-Za-z0-9_.]+")
_REGEX_META = frozenset("\\.^$|?*+()[]{}/#")
_PERIODS = (
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
)


class NotExpressible(Exception):
    """Insights cannot express this exactly; `reason` names it (e.g. "function if")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _unsafe(ch: str) -> bool:
    """Characters never written raw: C0/C1 controls, DEL and the Unicode line separators."""
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F or ch in "\u2028\u2029"


def printable(text: str) -> bool:
    return not any(_unsafe(ch) for ch in text)


def string(value: str) -> str:
    """`value` as an Insights string literal (double quotes, else single quotes)."""
    if "\\" in value or not printable(value):
        raise NotExpressible("a string with a backslash or a control character")
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    raise NotExpressible("a string with both kinds of quotes")


def _hex(ch: str) -> str:
    return f"\\x{{{ord(ch):x}}}"


def regex(pattern: str, flags: str = "", allowed_flags: Collection[str] = ("i",)) -> str:
    """The regex literal `/…/` matching like `pattern` with `flags` (`i` → inline `(?i)`)."""
    for flag in flags:
        if flag not in allowed_flags or flag != "i":
            raise NotExpressible(f"regex flag {flag}")
    out = ["(?i)"] if "i" in flags else []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 == len(pattern):
                raise NotExpressible("a regex ending in a backslash")
            escaped = pattern[i + 1]
            out.append(_hex(escaped) if _unsafe(escaped) else "\\" + escaped)
            i += 2
            continue
        out.append("\\" + ch if ch in "/#" else _hex(ch) if _unsafe(ch) else ch)
        i += 1
    return "/" + ("".join(out) or "(?:)") + "/"


def literal_regex(text: str) -> str:
    """A regex body (no slashes) matching `text` itself: metacharacters escaped; never empty."""
    body = "".join(
        _hex(ch) if _unsafe(ch) else "\\" + ch if ch in _REGEX_META else ch for ch in text
    )
    return body or "(?:)"


def field(name: str) -> str:
    """A reference to the log field `name`: `@` system fields bare, every other in backticks
    (an `@` field with other characters as `@` + the rest in backticks, as the guide says)."""
    if not name or "`" in name or not printable(name) or name == "@":
        raise NotExpressible(f"the field name {name!r}")
    if name.startswith("@"):
        return name if _SYSTEM.fullmatch(name) else f"@`{name[1:]}`"
    return f"`{name}`"


def name(value: str) -> str:
    """A name Starbase defines (alias, capture): bare when a plain non-keyword identifier."""
    if value.startswith("@"):
        raise NotExpressible(f"the name {value!r} (names starting with @ are system fields)")
    if _PLAIN.fullmatch(value) and value.lower() not in KEYWORDS:
        return value
    return field(value)


def plain(value: str) -> bool:
    """Whether `value` is written bare by `name` (so it is safe as an alias)."""
    return bool(_PLAIN.fullmatch(value)) and value.lower() not in KEYWORDS


def number(value: int | float) -> str:
    """A numeric literal in plain decimal notation (no exponent)."""
    if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        raise NotExpressible(f"the number {value!r}")
    if isinstance(value, int):
        return str(value)
    text = format(Decimal(repr(value)), "f")
    return text if "." in text else text + ".0"


def period(nanos: int) -> str:
    """A `bin` period: the duration in the largest unit (day down to millisecond) that divides
    it; weeks are written in days (Insights' calendar units are not fixed lengths)."""
    for unit, size in _PERIODS:
        if nanos > 0 and nanos % size == 0:
            return f"{nanos // size}{unit}"
    raise NotExpressible("a bin width that is not a whole number of milliseconds")


def name_groups(pattern: str, names: dict[int, str]) -> str:
    """`pattern` with capturing group number N (counting named and unnamed groups, as Python
    and Rust do) written as the named group `(?<names[N]>…)`."""
    out: list[str] = []
    i, number_, in_class = 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            lead = (
                "[^]"
                if pattern.startswith("[^]", i)
                else "[]"
                if pattern.startswith("[]", i)
                else ""
            )
            if lead:
                out.append(lead)
                i += len(lead)
                continue
        elif ch == "(":
            named = re.match(r"\(\?P?<[A-Za-z_][A-Za-z0-9_]*>", pattern[i:])
            if named or not pattern.startswith("(?", i):
                number_ += 1
                if number_ in names:
                    out.append(f"(?<{names[number_]}>")
                    i += named.end() if named else 1
                    continue
        out.append(ch)
        i += 1
    return "".join(out)
