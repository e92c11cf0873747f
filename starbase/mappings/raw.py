"""Raw-line mappings: how the meta-model fields are read out of a line of text, and a reference
evaluator that applies one to a line.

Requires: a raw mapping YAML file (schema in README.md, "Raw-line mappings") or plain data.
Guarantees: `load_raw_mapping_file` returns a validated, frozen `RawMapping` or raises
`MappingError` with file:line:col for every problem (YAML syntax, unknown keys, unknown kinds,
regexes outside the portable subset, fields that name no capture, unknown time formats or
zones). A mapping is a list of `shapes` (line layouts) tried in order; each may have a `when`
discriminator, extracts named fields by one of the parse kinds (`regex`, `grok` and `delimited`
all become one portable regex; `json`; `logfmt`), optionally parses one field's text as a JSON
or logfmt `body`, and says which field gives `timestamp` (with a time format and zone),
`severity` (through a level vocabulary), `message`, `service`, `host`, `trace_id`, `span_id`;
every other field becomes `attributes.NAME`.

`RawMapping.evaluate(line, received_ns)` is the reference semantics (the query-time compilation
must agree with it): the first shape whose `when` and parse both match gives the record; a line
no shape matches keeps `message` = the line and `timestamp` = the time received, the rest null.
Everything here is regex-shaped on purpose: each step has a direct SQL form (`regexp_like`,
`regexp_match`, CASE over shapes, per-key regexes for JSON/logfmt, CASE over level words).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from starbase.compiler.regex import group_names, to_python
from starbase.mappings.loader import load_validated
from starbase.mappings.model import MappingProblems, Problem, check_pattern, suggest
from starbase.mappings.timeformats import (
    TimeFormatError,
    compile_time_format,
    resolve_zone,
)

# ---------------------------------------------------------------- vocabularies (defined once)

# Raw lines are stored by the day they were received. A line's event time is assumed no later
# than this after its receipt (clocks ahead of the router's); it may be any time earlier.
RECEIVED_SKEW_NS = 3600 * 1_000_000_000

# Level words (case-folded) -> OpenTelemetry severity number. Syslog keywords follow the OTel
# data model's syslog mapping (notice INFO2, crit ERROR2, alert ERROR3, emerg FATAL).
LEVEL_WORDS: dict[str, int] = {
    "trace": 1,
    "finest": 1,
    "finer": 2,
    "verbose": 2,
    "debug": 5,
    "fine": 5,
    "config": 6,
    "dbug": 5,
    "info": 9,
    "information": 9,
    "informational": 9,
    "notice": 10,
    "warn": 13,
    "warning": 13,
    "error": 17,
    "err": 17,
    "eror": 17,
    "severe": 17,
    "crit": 18,
    "critical": 18,
    "alert": 19,
    "fatal": 21,
    "emerg": 21,
    "emergency": 21,
    "panic": 21,
}
# Syslog severity 0-7 (PRI % 8) as keyword and number.
SYSLOG_SEVERITIES: tuple[tuple[str, int], ...] = (
    ("emerg", 21),
    ("alert", 19),
    ("crit", 18),
    ("err", 17),
    ("warning", 13),
    ("notice", 10),
    ("info", 9),
    ("debug", 5),
)
# How the severity field's text becomes a number: `words` (LEVEL_WORDS + the mapping's own
# `levels`), `syslog_pri` (a PRI number: severity = PRI % 8), `syslog_severity` (0-7).
VOCABULARIES = ("words", "syslog_pri", "syslog_severity")
FIELD_TYPES = ("string", "int", "float", "bool", "timestamp", "ip", "duration")
UNIVERSAL_TEXT_FIELDS = ("service", "host", "trace_id", "span_id")

# Grok-like names -> portable regex. `%{NAME:capture}` captures, `%{NAME}` does not.
GROK: dict[str, str] = {
    "INT": r"[+-]?\d+",
    "POSINT": r"\d+",
    "NUMBER": r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)",
    "WORD": r"\w+",
    "NOTSPACE": r"\S+",
    "SPACE": r"\s*",
    "DATA": r".*?",
    "GREEDYDATA": r".*",
    "QUOTEDSTRING": r'"(?:[^"\\]|\\.)*"',
    "QS": r'"(?:[^"\\]|\\.)*"',
    "UUID": r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}",
    "IPV4": r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}",
    "IPV6": r"[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+",
    "IP": r"(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+)",
    "HOSTNAME": r"[0-9A-Za-z][0-9A-Za-z_.-]*",
    "IPORHOST": r"[0-9A-Za-z:][0-9A-Za-z_.:-]*",
    "USER": r"[A-Za-z0-9._-]+",
    "PROG": r"[\w./-]+",
    "PATH": r"(?:/[^\s]*)+",
    "URIPATHPARAM": r"\S+",
    "LOGLEVEL": r"[A-Za-z]+",
    "HTTPDATE": r"\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}",
    "SYSLOGTIMESTAMP": r"[A-Za-z]{3} +\d{1,2} \d{2}:\d{2}:\d{2}",
    "TIMESTAMP_ISO8601": (
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
    ),
}
_GROK_REF = re.compile(r"%\{([A-Z0-9_]+)(?::([A-Za-z_][A-Za-z0-9_]*))?(?::([a-z]+))?\}")
_LOGFMT_PAIR = re.compile(r'([^\s="]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_LOGFMT_START = re.compile(r"^\s*[^\s=\"]+=")

FieldName = Annotated[str, Field(pattern=r"^[A-Za-z_@][A-Za-z0-9_@.\-]*$")]
Pattern = Annotated[str, AfterValidator(check_pattern)]


class _Base(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------- parse kinds


class RegexParse(_Base):
    """Named captures `(?<name>…)` of a portable regex, searched in the line (anchor with `^`)."""

    kind: Literal["regex"]
    pattern: Pattern

    def regex(self) -> str:
        return self.pattern

    @model_validator(mode="after")
    def _has_names(self) -> RegexParse:
        if not group_names(self.pattern):
            raise ValueError("the pattern has no named capture (?<name>…)")
        return self


class GrokParse(_Base):
    """`%{NAME:capture}` references to the `GROK` library, expanded into one portable regex."""

    kind: Literal["grok"]
    pattern: str = Field(min_length=1)

    def regex(self) -> str:
        return expand_grok(self.pattern)

    @model_validator(mode="after")
    def _expands(self) -> GrokParse:
        regex = expand_grok(self.pattern)
        check_pattern(regex)
        if not group_names(regex):
            raise ValueError("the pattern names no capture (write %{NAME:capture})")
        return self

    def types(self) -> dict[str, str]:
        return {m.group(2): m.group(3) for m in _GROK_REF.finditer(self.pattern) if m.group(3)}


class DelimitedParse(_Base):
    """Fields cut at a separator; the last column takes the rest of the line when `rest`."""

    kind: Literal["delimited"]
    separator: str = Field(min_length=1)
    columns: tuple[FieldName, ...] = Field(min_length=1)
    quote: str | None = Field(default=None, min_length=1, max_length=1)
    rest: bool = True

    def regex(self) -> str:
        sep = re.escape(self.separator)
        plain = f"[^{sep}]*" if len(self.separator) == 1 else ".*?"
        if self.quote:
            q = re.escape(self.quote)
            plain = f"{q}(?:[^{q}]|{q}{q})*{q}|{plain}"
        parts = [f"(?<{_group(c)}>{plain})" for c in self.columns]
        if self.rest:
            parts[-1] = f"(?<{_group(self.columns[-1])}>.*)"
        return "^" + sep.join(parts) + "$"

    def unquote(self, value: str) -> str:
        q = self.quote
        if q and len(value) >= 2 and value[0] == q and value[-1] == q:
            return value[1:-1].replace(q + q, q)
        return value


class JsonParse(_Base):
    """A JSON object line: every member is a field, nested keys joined by `.`."""

    kind: Literal["json"]


class LogfmtParse(_Base):
    """A logfmt line (`key=value key="quoted value"`): it must start with a pair."""

    kind: Literal["logfmt"]


ParseKind = Annotated[
    RegexParse | GrokParse | DelimitedParse | JsonParse | LogfmtParse,
    Field(discriminator="kind"),
]


def _group(name: str) -> str:
    """A capture name for a field name (dots and dashes are not allowed in group names)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def expand_grok(pattern: str, depth: int = 0) -> str:
    """A grok-like pattern as a portable regex (`ValueError` for unknown names)."""

    def one(match: re.Match[str]) -> str:
        name, capture = match.group(1), match.group(2)
        if name not in GROK:
            raise ValueError(f"unknown grok pattern '{name}'{suggest(name, set(GROK))}")
        body = GROK[name]
        return f"(?<{capture}>{body})" if capture else f"(?:{body})"

    return _GROK_REF.sub(one, pattern)


# ---------------------------------------------------------------- field specs


class BodySpec(_Base):
    """Parse one field's text as JSON or logfmt; its keys join the fields (with `prefix`)."""

    field: FieldName
    kind: Literal["json", "logfmt"]
    prefix: str = ""


class TimestampSpec(_Base):
    field: FieldName
    format: str
    zone: str | None = None  # default: the mapping's `zone`

    @model_validator(mode="after")
    def _known(self) -> TimestampSpec:
        try:
            compile_time_format(self.format)
            if self.zone is not None:
                resolve_zone(self.zone)
        except TimeFormatError as exc:
            raise ValueError(str(exc)) from None
        return self


class SeveritySpec(_Base):
    field: FieldName
    vocabulary: Literal["words", "syslog_pri", "syslog_severity"] = "words"
    # extra or overriding words (case-insensitive) -> a level name of LEVEL_WORDS or 1-24
    levels: dict[str, str | int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _levels_known(self) -> SeveritySpec:
        for word, level in self.levels.items():
            if isinstance(level, int):
                if not 1 <= level <= 24:
                    raise ValueError(f"levels.{word}: {level} is not a severity number 1-24")
            elif level.lower() not in LEVEL_WORDS:
                raise ValueError(
                    f"levels.{word}: unknown level '{level}'{suggest(level, set(LEVEL_WORDS))}"
                )
        return self

    @cached_property
    def table(self) -> dict[str, int]:
        """Case-folded word -> severity number (the default words plus `levels`)."""
        own = {
            w.lower(): (v if isinstance(v, int) else LEVEL_WORDS[v.lower()])
            for w, v in self.levels.items()
        }
        return LEVEL_WORDS | own

    def number(self, text: str) -> tuple[int | None, str]:
        """(severity number, severity text) of the field's text."""
        if self.vocabulary == "words":
            return self.table.get(text.strip().lower()), text
        if not text.strip().isdigit():
            return None, text
        value = int(text)
        value = value % 8 if self.vocabulary == "syslog_pri" else value
        if not 0 <= value <= 7:
            return None, text
        word, number = SYSLOG_SEVERITIES[value]
        return number, word


class ValueSpec(_Base):
    """A constant instead of a field (e.g. the service every line of a file belongs to)."""

    value: str


class AttributesSpec(_Base):
    include: Literal["all"] | tuple[FieldName, ...] = "all"
    exclude: tuple[FieldName, ...] = ()
    rename: dict[str, str] = Field(default_factory=dict)


class Shape(_Base):
    """One layout of line: how to recognise it and where each universal field is."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")
    when: Pattern | None = None
    parse: ParseKind
    body: BodySpec | None = None
    timestamp: TimestampSpec | None = None
    severity: SeveritySpec | None = None
    message: FieldName | None = None
    service: FieldName | ValueSpec | None = None
    host: FieldName | ValueSpec | None = None
    trace_id: FieldName | None = None
    span_id: FieldName | None = None
    attributes: AttributesSpec = AttributesSpec()
    types: dict[str, Literal["string", "int", "float", "bool", "timestamp", "ip", "duration"]] = (
        Field(default_factory=dict)
    )

    @cached_property
    def compiled(self) -> re.Pattern[str] | None:
        parse = self.parse
        if isinstance(parse, RegexParse | GrokParse | DelimitedParse):
            return re.compile(to_python(parse.regex()))
        return None

    @cached_property
    def compiled_when(self) -> re.Pattern[str] | None:
        return re.compile(to_python(self.when)) if self.when else None

    def static_fields(self) -> tuple[str, ...] | None:
        """The field names this shape can produce, or None when they depend on the line."""
        parse = self.parse
        if isinstance(parse, JsonParse | LogfmtParse) or self.body is not None:
            return None
        if isinstance(parse, DelimitedParse):
            return parse.columns
        return group_names(parse.regex())

    def consumed(self) -> set[str]:
        """Fields that become universal fields (so not attributes)."""
        used = {self.message, self.trace_id, self.span_id}
        used |= {v for v in (self.service, self.host) if isinstance(v, str)}
        if self.timestamp:
            used.add(self.timestamp.field)
        if self.severity:
            used.add(self.severity.field)
        if self.body:
            used.add(self.body.field)
        return {u for u in used if u}

    def problems(self) -> list[Problem]:
        """Fields named but not produced by the parse (locations relative to the shape)."""
        known = self.static_fields()
        if known is None:
            return []
        names = set(known) | ({_group(k) for k in known})
        problems = []
        refs: list[tuple[tuple[str | int, ...], str]] = [
            (("message",), self.message or ""),
            (("trace_id",), self.trace_id or ""),
            (("span_id",), self.span_id or ""),
        ]
        for key in ("service", "host"):
            value = getattr(self, key)
            if isinstance(value, str):
                refs.append(((key,), value))
        if self.timestamp:
            refs.append((("timestamp", "field"), self.timestamp.field))
        if self.severity:
            refs.append((("severity", "field"), self.severity.field))
        for loc, ref in refs:
            if ref and ref not in names:
                problems.append(Problem(loc, f"no field '{ref}' in the parse{suggest(ref, names)}"))
        return problems


class RawMapping(_Base):
    """A raw-line mapping file, validated (build with `load_raw_mapping_file`)."""

    kind: Literal["raw"]
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    zone: str = "UTC"
    shapes: tuple[Shape, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _cross_check(self) -> RawMapping:
        problems = []
        try:
            resolve_zone(self.zone)
        except TimeFormatError as exc:
            problems.append(Problem(("zone",), str(exc)))
        seen: set[str] = set()
        for i, shape in enumerate(self.shapes):
            if shape.name in seen:
                problems.append(Problem(("shapes", i, "name"), f"shape '{shape.name}' repeated"))
            seen.add(shape.name)
            problems.extend(Problem(("shapes", i, *p.loc), p.message) for p in shape.problems())
        if problems:
            raise MappingProblems(problems)
        return self

    def evaluate(self, line: str, received_ns: int = 0) -> RawRecord:
        """The record `line` reads as (see the module docstring)."""
        for shape in self.shapes:
            record = evaluate_shape(shape, line, received_ns, self.zone)
            if record is not None:
                return record
        return RawRecord(timestamp=received_ns, message=line)

    def evaluate_many(self, lines: list[str], received_ns: int = 0) -> Iterator[RawRecord]:
        for line in lines:
            yield self.evaluate(line, received_ns)

    def to_data(self) -> dict[str, Any]:
        """Plain data that `load_raw_mapping_text(yaml.safe_dump(…))` reads back equal."""
        return self.model_dump(mode="json", exclude_defaults=True, by_alias=True) | {"kind": "raw"}


@dataclass
class RawRecord:
    """The universal fields of one line read through a raw mapping (null = None)."""

    timestamp: int
    message: str
    severity: int | None = None
    severity_text: str | None = None
    service: str | None = None
    host: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    shape: str | None = None  # the shape that matched; None for an unmatched line
    timestamp_parsed: bool = False  # False when `timestamp` is the time received


def extract_fields(shape: Shape, line: str) -> dict[str, str] | None:
    """The named fields of `line` under `shape`'s parse (and body), or None: no match."""
    if shape.compiled_when is not None and shape.compiled_when.search(line) is None:
        return None
    parse = shape.parse
    fields: dict[str, str]
    if shape.compiled is not None:
        match = shape.compiled.search(line)
        if match is None:
            return None
        fields = {k: v for k, v in match.groupdict().items() if v is not None}
        if isinstance(parse, DelimitedParse):
            fields = {c: parse.unquote(fields[_group(c)]) for c in parse.columns}
    elif isinstance(parse, JsonParse):
        found = parse_json_object(line)
        if found is None:
            return None
        fields = found
    else:
        if _LOGFMT_START.match(line) is None:
            return None
        fields = parse_logfmt(line)
    if shape.body is not None:
        text = fields.get(shape.body.field)
        if text is not None:
            inner = parse_json_object(text) if shape.body.kind == "json" else parse_logfmt(text)
            for key, value in (inner or {}).items():
                fields.setdefault(shape.body.prefix + key, value)
    return fields


def evaluate_shape(shape: Shape, line: str, received_ns: int, zone: str) -> RawRecord | None:
    fields = extract_fields(shape, line)
    if fields is None:
        return None
    record = RawRecord(timestamp=received_ns, message=line, shape=shape.name)
    if shape.timestamp is not None:
        text = fields.get(shape.timestamp.field)
        fmt = compile_time_format(shape.timestamp.format)
        parsed = fmt.parse(text, received_ns, shape.timestamp.zone or zone) if text else None
        if parsed is not None:
            record.timestamp, record.timestamp_parsed = parsed, True
    if shape.severity is not None:
        text = fields.get(shape.severity.field)
        if text is not None:
            record.severity, record.severity_text = shape.severity.number(text)
    if shape.message is not None:
        message = fields.get(shape.message)
        record.message = message if message is not None else line
    for key in UNIVERSAL_TEXT_FIELDS:
        spec = getattr(shape, key)
        if isinstance(spec, ValueSpec):
            setattr(record, key, spec.value)
        elif isinstance(spec, str):
            setattr(record, key, fields.get(spec))
    consumed = shape.consumed()
    attrs = shape.attributes
    for name, value in fields.items():
        if name in consumed or name in attrs.exclude:
            continue
        if attrs.include != "all" and name not in attrs.include:
            continue
        record.attributes[attrs.rename.get(name, name)] = value
    return record


def parse_json_object(text: str) -> dict[str, str] | None:
    """Members of a JSON object as text (nested keys joined by `.`, other values as JSON)."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return None
    try:
        value = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    out: dict[str, str] = {}
    _flatten(value, "", out)
    return out


def _flatten(value: dict[str, Any], prefix: str, out: dict[str, str]) -> None:
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            _flatten(item, name + ".", out)
        elif isinstance(item, str):
            out[name] = item
        elif item is not None:
            out[name] = json.dumps(item, separators=(",", ":"))


def parse_logfmt(text: str) -> dict[str, str]:
    """`key=value` and `key="quoted \\" value"` pairs (first occurrence of a key wins)."""
    out: dict[str, str] = {}
    for match in _LOGFMT_PAIR.finditer(text):
        key, value = match.group(1), match.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.setdefault(key, value)
    return out


# ---------------------------------------------------------------- loading


def load_raw_mapping_file(path: Path) -> RawMapping:
    """Load and validate a raw-line mapping file (`MappingError` with file:line:col)."""
    mapping, _tree, _data = load_validated(path, RawMapping)
    return mapping


def load_raw_mapping_text(text: str, name: str = "<raw mapping>") -> RawMapping:
    """The same from text (e.g. a mapping the analyzer proposed), errors naming `name`."""
    mapping, _tree, _data = load_validated(Path(name), RawMapping, text)
    return mapping


def dump_raw_mapping(mapping: RawMapping) -> str:
    """The mapping as YAML in the documented schema (keys in schema order)."""
    import yaml

    return yaml.safe_dump(mapping.to_data(), sort_keys=False, allow_unicode=True, width=100)


__all__ = [
    "GROK",
    "LEVEL_WORDS",
    "SYSLOG_SEVERITIES",
    "VOCABULARIES",
    "RawMapping",
    "RawRecord",
    "Shape",
    "dump_raw_mapping",
    "expand_grok",
    "extract_fields",
    "load_raw_mapping_file",
    "load_raw_mapping_text",
    "parse_json_object",
    "parse_logfmt",
]
