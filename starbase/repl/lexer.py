"""A forgiving StarQL tokenizer for the editor: highlighting and completion context.

Requires nothing but the standard library. Guarantees: `tokenize(text)` never raises; it
covers every non-blank character of `text` with exactly one token, in order, whatever the
text (half-typed strings run to the end of their line as `STRING` with `closed=False`;
unknown characters are `ERROR` tokens). Token kinds follow the grammar
(`starbase/compiler/grammar/starql.lark`): `/` starts a regex where an operand is expected
(and after `parse FIELD`), and divides after one. This is not the parser: the compiler alone
decides what a query means; this module only has to agree with it on well-formed text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from starbase.compiler.format import STAGE_KEYWORDS


class Kind(StrEnum):
    KEYWORD = "keyword"  # stage keywords and by/as/asc/desc
    OPERATOR_WORD = "operator-word"  # and or not in contains startswith endswith
    CONSTANT = "constant"  # true false null
    FUNCTION = "function"  # a name followed by '('
    NAME = "name"  # a field path or a name
    QUOTED_NAME = "quoted-name"
    STRING = "string"
    REGEX = "regex"
    NUMBER = "number"
    DURATION = "duration"
    PARAM = "param"
    COMMENT = "comment"
    PIPE = "pipe"
    OPERATOR = "operator"
    PUNCT = "punct"  # ( ) , . =
    ERROR = "error"


KEYWORDS = frozenset({"from", *STAGE_KEYWORDS, "by", "as", "asc", "desc"})
OPERATOR_WORDS = frozenset({"and", "or", "not", "in", "contains", "startswith", "endswith"})
CONSTANTS = frozenset({"true", "false", "null"})


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    start: int  # offset into the text
    end: int
    text: str
    closed: bool = True  # False for a string, quoted name or regex still being typed


_PATTERNS: tuple[tuple[Kind | None, re.Pattern[str]], ...] = (
    (None, re.compile(r"[ \t\r\n]+")),
    (Kind.COMMENT, re.compile(r"#[^\n]*")),
    (Kind.DURATION, re.compile(r"[0-9]+(?:ns|us|ms|s|m|h|d|w)(?![A-Za-z0-9_])")),
    (Kind.NUMBER, re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![A-Za-z_])")),
    (Kind.PARAM, re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")),
    (Kind.NAME, re.compile(r"[A-Za-z_][A-Za-z0-9_]*")),
    (Kind.OPERATOR, re.compile(r"==|!=|<=|>=|!~|[<>~+\-*%]")),
    (Kind.PIPE, re.compile(r"\|")),
    (Kind.PUNCT, re.compile(r"[(),.=]")),
)
_STRING = re.compile(r"""("|')((?:\\.|(?!\1)[^\\\n])*)(\1)?""")
_QUOTED_NAME = re.compile(r"`([^`\n]*)(`)?")
_REGEX = re.compile(r"/((?:\\.|[^/\\\n])*)(/[A-Za-z]*)?")
# After these, an expression has just ended: `/` divides rather than starting a regex.
_OPERAND_ENDS = frozenset({Kind.NAME, Kind.QUOTED_NAME, Kind.NUMBER, Kind.DURATION, Kind.PARAM})
_OPERAND_ENDS |= {Kind.STRING, Kind.REGEX, Kind.CONSTANT}


def tokenize(text: str) -> list[Token]:
    """Every token of `text`, comments included, whitespace skipped."""
    tokens: list[Token] = []
    pos = 0
    parse_field = False  # just after `parse FIELD`: a regex may follow a name
    while pos < len(text):
        char = text[pos]
        token: Token | None = None
        if char in "\"'":
            m = _STRING.match(text, pos)
            assert m is not None
            token = Token(Kind.STRING, pos, m.end(), m.group(0), m.group(3) is not None)
        elif char == "`":
            m = _QUOTED_NAME.match(text, pos)
            assert m is not None
            token = Token(Kind.QUOTED_NAME, pos, m.end(), m.group(0), m.group(2) is not None)
        elif char == "/":
            if _expects_operand(tokens) or parse_field:
                m = _REGEX.match(text, pos)
                assert m is not None
                token = Token(Kind.REGEX, pos, m.end(), m.group(0), m.group(2) is not None)
            else:
                token = Token(Kind.OPERATOR, pos, pos + 1, "/")
        else:
            for kind, pattern in _PATTERNS:
                m = pattern.match(text, pos)
                if m is None:
                    continue
                if kind is None:  # whitespace
                    pos = m.end()
                    break
                token = Token(_classify(kind, m.group(0), text, m.end()), pos, m.end(), m[0])
                break
            else:
                token = Token(Kind.ERROR, pos, pos + 1, char)
        if token is None:
            continue
        parse_field = _after_parse_field(tokens, token, parse_field)
        tokens.append(token)
        pos = token.end
    return tokens


def _classify(kind: Kind, word: str, text: str, end: int) -> Kind:
    if kind is not Kind.NAME:
        return kind
    if word in KEYWORDS:
        return Kind.KEYWORD
    if word in OPERATOR_WORDS:
        return Kind.OPERATOR_WORD
    if word in CONSTANTS:
        return Kind.CONSTANT
    rest = text[end:].lstrip(" \t")
    return Kind.FUNCTION if rest.startswith("(") else Kind.NAME


def _expects_operand(tokens: list[Token]) -> bool:
    significant = [t for t in tokens if t.kind is not Kind.COMMENT]
    if not significant:
        return True
    last = significant[-1]
    if last.kind in _OPERAND_ENDS:
        return False
    return not (last.kind is Kind.PUNCT and last.text == ")")


def _after_parse_field(tokens: list[Token], token: Token, state: bool) -> bool:
    """Whether, after `token`, we are right behind the field path of a `parse` stage."""
    if token.kind is Kind.COMMENT:
        return state
    if token.kind is Kind.KEYWORD and token.text == "parse":
        return False
    previous = next((t for t in reversed(tokens) if t.kind is not Kind.COMMENT), None)
    if token.kind in (Kind.NAME, Kind.QUOTED_NAME, Kind.CONSTANT, Kind.KEYWORD, Kind.FUNCTION):
        if previous is not None and previous.kind is Kind.KEYWORD and previous.text == "parse":
            return True
        return state and previous is not None and previous.text == "."
    return state and token.text == "."


def previous_significant(tokens: list[Token], offset: int) -> Token | None:
    """The last non-comment token that ends at or before `offset`."""
    for token in reversed(tokens):
        if token.end <= offset and token.kind is not Kind.COMMENT:
            return token
    return None


def token_at(tokens: list[Token], offset: int) -> Token | None:
    """The token containing `offset` or ending exactly there (the one being typed)."""
    for token in tokens:
        if token.start < offset <= token.end:
            return token
    return None
