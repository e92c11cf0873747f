"""The portable regex subset of StarQL, and conversions to concrete dialects.

Requires: a regex body as written between slashes (with `\\/` still escaped). Guarantees:
`check` reports every construct outside the portable subset (look-around, back-references,
atomic groups, possessive quantifiers, conditionals, recursion) with its offset in the body;
`to_python` rewrites `(?<name>…)` to Python's `(?P<name>…)` so the pattern can be validated
with `re`; `group_names` lists named groups in order; `capture_groups` finds every capturing
group (numbered as Python and Rust number them) and whether it takes part in every match, and
`keep_groups` turns all other groups into non-capturing ones without changing what matches.
The subset is what RE2, Rust's `regex` (DataFusion) and Logs Insights all accept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FLAGS = frozenset("ims")

_NAMED_GROUP = re.compile(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>")
_FLAG_GROUP = re.compile(r"\(\?[A-Za-z-]*[:)]")  # (?:  (?i:  (?i)  (?-s)
_OPTIONAL_QUANTIFIER = re.compile(r"[?*]|\{0*,|\{0+(,[0-9]*)?\}")


@dataclass(frozen=True, slots=True)
class Problem:
    offset: int
    length: int
    message: str
    hint: str


_GROUP_PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("(?<=", "look-behind is not portable", "match the text itself, or use `parse` to extract it"),
    ("(?<!", "negative look-behind is not portable", "use a second condition with `!~`"),
    ("(?=", "look-ahead is not portable", "match the text itself, or use `parse` to extract it"),
    ("(?!", "negative look-ahead is not portable", "use a second condition with `!~`"),
    ("(?>", "atomic groups are not portable", "use a plain group `(…)`"),
    ("(?(", "conditional groups are not portable", "split the query into two conditions"),
    ("(?P=", "back-references are not portable", "compare captured fields with `==` instead"),
    ("(?R", "recursive patterns are not portable", "match a bounded depth explicitly"),
)


def check(body: str) -> list[Problem]:
    """Constructs of `body` outside the portable subset, in order of appearance."""
    problems: list[Problem] = []
    i, in_class = 0, False
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if not in_class and (nxt in "123456789" or nxt == "k"):
                length = 2
                while nxt in "123456789" and i + length < len(body) and body[i + length].isdigit():
                    length += 1
                if nxt == "k":
                    end = body.find(">", i)
                    length = (end - i + 1) if end != -1 else 2
                problems.append(
                    Problem(
                        i,
                        length,
                        "back-references are not portable",
                        "compare captured fields with `==` instead",
                    )
                )
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if body.startswith("[]", i) or body.startswith("[^]", i):
                i += 2 if body[i + 1] == "]" else 3
                continue
        elif ch == "(":
            for prefix, message, hint in _GROUP_PREFIXES:
                if body.startswith(prefix, i):
                    problems.append(Problem(i, len(prefix), message, hint))
                    break
        elif ch in "*+?}" and i + 1 < len(body) and body[i + 1] == "+":
            problems.append(
                Problem(
                    i + 1,
                    1,
                    "possessive quantifiers are not portable",
                    f"use a plain quantifier '{ch}'",
                )
            )
        i += 1
    return problems


def to_python(pattern: str) -> str:
    """`pattern` with `(?<name>` written as Python's `(?P<name>`."""
    return _NAMED_GROUP.sub(lambda m: f"(?P<{m.group(1)}>", pattern)


def group_names(pattern: str) -> tuple[str, ...]:
    """Named capture groups of `pattern`, in order."""
    return tuple(m.group(1) for m in _NAMED_GROUP.finditer(pattern))


def body_offset(body: str, position: int) -> int:
    """The offset in `body` (a literal as written) of `position` in
    `to_python(unescape_slashes(body))`, so that errors from `re` point at the user's text."""
    starts: list[int] = []  # body offset of each character of the unescaped pattern
    i = 0
    while i < len(body):
        if body.startswith("\\/", i):
            starts.append(i + 1)
            i += 2
        elif body[i] == "\\" and i + 1 < len(body):
            starts.extend((i, i + 1))
            i += 2
        else:
            starts.append(i)
            i += 1
    pattern = unescape_slashes(body)
    for match in _NAMED_GROUP.finditer(pattern):  # to_python inserts a P after each "(?"
        if pattern[match.start() + 2] == "<" and position > match.start() + 2:
            position -= 1
    return starts[position] if position < len(starts) else len(body)


def unescape_slashes(body: str) -> str:
    """The pattern of a `/…/` literal body: `\\/` becomes `/`, every other escape is kept."""
    return re.sub(r"\\(.)", lambda m: "/" if m.group(1) == "/" else m.group(0), body)


@dataclass(frozen=True, slots=True)
class Group:
    """A capturing group: its number, the text that opens it (`pattern[start:end]`, e.g. `(`
    or `(?<name>`), and whether some match of the whole pattern can leave it out (it sits in
    an alternative, or under a quantifier that allows zero repetitions)."""

    number: int
    start: int
    end: int
    optional: bool


@dataclass
class _Open:
    group: int | None  # the capturing group this parenthesis opens, if any
    inner: list[int]  # capturing groups opened inside it
    alternation: bool = False


def capture_groups(pattern: str) -> tuple[Group, ...]:
    """Every capturing group of `pattern`, in number order (one scan, no recursion)."""
    opens: list[tuple[int, int]] = []  # (start, end) of each group's opening text
    optional: set[int] = set()
    stack = [_Open(None, [])]
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            for lead in ("[^]", "[]"):
                if pattern.startswith(lead, i):
                    i += len(lead) - 1
                    break
        elif ch == "(":
            named = _NAMED_GROUP.match(pattern, i)
            setting = _FLAG_GROUP.match(pattern, i)
            if setting is not None and setting.group(0).endswith(")"):  # (?i): not a group
                i = setting.end()
                continue
            group = None
            if named is not None or not pattern.startswith("(?", i):
                opens.append((i, named.end() if named else i + 1))
                group = len(opens)
            stack.append(_Open(group, []))
        elif ch == "|":
            stack[-1].alternation = True
        elif ch == ")" and len(stack) > 1:
            closed = stack.pop()
            own = [closed.group] if closed.group is not None else []
            if closed.alternation:
                optional.update(closed.inner)
            if _OPTIONAL_QUANTIFIER.match(pattern, i + 1):
                optional.update(own + closed.inner)
            stack[-1].inner.extend(own + closed.inner)
        i += 1
    if stack[0].alternation:
        optional.update(stack[0].inner)
    return tuple(
        Group(n, start, end, n in optional) for n, (start, end) in enumerate(opens, start=1)
    )


def keep_groups(pattern: str, keep: frozenset[int] | set[int]) -> str:
    """`pattern` with only the capturing groups numbered in `keep` still capturing (renumbered
    from 1 in their order) and every other one written `(?:`; what matches is unchanged."""
    out, last = [], 0
    for group in capture_groups(pattern):
        out.append(pattern[last : group.start])
        out.append("(" if group.number in keep else "(?:")
        last = group.end
    out.append(pattern[last:])
    return "".join(out)
