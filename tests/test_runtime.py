"""Running compiled queries on real Parquet files with real DataFusion.

The dataset is built here, row by row, with `otel_layout.write_batch`, so every expected value
below can be checked by hand against `ROWS`. Times are deliberately not microsecond-aligned.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest

from starbase import compile
from starbase.backends.datafusion.engine import QueryFailed
from starbase.cli import main
from starbase.compiler.errors import Code, CompileError
from starbase.compiler.timestamps import format_iso, parse_iso
from starbase.config import default_config
from starbase.mappings.metamodel import UNIVERSAL_FIELDS
from starbase.storage import write_batch

S = 1_000_000_000
MINUTE = 60 * S
T0 = parse_iso("2026-11-20T10:00:00Z")
MAP = pa.map_(pa.string(), pa.string())

# (time_unix_nano, service, severity_number, severity_text, body, attributes, host, trace_id)
Row = tuple[int, str, int, str, str, dict[str, str], str, str | None]
FIRST: Row = (
    T0 + 1 * S + 1,
    "checkout",
    9,
    "INFO",
    "GET /cart HTTP/1.1 200",
    {"duration_ms": "50", "user": "alice"},
    "host-a",
    "0af7651916cd43dd8448eb211c80319c",
)
LATER: list[Row] = [
    (
        T0 + 1 * MINUTE + 123_456_789,
        "checkout",
        13,
        "WARN",
        "GET /pay HTTP/2 503",
        {"duration_ms": "150", "user": "bob"},
        "host-a",
        None,
    ),
    (
        T0 + 2 * MINUTE + 5 * S + 999_999_999,
        "checkout",
        17,
        "ERROR",
        "payment timeout for bob@example.com",
        {"duration_ms": "1000"},
        "host-b",
        None,
    ),
    (
        T0 + 5 * MINUTE + 7,
        "payments",
        5,
        "DEBUG",
        "connecting",
        {"duration_ms": "abc"},
        "host-c",
        None,
    ),
    (T0 + 7 * MINUTE + 300, "payments", 21, "FATAL", "crash", {}, "host-c", None),
    (
        T0 + 70 * MINUTE + 42,
        "checkout",
        9,
        "INFO",
        "GET /cart?page=2 HTTP/1.1 200",
        {"duration_ms": "20", "user": "alice"},
        "host-a",
        None,
    ),
    (T0 + 80 * MINUTE + 1, "search", 1, "TRACE", "q=shoes", {"duration_ms": "5"}, "host-d", None),
    (
        T0 + 95 * MINUTE + 999,
        "search",
        11,
        "Information",
        "q=boots",
        {"duration_ms": "7"},
        "host-d",
        None,
    ),
    (
        T0 + 100 * MINUTE + 5,
        "payments",
        18,
        "ERROR",
        "charge refused for carol@example.com",
        {"duration_ms": "400", "user": "carol"},
        "host-c",
        None,
    ),
]
ROWS: list[Row] = [FIRST, *LATER]
TIMES = sorted(r[0] for r in ROWS)


def rows_table(rows: Sequence[Row], observed_delay: int = 500) -> pa.Table:
    """OTel layout columns for `rows` (observed time = time + `observed_delay` ns)."""
    return pa.table(
        {
            "time_unix_nano": pa.array([r[0] for r in rows], pa.int64()),
            "observed_time_unix_nano": pa.array([r[0] + observed_delay for r in rows], pa.int64()),
            "severity_number": pa.array([r[2] for r in rows], pa.int32()),
            "severity_text": [r[3] for r in rows],
            "body": [r[4] for r in rows],
            "log_attributes": pa.array([list(r[5].items()) for r in rows], MAP),
            "resource_attributes": pa.array(
                [[("service.name", r[1]), ("host.name", r[6])] for r in rows], MAP
            ),
            "trace_id": pa.array([r[7] for r in rows], pa.string()),
            "span_id": pa.array(["b7ad6b7169203331" if r[7] else None for r in rows], pa.string()),
        }
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with ROWS; FIRST is written last, in a file of its own, so that file
    order and time order disagree in day=2026-11-20."""
    root = tmp_path_factory.mktemp("runtime-data")
    write_batch(root, rows_table(LATER))
    write_batch(root, rows_table([FIRST]))
    return root


def run(root: Path, text: str, **params: object) -> pa.Table:
    return compile(text, default_config(root)).run(**params)


def values(table: pa.Table) -> dict[str, list[object]]:
    """Columns as Python lists; timestamps as integer nanoseconds (exact)."""
    out: dict[str, list[object]] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_timestamp(column.type):
            out[name] = column.cast(pa.int64()).to_pylist()
        elif pa.types.is_map(column.type):
            out[name] = [None if m is None else dict(m) for m in column.to_pylist()]
        else:
            out[name] = column.to_pylist()
    return out


def column(root: Path, text: str, **params: object) -> list[object]:
    table = run(root, text, **params)
    assert table.num_columns == 1, table.column_names
    return values(table)[table.column_names[0]]


# ---------------------------------------------------------------- result shape (contract §5)


def test_without_fields_or_stats_the_output_is_the_meta_model_in_order(data: Path) -> None:
    table = run(data, "from otel | sort timestamp | limit 1")
    assert table.column_names == [f.name for f in UNIVERSAL_FIELDS]
    types = {f.name: str(f.type) for f in table.schema}
    for name in ("timestamp", "observed_timestamp"):
        assert types[name] == "timestamp[ns, tz=UTC]"
    assert types["severity"] == "int64"
    for name in ("severity_text", "message", "service", "host", "trace_id", "span_id"):
        assert types[name] == "string"
    for name in ("source", "log_group", "log_stream"):
        assert types[name] == "string"
    assert types["attributes"] == types["resource"] == "map<string, string>"
    assert values(table) == {
        "timestamp": [T0 + S + 1],
        "observed_timestamp": [T0 + S + 501],
        "severity": [9],
        "severity_text": ["INFO"],
        "message": ["GET /cart HTTP/1.1 200"],
        "service": ["checkout"],
        "host": ["host-a"],
        "trace_id": ["0af7651916cd43dd8448eb211c80319c"],
        "span_id": ["b7ad6b7169203331"],
        "source": ["otel"],
        "log_group": [None],
        "log_stream": [None],
        "attributes": [{"duration_ms": "50", "user": "alice"}],
        "resource": [{"service.name": "checkout", "host.name": "host-a"}],
    }


def test_parse_and_extend_add_their_fields_after_the_meta_model(data: Path) -> None:
    table = run(
        data,
        'from otel | parse message "GET * HTTP/*" as path, version'
        " | extend d = tonumber(attributes.duration_ms) * 2, message = upper(message)"
        " | sort timestamp | limit 1",
    )
    meta = [f.name for f in UNIVERSAL_FIELDS]
    assert table.column_names == [*meta, "path", "version", "d"]
    got = values(table)
    assert got["message"] == ["GET /CART HTTP/1.1 200"]  # replaced in place
    assert (got["path"], got["version"], got["d"]) == (["/cart"], ["1.1 200"], [100.0])


def test_output_names_aliases_paths_and_canonical_text(data: Path) -> None:
    table = run(
        data,
        "from otel | stats count(), count() as n, avg(attributes.duration_ms),"
        " max(attributes.duration_ms) as slowest, round(sum(attributes.duration_ms) / count())"
        " by service, bin(timestamp, 1h) | sort service",
    )
    assert table.column_names == [
        "service",
        "bin(timestamp, 1h)",
        "count()",
        "n",
        "avg(attributes.duration_ms)",
        "slowest",
        "round(sum(attributes.duration_ms) / count())",
    ]
    assert [str(t) for t in table.schema.types] == [
        "string",
        "timestamp[ns, tz=UTC]",
        "int64",
        "int64",
        "double",
        "double",
        "double",
    ]
    table = run(
        data,
        "from otel | fields attributes.user, message as text, length(message),"
        " resource.host.name, timestamp | limit 1",
    )
    assert table.column_names == [
        "attributes.user",
        "text",
        "length(message)",
        "resource.host.name",
        "timestamp",
    ]
    assert [str(t) for t in table.schema.types] == [
        "string",
        "string",
        "int64",
        "string",
        "timestamp[ns, tz=UTC]",
    ]


def test_timestamps_keep_every_nanosecond(data: Path) -> None:
    got = values(run(data, "from otel | sort timestamp | fields timestamp, observed_timestamp"))
    assert got["timestamp"] == TIMES
    assert got["observed_timestamp"] == [t + 500 for t in TIMES]
    # and a timestamp literal with nanoseconds selects exactly
    exact = format_iso(T0 + MINUTE + 123_456_789)
    assert exact.endswith(".123456789Z")
    assert column(data, f'from otel | where timestamp == "{exact}" | fields service') == [
        "checkout"
    ]
    assert column(data, f'from otel | where timestamp > "{exact}" | stats count()') == [7]


# ---------------------------------------------------------------- stages


def test_sort_puts_nulls_last_in_both_directions(data: Path) -> None:
    asc = column(data, "from otel | sort attributes.user, timestamp | fields attributes.user")
    desc = column(data, "from otel | sort attributes.user desc | fields attributes.user")
    assert asc == ["alice", "alice", "bob", "carol", None, None, None, None, None]
    assert desc == ["carol", "bob", "alice", "alice", None, None, None, None, None]


def test_limit_takes_the_first_rows_in_the_current_order(data: Path) -> None:
    assert column(data, "from otel | sort timestamp desc | limit 2 | fields timestamp") == [
        TIMES[-1],
        TIMES[-2],
    ]
    assert run(data, "from otel | limit 3").num_rows == 3
    assert column(
        data, "from otel | sort timestamp | limit 3 | sort timestamp desc | fields severity"
    ) == [
        17,
        13,
        9,
    ]


def test_dedup_keeps_the_first_row_in_the_current_order(data: Path) -> None:
    latest = values(
        run(data, "from otel | sort timestamp desc | dedup service | fields service, message")
    )
    assert latest == {
        "service": ["payments", "search", "checkout"],
        "message": [
            "charge refused for carol@example.com",
            "q=boots",
            "GET /cart?page=2 HTTP/1.1 200",
        ],
    }
    first = values(
        run(data, "from otel | sort timestamp | dedup service | fields service, message")
    )
    assert first == {  # the order survives dedup
        "service": ["checkout", "payments", "search"],
        "message": ["GET /cart HTTP/1.1 200", "connecting", "q=shoes"],
    }


def test_stats_then_where_on_its_output(data: Path) -> None:
    got = values(run(data, "from otel | stats count() as n by service | where n >= 3 | sort n"))
    assert got == {"service": ["payments", "checkout"], "n": [3, 4]}


def test_parse_glob_captures_and_nulls_when_no_match(data: Path) -> None:
    got = values(
        run(
            data,
            'from otel | parse message "GET * HTTP/*" as path, version'
            " | sort timestamp | fields path, version",
        )
    )
    assert got["path"] == ["/cart", "/pay", None, None, None, "/cart?page=2", None, None, None]
    assert got["version"] == ["1.1 200", "2 503", None, None, None, "1.1 200", None, None, None]


def test_parse_regex_named_groups_and_nulls_when_no_match(data: Path) -> None:
    got = values(
        run(
            data,
            "from otel | parse message /(?<user>[a-z]+)@(?<domain>[a-z.]+)/"
            " | sort timestamp | fields user, domain",
        )
    )
    assert got["user"] == [None, None, "bob", None, None, None, None, None, "carol"]
    assert got["domain"] == [None, None, "example.com", *[None] * 5, "example.com"]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('severity >= "warn"', [13, 17, 21, 18]),
        ('severity >= "WARNING"', [13, 17, 21, 18]),
        ('severity == "info"', [9, 9, 11]),  # a level name stands for its whole range
        ('severity < "Warning" and severity >= "debug"', [9, 5, 9, 11]),
        ('severity >= "error"', [17, 21, 18]),
        ('severity == "critical"', [21]),
        ("severity == 17", [17]),
        ('severity > "13"', [17, 21, 18]),
    ],
)
def test_severity_compares_with_level_names(
    data: Path, condition: str, expected: list[int]
) -> None:
    got = column(data, f"from otel | where {condition} | sort timestamp | fields severity")
    assert got == expected


def test_string_attributes_compare_as_numbers_with_numbers(data: Path) -> None:
    # as text "50" > "100" and "abc" > "100"; as numbers only 150, 1000 and 400 are
    got = column(
        data,
        "from otel | where attributes.duration_ms > 100 | sort timestamp"
        " | fields attributes.duration_ms",
    )
    assert got == ["150", "1000", "400"]
    assert column(data, "from otel | where attributes.duration_ms <= 7 | stats count()") == [2]
    # text against text stays text
    assert column(data, 'from otel | where attributes.duration_ms > "100" | stats count()') == [8]


def test_bin_buckets_are_aligned_to_the_unix_epoch(data: Path) -> None:
    width = 7 * MINUTE  # does not divide an hour: buckets are not hour-aligned
    got = values(run(data, "from otel | stats count() as n by bin(timestamp, 7m) as b | sort b"))
    expected: dict[int, int] = {}
    for t in TIMES:
        expected[t // width * width] = expected.get(t // width * width, 0) + 1
    assert got == {"b": sorted(expected), "n": [expected[k] for k in sorted(expected)]}
    assert T0 % width != 0 and got["b"][0] < T0  # the first bucket starts before 10:00


def test_earliest_and_latest_follow_timestamp_not_file_order(data: Path) -> None:
    got = values(
        run(
            data,
            "from otel | stats earliest(message) as first, latest(message) as last,"
            " earliest(attributes.user) as first_user by service | sort service",
        )
    )
    assert got == {
        "service": ["checkout", "payments", "search"],
        "first": ["GET /cart HTTP/1.1 200", "connecting", "q=shoes"],
        "last": [
            "GET /cart?page=2 HTTP/1.1 200",
            "charge refused for carol@example.com",
            "q=boots",
        ],
        "first_user": ["alice", "carol", None],  # nulls are skipped
    }


def test_pct_is_exact_and_count_distinct_counts_exactly(data: Path) -> None:
    # numeric durations: 5 7 20 50 150 400 1000 ("abc" and the missing one are skipped)
    got = values(
        run(
            data,
            "from otel | stats pct(attributes.duration_ms, 50) as p50,"
            " pct(attributes.duration_ms, 90), pct(attributes.duration_ms, 25) as p25,"
            " count_distinct(attributes.user) as users, count_distinct(host),"
            " count(attributes.duration_ms) as with_duration",
        )
    )
    assert got == {
        "p50": [50.0],
        "pct(attributes.duration_ms, 90)": [640.0],  # 400 + 0.4 × (1000 − 400)
        "p25": [13.5],  # 7 + 0.5 × (20 − 7)
        "users": [3],
        "count_distinct(host)": [4],
        "with_duration": [8],
    }


# ---------------------------------------------------------------- a long-lived session


def test_files_written_after_the_first_run_are_seen(tmp_path: Path) -> None:
    write_batch(tmp_path, rows_table(LATER[:2]))
    compiled = compile("from otel | stats count() as n", default_config(tmp_path))
    by_service = compile(
        "from otel | stats count() as n by service | sort service", default_config(tmp_path)
    )
    assert column(tmp_path, "from otel | stats count()") == [2]
    assert values(compiled.run()) == {"n": [2]}
    assert values(by_service.run()) == {"service": ["checkout"], "n": [2]}
    write_batch(tmp_path, rows_table([FIRST]))  # an existing partition, a new file
    write_batch(tmp_path, rows_table(LATER[-2:]))  # new files in the day folder
    assert values(compiled.run()) == {"n": [5]}
    assert values(by_service.run()) == {
        "service": ["checkout", "payments", "search"],
        "n": [3, 1, 1],
    }


# ---------------------------------------------------------------- parameters


def test_string_number_and_regex_parameters(data: Path) -> None:
    count = compile("from otel | where service == $svc | stats count()", default_config(data))
    assert values(count.run(svc="payments")) == {"count()": [3]}
    assert values(count.run(svc="search")) == {"count()": [2]}
    assert values(count.run(svc="it's'; drop table otel; --")) == {"count()": [0]}
    assert column(data, "from otel | where severity >= $n | stats count()", n=17) == [3]
    assert column(
        data, "from otel | where tonumber(attributes.duration_ms) > $min | stats count()", min=99.5
    ) == [3]
    assert column(
        data, "from otel | where message ~ $re | sort timestamp | fields message", re="time|REFUSED"
    ) == ["payment timeout for bob@example.com"]
    assert column(data, "from otel | where $needle | stats count()", needle="GET /") == [3]


def test_a_number_parameter_compares_a_string_attribute_as_a_number(data: Path) -> None:
    # as `attributes.duration_ms > 100` does; text bound to it compares as text
    above = compile(
        "from otel | where attributes.duration_ms > $min | stats count()", default_config(data)
    )
    assert values(above.run(min=100)) == {"count()": [3]}
    assert values(above.run(min=99.5)) == {"count()": [3]}
    assert values(above.run(min="100")) == {"count()": [8]}
    flipped = "from otel | where $max >= attributes.duration_ms | stats count()"
    assert column(data, flipped, max=7) == [2]


def test_timestamp_parameters_from_iso_text_and_datetime(data: Path) -> None:
    query = compile("from otel | where timestamp >= $t | stats count()", default_config(data))
    assert query.parameters == {"t": "timestamp"}
    assert values(query.run(t="2026-11-20T11:00:00Z")) == {"count()": [4]}
    assert values(query.run(t="2026-11-20T12:00:00+01:00")) == {"count()": [4]}
    assert values(query.run(t=dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC))) == {"count()": [4]}
    assert values(query.run(t=T0 + 70 * MINUTE + 43)) == {"count()": [3]}  # integer ns
    # nanosecond-exact bounds through `between`
    between = compile("from otel | between $a and $b | stats count()", default_config(data))
    assert values(between.run(a=format_iso(T0 + S + 1), b=format_iso(T0 + 7 * MINUTE + 300))) == {
        "count()": [4]
    }
    assert values(between.run(a=format_iso(T0 + S + 2), b="2026-11-20T10:07:00.000000301Z")) == {
        "count()": [4]
    }


def test_duration_and_limit_parameters(data: Path) -> None:
    bins = compile(
        "from otel | stats count() as n by bin(timestamp, $width) as b | sort b",
        default_config(data),
    )
    assert values(bins.run(width="1h")) == {"b": [T0, T0 + 60 * MINUTE], "n": [5, 4]}
    assert values(bins.run(width=dt.timedelta(hours=2))) == {"b": [T0], "n": [9]}
    five = 5 * MINUTE
    assert values(bins.run(width="5m"))["b"] == sorted({t // five * five for t in TIMES})
    limited = compile(
        "from otel | sort timestamp | limit $n | fields timestamp", default_config(data)
    )
    assert values(limited.run(n=2)) == {"timestamp": TIMES[:2]}
    assert values(limited.run(n=5)) == {"timestamp": TIMES[:5]}


def test_a_number_bound_where_text_is_expected_is_its_text(data: Path) -> None:
    query = compile("from otel | where $p == tostring(length(service))", default_config(data))
    assert query.run(p=8).num_rows == query.run(p="8").num_rows > 0


def test_an_unbound_parameter_is_e501(data: Path) -> None:
    query = compile("from otel | where service == $svc | limit $n", default_config(data))
    with pytest.raises(CompileError) as caught:
        query.run(svc="checkout")
    assert caught.value.diagnostics[0].code is Code.UNBOUND_PARAMETER
    assert "$n" in caught.value.diagnostics[0].message


@pytest.mark.parametrize(
    ("query", "value"),
    [
        ("from otel | limit $p", "2"),
        ("from otel | limit $p", True),
        ("from otel | where timestamp >= $p", "yesterday"),
        ("from otel | where timestamp >= $p", 1.5),
        ("from otel | since $p", "5 minutes"),
        ("from otel | where message ~ $p", "(?=x)"),
        ("from otel | where message ~ $p", 5),
        ("from otel | where message contains $p", [5]),
        ("from otel | where severity >= $p", "a lot"),
    ],
)
def test_a_parameter_of_the_wrong_type_is_e502(data: Path, query: str, value: object) -> None:
    with pytest.raises(CompileError) as caught:
        compile(query, default_config(data)).run(p=value)
    assert caught.value.diagnostics[0].code is Code.INVALID_PARAMETER
    assert "$p" in caught.value.diagnostics[0].message


# ---------------------------------------------------------------- since and now()


@pytest.fixture(scope="module")
def recent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four rows 10 minutes, 50 minutes, 90 minutes and 3 hours before the fixture ran."""
    root = tmp_path_factory.mktemp("recent-data")
    now = time.time_ns()
    ages = [10, 50, 90, 180]
    rows: list[Row] = [
        (now - age * MINUTE, "checkout", 9, "INFO", f"{age}m ago", {}, "h", None) for age in ages
    ]
    write_batch(root, rows_table(rows))
    return root


def test_since_selects_rows_relative_to_now(recent: Path) -> None:
    messages = "| sort timestamp desc | fields message"
    assert column(recent, f"from otel | since 1h {messages}") == ["10m ago", "50m ago"]
    assert column(recent, f"from otel | since 2h {messages}") == ["10m ago", "50m ago", "90m ago"]
    assert column(recent, f"from otel | since 30m {messages}") == ["10m ago"]
    assert column(recent, "from otel | where timestamp < now() - 1h | stats count()") == [2]
    assert column(recent, "from otel | since $d | stats count()", d="100m") == [3]


# ---------------------------------------------------------------- run-time errors


def test_a_missing_data_folder_is_a_one_line_query_failure(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(QueryFailed) as caught:
        run(missing, "from otel | stats count()")
    message = str(caught.value)
    assert str(missing) in message and "\n" not in message


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starbase.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_failure_is_one_line_and_a_traceback_only_with_debug(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    plain = cli("query", "--data", missing, "from otel | stats count()")
    assert plain.returncode == 1 and plain.stdout == ""
    lines = plain.stderr.splitlines()
    assert len(lines) == 1, plain.stderr
    assert lines[0].startswith("starbase: ") and missing in lines[0]
    debug = cli("--debug", "query", "--data", missing, "from otel | stats count()")
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr and "QueryFailed" in debug.stderr


def test_cli_compile_error_exits_2(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["query", "--data", str(data), 'from otel | where servce == "x"'])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "error[E302]" in err and "^" in err
    code = main(["query", "--data", str(data), "from otel | limit $n"])
    out, err = capsys.readouterr()
    assert code == 2 and "E501" in err
    code = main(["query", "--data", str(data), "-p", "n=2", "from otel | limit $n"])
    out, err = capsys.readouterr()
    assert code == 0 and "(2 rows)" in out
    slow = "from otel | where attributes.duration_ms >= $min | stats count() as n"
    code = main(["query", "--data", str(data), "-o", "csv", "-p", "min=150", slow])
    assert code == 0 and capsys.readouterr().out == "n\n3\n"


# ---------------------------------------------------------------- output formats (CLI)

SHOWN = "from otel | sort timestamp | limit 3 | fields timestamp, service, severity, attributes"


def query_output(data: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> str:
    code = main(["query", "--data", str(data), "--output", fmt, SHOWN])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_ndjson_is_one_object_per_row_with_rfc3339_nanos(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = query_output(data, capsys, "ndjson").splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "timestamp": "2026-11-20T10:00:01.000000001Z",
            "service": "checkout",
            "severity": 9,
            "attributes": {"duration_ms": "50", "user": "alice"},
        },
        {
            "timestamp": "2026-11-20T10:01:00.123456789Z",
            "service": "checkout",
            "severity": 13,
            "attributes": {"duration_ms": "150", "user": "bob"},
        },
        {
            "timestamp": "2026-11-20T10:02:05.999999999Z",
            "service": "checkout",
            "severity": 17,
            "attributes": {"duration_ms": "1000"},
        },
    ]
    assert list(json.loads(lines[0])) == ["timestamp", "service", "severity", "attributes"]


def test_csv_has_a_header_and_one_line_per_row(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = query_output(data, capsys, "csv").splitlines()
    assert lines == [
        "timestamp,service,severity,attributes",
        "2026-11-20T10:00:01.000000001Z,checkout,9,"
        '"{""duration_ms"": ""50"", ""user"": ""alice""}"',
        "2026-11-20T10:01:00.123456789Z,checkout,13,"
        '"{""duration_ms"": ""150"", ""user"": ""bob""}"',
        '2026-11-20T10:02:05.999999999Z,checkout,17,"{""duration_ms"": ""1000""}"',
    ]


def test_json_is_an_array_of_objects(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parsed = json.loads(query_output(data, capsys, "json"))
    assert isinstance(parsed, list) and len(parsed) == 3
    assert [r["timestamp"] for r in parsed] == [
        "2026-11-20T10:00:01.000000001Z",
        "2026-11-20T10:01:00.123456789Z",
        "2026-11-20T10:02:05.999999999Z",
    ]


def test_table_is_aligned_with_a_row_count(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = query_output(data, capsys, "table").splitlines()
    header, rule, *body, count = lines
    assert header.split() == ["timestamp", "service", "severity", "attributes"]
    assert set(rule) == {"-", " "}
    assert count == "(3 rows)"
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    assert [m.start() for m in re.finditer(r"-+", rule)] == starts
    for line in body:  # every cell starts under its header
        assert all(line[s - 1] == " " for s in starts[1:]), line
    assert body[1].startswith("2026-11-20T10:01:00.123456789Z  checkout")
    code = main(["query", "--data", str(data), "from otel | where service == 'nope'"])
    assert code == 0 and capsys.readouterr().out.splitlines()[-1] == "(0 rows)"


# ---------------------------------------------------------------- explain and pruning


def test_explain_shows_pruning_by_day_and_service(data: Path) -> None:
    compiled = compile(
        'from otel | between "2026-11-20T10:00:00Z" and "2026-11-20T11:00:00Z"'
        ' | where service == "checkout"',
        default_config(data),
    )
    text = compiled.explain()
    plans = text.split("== DataFusion plan ==", 1)[1]
    logical, physical = plans.split("-- physical plan --")
    scans = [line for line in logical.splitlines() if "TableScan:" in line]
    assert len(scans) == 1  # one listing table over the day layout
    full = re.search(r"full_filters=\[(.*?)\], partial_filters", scans[0])
    partial = re.search(r"partial_filters=\[(.*?)\]$", scans[0])
    assert full is not None and partial is not None, scans[0]
    assert 'otel__v2.day >= Utf8("2026-11-20")' in full.group(1)  # folders pruned
    assert 'otel__v2.day <= Utf8("2026-11-20")' in full.group(1)
    assert 'otel__v2.service = Utf8("checkout")' in partial.group(1)  # row groups pruned
    groups = re.search(r"file_groups=\{(.*?)\]\]\}", physical)
    assert groups is not None, physical
    listed = re.findall(r"day=[^/]+/by=append-\d+/[^,\]\s]+\.parquet", groups.group(1))
    day = data / "otel" / "logs" / "v2" / "day=2026-11-20"
    on_disk = sorted(str(p.relative_to(day.parent)) for p in day.rglob("*.parquet"))
    assert len(on_disk) == 2  # FIRST was written in a file of its own
    assert sorted(listed) == on_disk
    assert sorted(values(compiled.run())["timestamp"]) == TIMES[:3]
    other_day = compile(
        'from otel | between "2026-11-21T10:00:00Z" and "2026-11-21T11:00:00Z"',
        default_config(data),
    ).explain()
    assert ".parquet" not in other_day.split("-- physical plan --", 1)[1]


def test_explain_analyze_with_parameters_shows_metrics(data: Path) -> None:
    compiled = compile("from otel | where service == $svc | fields message", default_config(data))
    text = compiled.explain(analyze=True, params={"svc": "search"})
    plans = text.split("== DataFusion plan ==", 1)[1]
    assert "output_rows=2" in plans
    assert "required_guarantees=[service in (search)]" in plans
    # FIRST's file holds only checkout rows: its row group is skipped by its statistics
    assert "row_groups_pruned_statistics=2 total → 1 matched" in plans
    # without the parameter the plan is not available, but explain still works
    assert "(not available: " in compiled.explain()


@pytest.mark.parametrize(
    "pipeline",
    [
        "sort length(message) | sort service",
        "sort length(message) | extend x = 1 | sort service",
        "sort length(message) desc | dedup service | sort service",
        "sort tonumber(attributes.duration_ms) | fields service, message",
    ],
)
def test_sort_keys_never_leak_into_the_result(data: Path, pipeline: str) -> None:
    """Sorting on an expression keeps it as a hidden column until the end; a later sort or
    projection must drop it (the result has exactly the query's columns)."""
    query = compile(f"from otel | {pipeline}", default_config(data))
    table = query.run()
    assert table.column_names == [c.name for c in query.columns]
    assert not any(name.startswith("__") for name in table.column_names)
