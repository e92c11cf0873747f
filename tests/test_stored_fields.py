"""Stored OTel fields read as OTel users mean them, at every time the query can name.

- a record without a severity (OTLP `severity_number` 0, SEVERITY_NUMBER_UNSPECIFIED) has a
  null `severity`, so `not exists(severity)` finds it;
- `event_name`, `scope_name`, `scope_version` and `trace_flags` are reachable (null for
  CloudWatch sources) without changing the default output columns (contract §4);
- hour partitions are keyed with a four-digit year, and time bounds far in the past (years
  before 1000, `since 9999999w`) prune nothing they should keep;
- a parameter that is not a finite number never reaches the SQL as a bare word.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest

from starbase import compile
from starbase.backends.cloudwatch.lower import lower
from starbase.cli import main
from starbase.compiler.errors import Code, CompileError
from starbase.compiler.timestamps import parse_iso
from starbase.config import config_from_dict, default_config
from starbase.mappings.metamodel import UNIVERSAL_FIELDS
from starbase.storage import hour_key, write_batch

T0 = parse_iso("2026-11-20T10:00:00Z")
S = 1_000_000_000
MAP = pa.map_(pa.string(), pa.string())


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fields-data")
    write_batch(
        root,
        pa.table(
            {
                "time_unix_nano": pa.array([T0 + i * S for i in range(4)], pa.int64()),
                "severity_number": pa.array([0, 9, 0, 17], pa.int32()),
                "body": ["no level", "info", "no level either", "error"],
                "log_attributes": pa.array([[("inf", "x")], [], [], []], MAP),
                "resource_attributes": pa.array([[("service.name", "api")]] * 4, MAP),
                "scope_name": ["io.opentelemetry.http", None, "app", "app"],
                "scope_version": ["1.2.0", None, None, "0.1"],
                "flags": pa.array([1, 0, 1, 1], pa.int32()),
                "event_name": ["browser.page_view", None, None, "app.crash"],
            }
        ),
    )
    return root


def rows(root: Path, text: str, **params: object) -> list[dict[str, object]]:
    return list(compile(text, default_config(root)).run(**params).to_pylist())


# ---------------------------------------------------------------- severity 0


def test_an_unspecified_severity_is_null(data: Path) -> None:
    assert rows(
        data, "from otel | where not exists(severity) | sort timestamp | fields message"
    ) == [
        {"message": "no level"},
        {"message": "no level either"},
    ]
    assert rows(data, "from otel | stats count() as n by severity | sort severity") == [
        {"severity": 9, "n": 1},
        {"severity": 17, "n": 1},
        {"severity": None, "n": 2},
    ]
    assert rows(data, 'from otel | where severity < "info" | stats count() as n') == [{"n": 0}]


# ---------------------------------------------------------------- event name, scope, flags


def test_event_name_scope_and_trace_flags_are_fields(data: Path) -> None:
    got = rows(
        data,
        "from otel | where exists(event_name) | sort timestamp"
        " | fields event_name, scope_name, scope_version, trace_flags",
    )
    assert got == [
        {
            "event_name": "browser.page_view",
            "scope_name": "io.opentelemetry.http",
            "scope_version": "1.2.0",
            "trace_flags": 1,
        },
        {"event_name": "app.crash", "scope_name": "app", "scope_version": "0.1", "trace_flags": 1},
    ]
    counts = rows(data, "from otel | stats count() as n by scope_name | sort scope_name")
    assert counts == [
        {"scope_name": "app", "n": 2},
        {"scope_name": "io.opentelemetry.http", "n": 1},
        {"scope_name": None, "n": 1},
    ]


def test_the_default_output_is_still_the_contract_table(data: Path) -> None:
    table = compile("from otel | limit 1", default_config(data)).run()
    assert table.column_names == [f.name for f in UNIVERSAL_FIELDS]
    extended = compile("from otel | extend e = event_name | limit 1", default_config(data)).run()
    assert extended.column_names == [*(f.name for f in UNIVERSAL_FIELDS), "e"]


def test_the_new_fields_are_null_for_cloudwatch() -> None:
    config = config_from_dict(
        {"sources": {"lambda": {"format": "cloudwatch", "log_groups": ["/aws/lambda/a"]}}}
    )
    compiled = compile("from lambda | fields event_name, scope_name, trace_flags", config)
    assert any("has no 'event_name'" in w.message for w in compiled.warnings)
    (query,) = lower(compiled.plan, compiled.config)
    assert "event_name" not in query.text


# ---------------------------------------------------------------- years before 1000


def test_hour_keys_have_four_digit_years() -> None:
    assert hour_key(parse_iso("0999-06-01T05:30:00Z")) == "0999-06-01T05"
    assert hour_key(parse_iso("0042-01-01T00:00:00Z")) == "0042-01-01T00"
    assert hour_key(T0) == "2026-11-20T10"


def test_a_time_range_starting_before_year_1000_keeps_every_partition(data: Path) -> None:
    text = 'from otel | between "0999-01-01T00:00:00Z" and "2030-01-01T00:00:00Z"'
    assert rows(data, text + " | stats count() as n") == [{"n": 4}]
    assert "'0999-01-01'" in compile(text, default_config(data)).sql()  # the day partition
    assert rows(
        data, "from otel | where timestamp >= $t | stats count() as n", t="0999-01-01T00:00:00Z"
    ) == [{"n": 4}]
    assert rows(data, "from otel | since 9999999w | stats count() as n") == [{"n": 4}]
    assert rows(
        data, 'from otel | where timestamp < "0999-01-01T00:00:00Z" | stats count() as n'
    ) == [{"n": 0}]


# ---------------------------------------------------------------- non-finite parameters


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_a_non_finite_number_parameter_is_e502(data: Path, value: float) -> None:
    for text in (
        "from otel | where severity > $s | fields message",
        "from otel | where attributes.inf == $s | fields message",
        "from otel | extend x = $s | fields x",
    ):
        with pytest.raises(CompileError) as caught:
            rows(data, text, s=value)
        assert caught.value.first.code is Code.INVALID_PARAMETER
        assert "finite" in caught.value.first.message


@pytest.mark.parametrize("raw", ["inf", "nan", "-inf", "Infinity", "NaN"])
def test_non_finite_text_on_the_command_line_is_never_an_identifier(
    data: Path, raw: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "from otel | where attributes.inf == $s | fields message"
    code = main(["query", "--data", str(data), "-o", "ndjson", "-p", f"s={raw}", text])
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out == ""  # compared as the text it is: no row has it
    code = main(["query", "--data", str(data), "-p", f"s={raw}", "from otel | where severity > $s"])
    assert code == 2
    assert "E502" in capsys.readouterr().err
