"""Line layouts: what each line looks like, and the raw-mapping shape of a group of alike lines.

Requires: the models (`models.Models`) for token roles. Guarantees:
- `view_lines(lines, models)` gives each line a `LineView`: its family (rules decide the
  standard formats exactly — JSON object, RFC 5424, access log, RFC 3164, logfmt, stack-trace
  continuation — and the token-role model reads everything else), its timestamp, its header
  tokens with roles, and a `signature` under which alike lines group.
- `shape_for(group)` builds the raw-mapping shape (plain data in the schema of
  `starbase.mappings.raw`) that parses the group, with per-field evidence.
Every regex built here is anchored and uses negated classes or lazy groups followed by
literals, so matching stays linear in the line length.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the router detects formats by rule without loading the models
    from starbase.analyzer.models import Models
from starbase.analyzer.timestamps import Found, find_timestamp, parses_as
from starbase.analyzer.tokens import Token, header_tokens
from starbase.mappings.raw import LEVEL_WORDS, parse_json_object, parse_logfmt
from starbase.mappings.timeformats import compile_time_format

ACCESS = (
    r"^(?<client>\S+) (?<ident>\S+) (?<user>\S+) \[(?<time>[^\]]+)\] "
    r'"(?<method>[A-Z]+) (?<path>\S+) (?<protocol>[^"]*)" (?<status>\d{3}) (?<bytes>\d+|-)'
    r'(?: "(?<referer>[^"]*)" "(?<user_agent>[^"]*)")?(?<extra>.*)$'
)
SYSLOG5424 = (
    r"^<(?<pri>\d{1,3})>1 (?<time>\S+) (?<host>\S+) (?<app>\S+) (?<procid>\S+) (?<msgid>\S+) "
    r"(?<structured>-|\[.*?\]) ?(?<message>.*)$"
)
SYSLOG3164 = (
    r"^(?:<(?<pri>\d{1,3})>)?(?<time>[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}) (?<host>\S+) "
    r"(?<app>[^\s\[:]+)(?:\[(?<pid>\d+)\])?: (?<message>.*)$"
)
CONTINUATION = r"^(?:\s+at |\s+\.\.\. \d+ more|Caused by: |Traceback \(most recent|\s+File \")"
_RULES = {
    "syslog5424": re.compile(SYSLOG5424.replace("(?<", "(?P<")),
    "access": re.compile(ACCESS.replace("(?<", "(?P<")),
    "syslog3164": re.compile(SYSLOG3164.replace("(?<", "(?P<")),
}
_CONTINUATION = re.compile(CONTINUATION)
_LOGFMT_PAIRS = re.compile(r'[^\s="]+=(?:"(?:[^"\\]|\\.)*"|[^\s"]*)')
ROLE_FIELD = {
    "level": "level",
    "logger": "logger",
    "thread": "thread",
    "pid": "pid",
    "host": "host",
    "service": "service",
    "ident": "id",
}
JSON_TIME_KEYS = ("timestamp", "@timestamp", "time", "ts", "datetime", "date", "t", "eventtime")
JSON_LEVEL_KEYS = ("level", "lvl", "severity", "loglevel", "log.level", "levelname", "@l")
JSON_MESSAGE_KEYS = ("message", "msg", "@m", "log", "text", "event", "body")
JSON_SERVICE_KEYS = ("service", "service.name", "app", "application", "component")
JSON_HOST_KEYS = ("host", "hostname", "host.name")
JSON_TRACE_KEYS = ("trace_id", "traceid", "trace.id", "traceId")
JSON_SPAN_KEYS = ("span_id", "spanid", "span.id", "spanId")
_LETTER_WORDS = {"T": "trace", "D": "debug", "I": "info", "W": "warn", "E": "error", "F": "fatal"}
_LETTER_WORDS |= {"V": "verbose", "C": "critical"}


@dataclass
class LineView:
    index: int
    text: str
    family: str
    ts: Found | None = None
    tokens: list[Token] = field(default_factory=list)
    roles: list[tuple[str, float]] = field(default_factory=list)
    header: int = 0  # number of header tokens (the message starts at token `header`)
    confidence: float = 1.0
    signature: tuple[Any, ...] = ()


def rule_family(line: str) -> str | None:
    """The family of a line in a standard format, or None (left to the models)."""
    stripped = line.lstrip()
    if stripped.startswith("{") and parse_json_object(stripped) is not None:
        return "json"
    for family, pattern in _RULES.items():
        if pattern.match(line):
            return family
    if _CONTINUATION.match(line):
        return "continuation"
    pairs = _LOGFMT_PAIRS.findall(line)
    if (
        len(pairs) >= 2
        and re.match(r"^\s*[^\s=\"]+=", line)
        and sum(map(len, pairs)) >= 0.6 * len(line.replace(" ", ""))
    ):
        return "logfmt"
    return None


def _lookup(keys: Sequence[str], candidates: tuple[str, ...]) -> str | None:
    lowered = {k.lower(): k for k in keys}
    return next((lowered[c.lower()] for c in candidates if c.lower() in lowered), None)


def _key_roles(line: str, family: str) -> tuple[str | None, str | None, str | None]:
    """The keys a structured line names its time, level and message with (by name)."""
    parsed = parse_json_object(line) if family == "json" else parse_logfmt(line)
    keys = list(parsed or {})
    return (
        _lookup(keys, JSON_TIME_KEYS),
        _lookup(keys, JSON_LEVEL_KEYS),
        _lookup(keys, JSON_MESSAGE_KEYS),
    )


def view_lines(lines: Sequence[str], models: Models, received_ns: int = 0) -> list[LineView]:
    views: list[LineView] = []
    pending: list[LineView] = []
    for index, line in enumerate(lines):
        family = rule_family(line)
        view = LineView(index, line, family or "app")
        if family is None:
            view.ts = find_timestamp(line, received_ns)
            span = (view.ts.start, view.ts.end) if view.ts else None
            view.tokens = header_tokens(line, span)
            pending.append(view)
        elif family in ("json", "logfmt"):
            view.signature = (family, *_key_roles(line, family))
        else:
            view.signature = (family,)
        views.append(view)
    for view, roles in zip(pending, models.token_roles([v.tokens for v in pending]), strict=True):
        view.roles = roles
        _settle_header(view)
    return views


def is_level_token(token: Token) -> bool:
    """A header token that spells a level: a known word (or one `level_table` maps) written
    in capitals or set apart by brackets or a colon, or a single level letter."""
    text = token.text
    if len(text) == 1:
        return text in _LETTER_WORDS
    if not text.isalnum() or not (
        text.isupper() or (token.open in "[(<" and token.open) or token.suffix == ":"
    ):
        return False
    return text.lower() in LEVEL_WORDS or bool(level_table([text]))


_ID_TOKEN = re.compile(r"[*#]?\d+")
_PUNCTUATION = re.compile(r"[-|:>=~*]+")


def _first_message(view: LineView) -> int:
    return next((i for i, (r, _) in enumerate(view.roles) if r == "message"), len(view.roles))


def _vocabulary_roles(view: LineView) -> None:
    """Rules over the model, for what a vocabulary knows better than token shapes:
    - the first level-looking token (`is_level_token`) in the header region (up to one token
      past where the model starts the message, when the tokens between are bracketed or
      numbers) is the level, and no other token is;
    - a `key=value` token starts the message;
    - at the message start, a connection or thread number (`*123`, `#45`), a run of
      punctuation (`--`, `|`) and then a `name:` are header fields;
    - a word padded with 2+ spaces after the level or time is a header column (a logger)."""
    roles, tokens = view.roles, view.tokens
    first = _first_message(view)
    level_found = False
    for i, token in enumerate(tokens[: min(len(tokens), 6)]):
        if token.is_timestamp:
            continue
        if "=" in token.text and i <= first:
            roles[i] = ("message", 0.9)
            break
        between = all(t.open or _ID_TOKEN.fullmatch(t.text) for t in tokens[first:i])
        if not level_found and i <= first + 1 and between and is_level_token(token):
            for j in range(i):
                if roles[j][0] == "level" or (j >= first and roles[j][0] == "message"):
                    roles[j] = ("other", 0.5)
            roles[i] = ("level", max(0.9, roles[i][1]))
            level_found = True
            first = max(first, i + 1)
            continue
        if i >= first:
            break
    first = _first_message(view)
    head = tokens[first] if first < len(tokens) - 1 else None
    if head is not None and head.prefix and _ID_TOKEN.fullmatch(head.prefix + head.text):
        roles[first] = ("ident", 0.6)
        first += 1
    while first < len(tokens) - 1:
        token = tokens[first]
        if _PUNCTUATION.fullmatch(token.text):
            roles[first] = ("other", 0.6)
        elif (
            first > 0
            and _PUNCTUATION.fullmatch(tokens[first - 1].text)
            and token.suffix == ":"
            and token.text.replace(".", "").replace("_", "").isalnum()
        ):
            roles[first] = ("logger", 0.6)
        else:
            break
        first += 1
    if 0 < first < len(tokens) - 1 and roles[first - 1][0] in ("level", "timestamp"):
        token, after = tokens[first], tokens[first + 1]
        if (
            after.outer_start - token.outer_end >= 2
            and token.text.isalnum()
            and len(token.text) <= 32
        ):
            roles[first] = ("logger", 0.6)


def is_level_word(text: str) -> bool:
    """A word a level vocabulary can map (known, mappable like `DEBUG1`, or a level letter)."""
    return text.lower() in LEVEL_WORDS or bool(level_table([text]))


def _settle_header(view: LineView) -> None:
    """Header = the tokens before the first predicted message token (the timestamp counts)."""
    _vocabulary_roles(view)
    for i, (role, p) in enumerate(view.roles):
        if role == "level" and not is_level_word(view.tokens[i].text):
            view.roles[i] = ("message", p / 2)  # a level needs a vocabulary word
    header = 0
    probabilities = []
    for i, (role, p) in enumerate(view.roles):
        if role == "message":
            probabilities.append(p)
            break
        header = i + 1
        probabilities.append(p)
    view.header = header
    view.confidence = sum(probabilities) / len(probabilities) if probabilities else 0.5
    if header == 0 or (view.ts is None and all(r != "level" for r, _ in view.roles[:header])):
        view.family = "plain"
        view.header = 0
        view.signature = ("plain",)
        return
    elements = []
    for i in range(header):
        token, role = view.tokens[i], view.roles[i][0]
        kind = f"ts:{view.ts.spec}" if token.is_timestamp and view.ts else role
        elements.append((kind, token.open, token.close, token.prefix, token.suffix))
    message_words = (
        view.text[view.tokens[header].outer_start :] if header < len(view.tokens) else ""
    )
    keyvalue = len(_LOGFMT_PAIRS.findall(message_words)) >= 2
    view.family = "keyvalue" if keyvalue else "app"
    view.signature = ("app", tuple(elements), keyvalue)


# ---------------------------------------------------------------- shapes


def _gap(views: Sequence[LineView], k: int) -> str:
    """Regex for the text between header token k-1 and k (whitespace only here)."""
    gaps = set()
    for v in views:
        before = v.tokens[k - 1].outer_end if k > 0 else 0
        gaps.add(v.text[before : v.tokens[k].outer_start])
    if gaps == {""}:
        return ""
    if all(g and set(g) == {" "} for g in gaps):
        return " +"
    if all(g == "\t" for g in gaps):
        return r"\t"
    if all(g.isspace() for g in gaps if g):
        return r"\s*" if "" in gaps else r"\s+"
    return r"\s*"


def escape(text: str) -> str:
    """`text` as a literal in the portable regex subset (only metacharacters escaped)."""
    return re.sub(r"([.^$*+?()\[\]{}|\\/])", r"\\\1", text)


def _value_regex(values: list[str], close: str, suffix: str) -> str:
    if all(v.isdigit() for v in values):
        return r"\d+"
    if all(v.isalpha() and v.isascii() for v in values):
        return "[A-Za-z]+"
    if close:
        if any(close in v for v in values):
            return ".*?"
        return f"[^{escape(close)}]*"
    stop = escape(suffix) if suffix else ""
    return rf"[^\s{stop}]+"


def _level_regex(values: list[str]) -> str:
    """The level words seen plus the whole default vocabulary in the same letter cases, so the
    shape matches every level of the layout but not an ordinary first word of a message."""
    words = set(values)
    if all(len(v) == 1 for v in values):
        letters = set(_LETTER_WORDS) if any(v.isupper() for v in values) else set()
        letters |= {k.lower() for k in _LETTER_WORDS} if any(v.islower() for v in values) else set()
        return "[" + "".join(sorted(letters | words)) + "]"
    for style in {
        ("upper" if v.isupper() else "lower" if v.islower() else "title") for v in values
    }:
        for word in LEVEL_WORDS:
            words.add(
                word.upper() if style == "upper" else word if style == "lower" else word.title()
            )
    return "(?:" + "|".join(escape(w) for w in sorted(words, key=lambda w: (-len(w), w))) + ")"


def _noncapturing(regex: str) -> str:
    return re.sub(r"\((?!\?)", "(?:", regex)


def level_table(values: Sequence[str]) -> dict[str, str]:
    """Level words seen that the default vocabulary lacks, mapped to a level name."""
    extra: dict[str, str] = {}
    for value in set(values):
        word = value.strip()
        lower = word.lower()
        if lower in LEVEL_WORDS or not word:
            continue
        if len(word) == 1 and word.upper() in _LETTER_WORDS:
            extra[word] = _LETTER_WORDS[word.upper()]
            continue
        base = lower.rstrip("0123456789")
        if base in LEVEL_WORDS:
            extra[word] = base
        elif lower == "log":
            extra[word] = "info"
        else:
            prefix = [w for w in LEVEL_WORDS if len(lower) >= 3 and w.startswith(lower)]
            if prefix:
                extra[word] = prefix[0]
    letters = [w for w in extra if len(w) == 1]
    if letters:  # a one-letter vocabulary: the letters not seen yet mean the same
        upper = letters[0].isupper()
        for letter, level in _LETTER_WORDS.items():
            extra.setdefault(letter if upper else letter.lower(), level)
    return extra


def value_type(values: Sequence[str]) -> str:
    sample = [v for v in values if v not in ("", "-")][:200]
    if not sample:
        return "string"
    if all(re.fullmatch(r"[+-]?\d+", v) for v in sample):
        return "int"
    if all(re.fullmatch(r"[+-]?\d*\.\d+|[+-]?\d+", v) for v in sample):
        return "float"
    if all(re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+:[0-9a-fA-F:.]+", v) for v in sample):
        return "ip"
    if all(v.lower() in ("true", "false") for v in sample):
        return "bool"
    if all(parses_as(v) for v in sample[:20]):
        return "timestamp"
    return "string"


@dataclass
class ShapeProposal:
    family: str
    data: dict[str, Any]  # one `shapes` entry of a raw mapping
    evidence: dict[str, str]  # field -> why
    confidence: float
    time_format: str | None
    specificity: int = 0  # header fields a shape requires: more specific shapes are tried first


def shape_for(name: str, family: str, views: Sequence[LineView]) -> ShapeProposal:
    if family in ("json", "logfmt"):
        return _keyed_shape(name, family, views)
    if family == "access":
        data = {
            "name": name,
            "parse": {"kind": "regex", "pattern": ACCESS},
            "timestamp": {"field": "time", "format": "apache"},
            "types": {"status": "int", "bytes": "int"},
        }
        evidence = {"timestamp": "access-log time `[dd/Mmm/yyyy:HH:MM:SS +zzzz]`"}
        evidence["message"] = "access lines have no separate message: the whole line"
        return ShapeProposal(family, data, evidence, 0.99, "apache")
    if family in ("syslog3164", "syslog5424"):
        pattern = SYSLOG3164 if family == "syslog3164" else SYSLOG5424
        spec = "syslog" if family == "syslog3164" else "iso8601"
        data = {
            "name": name,
            "parse": {"kind": "regex", "pattern": pattern},
            "timestamp": {"field": "time", "format": spec},
            "severity": {"field": "pri", "vocabulary": "syslog_pri"},
            "message": "message",
            "service": "app",
            "host": "host",
        }
        evidence = {
            "timestamp": f"{family} header time ({spec})",
            "severity": "syslog PRI: severity = PRI % 8",
            "service": "the syslog APP-NAME / tag",
            "host": "the syslog HOSTNAME",
        }
        return ShapeProposal(family, data, evidence, 0.99, spec)
    return _header_shape(name, family, views)


def _header_shape(name: str, family: str, views: Sequence[LineView]) -> ShapeProposal:
    first = views[0]
    header = first.header
    parts = ["^"]
    data: dict[str, Any] = {"name": name}
    evidence: dict[str, str] = {}
    used: Counter[str] = Counter()
    time_format = None
    for k in range(header):
        token = first.tokens[k]
        role = first.roles[k][0]
        values = [v.tokens[k].text for v in views]
        parts.append(_gap(views, k))
        parts.append(escape(token.prefix) + escape(token.open))
        if token.is_timestamp and first.ts is not None:
            spec = first.ts.spec
            regex = _noncapturing(compile_time_format(spec).regex)
            parts.append(f"(?<time>{regex})")
            data["timestamp"] = {"field": "time", "format": spec}
            time_format = spec
            evidence["timestamp"] = f"`{first.ts.text}` read as {spec} at offset {first.ts.start}"
        elif role == "other" and len(set(values)) == 1:
            parts.append(escape(values[0]))
        else:
            base = ROLE_FIELD.get(role, "field")
            used[base] += 1
            capture = base if used[base] == 1 and base != "field" else f"{base}{used[base]}"
            parts.append(f"(?<{capture}>{_value_regex(values, token.close, token.suffix)})")
            p = sum(v.roles[k][1] for v in views) / len(views)
            if role == "level":
                parts[-1] = f"(?<{capture}>{_level_regex(values)})"
                data["severity"] = {"field": capture}
                extra = level_table(values)
                if extra:
                    data["severity"]["levels"] = extra
                seen = ", ".join(sorted(set(values))[:6])
                evidence["severity"] = f"token {k} is a level word ({seen}); model p={p:.2f}"
            elif role in ("service", "host"):
                data[role] = capture
                evidence[role] = f"token {k} tagged {role}, p={p:.2f}"
            else:
                evidence[capture] = f"token {k} tagged {role}, p={p:.2f}"
        parts.append(escape(token.close) + escape(token.suffix))
    parts.append(r"\s*(?<message>.*)$" if header else "(?<message>.*)$")
    data["parse"] = {"kind": "regex", "pattern": "".join(parts)}
    data["message"] = "message"
    evidence["message"] = f"the text after {header} header token(s)"
    if family == "keyvalue":
        data["body"] = {"field": "message", "kind": "logfmt"}
        evidence["attributes"] = "key=value pairs in the message"
    confidence = sum(v.confidence for v in views) / len(views)
    return ShapeProposal(family, _ordered(data), evidence, confidence, time_format, header)


def _ordered(data: dict[str, Any]) -> dict[str, Any]:
    order: tuple[str, ...] = ("name", "when", "parse", "body", "timestamp", "severity")
    order = (*order, "message", "service", "host", "trace_id", "span_id", "attributes", "types")
    return {k: data[k] for k in order if k in data}


def _keyed_shape(name: str, family: str, views: Sequence[LineView]) -> ShapeProposal:
    records = []
    for v in views:
        parsed = parse_json_object(v.text) if family == "json" else parse_logfmt(v.text)
        records.append(parsed or {})
    keys: Counter[str] = Counter(k for r in records for k in r)
    common = [k for k, n in keys.most_common() if n >= 0.5 * len(records)]
    data: dict[str, Any] = {"name": name}
    named = [k for k in views[0].signature[1:] if k]
    required = "".join(
        f'.*"{escape(k)}"' if family == "json" else f"(?:^|.* ){escape(k)}=" for k in named[:1]
    )
    if family == "json":
        data["when"] = r"^\s*\{" + required
    elif required:
        data["when"] = "^" + required
    data["parse"] = {"kind": family}
    evidence: dict[str, str] = {}
    time_format = None

    def by_name(candidates: tuple[str, ...]) -> str | None:
        lowered = {k.lower(): k for k in common}
        return next((lowered[c.lower()] for c in candidates if c.lower() in lowered), None)

    time_key = by_name(JSON_TIME_KEYS)
    for key in [time_key] if time_key else common:
        values = [r[key] for r in records if key in r][:50]
        specs = Counter(parses_as(v) for v in values)
        spec, hits = specs.most_common(1)[0]
        if spec and hits >= 0.8 * len(values):
            data["timestamp"] = {"field": key, "format": spec}
            time_format = spec
            evidence["timestamp"] = f"key '{key}' holds {spec} times (e.g. {values[0]})"
            break
    level_key = by_name(JSON_LEVEL_KEYS)
    if level_key is None:
        for key in common:
            values = [r.get(key, "") for r in records]
            if sum(v.lower() in LEVEL_WORDS for v in values) >= 0.8 * len(values):
                level_key = key
                break
    if level_key:
        values = [r[level_key] for r in records if level_key in r]
        data["severity"] = {"field": level_key}
        extra = level_table(values)
        if extra:
            data["severity"]["levels"] = extra
        evidence["severity"] = f"key '{level_key}' holds level words"
    message_key = by_name(JSON_MESSAGE_KEYS)
    if message_key is None:
        taken = {time_key, level_key}
        texts = [k for k in common if k not in taken]
        if texts:
            message_key = max(texts, key=lambda k: sum(len(r.get(k, "")) for r in records))
    if message_key:
        data["message"] = message_key
        evidence["message"] = f"key '{message_key}'"
    for universal, names in (
        ("service", JSON_SERVICE_KEYS),
        ("host", JSON_HOST_KEYS),
        ("trace_id", JSON_TRACE_KEYS),
        ("span_id", JSON_SPAN_KEYS),
    ):
        found = by_name(names)
        if found:
            data[universal] = found
            evidence[universal] = f"key '{found}'"
    types = {}
    for key in common:
        kind = value_type([r[key] for r in records if key in r])
        if kind != "string":
            types[key] = kind
    if types:
        data["types"] = types
    return ShapeProposal(family, _ordered(data), evidence, 0.97, time_format)


def example(view: LineView) -> str:
    return view.text if len(view.text) <= 200 else view.text[:197] + "..."


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)
