"""StarQL's portable regexes as `java.util.regex` patterns with DataFusion's (Rust's) meaning.

Requires: a pattern of the portable subset (`starbase.compiler.regex.check` passed) and its
flags. Guarantees: `to_java` gives a pattern that matches exactly what Rust's `regex` matches:
Unicode classes and case folding (`(?U)`), only `\\n` ends a line (`(?d)`), `$` without the
`m` flag only at the very end (Java's `$` also matches before a final line break), named
groups as plain groups (Java refuses `_` in names; captures are taken by number). A construct
Java reads differently that cannot be rewritten (POSIX classes `[[:alpha:]]`) raises
`ValueError`. `group_body` is the text inside a capturing group, `can_match_empty` whether a
pattern matches the empty text (captures of such an optional group cannot be told apart from
a group that took no part, through Spark's `regexp_extract`).
"""

from __future__ import annotations

import re

from starbase.compiler import regex as portable

_NAMED_GROUP = re.compile(r"\(\?P?<[A-Za-z_][A-Za-z0-9_]*>")
_INLINE_FLAGS = re.compile(r"\(\?[a-z]*m[a-z-]*[:)]")


def to_java(pattern: str, flags: str = "") -> str:
    """`(?flags)pattern` in Java's syntax, with Rust's semantics (see the module docstring)."""
    if "[[:" in pattern:
        raise ValueError("POSIX character classes ([[:alpha:]]) read differently in Java")
    body = _NAMED_GROUP.sub("(", pattern)
    if "m" not in flags and not _INLINE_FLAGS.search(body):
        body = _end_anchors(body)
    return f"(?dU{flags})" + body


def _end_anchors(pattern: str) -> str:
    """Every `$` outside a character class (not escaped) as `\\z`."""
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class and ch == "]":
            in_class = False
        elif not in_class and ch == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                out.append("[^")
                i += 2
                if pattern[i : i + 1] == "]":  # a leading ] is a member
                    out.append("]")
                    i += 1
                continue
            if pattern[i + 1 : i + 2] == "]":
                out.append("[]")
                i += 2
                continue
        elif not in_class and ch == "$":
            out.append("\\z")
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def group_body(pattern: str, number: int) -> str:
    """The text between capturing group `number`'s opening and its closing parenthesis."""
    group = next(g for g in portable.capture_groups(pattern) if g.number == number)
    depth, i, in_class = 1, group.end, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return pattern[group.end : i]
        i += 1
    raise ValueError(f"group {number} of /{pattern}/ is not closed")


def can_match_empty(pattern: str, flags: str = "") -> bool:
    """Whether `pattern` matches the empty text as a whole."""
    prefix = f"(?{flags})" if flags else ""
    return re.fullmatch(prefix + portable.to_python(pattern), "") is not None
