"""Raw-line mappings: loading with positioned errors, the reference evaluator, time formats."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from starbase.mappings.loader import MappingError
from starbase.mappings.raw import (
    dump_raw_mapping,
    load_raw_mapping_file,
    load_raw_mapping_text,
)
from starbase.mappings.timeformats import TimeFormatError, compile_time_format

NS = 1_000_000_000


def ns(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * NS)


MAPPING = r"""
kind: raw
name: shop
zone: UTC
shapes:
  - name: access
    parse:
      kind: grok
      pattern: >-
        ^%{IPORHOST:client} \S+ %{USER:user} \[%{HTTPDATE:time}\]
        "%{WORD:method} %{NOTSPACE:path} %{DATA:protocol}" %{INT:status:int} %{INT:bytes}
    timestamp: {field: time, format: apache}
    attributes: {rename: {status: http.status}}
  - name: syslog
    parse:
      kind: regex
      pattern: >-
        ^<(?<pri>\d+)>(?<time>\w{3} +\d+ \d\d:\d\d:\d\d)
        (?<host>\S+) (?<app>[^\[:]+)(?:\[\d+\])?: (?<msg>.*)$
    timestamp: {field: time, format: syslog}
    severity: {field: pri, vocabulary: syslog_pri}
    message: msg
    service: app
    host: host
  - name: json
    when: '^\s*\{'
    parse: {kind: json}
    timestamp: {field: ts, format: epoch_ms}
    severity: {field: level, levels: {crit: fatal}}
    message: msg
    trace_id: trace.id
  - name: app
    parse: {kind: regex, pattern: '^(?<time>\S+ \S+) (?<level>[A-Z]) (?<rest>.*)$'}
    body: {field: rest, kind: logfmt}
    timestamp: {field: time, format: '%d.%m.%Y %H:%M:%S.%f', zone: '+02:00'}
    severity: {field: level, levels: {W: warn, E: 17}}
    message: msg
  - name: pipes
    parse: {kind: delimited, separator: '|', columns: [time, who, msg], quote: '"'}
    timestamp: {field: time, format: iso8601}
    message: msg
    service: {value: billing}
"""


@pytest.fixture(scope="module")
def mapping():
    return load_raw_mapping_text(MAPPING)


def test_access_line_through_grok(mapping) -> None:
    line = '10.1.2.3 - bob [20/Nov/2026:10:00:00 +0100] "GET /cart?x=1 HTTP/1.1" 404 512 "-" "curl"'
    record = mapping.evaluate(line, 0)
    assert record.shape == "access"
    assert record.timestamp == ns("2026-11-20T09:00:00+00:00")
    assert record.message == line  # no message field: the whole line
    assert record.attributes["http.status"] == "404"
    assert record.attributes["path"] == "/cart?x=1"
    assert "time" not in record.attributes


def test_syslog_without_year_takes_the_year_before_receipt(mapping) -> None:
    received = ns("2027-01-01T00:10:00+00:00")
    record = mapping.evaluate("<11>Dec 31 23:59:58 web-1 sshd[22]: Failed password", received)
    assert record.timestamp == ns("2026-12-31T23:59:58+00:00")
    assert (record.severity, record.severity_text) == (17, "err")  # 11 % 8 = 3
    assert (record.service, record.host, record.message) == ("sshd", "web-1", "Failed password")
    same_year = mapping.evaluate("<14>Jan  1 00:05:00 web-1 cron: ok", received)
    assert same_year.timestamp == ns("2027-01-01T00:05:00+00:00")


def test_json_nested_keys_levels_and_trace(mapping) -> None:
    line = '{"ts": 1790000000123, "level": "CRIT", "msg": "disk", "trace": {"id": "ab12"}, "n": 3}'
    record = mapping.evaluate(line, 0)
    assert record.timestamp == 1790000000123 * 1_000_000
    assert (record.severity, record.severity_text) == (21, "CRIT")
    assert (record.message, record.trace_id) == ("disk", "ab12")
    assert record.attributes == {"n": "3"}


def test_logfmt_body_zone_and_letter_levels(mapping) -> None:
    line = '20.11.2026 10:00:00.5 W msg="slow \\"disk\\"" took=12ms'
    record = mapping.evaluate(line, 0)
    assert record.shape == "app"
    assert record.timestamp == ns("2026-11-20T08:00:00.500000+00:00")
    assert record.severity == 13
    assert record.message == 'slow "disk"'
    assert record.attributes == {"took": "12ms"}
    assert mapping.evaluate("20.11.2026 10:00:00.5 E x=1", 0).severity == 17


def test_delimited_with_quotes_and_constant_service(mapping) -> None:
    record = mapping.evaluate('2026-11-20T10:00:00Z|"a|b ""c"""|paid | twice', 0)
    assert record.shape == "pipes"
    assert record.attributes == {"who": 'a|b "c"'}
    assert record.message == "paid | twice"
    assert record.service == "billing"


def test_unmatched_line_keeps_the_line_and_the_time_received(mapping) -> None:
    record = mapping.evaluate("nothing fits this", 42)
    assert (record.shape, record.message, record.timestamp) == (None, "nothing fits this", 42)
    assert record.severity is None and not record.timestamp_parsed


def test_unparseable_time_falls_back_to_received(mapping) -> None:
    line = '10.1.2.3 - - [31/Feb/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1'
    record = mapping.evaluate(line, 7)
    assert record.shape == "access" and record.timestamp == 7 and not record.timestamp_parsed


def test_dump_loads_back_equal(mapping) -> None:
    assert load_raw_mapping_text(dump_raw_mapping(mapping)) == mapping


def _error(text: str) -> MappingError:
    with pytest.raises(MappingError) as info:
        load_raw_mapping_text(text, "m.yaml")
    return info.value


BASE = """kind: raw
name: t
shapes:
  - name: a
    parse: {kind: regex, pattern: '^(?<time>\\S+) (?<msg>.*)$'}
    timestamp: {field: time, format: iso8601}
    message: msg
"""


@pytest.mark.parametrize(
    ("old", "new", "position", "words"),
    [
        ("message: msg", "message: mgs", (7, 5), "no field 'mgs' in the parse; did you mean 'msg'"),
        ("format: iso8601", "format: '%Q'", (6, 5), "unknown directive '%Q'"),
        ("'^(?<time>", "'(?<=x)^(?<time>", (5, 26), "look-behind is not portable"),
        ("kind: regex", "kind: xml", (5, 13), "unknown kind 'xml'"),
        ("message: msg", "message: msg\n    colour: red", (8, 5), "unknown key 'colour'"),
        ("name: t\n", "name: t\nzone: Mars/Base\n", (3, 1), "unknown time zone 'Mars/Base'"),
        ("  - name: a\n", "  - name: a\n    when: '(a'\n", (5, 5), "invalid regex"),
    ],
)
def test_errors_name_file_line_and_column(old, new, position, words) -> None:
    error = _error(BASE.replace(old, new, 1))
    assert (error.line, error.column) == position, str(error)
    assert words in str(error)
    assert str(error).startswith(f"m.yaml:{position[0]}:{position[1]}: ")


def test_duplicate_shape_names_and_yaml_syntax() -> None:
    twice = BASE + BASE.split("shapes:\n", 1)[1]
    assert "shape 'a' repeated" in str(_error(twice))
    assert "YAML syntax error" in str(_error(BASE + "  - {name: b, parse: [\n"))


def test_file_errors_point_at_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nginx.yaml"
    path.write_text(BASE.replace("message: msg", "message: nope"))
    with pytest.raises(MappingError, match=r"nginx\.yaml:7:5: shapes\.0\.message"):
        load_raw_mapping_file(path)


@pytest.mark.parametrize(
    ("spec", "text", "expected"),
    [
        ("iso8601", "2026-11-20T10:00:00.123456+05:30", "2026-11-20T04:30:00.123456+00:00"),
        ("iso8601", "2026-11-20 10:00:00,5", "2026-11-20T10:00:00.500000+00:00"),
        ("epoch_s", "1790000000.25", None),
        ("epoch_us", "1790000000250000", None),
        ("ctime", "Sun Dec  4 04:47:44 2005", "2005-12-04T04:47:44+00:00"),
        ("%m/%d/%Y %I:%M:%S %p", "11/20/2026 01:02:03 PM", "2026-11-20T13:02:03+00:00"),
        ("%y%m%d %H%M%S", "081109 203615", "2008-11-09T20:36:15+00:00"),
        ("%Y-%j %H:%M", "2026-324 10:00", "2026-11-20T10:00:00+00:00"),
    ],
)
def test_time_formats(spec: str, text: str, expected: str | None) -> None:
    value = compile_time_format(spec).parse(text, 0)
    if expected is None:
        assert value == 1_790_000_000_250_000_000
    else:
        assert value == ns(expected)


def test_time_zone_names_and_leap_days() -> None:
    paris = compile_time_format("%Y-%m-%d %H:%M:%S").parse("2026-07-01 12:00:00", 0, "Europe/Paris")
    assert paris == ns("2026-07-01T10:00:00+00:00")
    syslog = compile_time_format("syslog")
    received = ns("2027-03-01T00:00:00+00:00")
    assert syslog.parse("Feb 29 10:00:00", received) == ns("2024-02-29T10:00:00+00:00")
    assert compile_time_format("iso8601").parse("2026-13-01T00:00:00Z") is None
    with pytest.raises(TimeFormatError):
        compile_time_format("%H:%M")  # nothing to date it by


@given(st.text(max_size=300))
def test_evaluate_never_raises(text: str) -> None:
    mapping = load_raw_mapping_text(MAPPING)
    record = mapping.evaluate(text, 5)
    assert isinstance(record.message, str)
    if record.shape is None:
        assert record.message == text and record.timestamp == 5
