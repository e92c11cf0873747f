"""The header tokens of a line and the features the token-role model reads.

Requires: a line and (optionally) its timestamp span. Guarantees: `header_tokens` cuts the
first `MAX_TOKENS` tokens of a line: the timestamp span is one token (role `timestamp`, with a
bracket around it kept as its wrapper), a balanced `[…]`, `(…)`, `<…>` or `"…"` group is one
token with its wrapper, any other token is a run of non-space characters with one trailing
`:`, `,`, `;`, `]` or `)` kept apart as its suffix and a leading `#`, `*` or `@` as its prefix.
Tokens keep their offsets, so a token's role maps back to a span of the line. Scanning stops
after `MAX_TOKENS` tokens or `WINDOW` characters, so its cost per line is bounded.
`features(tokens, i)` describes token i and its neighbours as a dict for a feature hasher.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from starbase.mappings.raw import LEVEL_WORDS

MAX_TOKENS = 12
WINDOW = 240
_CLOSERS = {"[": "]", "(": ")", "<": ">", '"': '"', "{": "}"}
_SUFFIXES = ":,;])"
_PREFIXES = "#*@"
_SHAPE = re.compile(r"[A-Z]+|[a-z]+|\d+|\s+|.")
LETTER_LEVELS = frozenset("TDIWEFVC")


@dataclass(frozen=True, slots=True)
class Token:
    text: str  # the value, without wrapper, prefix or suffix
    start: int  # offset of the value
    end: int
    outer_start: int  # offset including the wrapper and prefix
    outer_end: int  # offset including the wrapper and suffix
    open: str = ""
    close: str = ""
    prefix: str = ""
    suffix: str = ""
    is_timestamp: bool = False


def _group_end(line: str, start: int, limit: int) -> int:
    """Index after the bracket closing the one at `start`, or -1 (nesting counted)."""
    opener = line[start]
    closer = _CLOSERS[opener]
    depth = 0
    i = start
    while i < limit:
        ch = line[i]
        if opener == '"':
            if ch == "\\":
                i += 2
                continue
            if ch == '"' and i > start:
                return i + 1
        elif ch == opener:
            depth += 1
        elif ch == closer:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def _plain_tokens(line: str, start: int, stop: int, out: list[Token], budget: int) -> None:
    i = start
    while i < stop and len(out) < budget:
        while i < stop and line[i].isspace():
            i += 1
        if i >= stop:
            return
        ch = line[i]
        if ch in _CLOSERS and ch != "{":
            end = _group_end(line, i, min(stop, i + 200))
            if end > i + 1:
                j = end
                suffix = ""
                if j < stop and line[j] in ":,;":
                    suffix, j = line[j], j + 1
                out.append(
                    Token(
                        line[i + 1 : end - 1], i + 1, end - 1, i, j, ch, line[end - 1], "", suffix
                    )
                )
                i = j
                continue
        j = i
        while j < stop and not line[j].isspace():
            j += 1
        value_start, value_end = i, j
        prefix = suffix = ""
        if value_end - value_start > 1 and line[value_start] in _PREFIXES:
            prefix, value_start = line[value_start], value_start + 1
        if value_end - value_start > 1 and line[value_end - 1] in _SUFFIXES:
            suffix, value_end = line[value_end - 1], value_end - 1
        out.append(
            Token(line[value_start:value_end], value_start, value_end, i, j, "", "", prefix, suffix)
        )
        i = j


def header_tokens(line: str, ts: tuple[int, int] | None = None) -> list[Token]:
    """The first tokens of `line` (see the module docstring)."""
    stop = min(len(line), WINDOW)
    out: list[Token] = []
    if ts is None or ts[0] >= stop:
        _plain_tokens(line, 0, stop, out, MAX_TOKENS)
        return out
    start, end = ts
    open_ = close = ""
    outer_start, outer_end = start, end
    before_end = start
    if start > 0 and line[start - 1] in "[(<":
        open_, outer_start, before_end = line[start - 1], start - 1, start - 1
    _plain_tokens(line, 0, before_end, out, MAX_TOKENS)
    if open_ and end < len(line) and line[end] == _CLOSERS[open_]:
        close, outer_end = line[end], end + 1
    # an unclosed bracket before the time (`[2026-… #123]`) stays the time's opening
    suffix = ""
    if outer_end < len(line) and line[outer_end] in ":,;":
        suffix, outer_end = line[outer_end], outer_end + 1
    out.append(
        Token(line[start:end], start, end, outer_start, outer_end, open_, close, "", suffix, True)
    )
    _plain_tokens(line, outer_end, stop, out, MAX_TOKENS)
    return out


def shape_of(text: str) -> str:
    """`Aa`, `0`, `a.a.A`…: character classes, runs collapsed."""
    out = []
    for piece in _SHAPE.findall(text[:40]):
        ch = piece[0]
        out.append("A" if ch.isupper() else "a" if ch.islower() else "0" if ch.isdigit() else ch)
    return "".join(out)[:16]


def _own(token: Token, tag: str) -> dict[str, float]:
    """The features of one token, names prefixed by `tag` (cached: headers repeat a lot)."""
    key = (token.text, token.open, token.close, token.prefix, token.suffix, token.is_timestamp)
    return _own_cached(key, tag)


@lru_cache(maxsize=65536)
def _own_cached(key: tuple[str, str, str, str, str, bool], tag: str) -> dict[str, float]:
    text, open_, close, prefix, suffix, is_timestamp = key
    token = Token(text, 0, 0, 0, 0, open_, close, prefix, suffix, is_timestamp)
    lower = text.lower()
    f: dict[str, float] = {
        f"{tag}shape={shape_of(text)}": 1.0,
        f"{tag}wrap={token.open}{token.close}": 1.0,
        f"{tag}suffix={token.suffix}": 1.0,
        f"{tag}prefix={token.prefix}": 1.0,
        f"{tag}len={min(len(text), 20) // 3}": 1.0,
    }
    if token.is_timestamp:
        f[f"{tag}ts"] = 1.0
        return f
    if lower in LEVEL_WORDS:
        f[f"{tag}levelword"] = 1.0
        f[f"{tag}levelword_upper={text.isupper()}"] = 1.0
    if len(text) == 1 and text in LETTER_LEVELS:
        f[f"{tag}levelletter"] = 1.0
    if text.isdigit():
        f[f"{tag}digits"] = 1.0
    if re.fullmatch(r"[\w$]+(\.[\w$]+){1,}", text) and not text[0].isdigit():
        f[f"{tag}dotted"] = 1.0
    if re.fullmatch(r"[0-9a-fA-F-]{16,}", text):
        f[f"{tag}hexid"] = 1.0
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+(:\d+)?", text):
        f[f"{tag}ip"] = 1.0
    if text[:1].isupper() and text[1:].islower():
        f[f"{tag}capitalized"] = 1.0
    if text.isalpha() and text.islower():
        f[f"{tag}lowerword"] = 1.0
    if "=" in text:
        f[f"{tag}equals"] = 1.0
    if len(text) <= 12:
        f[f"{tag}word={lower}"] = 0.5
    return f


def _neighbour(token: Token, tag: str) -> dict[str, float]:
    return {k: v for k, v in _own(token, tag).items() if "word=" not in k}


def features(tokens: list[Token], i: int) -> dict[str, float]:
    """Features of token i: its own, its neighbours', its place relative to the timestamp."""
    f = dict(_own(tokens[i], ""))
    ts_index = next((k for k, t in enumerate(tokens) if t.is_timestamp), None)
    f[f"pos={min(i, 8)}"] = 1.0
    if ts_index is not None:
        f[f"rel_ts={max(-3, min(i - ts_index, 6))}"] = 1.0
    else:
        f["no_ts"] = 1.0
    for offset, tag in ((-1, "p1:"), (1, "n1:"), (-2, "p2:"), (2, "n2:")):
        k = i + offset
        if 0 <= k < len(tokens):
            f.update(_neighbour(tokens[k], tag))
        else:
            f[f"{tag}none"] = 1.0
    gap_before = tokens[i].outer_start - tokens[i - 1].outer_end if i > 0 else -1
    f[f"gap={min(gap_before, 3)}"] = 1.0
    if i + 1 < len(tokens):
        gap_after = tokens[i + 1].outer_start - tokens[i].outer_end
        f[f"gap_after={min(gap_after, 3)}"] = 1.0
    level_seen = any(
        t.text.lower() in LEVEL_WORDS or (len(t.text) == 1 and t.text in LETTER_LEVELS)
        for t in tokens[:i]
    )
    f[f"level_before={level_seen}"] = 1.0
    return f
