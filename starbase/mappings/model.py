"""Typed mapping files: how one stored format provides each universal field.

Requires: plain data as loaded from a mapping YAML file (`Mapping.model_validate`).
Guarantees: a `Mapping` that validates is complete and consistent — every universal field is
mapped exactly once, every column it names exists with a suitable type, partitions and
capability profiles name only known things, regexes compile and stay in the portable subset.
Shape errors are pydantic `ValidationError`s; cross-reference errors are raised as
`MappingProblems` (not a `ValueError`, so pydantic passes it through) with exact locations.
Field-mapping kinds form a registry (a discriminated union on `kind`), as in pySigma. The
vocabularies are read, not copied: backends from the backend registry, functions and
aggregates from the function library, regexes checked by the compiler's portable subset.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from starbase import backends
from starbase.compiler import functions
from starbase.compiler import regex as portable
from starbase.mappings.metamodel import (
    UNIVERSAL_BY_NAME,
    UNIVERSAL_FIELDS,
    FieldType,
    UniversalField,
)

# ---------------------------------------------------------------- vocabularies (defined once)

COLUMN_TYPES = frozenset(
    {"int64", "int32", "float64", "string", "bool", "timestamp_ns", "map<string,string>", "binary"}
)
INT_TYPES = frozenset({"int64", "int32"})
MAP_TYPE = "map<string,string>"
BACKENDS = frozenset(backends.names())  # the registry's (starbase.backends)
STAGES = frozenset(
    {"where", "parse_glob", "parse_regex", "extend", "fields", "stats", "sort", "limit", "dedup"}
)
OPERATORS = frozenset(
    {
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "~",
        "!~",
        "in",
        "contains",
        "icontains",
        "startswith",
        "endswith",
    }
    | {"+", "-", "*", "/", "%", "and", "or", "not"}
)
FUNCTIONS = frozenset(functions.SCALARS)  # the function library's (compiler.functions)
AGGREGATES = frozenset(functions.AGGREGATES)
REGEX_FLAGS = frozenset({"i", "m", "s"})
# Partition transforms and the strftime format (UTC) each one writes into the path.
TRANSFORM_FORMATS: dict[str, str | None] = {
    "identity": None,
    "hour": "%Y-%m-%dT%H",
    "day": "%Y-%m-%d",
}
EPOCH_UNITS: dict[str, int] = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
# Column types a `column` mapping may have, per universal field type.
COLUMN_TYPES_FOR: dict[FieldType, frozenset[str]] = {
    FieldType.TIMESTAMP: frozenset({"timestamp_ns"}),
    FieldType.INT: INT_TYPES,
    FieldType.FLOAT: frozenset({"float64"}) | INT_TYPES,
    FieldType.BOOL: frozenset({"bool"}),
    FieldType.STRING: frozenset({"string"}),
    FieldType.MAP: frozenset(),
}

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a mapping: where (a path into the file's data) and what."""

    loc: Loc
    message: str


class MappingProblems(Exception):
    """Cross-reference problems found after the shape validated (see module docstring)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p.loc))}: {p.message}" for p in problems))
        self.problems = tuple(problems)


def suggest(name: str, known: set[str] | frozenset[str] | list[str]) -> str:
    """`; did you mean 'x'?` when a known name is close, else `(known: a, b, …)`."""
    close = difflib.get_close_matches(name, sorted(known), n=2, cutoff=0.6)
    if close:
        return "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    return f" (known: {', '.join(sorted(known))})"


def _member_of(vocabulary: frozenset[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in vocabulary:
            raise ValueError(f"unknown {what} '{value}'{suggest(value, vocabulary)}")
        return value

    return check


def _no_duplicates(values: tuple[str, ...]) -> tuple[str, ...]:
    seen = {v for v in values if values.count(v) > 1}
    if seen:
        raise ValueError(f"listed more than once: {', '.join(sorted(seen))}")
    return values


def check_pattern(pattern: str) -> str:
    """Validate a mapping regex: compiles with `re`, portable subset, no inline flags."""
    for problem in portable.check(pattern):
        raise ValueError(f"{problem.message} (at offset {problem.offset}); {problem.hint}")
    inline = re.search(r"(?<!\\)\(\?[aiLmsux-]", pattern)
    if inline:
        raise ValueError(
            f"inline flags are not portable (at offset {inline.start()}); "
            "spell case variants with character classes such as [Ee]rror"
        )
    try:
        re.compile(_python(pattern))
    except re.error as exc:
        raise ValueError(f"invalid regex: {exc}") from None
    return pattern


ColumnType = Annotated[str, AfterValidator(_member_of(COLUMN_TYPES, "column type"))]
Stage = Annotated[str, AfterValidator(_member_of(STAGES, "stage"))]
Operator = Annotated[str, AfterValidator(_member_of(OPERATORS, "operator"))]
Function = Annotated[str, AfterValidator(_member_of(FUNCTIONS, "function"))]
Aggregate = Annotated[str, AfterValidator(_member_of(AGGREGATES, "aggregate"))]
RegexFlag = Annotated[str, AfterValidator(_member_of(REGEX_FLAGS, "regex flag"))]
Name = Annotated[str, Field(pattern=r"^[A-Za-z_@][A-Za-z0-9_@.\-]*$")]

# ---------------------------------------------------------------- field-mapping kinds


class _Kind(BaseModel):
    """Common base of every field-mapping kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def reads(self) -> tuple[str, ...]:
        """The physical columns this mapping reads."""
        column = getattr(self, "column", None)
        return (column,) if isinstance(column, str) else ()

    def check(self, field: UniversalField, columns: dict[str, str]) -> list[Problem]:
        """Problems of this mapping for `field` over `columns` (locs relative to the entry)."""
        return []

    def _column_of_type(
        self, columns: dict[str, str], allowed: frozenset[str], purpose: str
    ) -> list[Problem]:
        column: str = getattr(self, "column", "")
        if column not in columns:
            return [
                Problem(("column",), f"unknown column '{column}'{suggest(column, set(columns))}")
            ]
        if columns[column] not in allowed:
            need = " or ".join(sorted(allowed))
            return [
                Problem(
                    ("column",),
                    f"column '{column}' has type {columns[column]}; {purpose} needs {need}",
                )
            ]
        return []


def _only(field: UniversalField, kind: str, types: set[FieldType]) -> list[Problem]:
    if field.type in types:
        return []
    allowed = " or ".join(sorted(t.value for t in types))
    return [
        Problem(
            ("kind",),
            f"kind '{kind}' gives a {allowed} value but '{field.name}' is {field.type.value}",
        )
    ]


class ColumnField(_Kind):
    """The physical column as it is."""

    kind: Literal["column"]
    column: str

    def check(self, field: UniversalField, columns: dict[str, str]) -> list[Problem]:
        if field.type is FieldType.MAP:
            return [
                Problem(("kind",), f"'{field.name}' is a map field: use kind 'map' or 'json_map'")
            ]
        purpose = f"field '{field.name}' ({field.type.value})"
        problems = self._column_of_type(columns, COLUMN_TYPES_FOR[field.type], purpose)
        if problems and field.type is FieldType.TIMESTAMP and columns.get(self.column) in INT_TYPES:
            hint = Problem(problems[0].loc, problems[0].message + " (use kind 'epoch' for epochs)")
            problems = [hint]
        return problems


class HexField(_Kind):
    """A binary column (ids stored as raw bytes) read as lowercase hex text. Comparisons of the
    field with hex literals compare the bytes (the literal is translated, so the column's
    statistics and bloom filters still prune)."""

    kind: Literal["hex"]
    column: str

    def check(self, field: UniversalField, columns: dict[str, str]) -> list[Problem]:
        return _only(field, self.kind, {FieldType.STRING}) or self._column_of_type(
            columns, frozenset({"binary"}), "kind 'hex'"
        )


class EpochField(_Kind):
    """An integer epoch column read as a UTC timestamp."""

    kind: Literal["epoch"]
    column: str
    unit: Literal["s", "ms", "us", "ns"]

    @property
    def nanos_per_unit(self) -> int:
        return EPOCH_UNITS[self.unit]

    def check(self, field: UniversalField, columns: dict[str, str]) -> list[Problem]:
        return _only(field, self.kind, {FieldType.TIMESTAMP}) or self._column_of_type(
            columns, INT_TYPES, "kind 'epoch'"
        )


class MapKeyField(_Kind):
    """One key of a map<string,string> column."""

    kind: Literal["map_key"]
    column: str
    key: str = Field(min_length=1)

    def check(self, field: UniversalField, columns: dict[str, str]) -> list[Problem]:
        return _only(field, self.kind, {FieldType.STRING}) or self._column_of_type(
            columns, frozenset({MAP_TYPE}), "kind 'map_key'"
        )


class MapField(_Kind):
    """A whole map<string,string> column (for the map fields `attributes` and `resource`)."""

    kind: Literal["map"]
    column: str

    def check(self, field: UniversalField, columns: dict[str, str]) -> list[Problem]:
        return _only(field, self.kind, {FieldType.MAP}) or self._column_of_type(
            columns, frozenset({MAP_TYPE}), "kind 'map'"
        )


class JsonMapField(_Kind):
    """The keys of a JSON object held as text in a string column (for map fields)."""

    kind: Literal["json_map"]
    column: str

    def check(self, field: UniversalField, columns: dict[str, str]) -> list[Problem]:
        return _only(field, self.kind, {FieldType.MAP}) or self._column_of_type(
            columns, frozenset({"string"}), "kind 'json_map'"
        )


class RegexExtractField(_Kind):
    """A capture of a regex searched in a string column; null when nothing matches.

    `group` is a group number, or a list of them meaning "the first that took part in the
    match" (for alternations whose branches capture in different groups).
    """

    kind: Literal["regex_extract"]
    column: str
    pattern: Annotated[str, AfterValidator(check_pattern)]
    group: int | tuple[int, ...] = 1

    @property
    def groups(self) -> tuple[int, ...]:
        return (self.group,) if isinstance(self.group, int) else self.group

    @field_validator("group")
    @classmethod
    def _groups_exist(cls, group: int | tuple[int, ...], info: ValidationInfo) -> Any:
        pattern = info.data.get("pattern")
        if pattern is None:  # the pattern itself is invalid and already reported
            return group
        count = re.compile(_python(pattern)).groups
        groups = (group,) if isinstance(group, int) else group
        bad = [str(g) for g in groups if not 1 <= g <= count]
        if bad or not groups:
            raise ValueError(f"group {', '.join(bad) or '[]'} not in the pattern (it has {count})")
        return group

    def check(self, field: UniversalField, columns: dict[str, str]) -> list[Problem]:
        return _only(field, self.kind, {FieldType.STRING}) or self._column_of_type(
            columns, frozenset({"string"}), "kind 'regex_extract'"
        )


class LevelFromTextField(_Kind):
    """An OTel severity number read from level words in text (`metamodel.LEVEL_TEXT_PATTERN`)."""

    kind: Literal["level_from_text"]
    column: str

    def check(self, field: UniversalField, columns: dict[str, str]) -> list[Problem]:
        if field.name != "severity":
            return [Problem(("kind",), "kind 'level_from_text' is only valid for 'severity'")]
        return self._column_of_type(columns, frozenset({"string"}), "kind 'level_from_text'")


class ExprField(_Kind):
    """A StarQL expression over the physical columns (backticks quote odd names)."""

    kind: Literal["expr"]
    expr: str = Field(min_length=1)

    @field_validator("expr")
    @classmethod
    def _parses(cls, text: str) -> str:
        _parse_expression(text)
        return text

    def reads(self) -> tuple[str, ...]:
        return tuple(sorted(_field_roots(_parse_expression(self.expr))))

    def check(self, field: UniversalField, columns: dict[str, str]) -> list[Problem]:
        return [
            Problem(("expr",), f"unknown column '{name}'{suggest(name, set(columns))}")
            for name in self.reads()
            if name not in columns
        ]


class SourceNameField(_Kind):
    """The name of the configured source the row was read through."""

    kind: Literal["source_name"]

    def check(self, field: UniversalField, columns: dict[str, str]) -> list[Problem]:
        if field.name != "source":
            return [Problem(("kind",), "kind 'source_name' is only valid for 'source'")]
        return []


class AbsentField(_Kind):
    """The format cannot provide the field: it reads as null (and the compiler warns)."""

    kind: Literal["absent"]

    def check(self, field: UniversalField, columns: dict[str, str]) -> list[Problem]:
        if field.name == "timestamp":
            return [Problem(("kind",), "'timestamp' cannot be absent (time filters need it)")]
        return []


FieldMapping = Annotated[
    ColumnField
    | HexField
    | EpochField
    | MapKeyField
    | MapField
    | JsonMapField
    | RegexExtractField
    | LevelFromTextField
    | ExprField
    | SourceNameField
    | AbsentField,
    Field(discriminator="kind"),
]
KINDS: tuple[type[_Kind], ...] = (
    ColumnField,
    HexField,
    EpochField,
    MapKeyField,
    MapField,
    JsonMapField,
    RegexExtractField,
    LevelFromTextField,
    ExprField,
    SourceNameField,
    AbsentField,
)


def _python(pattern: str) -> str:
    return portable.to_python(pattern)


def _parse_expression(text: str) -> object:
    """The parsed StarQL expression (the parser is imported when a mapping first needs it)."""
    from starbase.compiler.errors import CompileError
    from starbase.compiler.grammar.parser import parse_expression

    try:
        return parse_expression(text)
    except CompileError as exc:
        first = exc.diagnostics[0]
        where = f" (at column {first.span.column})" if first.span is not None else ""
        raise ValueError(f"invalid expression: {first.message}{where}") from None


def _field_roots(node: object) -> set[str]:
    """First segments of every field path in a parsed expression."""
    segments = getattr(node, "segments", None)
    if type(node).__name__ == "FieldRef" and isinstance(segments, tuple) and segments:
        return {str(segments[0])}
    found: set[str] = set()
    children: list[Any] = []
    for name in getattr(node, "__dataclass_fields__", {}):
        value = getattr(node, name)
        children.extend(value if isinstance(value, tuple) else [value])
    for child in children:
        if hasattr(child, "__dataclass_fields__"):
            found |= _field_roots(child)
    return found


# ---------------------------------------------------------------- partitions and capabilities


class Partition(BaseModel):
    """A physical partition column and how it derives from a universal field (for pruning)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    field: str
    transform: Literal["identity", "hour", "day"]

    @property
    def strftime(self) -> str | None:
        """The UTC strftime format of the value for `hour`/`day`; None for `identity`."""
        return TRANSFORM_FORMATS[self.transform]


class Profile(BaseModel):
    """What a backend runs natively under one capability profile (the rest runs locally)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    stages: Annotated[tuple[Stage, ...], AfterValidator(_no_duplicates)] = Field(min_length=1)
    operators: Annotated[tuple[Operator, ...], AfterValidator(_no_duplicates)] = ()
    functions: Annotated[tuple[Function, ...], AfterValidator(_no_duplicates)] = ()
    aggregates: Annotated[tuple[Aggregate, ...], AfterValidator(_no_duplicates)] = ()
    regex_flags: Annotated[tuple[RegexFlag, ...], AfterValidator(_no_duplicates)] = ()
    # aggregate -> how the backend approximates it (contract §3: "the reference says by how much")
    approximate: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _approximate_known(self) -> Profile:
        unknown = sorted(set(self.approximate) - set(self.aggregates))
        if unknown:
            raise ValueError(f"'approximate' names aggregates not listed: {', '.join(unknown)}")
        return self


class Capabilities(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default_profile: str
    profiles: dict[str, Profile] = Field(min_length=1)


# ---------------------------------------------------------------- the mapping


class Mapping(BaseModel):
    """One format's mapping file, validated. Build with `loader.load_mapping*`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    backend: Annotated[str, AfterValidator(_member_of(BACKENDS, "backend"))]
    columns: dict[Name, ColumnType] = Field(min_length=1)
    partitions: tuple[Partition, ...] = ()
    fields: dict[str, FieldMapping]
    capability_set: Capabilities = Field(alias="capabilities")

    _path: Path | None = PrivateAttr(default=None)
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.format, self._path))

    @model_validator(mode="after")
    def _cross_check(self) -> Mapping:
        problems = self._field_problems() + self._partition_problems()
        caps = self.capability_set
        if caps.default_profile not in caps.profiles:
            known = set(caps.profiles)
            message = (
                f"unknown profile '{caps.default_profile}'{suggest(caps.default_profile, known)}"
            )
            problems.append(Problem(("capabilities", "default_profile"), message))
        if problems:
            raise MappingProblems(problems)
        return self

    def _field_problems(self) -> list[Problem]:
        problems = [
            Problem(
                ("fields", name),
                f"unknown universal field '{name}'{suggest(name, set(UNIVERSAL_BY_NAME))}",
            )
            for name in self.fields
            if name not in UNIVERSAL_BY_NAME
        ]
        missing = [f.name for f in UNIVERSAL_FIELDS if f.name not in self.fields]
        if missing:
            problems.append(
                Problem(
                    ("fields",),
                    f"missing universal field(s): {', '.join(missing)} "
                    "(map each one; use kind 'absent' when the format cannot provide it)",
                )
            )
        for name, mapping in self.fields.items():
            if name in UNIVERSAL_BY_NAME:
                for p in mapping.check(UNIVERSAL_BY_NAME[name], self.columns):
                    # the kind tag sits in the path as in pydantic's own error locations
                    problems.append(Problem(("fields", name, mapping.kind, *p.loc), p.message))
        return problems

    def _partition_problems(self) -> list[Problem]:
        problems: list[Problem] = []
        seen: set[str] = set()
        for i, part in enumerate(self.partitions):
            at: Loc = ("partitions", i)
            if part.column in seen:
                problems.append(
                    Problem((*at, "column"), f"partition column '{part.column}' repeated")
                )
            seen.add(part.column)
            if part.column not in self.columns:
                known = set(self.columns)
                message = f"unknown column '{part.column}'{suggest(part.column, known)}"
                problems.append(Problem((*at, "column"), message))
            if part.field not in UNIVERSAL_BY_NAME:
                known = set(UNIVERSAL_BY_NAME)
                message = f"unknown universal field '{part.field}'{suggest(part.field, known)}"
                problems.append(Problem((*at, "field"), message))
                continue
            universal = UNIVERSAL_BY_NAME[part.field]
            source = self.fields.get(part.field)
            if part.transform != "identity":
                if universal.type is not FieldType.TIMESTAMP:
                    message = f"transform '{part.transform}' needs a timestamp field"
                    problems.append(Problem((*at, "transform"), message))
                if self.columns.get(part.column, "string") != "string":
                    message = f"column '{part.column}' must be a string for '{part.transform}'"
                    problems.append(Problem((*at, "column"), message))
            elif not (isinstance(source, ColumnField) and source.column == part.column):
                message = (
                    f"identity partition needs fields.{part.field} to be "
                    f"{{kind: column, column: {part.column}}}"
                )
                problems.append(Problem((*at, "field"), message))
        return problems

    # ------------------------------------------------------------ helpers for the compiler

    @property
    def path(self) -> Path | None:
        """The file this mapping was loaded from (None when built in code)."""
        return self._path

    @property
    def profile_names(self) -> tuple[str, ...]:
        return tuple(self.capability_set.profiles)

    def field(self, name: str) -> FieldMapping:
        """How this format provides universal field `name` (an extra field the file does not
        map is absent; KeyError for unknown names)."""
        if name not in self.fields and name in UNIVERSAL_BY_NAME:
            return AbsentField(kind="absent")
        try:
            return self.fields[name]
        except KeyError:
            raise KeyError(f"unknown universal field '{name}'") from None

    def column_type(self, name: str) -> str:
        """The declared type of physical column `name` (KeyError when undeclared)."""
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"format '{self.format}' has no column '{name}'") from None

    def capabilities(self, profile: str | None = None) -> Profile:
        """The capability profile `profile`, or the default one (KeyError when unknown)."""
        name = self.capability_set.default_profile if profile is None else profile
        try:
            return self.capability_set.profiles[name]
        except KeyError:
            known = set(self.capability_set.profiles)
            raise KeyError(
                f"format '{self.format}' has no profile '{name}'{suggest(name, known)}"
            ) from None

    def partition_for(self, field_name: str) -> tuple[Partition, ...]:
        """The partitions derived from universal field `field_name`."""
        return tuple(p for p in self.partitions if p.field == field_name)

    def line_of(self, field_name: str) -> int:
        """1-based line of the field's entry in the file (0 when unknown)."""
        return self._lines.get(field_name, 0)
