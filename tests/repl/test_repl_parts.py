"""The REPL's parts without a screen: lexer, completion, history, rewrites, time ranges,
chart drawing, cell formatting, export and the cancellable runner."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from starbase.compiler.driver import compile
from starbase.config import Config, config_from_dict
from starbase.repl.chart import bars, regroup, time_label
from starbase.repl.completion import Vocabulary, complete
from starbase.repl.diagnostics import check, is_typing
from starbase.repl.explain import explain_text
from starbase.repl.export import export, format_for
from starbase.repl.history import HistoryCursor, HistoryStore
from starbase.repl.lexer import Kind, tokenize
from starbase.repl.results import _layout, cell_text
from starbase.repl.rewrite import with_since, with_sources
from starbase.repl.runner import Cancelled, RunRequest, SessionBackend
from starbase.repl.timerange import (
    HOUR,
    MINUTE,
    choose_bucket,
    fill_buckets,
    histogram_query,
    query_window,
    span_query,
)
from starbase.runtime.session import Session

from .repl_support import NOW

VOCABULARY = Vocabulary(
    sources=("otel", "lambda"), attribute_keys=("http.status_code", "duration_ms")
)


# ---------------------------------------------------------------- lexer


def kinds(text: str) -> list[tuple[str, str]]:
    return [(t.kind.value, t.text) for t in tokenize(text)]


def test_lexer_tells_regexes_from_division() -> None:
    assert kinds("where a / 2 > b / 4") == [
        ("keyword", "where"),
        ("name", "a"),
        ("operator", "/"),
        ("number", "2"),
        ("operator", ">"),
        ("name", "b"),
        ("operator", "/"),
        ("number", "4"),
    ]
    assert ("regex", "/time\\/out/i") in kinds("where message ~ /time\\/out/i")
    assert ("regex", "/(?<user>\\w+)/") in kinds("parse message /(?<user>\\w+)/")
    assert ("regex", "/5\\d\\d/") in kinds("where /5\\d\\d/")


def test_lexer_kinds_and_unfinished_tokens() -> None:
    tokens = tokenize('from otel # note\n| stats count() by bin(timestamp, 5m) | where x == "ab')
    assert [t.kind for t in tokens][:3] == [Kind.KEYWORD, Kind.NAME, Kind.COMMENT]
    assert (Kind.FUNCTION, "count") in [(t.kind, t.text) for t in tokens]
    assert (Kind.DURATION, "5m") in [(t.kind, t.text) for t in tokens]
    last = tokens[-1]
    assert last.kind is Kind.STRING and not last.closed and last.text == '"ab'
    assert [t.kind for t in tokenize("$level true @ `x")] == [
        Kind.PARAM,
        Kind.CONSTANT,
        Kind.ERROR,
        Kind.QUOTED_NAME,
    ]


@pytest.mark.parametrize(
    "text", ["", "|||", '"', "/", "from otel | where (((", "\n\n", "a.b.c", "`x", "1.2.3e"]
)
def test_lexer_covers_any_text(text: str) -> None:
    tokens = tokenize(text)
    covered = "".join(text[t.start : t.end] for t in tokens)
    assert covered == "".join(text.split())


# ---------------------------------------------------------------- completion


def labels(text: str, offset: int | None = None) -> list[str]:
    result = complete(text, len(text) if offset is None else offset, VOCABULARY)
    return [c.label for c in result.candidates]


def test_completion_by_context() -> None:
    assert labels("") == ["from"]
    assert labels("from ") == ["otel", "lambda", "*"]
    assert labels("from otel | ")[:3] == ["where", "since", "between"]
    assert labels("from otel | since ")[:3] == ["15m", "1h", "24h"]
    assert labels("from otel | where sev") == ["severity", "severity_text"]
    assert labels("from otel | where attributes.") == [
        "attributes.http.status_code",
        "attributes.duration_ms",
    ]
    assert labels("from otel | stats co")[:2] == ["count()", "count_distinct()"]
    assert labels("from otel | sort n ") == ["desc", "asc"]
    assert labels('from otel | where severity >= "er') == ['"error"']
    assert labels('from otel | where message contains "ti') == []  # inside a string
    assert labels("from otel | extend slow = 1 | where sl") == ["slow"]


def test_completion_replaces_the_whole_word_under_the_cursor() -> None:
    text = "from otel | where servce == 1"
    result = complete(text, text.index("rvce"), VOCABULARY)
    assert (result.start, result.end, result.prefix) == (18, 24, "se")


def test_completion_knows_names_from_parse() -> None:
    text = "from otel | parse message /user (?<user>\\w+)/ | where us"
    assert labels(text)[0] == "user"


# ---------------------------------------------------------------- diagnostics


def test_check_returns_compiled_or_diagnostics(config: Config) -> None:
    ok = check("from otel | since 1h", config)
    assert ok.compiled is not None and ok.error is None
    bad = check("from otel | where nope == 1", config)
    assert bad.compiled is None and bad.error is not None and bad.error.code.value == "E302"
    assert check("   ", config).error is None
    unfinished = check("from otel | where", config)
    assert unfinished.error is not None
    assert is_typing(unfinished.error, "from otel | where", len("from otel | where"))
    assert not is_typing(bad.error, "from otel | where nope == 1", 27)


# ---------------------------------------------------------------- history


def test_history_store_persists_dedupes_and_survives_junk(tmp_path: Path) -> None:
    path = tmp_path / "state" / "history.ndjson"
    store = HistoryStore(path)
    for query in ("from a", "from b", "from b", "  ", "from a"):
        store.add(query)
    assert store.entries == ["from a", "from b", "from a"]
    with path.open("a") as out:
        out.write("not json\n{}\n")
    again = HistoryStore(path, limit=2)
    assert again.entries == ["from b", "from a"]
    assert again.search("FROM") == ["from a", "from b"]
    assert again.search("b") == ["from b"]


def test_history_store_reports_an_unwritable_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = HistoryStore(blocker / "history.ndjson")
    store.add("from otel")
    assert store.entries == ["from otel"] and store.error is not None


def test_history_cursor_walks_and_restores_the_draft() -> None:
    store = HistoryStore(None)
    for query in ("q1", "q2", "q3"):
        store.add(query)
    cursor = HistoryCursor(store)
    assert cursor.newer() is None
    assert cursor.older("draft") == "q3"
    assert cursor.older("q3") == "q2"
    assert cursor.older("q2") == "q1"
    assert cursor.older("q1") is None
    assert cursor.newer() == "q2"
    assert cursor.newer() == "q3"
    assert cursor.newer() == "draft"


# ---------------------------------------------------------------- rewrites


@pytest.mark.parametrize(
    ("text", "duration", "expected"),
    [
        ("", "1h", "from otel\n| since 1h"),
        ("from otel", "15m", "from otel\n| since 15m"),
        ("from otel | where x", "15m", "from otel | since 15m | where x"),
        ("from otel\n| since 1h\n| where x", "24h", "from otel\n| since 24h\n| where x"),
        (
            'from otel | between "2026-11-20" and "2026-11-21" | since 2h',
            "1h",
            "from otel | since 1h",
        ),
        ("from otel\n| since 1h\n| where x", None, "from otel\n| where x"),
        ("from otel | where (", "1h", "from otel | since 1h | where ("),  # does not parse
        ("from otel | since 5m | where (", "1h", "from otel | since 1h | where ("),
    ],
)
def test_with_since(text: str, duration: str | None, expected: str) -> None:
    assert with_since(text, duration) == expected


def test_with_sources() -> None:
    assert with_sources("from otel | limit 1", ["a", "b"]) == "from a, b | limit 1"
    assert with_sources("# c\nfrom otel\n| limit 1", ["*"]) == "# c\nfrom *\n| limit 1"
    assert with_sources("from otel | where (", ["x"]) == "from x | where ("
    assert with_sources("", ["my-logs"]) == "from `my-logs`"


# ---------------------------------------------------------------- time ranges


def test_query_window_and_histogram_query(config: Config) -> None:
    since = compile('from otel | since 1h | where "x" | stats count() | sort 1', config)
    window = query_window(since, NOW)
    assert (window.lower, window.upper, window.label) == (NOW - HOUR, NOW, "last 1h")
    assert histogram_query(since, MINUTE) == (
        'from otel\n| since 1h\n| where "x"\n| stats count() as n by bin(timestamp, 1m) as t'
    )
    between = compile('from otel | between "2026-11-21" and "2026-11-21T06:00"', config)
    label = query_window(between, NOW).label
    assert label == "2026-11-21 00:00Z → 2026-11-21 06:00Z"
    assert query_window(compile("from otel", config), NOW).label == "all time"
    assert span_query(compile("from otel | limit 3", config)).endswith(
        "| stats min(timestamp) as lo, max(timestamp) as hi, count() as n"
    )


def test_buckets() -> None:
    assert choose_bucket(0, HOUR, 80) == MINUTE
    assert choose_bucket(0, 24 * HOUR, 80) == 30 * MINUTE
    assert choose_bucket(0, 1, 80) == 1_000_000_000
    start, values = fill_buckets(
        [(90 * 10**9, 2.0), (150 * 10**9, 1.0)], 70 * 10**9, 200 * 10**9, MINUTE
    )
    assert start == 60 * 10**9 and values == [2.0, 1.0, 0.0]


# ---------------------------------------------------------------- chart


def test_bars_are_proportional_and_never_hide_a_nonzero_bucket() -> None:
    rows = bars([0, 1, 8, 16], height=2)
    assert rows == ["   █", " ▁██"]
    assert regroup((1.0, 2.0, 3.0), 7) == [1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0]  # the full width
    assert regroup((1.0,) * 10, 4) == [1.0, 1.0, 1.0, 1.0]  # averaged, not summed
    assert regroup((1.0, 3.0, 2.0, 6.0), 2) == [2.0, 4.0]
    assert regroup((0.0, 3.0, 6.0), 2) == [1.0, 5.0]  # the middle bucket shared half and half
    assert time_label(NOW, HOUR) == "00:00Z"
    assert time_label(NOW, 48 * HOUR) == "11-22 00:00Z"


# ---------------------------------------------------------------- results


def test_cell_text() -> None:
    assert cell_text(None) == "null"
    assert cell_text("2026-11-21T05:00:00.123456789Z", timestamp=True) == "2026-11-21 05:00:00.123"
    assert cell_text("2026-11-21T05:00:00Z", timestamp=True) == "2026-11-21 05:00:00.000"
    assert cell_text({"a": "1"}) == '{"a":"1"}'
    assert cell_text("two\nlines") == "two⏎lines"
    assert cell_text(0.1) == "0.1" and cell_text(1 / 3) == "0.333333"


def test_layout_widths_and_empty_columns(config: Config) -> None:
    table = pa.table(
        {
            "n": pa.array([1, 22], pa.int64()),
            "empty": pa.array([None, None], pa.string()),
            "text": ["a", "x" * 500],
        }
    )
    columns, hidden = _layout(table)
    assert [c.name for c in columns] == ["n", "empty", "text"] and hidden == []  # asked for
    assert columns[0].numeric and columns[2].width == 40
    records = Session(config).run(compile("from otel | limit 3", config))
    columns, hidden = _layout(records)
    assert [c.name for c in columns][:4] == ["timestamp", "severity_text", "service", "message"]
    assert hidden == ["log_group", "log_stream"]


# ---------------------------------------------------------------- export


def test_export_formats(tmp_path: Path) -> None:
    table = pa.table({"ts": pa.array([NOW], pa.timestamp("ns", tz="UTC")), "n": [1]})
    assert format_for(Path("x.JSONL")) == "ndjson" and format_for(Path("x.txt")) == "csv"
    export(table, tmp_path / "a.ndjson", "ndjson")
    assert json.loads((tmp_path / "a.ndjson").read_text()) == {"ts": "2026-11-22T00:00:00Z", "n": 1}
    export(table, tmp_path / "a.parquet", "parquet")
    assert pq.read_table(tmp_path / "a.parquet").equals(table)
    with pytest.raises(ValueError):
        export(table, tmp_path / "a.xls", "xls")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ndjson", "a.parquet"]


# ---------------------------------------------------------------- runner


def test_runner_caps_rows_counts_bytes_and_cancels(config: Config) -> None:
    backend = SessionBackend(Session(config))
    compiled = compile("from otel", config)
    result = backend.execute(RunRequest(compiled, {}, NOW, max_rows=1000))
    assert result.table.num_rows == 1000 and result.truncated
    exact = backend.execute(RunRequest(compile("from otel | limit 1000", config), {}, NOW, 1000))
    assert exact.table.num_rows == 1000 and not exact.truncated
    assert result.bytes_scanned and result.bytes_scanned > 0
    assert result.sources == ("otel",)
    assert result.table.schema == backend.session.run(compiled).schema  # the same types
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        backend.execute(RunRequest(compiled, {}, NOW, cancel=cancel))
    sample = backend.sample("otel")
    assert "http.status_code" in sample.attribute_keys and "user.id" in sample.attribute_keys
    assert sample.values["service"] and "checkout" in sample.values["service"]
    assert sample.values["attributes.http.method"][0] in ("GET", "POST")
    assert backend.sample("nope").attribute_keys == ()


# ---------------------------------------------------------------- explain


def test_explain_says_where_each_source_runs() -> None:
    config = config_from_dict(
        {
            "sources": {
                "otel": {"format": "otel", "location": "data"},
                "lambda": {"format": "cloudwatch", "log_groups": ["/aws/lambda/x"]},
            }
        }
    )
    compiled = compile('from otel, lambda | where severity >= "error"', config)
    explain = Session(config).explain(compiled, plans=False)
    text = explain_text(explain)
    assert "otel (otel) → DataFusion, over Parquet at data" in text
    assert "lambda (cloudwatch) → CloudWatch Logs Insights over /aws/lambda/x:" in text
    assert "== CloudWatch Logs Insights ==" in text
    titles = [part.title for part in explain.parts]
    assert titles[:3] == ["Where it runs", "parse", "resolve"]
    assert titles[-1] == "CloudWatch Logs Insights"


# ---------------------------------------------------------------- found by outside testing


def test_completion_keeps_a_complete_word_first_and_offers_nothing_after_as() -> None:
    assert labels("from otel | fields timestamp")[:2] == ["timestamp", "observed_timestamp"]
    assert labels("from otel | stats count() by severity") == ["severity", "severity_text"]
    assert labels("from otel | stats count() as ") == []
    assert labels("from otel | stats count() as n") == []
    assert labels("from otel | extend x = 1 | fields x, message as ") == []
    assert labels("from otel | stats count() as n by ser")[:1] == ["service"]


@pytest.mark.parametrize("buckets", [1, 7, 60, 61, 119, 500])
def test_chart_columns_fill_the_width_without_spikes(buckets: int) -> None:
    flat = (5.0,) * buckets
    for width in (7, 10, 50, 59, 60, 61, 80, 119, 120, 200):
        columns = regroup(flat, width)
        assert len(columns) == width, (buckets, width)
        assert {char for row in bars(columns, height=3) for char in row} == {"█"}


def test_chart_bars_depend_on_the_data_and_width_only() -> None:
    values = tuple(float((i * 37) % 11) for i in range(60))
    first = bars(regroup(values, 80), 3)
    for width in (50, 61, 123, 33, 80):  # a series of resizes …
        rows = bars(regroup(values, width), 3)
        assert {len(r) for r in rows} == {width}
    assert bars(regroup(values, 80), 3) == first  # … leaves the same drawing at the same width
    spike = regroup((0.0,) * 30 + (9.0,) + (0.0,) * 29, 80)
    assert max(spike) == 9.0 and sum(1 for v in spike if v) in (
        1,
        2,
    )  # a one-bucket spike stays one


def test_export_json_is_an_array(tmp_path: Path) -> None:
    assert format_for(Path("x.json")) == "json" and format_for(Path("x.jsonl")) == "ndjson"
    table = pa.table({"ts": pa.array([NOW, None], pa.timestamp("ns", tz="UTC")), "n": [1, 2]})
    export(table, tmp_path / "a.json", format_for(Path("a.json")))
    assert json.loads((tmp_path / "a.json").read_text()) == [
        {"ts": "2026-11-22T00:00:00Z", "n": 1},
        {"ts": None, "n": 2},
    ]
    export(table.slice(0, 0), tmp_path / "empty.json", "json")
    assert json.loads((tmp_path / "empty.json").read_text()) == []
