"""Mapping files: the packaged ones load, and broken ones fail at the right line."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from starbase.mappings import (
    LEVEL_TEXT_GROUPS,
    LEVEL_TEXT_PATTERN,
    LEVELS,
    UNIVERSAL_BY_NAME,
    UNIVERSAL_FIELDS,
    AbsentField,
    ColumnField,
    EpochField,
    FieldType,
    JsonMapField,
    LevelFromTextField,
    MappingError,
    RegexExtractField,
    available_formats,
    load_mapping,
    load_mapping_file,
)

HAS_PARSER = importlib.util.find_spec("starbase.compiler.grammar.parser") is not None or (
    importlib.util.find_spec("starbase.compiler.parser") is not None
)

# A small valid mapping; the cases below edit one line of it.
BASE = """\
format: demo
backend: datafusion
columns:
  ts: int64
  body: string
  svc: string
  attrs: map<string,string>
fields:
  timestamp: {kind: epoch, column: ts, unit: ns}
  observed_timestamp: {kind: absent}
  severity: {kind: level_from_text, column: body}
  severity_text: {kind: absent}
  message: {kind: column, column: body}
  service: {kind: column, column: svc}
  host: {kind: map_key, column: attrs, key: host.name}
  trace_id: {kind: regex_extract, column: body, pattern: 'trace=([0-9a-f]{32})'}
  span_id: {kind: absent}
  source: {kind: source_name}
  log_group: {kind: absent}
  log_stream: {kind: absent}
  attributes: {kind: map, column: attrs}
  resource: {kind: absent}
capabilities:
  default_profile: full
  profiles:
    full:
      stages: [where, fields, limit]
      operators: ["==", and]
"""


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def broken(tmp_path: Path, old: str, new: str) -> tuple[MappingError, str]:
    assert old in BASE
    text = BASE.replace(old, new, 1)
    path = tmp_path / "demo.yaml"
    path.write_text(text)
    with pytest.raises(MappingError) as info:
        load_mapping_file(path)
    err = info.value
    assert err.path == path
    assert str(err).startswith(f"{path}:{err.line}:{err.column}: ")
    return err, text


# ---------------------------------------------------------------- the meta-model


def test_universal_fields_in_contract_order() -> None:
    assert [f.name for f in UNIVERSAL_FIELDS] == [
        "timestamp",
        "observed_timestamp",
        "severity",
        "severity_text",
        "message",
        "service",
        "host",
        "trace_id",
        "span_id",
        "source",
        "log_group",
        "log_stream",
        "attributes",
        "resource",
    ]
    assert UNIVERSAL_BY_NAME["severity"].type is FieldType.INT
    assert UNIVERSAL_BY_NAME["attributes"].type is FieldType.MAP
    assert UNIVERSAL_BY_NAME["timestamp"].type is FieldType.TIMESTAMP


def test_levels_are_lowest_of_otel_ranges() -> None:
    assert LEVELS == {
        "trace": 1,
        "debug": 5,
        "info": 9,
        "warn": 13,
        "warning": 13,
        "error": 17,
        "fatal": 21,
        "critical": 21,
    }


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("2026-11-27T05:00:00Z\tabc\tERROR\tboom", 17),
        ("[WARNING]\tretrying", 13),
        ('{"level": "debug", "msg": "x"}', 5),
        ('{"timestamp":"…","level":"INFO","message":"ok"}', 9),
        ('{"severity":"Critical"}', 21),
        ("no error here, just prose", None),
        ('{"level": "notice"}', None),
    ],
)
def test_level_text_rule(text: str, level: int | None) -> None:
    match = re.search(LEVEL_TEXT_PATTERN, text)
    word = next((match.group(g) for g in LEVEL_TEXT_GROUPS if match and match.group(g)), None)
    assert (LEVELS.get(word.lower()) if word else None) == level


# ---------------------------------------------------------------- the packaged mappings


def test_packaged_mappings_load_and_map_every_field() -> None:
    assert {"otel", "cloudwatch"} <= set(available_formats())
    for name in ("otel", "cloudwatch"):
        mapping = load_mapping(name)
        assert mapping is load_mapping(name)  # cached
        assert mapping.format == name
        assert mapping.path is not None and mapping.path.name == f"{name}.yaml"
        assert {f.name for f in UNIVERSAL_FIELDS} <= set(mapping.fields)
        assert set(mapping.fields) <= set(UNIVERSAL_BY_NAME)  # extra fields are optional
        for field in UNIVERSAL_FIELDS:
            assert mapping.field(field.name) is mapping.fields[field.name]
            assert mapping.line_of(field.name) > 0
            for column in mapping.field(field.name).reads():
                assert mapping.column_type(column)
        assert mapping.capabilities() is mapping.capabilities(mapping.profile_names[0])


def test_otel_mapping() -> None:
    otel = load_mapping("otel")
    assert otel.backend == "datafusion"
    assert otel.field("timestamp") == EpochField(kind="epoch", column="time_unix_nano", unit="ns")
    assert otel.field("service") == ColumnField(kind="column", column="service")
    assert otel.field("log_group").kind == "absent"
    assert otel.capabilities().stages == (
        *("where", "parse_glob", "parse_regex", "extend", "fields"),
        *("stats", "sort", "limit", "dedup"),
    )
    line = otel.line_of("host")
    assert otel.path is not None
    assert otel.path.read_text().splitlines()[line - 1].strip().startswith("host:")


def test_cloudwatch_mapping() -> None:
    cw = load_mapping("cloudwatch")
    assert cw.backend == "cloudwatch"
    assert cw.column_type("@timestamp") == "int64"
    assert cw.field("severity") == LevelFromTextField(kind="level_from_text", column="@message")
    assert isinstance(cw.field("attributes"), JsonMapField)
    assert cw.capabilities().stages == cw.capabilities("aws").stages
    assert "extend" not in cw.capabilities("aws").stages
    assert "count_distinct" in cw.capabilities("aws").approximate
    emulator = cw.capabilities("emulator")
    assert emulator.stages == ("fields", "limit")
    assert emulator.operators == emulator.functions == emulator.aggregates == ()
    with pytest.raises(KeyError, match="emulater"):
        cw.capabilities("emulater")

    text = cw.field("severity_text")
    assert isinstance(text, RegexExtractField)
    assert (text.pattern, text.groups) == (LEVEL_TEXT_PATTERN, LEVEL_TEXT_GROUPS)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("service", "/aws/lambda/checkout", "checkout"),
        ("service", "123456789012:/aws/lambda/checkout", "checkout"),
        ("service", "123456789012:payments", "payments"),
        ("trace_id", '{"traceId":"' + "ab" * 16 + '"}', "ab" * 16),
        ("trace_id", '{"trace_id": "' + "0f" * 16 + '"}', "0f" * 16),
        ("trace_id", '{"trace_id": "' + "AB" * 16 + '"}', None),
        ("span_id", '{"spanId":"' + "12" * 8 + '"}', "12" * 8),
    ],
)
def test_cloudwatch_extractions(field: str, value: str, expected: str | None) -> None:
    mapping = load_mapping("cloudwatch").field(field)
    assert isinstance(mapping, RegexExtractField)
    match = re.search(mapping.pattern, value)
    assert (match.group(mapping.groups[0]) if match else None) == expected


def test_mappings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        load_mapping("otel").backend = "cloudwatch"  # type: ignore[misc, unused-ignore]


# ---------------------------------------------------------------- broken mappings


def test_base_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(BASE)
    mapping = load_mapping_file(path)
    assert mapping.line_of("host") == 15
    assert mapping.path == path


def test_unknown_column(tmp_path: Path) -> None:
    err, _ = broken(tmp_path, "column: attrs, key", "column: atrs, key")
    assert (err.line, err.column) == (15, 25)
    assert err.problem.startswith("fields.host.column: unknown column 'atrs'; did you mean 'attrs'")


def test_wrong_column_type(tmp_path: Path) -> None:
    err, _ = broken(
        tmp_path, "message: {kind: column, column: body}", "message: {kind: column, column: ts}"
    )
    assert err.line == 13
    assert "column 'ts' has type int64" in err.problem and "needs string" in err.problem


def test_timestamp_column_suggests_epoch(tmp_path: Path) -> None:
    err, _ = broken(tmp_path, "{kind: epoch, column: ts, unit: ns}", "{kind: column, column: ts}")
    assert err.line == 9
    assert "use kind 'epoch'" in err.problem


def test_extra_fields_are_optional_and_absent_when_not_mapped(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(BASE)
    mapping = load_mapping_file(path)
    assert "event_name" not in mapping.fields
    assert mapping.field("event_name") == AbsentField(kind="absent")
    path.write_text(
        BASE.replace("fields:\n", "fields:\n  trace_flags: {kind: column, column: body}\n")
    )
    with pytest.raises(MappingError, match="trace_flags"):
        load_mapping_file(path)  # an int field cannot read a string column


def test_missing_field(tmp_path: Path) -> None:
    err, text = broken(tmp_path, "  span_id: {kind: absent}\n", "")
    assert err.line == line_of(text, "fields:") == 8
    assert "missing universal field(s): span_id" in err.problem


def test_unknown_universal_field(tmp_path: Path) -> None:
    err, _ = broken(
        tmp_path,
        "  span_id: {kind: absent}\n",
        "  span_id: {kind: absent}\n  spanid: {kind: absent}\n",
    )
    assert err.line == 18
    assert "unknown universal field 'spanid'" in err.problem


def test_duplicate_field(tmp_path: Path) -> None:
    err, _ = broken(tmp_path, "  span_id: {kind: absent}\n", "  span_id: {kind: absent}\n" * 2)
    assert (err.line, err.problem) == (18, "duplicate key 'span_id'")


def test_bad_kind(tmp_path: Path) -> None:
    err, _ = broken(tmp_path, "host: {kind: map_key", "host: {kind: mapkey")
    assert (err.line, err.column) == (15, 10)
    assert err.problem.startswith("fields.host.kind: unknown kind 'mapkey' (known: 'column'")


def test_missing_kind_key(tmp_path: Path) -> None:
    err, _ = broken(
        tmp_path, "host: {kind: map_key, column: attrs, key: host.name}", "host: {column: attrs}"
    )
    assert err.line == 15 and "missing 'kind'" in err.problem


def test_missing_and_unknown_keys(tmp_path: Path) -> None:
    err, _ = broken(tmp_path, ", key: host.name}", ", keys: host.name}")
    assert [(p.line, p.problem) for p in err.problems] == [
        (15, "fields.host.key: required key missing"),
        (15, "fields.host.keys: unknown key 'keys'"),
    ]


def test_bad_regex(tmp_path: Path) -> None:
    err, _ = broken(tmp_path, "'trace=([0-9a-f]{32})'", "'trace=([0-9a-f]{32}'")
    assert err.line == 16
    assert err.problem.startswith("fields.trace_id.pattern: invalid regex: missing )")


def test_non_portable_regex(tmp_path: Path) -> None:
    err, _ = broken(tmp_path, "'trace=([0-9a-f]{32})'", "'(?i)trace=([0-9a-f]{32})'")
    assert err.line == 16 and "inline flags are not portable" in err.problem


def test_regex_group_out_of_range(tmp_path: Path) -> None:
    err, _ = broken(tmp_path, "{32})'}", "{32})', group: 2}")
    assert (
        err.line == 16
        and err.problem == "fields.trace_id.group: group 2 not in the pattern (it has 1)"
    )


def test_yaml_syntax_error(tmp_path: Path) -> None:
    err, _ = broken(tmp_path, "  body: string\n", "  body: [string\n")
    assert err.problem.startswith("YAML syntax error: ")
    assert err.line == 6  # where the parser noticed; the flow sequence began on line 5
    assert "line 5" in err.problem


def test_map_kind_on_non_map_field(tmp_path: Path) -> None:
    err, _ = broken(
        tmp_path, "message: {kind: column, column: body}", "message: {kind: map, column: attrs}"
    )
    assert (err.line, err.column) == (13, 13)
    assert (
        err.problem == "fields.message.kind: kind 'map' gives a map value but 'message' is string"
    )


def test_map_field_needs_map_kind(tmp_path: Path) -> None:
    err, _ = broken(
        tmp_path,
        "attributes: {kind: map, column: attrs}",
        "attributes: {kind: column, column: attrs}",
    )
    assert err.line == 21 and "use kind 'map' or 'json_map'" in err.problem


def test_level_from_text_only_for_severity(tmp_path: Path) -> None:
    err, _ = broken(
        tmp_path,
        "severity_text: {kind: absent}",
        "severity_text: {kind: level_from_text, column: body}",
    )
    assert err.line == 12 and "only valid for 'severity'" in err.problem


def test_unknown_stage_points_at_list(tmp_path: Path) -> None:
    err, _ = broken(tmp_path, "stages: [where, fields, limit]", "stages: [where, feilds, limit]")
    assert err.line == 27
    assert err.problem == (
        "capabilities.profiles.full.stages.1: unknown stage 'feilds'; did you mean 'fields'?"
    )


def test_unknown_default_profile(tmp_path: Path) -> None:
    err, _ = broken(tmp_path, "default_profile: full", "default_profile: ful")
    assert err.line == 24 and "unknown profile 'ful'" in err.problem


def test_partition_problems(tmp_path: Path) -> None:
    extra = "partitions:\n  - {column: hr, field: timestamp, transform: hour}\n" + (
        "  - {column: body, field: service, transform: identity}\nfields:\n"
    )
    err, _ = broken(tmp_path, "fields:\n", extra)
    assert [(p.line, p.problem.split(":")[0]) for p in err.problems] == [
        (9, "partitions.0.column"),
        (10, "partitions.1.field"),
    ]


def test_format_must_match_file_name(tmp_path: Path) -> None:
    err, _ = broken(tmp_path, "format: demo", "format: other")
    assert err.line == 1 and "must match the file name" in err.problem


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err, _ = broken(tmp_path, "backend: datafusion\n", "backend: datafusion\nbackends: x\n")
    assert (err.line, err.problem) == (3, "backends: unknown key 'backends'")


@pytest.mark.skipif(not HAS_PARSER, reason="no StarQL parser to validate expressions with")
def test_expr_is_parsed_and_checked(tmp_path: Path) -> None:
    err, _ = broken(
        tmp_path, "span_id: {kind: absent}", "span_id: {kind: expr, expr: 'lower(body) +'}"
    )
    assert err.line == 17 and err.problem.startswith("fields.span_id.expr: invalid expression")
    err, _ = broken(
        tmp_path, "span_id: {kind: absent}", "span_id: {kind: expr, expr: 'lower(bdy)'}"
    )
    assert err.problem == "fields.span_id.expr: unknown column 'bdy'; did you mean 'body'?"


def test_unknown_packaged_format() -> None:
    with pytest.raises(MappingError, match="unknown format 'otl'; did you mean 'otel'"):
        load_mapping("otl")


def test_capability_vocabulary_matches_the_function_library() -> None:
    from starbase.compiler import functions
    from starbase.mappings import AGGREGATES, FUNCTIONS

    assert set(functions.SCALARS) == FUNCTIONS
    assert set(functions.AGGREGATES) == AGGREGATES
