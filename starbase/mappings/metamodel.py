"""The universal fields of the meta-model (contract §4) and the severity level table.

Requires nothing. Guarantees: the universal fields are defined here once, in the contract's
table order (the default output column order), followed by the `EXTRA_FIELDS` a mapping may
provide (OTel's event name, scope and trace flags). The severity levels are one vocabulary,
`LEVEL_TABLE` (name, aliases, OpenTelemetry range), from which everything else is derived:
`LEVELS` maps every level name the language accepts (case-folded) to the lowest severity
number of its range; `LEVEL_HINT` is how errors list them; and `LEVEL_TEXT_PATTERN` is the
one rule by which a level is read out of free text, shared by the `level_from_text` mapping
kind and every backend that lowers it. The resolver, parameter binding, the backends and the
REPL (completion, colours) read these names; none keeps a list of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class FieldType(StrEnum):
    """The type of a universal field as the query language sees it."""

    TIMESTAMP = "timestamp"  # nanoseconds since the Unix epoch, UTC
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STRING = "string"
    MAP = "map"  # map<string, string>


@dataclass(frozen=True, slots=True)
class UniversalField:
    """One field of the meta-model: every source is read into these names."""

    name: str
    type: FieldType
    description: str


UNIVERSAL_FIELDS: tuple[UniversalField, ...] = (
    UniversalField("timestamp", FieldType.TIMESTAMP, "when the event happened (ns, UTC)"),
    UniversalField("observed_timestamp", FieldType.TIMESTAMP, "when it was collected (ns, UTC)"),
    UniversalField("severity", FieldType.INT, "OpenTelemetry severity number 1-24"),
    UniversalField("severity_text", FieldType.STRING, "the level as the source wrote it"),
    UniversalField("message", FieldType.STRING, "the log body as text (structured as JSON)"),
    UniversalField("service", FieldType.STRING, "service.name or the source's equivalent"),
    UniversalField("host", FieldType.STRING, "host.name or equivalent"),
    UniversalField("trace_id", FieldType.STRING, "trace id, lowercase hex"),
    UniversalField("span_id", FieldType.STRING, "span id, lowercase hex"),
    UniversalField("source", FieldType.STRING, "name of the configured source of the row"),
    UniversalField("log_group", FieldType.STRING, "CloudWatch-style log group"),
    UniversalField("log_stream", FieldType.STRING, "CloudWatch-style log stream"),
    UniversalField("attributes", FieldType.MAP, "record attributes (non-strings as JSON)"),
    UniversalField("resource", FieldType.MAP, "resource attributes"),
)

# Stored OpenTelemetry fields beyond the contract's table: reachable by name, optional in a
# mapping (null where a format does not map them), never in the default output (§5).
EXTRA_FIELDS: tuple[UniversalField, ...] = (
    UniversalField("event_name", FieldType.STRING, "OTel event name (LogRecord.event_name)"),
    UniversalField("scope_name", FieldType.STRING, "instrumentation scope name"),
    UniversalField("scope_version", FieldType.STRING, "instrumentation scope version"),
    UniversalField("trace_flags", FieldType.INT, "W3C trace flags (LogRecord.flags)"),
)

UNIVERSAL_BY_NAME: Mapping[str, UniversalField] = MappingProxyType(
    {f.name: f for f in (*UNIVERSAL_FIELDS, *EXTRA_FIELDS)}
)


@dataclass(frozen=True, slots=True)
class Level:
    """A severity level: its name, other names for it, and its OpenTelemetry number range."""

    name: str
    low: int  # lowest severity number of the range (4 numbers wide)
    aliases: tuple[str, ...] = ()

    @property
    def high(self) -> int:
        return self.low + 3

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


# OpenTelemetry's ranges: TRACE 1-4, DEBUG 5-8, INFO 9-12, WARN 13-16, ERROR 17-20, FATAL 21-24.
LEVEL_TABLE: tuple[Level, ...] = (
    Level("trace", 1),
    Level("debug", 5),
    Level("info", 9),
    Level("warn", 13, ("warning",)),
    Level("error", 17),
    Level("fatal", 21, ("critical",)),
)
# Every accepted level name (case-folded) -> the lowest severity number of its range.
LEVELS: Mapping[str, int] = MappingProxyType(
    {name: level.low for level in LEVEL_TABLE for name in level.names}
)
LEVEL_HINT = "levels: " + ", ".join(f'"{level.name}"' for level in LEVEL_TABLE)


def level_of(number: int) -> Level | None:
    """The level whose range holds severity `number` (None outside 1-24)."""
    return next((lv for lv in LEVEL_TABLE if lv.low <= number <= lv.high), None)


# How a level is read from free text (portable regex subset). The first match in the text
# wins; the level word is group 1 (a JSON "level"/"severity" string value, any case) or, when
# that did not participate, group 2 (a bare upper-case level word such as ERROR or WARN).
# severity = LEVELS[lower(word)], null when there is no match or the word is not in LEVELS.
LEVEL_TEXT_PATTERN = (
    r'"(?:level|severity)"\s*:\s*"([A-Za-z]+)"'
    r"|\b(" + "|".join(name.upper() for name in LEVELS) + r")\b"
)
LEVEL_TEXT_GROUPS: tuple[int, ...] = (1, 2)
