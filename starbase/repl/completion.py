"""What can be typed at the cursor: completion candidates for the query editor.

Requires: the lexer (for context) and a `Vocabulary` (source names, attribute and resource
keys seen in the data). Guarantees: `complete(text, offset, vocabulary)` is a pure function
that never raises; it returns the range of text the chosen item replaces (the word being
typed, a field path included) and candidates ranked: a candidate equal to the typed word
first (so a complete word is never replaced by a longer one by default), then prefix
matches, then other matches, each group in vocabulary order; nothing right after `as` (a
new name is being typed); otherwise depending on where the cursor is: sources after
`from`, stage keywords after `|`, durations after `since`, aggregates in `stats`, map keys
after `attributes.`/`resource.`, level names after `severity <op>`, else fields (universal,
and names the query itself defines), functions and operator words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from starbase.compiler.format import STAGE_KEYWORDS
from starbase.compiler.functions import AGGREGATES, SCALARS
from starbase.mappings.metamodel import LEVEL_TABLE, UNIVERSAL_FIELDS
from starbase.repl.lexer import (
    Kind,
    Token,
    previous_significant,
    token_at,
    tokenize,
)

STAGE_HINTS = {
    "where": "keep rows where a condition holds",
    "since": "only the last DURATION (since 1h)",
    "between": 'a time window: between "T1" and "T2"',
    "parse": "extract fields from text (glob, regex, json or logfmt)",
    "extend": "add computed fields",
    "fields": "keep only these columns",
    "stats": "aggregate: stats count() by service",
    "sort": "order rows (desc for largest first)",
    "limit": "first N rows",
    "dedup": "first row per distinct key",
    "patterns": "group rows by the template mined from a field",
    "join": "add a subquery's fields by key: join kind=left (from b | fields k, x) on k",
    "lookup": "add a configured table's fields by key: lookup owners on service",
}
DURATIONS = (
    ("15m", "last 15 minutes"),
    ("1h", "last hour"),
    ("24h", "last day"),
    ("7d", "last week"),
    ("5m", "last 5 minutes"),
)
LEVELS = tuple((level.name, f"severity {level.low}–{level.high}") for level in LEVEL_TABLE)
OPERATOR_WORDS = (
    ("and", "both conditions"),
    ("or", "either condition"),
    ("not", "negation"),
    ("contains", "substring test"),
    ("startswith", "prefix test"),
    ("endswith", "suffix test"),
    ("in", "one of a list: in (…)"),
)
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_MAP_FIELDS = ("attributes", "resource")


@dataclass(frozen=True, slots=True)
class Candidate:
    label: str  # what the menu shows
    insert: str  # what replaces the word being typed
    kind: str  # source | stage | function | aggregate | field | key | value | keyword
    detail: str = ""
    cursor_back: int = 0  # move the cursor this many characters left after inserting


@dataclass(frozen=True, slots=True)
class Completion:
    start: int  # the replaced range of the text: [start, end)
    end: int
    prefix: str
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class Vocabulary:
    sources: tuple[str, ...] = ()
    attribute_keys: tuple[str, ...] = ()
    resource_keys: tuple[str, ...] = ()
    source_details: dict[str, str] = field(default_factory=dict)


def complete(text: str, offset: int, vocabulary: Vocabulary) -> Completion:
    """Candidates for the word ending at `offset` (empty when nothing fits)."""
    offset = max(0, min(offset, len(text)))
    tokens = tokenize(text)
    current = token_at(tokens, offset)
    in_text = current is not None and current.kind in (Kind.STRING, Kind.REGEX, Kind.COMMENT)
    if in_text and not (
        current is not None
        and current.kind is Kind.STRING
        and _after_severity(tokens, current.start)
    ):
        return Completion(offset, offset, "", ())
    start = _word_start(text, offset)
    if current is not None and current.kind is Kind.STRING and current.start == start - 1:
        start -= 1  # a level name being typed: the quote is part of the word
    prefix = text[start:offset]
    end = _word_end(text, offset)
    candidates = _candidates(tokens, text, start, prefix, vocabulary)
    return Completion(start, end, prefix, tuple(_rank(candidates, prefix)))


def _word_start(text: str, offset: int) -> int:
    start = offset
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_.$"):
        start -= 1
    return start


def _word_end(text: str, offset: int) -> int:
    end = offset
    while end < len(text) and (text[end].isalnum() or text[end] in "_"):
        end += 1
    return end


def _candidates(
    tokens: list[Token], text: str, start: int, prefix: str, vocabulary: Vocabulary
) -> list[Candidate]:
    before = previous_significant(tokens, start)
    stage = _current_stage(tokens, start)
    if before is None:
        return [Candidate("from", "from ", "stage", "from SOURCE: where the rows come from")]
    if before.kind is Kind.KEYWORD and before.text == "as":
        return []  # a new name is being typed: any suggestion would only get in the way
    if stage == "from" and (before.text in ("from", ",")):
        details = vocabulary.source_details
        items = [Candidate(s, s, "source", details.get(s, "")) for s in vocabulary.sources]
        return [*items, Candidate("*", "*", "source", "every configured source")]
    if before.kind is Kind.PIPE:
        return [Candidate(k, k + " ", "stage", STAGE_HINTS[k]) for k in STAGE_KEYWORDS]
    if stage == "since" and before.text == "since":
        return [Candidate(d, d, "value", hint) for d, hint in DURATIONS]
    if _after_severity(tokens, start):
        return [Candidate(f'"{lv}"', f'"{lv}"', "value", hint) for lv, hint in LEVELS]
    for root in _MAP_FIELDS:
        if prefix.startswith(root + "."):
            keys = vocabulary.attribute_keys if root == "attributes" else vocabulary.resource_keys
            return [
                Candidate(f"{root}.{k}", f"{root}.{k}", "key", "seen in the data") for k in keys
            ]
    if stage == "sort" and (before.kind in (Kind.NAME, Kind.QUOTED_NAME) or before.text == ")"):
        return [
            Candidate("desc", "desc", "keyword", "largest first"),
            Candidate("asc", "asc", "keyword", "smallest first"),
        ]
    if before.kind in (Kind.NAME, Kind.QUOTED_NAME, Kind.STRING, Kind.NUMBER, Kind.DURATION):
        if stage == "stats" and not _has_word(tokens, start, "by"):
            return [
                Candidate("by", "by ", "keyword", "group by"),
                Candidate("as", "as ", "keyword", "name the column"),
            ]
        return [Candidate(w, w + " ", "keyword", hint) for w, hint in OPERATOR_WORDS]
    out: list[Candidate] = []
    if stage == "stats" and not _has_word(tokens, start, "by"):
        out += [_function(name, sig.doc, "aggregate") for name, sig in AGGREGATES.items()]
    elif stage == "stats":
        out.append(
            Candidate("bin(timestamp, 5m)", "bin(timestamp, 5m)", "function", "time buckets")
        )
    out += _fields(tokens, start)
    out += [_function(name, sig.doc, "function") for name, sig in SCALARS.items()]
    if stage == "where":
        out += [Candidate(w, w + " ", "keyword", hint) for w, hint in OPERATOR_WORDS[2:3]]
    return out


def _function(name: str, doc: str, kind: str) -> Candidate:
    if name in ("now",):
        return Candidate(f"{name}()", f"{name}()", kind, doc)
    return Candidate(f"{name}()", f"{name}()", kind, doc, cursor_back=1)


def _fields(tokens: list[Token], start: int) -> list[Candidate]:
    """Names the query defines before the cursor (newest first), then the universal fields."""
    defined: list[str] = []
    significant = [t for t in tokens if t.end <= start and t.kind is not Kind.COMMENT]
    for index, token in enumerate(significant[:-1]):
        nxt = significant[index + 1]
        if token.text == "as" and nxt.kind in (Kind.NAME, Kind.QUOTED_NAME):
            defined.append(nxt.text)
        if token.text in ("extend", ",") and nxt.kind is Kind.NAME:
            after = significant[index + 2] if index + 2 < len(significant) else None
            if after is not None and after.text == "=":
                defined.append(nxt.text)
        if token.kind is Kind.REGEX:
            defined += _named_groups(token.text)
    seen: set[str] = set()
    out: list[Candidate] = []
    for name in reversed(defined):
        if name not in seen:
            seen.add(name)
            out.append(Candidate(name, name, "field", "defined in this query"))
    for f in UNIVERSAL_FIELDS:
        if f.name not in seen:
            label = f.name + ("." if f.name in _MAP_FIELDS else "")
            out.append(Candidate(label, label, "field", f.description))
    return out


def _named_groups(regex: str) -> list[str]:
    names = []
    index = regex.find("(?<")
    while index >= 0:
        close = regex.find(">", index)
        name = regex[index + 3 : close] if close > 0 else ""
        if name and name[0] not in "=!":
            names.append(name)
        index = regex.find("(?<", index + 3)
    return names


def _current_stage(tokens: list[Token], offset: int) -> str:
    """The keyword of the stage the cursor is in ('from' before the first pipe)."""
    stage = "from"
    expect_keyword = False
    for token in tokens:
        if token.start >= offset:
            break
        if token.kind is Kind.PIPE:
            expect_keyword = True
            stage = ""
        elif expect_keyword and token.kind is not Kind.COMMENT:
            stage = token.text
            expect_keyword = False
    return stage


def _has_word(tokens: list[Token], offset: int, word: str) -> bool:
    """Whether `word` occurs in the current stage before `offset`."""
    for token in reversed([t for t in tokens if t.end <= offset]):
        if token.kind is Kind.PIPE:
            return False
        if token.text == word and token.kind is Kind.KEYWORD:
            return True
    return False


def _after_severity(tokens: list[Token], offset: int) -> bool:
    significant = [t for t in tokens if t.end <= offset and t.kind is not Kind.COMMENT]
    if len(significant) < 2:
        return False
    op, operand = significant[-1], significant[-2]
    if op.text in _COMPARISONS:
        return operand.text == "severity"
    if op.text == "," or op.text == "(":  # severity in ("warn", …
        return any(t.text == "severity" for t in significant[-6:]) and any(
            t.text == "in" for t in significant[-6:]
        )
    return False


def _rank(candidates: Iterable[Candidate], prefix: str) -> Sequence[Candidate]:
    if not prefix:
        return list(candidates)
    needle = _plain(prefix)
    exact: list[Candidate] = []
    first: list[Candidate] = []
    other: list[Candidate] = []
    for c in candidates:
        label = _plain(c.label)
        if label == needle:
            exact.append(c)  # the word is complete: keeping it stays the first choice
        elif label.startswith(needle):
            first.append(c)
        elif len(needle) >= 3 and needle in label and not needle.endswith("."):
            other.append(c)
    return exact + first + other


def adds_something(completion: Completion) -> bool:
    """Whether a candidate differs from the word already typed (else the menu has no use)."""
    needle = _plain(completion.prefix)
    return any(_plain(c.label) != needle for c in completion.candidates)


def _plain(word: str) -> str:
    return word.lower().lstrip("\"'")
