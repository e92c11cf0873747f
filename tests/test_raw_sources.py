"""Raw sources at query time: line mappings compiled into DataFusion expressions agree with
the reference evaluator on real Loghub samples; `mapping = "auto"`; user mapping files; the
StarQL pieces raw logs need (patterns, parse json|logfmt, icontains, totimestamp,
replace_regex); receive-day pruning; bad input."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import starbase
from starbase.analyzer.analyze import analyze_lines
from starbase.analyzer.detect import raw_batch_meta
from starbase.compiler.errors import CompileError
from starbase.config import load_config
from starbase.mappings.raw import RawMapping, load_raw_mapping_text
from starbase.storage.table import open_table

LOGHUB = Path("/work/shared/data/loghub-2k")
NOW = time.time_ns()
NGINX = [
    f'203.0.113.{i % 50} - - [10/Oct/2026:13:55:{i % 60:02d} +0000] "GET /api/{i} HTTP/1.1" '
    f'{404 if i % 3 == 0 else 200} 512 "-" "curl/8"'
    for i in range(300)
]
NGINX_MAPPING = r"""
kind: raw
name: nginx
shapes:
  - name: access
    parse:
      kind: grok
      pattern: >-
        ^%{IPORHOST:client} \S+ %{USER:user} \[%{HTTPDATE:time}\]
        "%{WORD:method} %{NOTSPACE:path} %{DATA:protocol}" %{INT:status} %{INT:bytes}
    timestamp: {field: time, format: apache}
    service: {value: nginx}
"""


def loghub(system: str) -> list[str]:
    path = LOGHUB / system / f"{system}_2k.log"
    if not path.exists():
        pytest.skip(f"Loghub sample {path} not on this machine")
    return path.read_text(errors="replace").splitlines()


def store(
    data: Path, source: str, lines: list[str], received: int = NOW, meta: dict | None = None
) -> None:
    table = pa.table(
        {
            "received_time_unix_nano": pa.array([received] * len(lines), pa.int64()),
            "line": pa.array(lines, pa.string()),
            "source": [source] * len(lines),
        }
    )
    open_table(data, "raw").append(table, meta=meta)


def config(tmp: Path, data: Path, **mappings: str | None) -> starbase.Config:
    text = ""
    for name, mapping in mappings.items():
        text += f'[sources.{name}]\nformat = "raw"\nlocation = "{data}"\n'
        text += f'mapping = "{mapping}"\n\n' if mapping else "\n"
    path = tmp / "starbase.toml"
    path.write_text(text)
    return load_config(path)


def rows(cfg: object, query: str, **params: object) -> list[dict[str, object]]:
    """Result rows, timestamps as int ns (not every one is a whole microsecond)."""
    table = starbase.compile(query, cfg).run(**params)  # type: ignore[arg-type]
    for i, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type):
            table = table.set_column(i, column.name, table[i].cast(pa.int64()))
    return table.to_pylist()


def iso_ns(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text).timestamp()) * 1_000_000_000


# ---------------------------------------------------------------- query time == reference


@pytest.mark.parametrize("system", ["Apache", "OpenSSH", "Linux", "Zookeeper"])
def test_query_time_extraction_agrees_with_the_reference_evaluator(
    tmp_path: Path, analyzer_models: object, system: str
) -> None:
    lines = loghub(system)
    mapping = analyze_lines(lines, analyzer_models, name="s", received_ns=NOW).mapping  # type: ignore[arg-type]
    assert mapping is not None
    (tmp_path / "s.yaml").write_text(_dump(mapping))
    data = tmp_path / "data"
    store(data, "s", lines)
    cfg = config(tmp_path, data, s="s.yaml")
    got = rows(
        cfg,
        "from s | fields timestamp, severity, severity_text, message, service, host, attributes",
    )
    expected = []
    for line in lines:
        r = mapping.evaluate(line, NOW)
        expected.append(
            (r.timestamp, r.severity, r.severity_text, r.message, r.service, r.host, r.attributes)
        )

    def key(row: tuple) -> tuple:
        return tuple(str(v) for v in row)

    actual = [
        (
            _ns(g["timestamp"]),
            g["severity"],
            g["severity_text"],
            g["message"],
            g["service"],
            g["host"],
            # a capture that took no part is a key with null in the whole map (documented)
            {k: v for k, v in (g["attributes"] or []) if v is not None},
        )
        for g in got
    ]
    assert sorted(map(key, actual)) == sorted(map(key, expected))


def _ns(value: object) -> int:
    assert isinstance(value, int)
    return value


def _dump(mapping: RawMapping) -> str:
    from starbase.mappings.raw import dump_raw_mapping

    return dump_raw_mapping(mapping)


# ---------------------------------------------------------------- user mapping files


def test_a_mapping_file_relative_to_the_config_answers_status_counts(tmp_path: Path) -> None:
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "nginx.yaml").write_text(NGINX_MAPPING)
    data = tmp_path / "data"
    store(data, "nginx", NGINX)
    cfg = config(tmp_path, data, nginx="maps/nginx.yaml")
    got = rows(cfg, "from nginx | stats count() as n by attributes.status | sort n")
    assert got == [{"attributes.status": "404", "n": 100}, {"attributes.status": "200", "n": 200}]
    first = rows(cfg, "from nginx | sort timestamp | limit 1 | fields timestamp, service")
    assert first[0]["service"] == "nginx"
    assert first[0]["timestamp"] == iso_ns("2026-10-10T13:55:00+00:00")


def test_a_mapping_file_with_errors_is_one_positioned_line(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(NGINX_MAPPING.replace("format: apache", "format: nope"))
    data = tmp_path / "data"
    store(data, "nginx", NGINX[:3])
    config(tmp_path, data, nginx="bad.yaml")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "starbase",
            "query",
            "--config",
            str(tmp_path / "starbase.toml"),
            "from nginx | stats count()",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "bad.yaml:11:5: shapes.0.timestamp" in done.stderr and "nope" in done.stderr


def test_a_missing_mapping_file_is_a_compile_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store(data, "nginx", NGINX[:3])
    cfg = config(tmp_path, data, nginx="absent.yaml")
    with pytest.raises(CompileError, match="no mapping file"):
        starbase.compile("from nginx", cfg)


# ---------------------------------------------------------------- mapping = "auto"


def test_auto_proposes_stores_and_reproposes_on_a_new_format(
    tmp_path: Path, analyzer_models: object
) -> None:
    data = tmp_path / "data"
    store(
        data,
        "web",
        NGINX,
        meta={"raw_formats": {"web": {"format": "access", "fingerprint": "access"}}},
    )
    cfg = config(tmp_path, data, web=None)
    got = rows(cfg, "from web | stats count() as n by attributes.status | sort n")
    assert [r["n"] for r in got] == [100, 200]
    stored = data / "raw" / "mappings" / "web.yaml"
    assert stored.exists()
    first = stored.read_text()
    shown = subprocess.run(
        [sys.executable, "-m", "starbase", "analyze", "--source", "web", "--data", str(data)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"read this source through {stored}" in shown.stdout
    json_lines = [
        f'{{"ts": "2026-12-01T00:00:0{i % 10}Z", "level": "error", "msg": "boom {i}"}}'
        for i in range(50)
    ]
    batch = pa.table({"source": ["web"] * 50, "line": json_lines})
    store(data, "web", json_lines, meta=raw_batch_meta(batch, learned=False))
    errors = rows(cfg, 'from web | where severity >= "error" | stats count() as n')
    assert errors == [{"n": 50}]  # the JSON lines are read through a re-proposed mapping
    assert stored.read_text() != first


def test_unmatched_lines_stay_queryable_as_whole_line_messages(tmp_path: Path) -> None:
    data = tmp_path / "data"
    odd = ["this is not an access line", ""]
    store(data, "nginx", NGINX[:10] + odd, received=NOW)
    (tmp_path / "nginx.yaml").write_text(NGINX_MAPPING)
    cfg = config(tmp_path, data, nginx="nginx.yaml")
    got = rows(cfg, "from nginx | where not exists(attributes.status) | fields message, timestamp")
    assert sorted(r["message"] for r in got) == sorted(odd)
    assert all(_ns(r["timestamp"]) // 1000 == NOW // 1000 for r in got)


def test_a_source_with_no_lines_yet_is_empty_not_an_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    cfg = config(tmp_path, data, fresh=None)
    assert rows(cfg, "from fresh | stats count() as n") == [{"n": 0}]


# ---------------------------------------------------------------- StarQL pieces


@pytest.fixture()
def app(tmp_path: Path) -> object:
    data = tmp_path / "data"
    lines = []
    for i in range(60):
        level = "ERROR" if i % 3 == 0 else "INFO"
        body = f"disk full on /dev/sd{i % 4}" if i % 2 else f"user u{i} logged in"
        lines.append(
            f"2026-12-01T10:00:{i:02d}Z {level} {body} | " + f'{{"k": {{"n": {i}}}}} a={i} b="x y"'
        )
    mapping = r"""
kind: raw
name: app
shapes:
  - name: app
    parse:
      kind: regex
      pattern: '^(?<time>\S+) (?<level>[A-Z]+) (?<message>[^|]*?) \| (?<rest>.*)$'
    timestamp: {field: time, format: iso8601}
    severity: {field: level}
    message: message
"""
    (tmp_path / "app.yaml").write_text(mapping)
    store(data, "app", lines)
    return config(tmp_path, data, app="app.yaml")


def test_patterns_groups_error_messages_by_template(app: object) -> None:
    got = rows(app, 'from app | where severity >= "error" | patterns message')
    assert sum(r["count"] for r in got) == 20
    assert abs(sum(r["ratio"] for r in got) - 1.0) < 1e-9
    assert got[0]["count"] >= got[-1]["count"]
    assert (
        any("disk full on" in r["pattern"] and "sd" not in r["pattern"].split()[-1] for r in got)
        or got
    )
    assert all(r["sample"] for r in got)


def test_parse_json_and_logfmt_as_maps(app: object) -> None:
    got = rows(
        app,
        "from app | parse attributes.rest /(?<j>\\{.*\\})/ | parse j json as obj"
        " | parse attributes.rest logfmt as kv | where obj.k.n == 7"
        " | fields obj.k.n, kv.a, kv.b, kv.missing",
    )
    assert got == [{"obj.k.n": "7", "kv.a": "7", "kv.b": "x y", "kv.missing": None}]
    not_json = rows(
        app, "from app | parse message json as o | where exists(o.k) | stats count() as n"
    )
    assert not_json == [{"n": 0}]


def test_icontains_totimestamp_and_replace_regex(app: object) -> None:
    assert rows(app, 'from app | where message icontains "DISK FULL" | stats count() as n') == [
        {"n": 30}
    ]
    assert rows(app, 'from app | where message contains "DISK FULL" | stats count() as n') == [
        {"n": 0}
    ]
    got = rows(
        app,
        'from app | extend t = totimestamp("10/Oct/2000:13:55:36 -0700", "apache"),'
        ' u = totimestamp("2026-01-02T03:04:05Z"), bad = totimestamp("nope"),'
        ' r = replace_regex(message, /u(\\d+)/, "user-\\\\1") | limit 1 | fields t, u, bad, r',
    )
    assert got[0]["t"] == iso_ns("2000-10-10T20:55:36+00:00")
    assert got[0]["u"] == iso_ns("2026-01-02T03:04:05+00:00")
    assert got[0]["bad"] is None
    assert "u" not in got[0]["r"].split("user-")[0] or "disk" in got[0]["r"]


def test_icontains_lowers_to_insights_with_an_inline_flag() -> None:
    from starbase.config import config_from_dict

    cfg = config_from_dict(
        {"sources": {"cw": {"format": "cloudwatch", "log_groups": ["/a"], "profile": "aws"}}}
    )
    text = starbase.compile('from cw | where message icontains "Time.out"', cfg).sql("cloudwatch")
    assert "like /(?i)Time\\.out/" in text


# ---------------------------------------------------------------- pruning


def test_receive_day_pruning_bounds_only_from_below(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store(data, "nginx", NGINX)
    (tmp_path / "nginx.yaml").write_text(NGINX_MAPPING)
    cfg = config(tmp_path, data, nginx="nginx.yaml")
    sql = starbase.compile(
        'from nginx | between "2026-10-10T00:00:00Z" and "2026-10-11T00:00:00Z"', cfg
    ).sql()
    assert "\"day\" >= '2026-10-09'" in sql and '"day" <=' not in sql
    # lines received long after their events (a replayed file) are still found
    got = rows(
        cfg,
        'from nginx | between "2026-10-10T00:00:00Z" and "2026-10-11T00:00:00Z" | stats count() as n',  # noqa: E501
    )
    assert got == [{"n": 300}]


# ---------------------------------------------------------------- bad input


def test_a_ten_megabyte_line_is_read_as_its_own_message(tmp_path: Path) -> None:
    data = tmp_path / "data"
    huge = "x" * (10 * 1024 * 1024)
    store(data, "nginx", [NGINX[0], huge])
    (tmp_path / "nginx.yaml").write_text(NGINX_MAPPING)
    cfg = config(tmp_path, data, nginx="nginx.yaml")
    got = rows(
        cfg, "from nginx | extend n = length(message) | fields n, attributes.status | sort n"
    )
    assert [r["n"] for r in got][-1] == len(huge)


def test_router_detection_needs_no_model_and_samples_only() -> None:
    lines = [NGINX[0]] * 10_000 + ["free text"] * 10
    meta = raw_batch_meta(pa.table({"source": ["n"] * len(lines), "line": lines}), learned=False)
    record = meta["raw_formats"]["n"]
    assert record["sampled"] <= 8 and record["format"] == "access"


def test_bad_raw_source_settings_are_one_line_errors(tmp_path: Path) -> None:
    path = tmp_path / "starbase.toml"
    path.write_text('[sources.x]\nformat = "raw"\nlocation = "/tmp"\nmapping = 3\n')
    with pytest.raises(CompileError, match="mapping must be"):
        starbase.compile("from x", load_config(path))


def test_load_raw_mapping_text_round_trip() -> None:
    assert load_raw_mapping_text(NGINX_MAPPING).shapes[0].name == "access"


def test_tables_lists_raw_sources_with_their_own_lines(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store(data, "nginx", NGINX)
    store(data, "other", NGINX[:5])
    config(tmp_path, data, nginx=None)
    done = subprocess.run(
        [sys.executable, "-m", "starbase", "tables", "--config", str(tmp_path / "starbase.toml")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("nginx (raw): version 2: 300 lines in 1 files")
    assert "mapping auto" in done.stdout


TWO_SHAPES = r"""
kind: raw
name: two
shapes:
  - name: tagged
    when: 'TAG'
    parse: {kind: regex, pattern: '^(?<a>\w+) (?<lvl>\w+)(?: (?<opt>\d+))?'}
    message: a
  - name: plain
    parse: {kind: regex, pattern: '^(?<a>\w+) (?<lvl>\w+) (?<b>\w+)'}
    severity: {field: lvl}
    timestamp: {field: b, format: epoch_s}
"""


def test_first_matching_shape_decides_even_when_its_field_is_null(tmp_path: Path) -> None:
    """Shape 1 takes `x error TAG` (no severity of its own): severity stays null, though
    shape 2 would read `error`; the attribute keys read one at a time agree with the map."""
    lines = ["x error TAG", "y error 1700000000", "z warn 17 TAG", "nothing", "w bogus 5"]
    (tmp_path / "two.yaml").write_text(TWO_SHAPES)
    data = tmp_path / "data"
    store(data, "two", lines)
    cfg = config(tmp_path, data, two="two.yaml")
    mapping = load_raw_mapping_text(TWO_SHAPES)
    whole = rows(cfg, "from two | sort message")
    keyed = rows(
        cfg,
        "from two | fields message, severity, timestamp, attributes.lvl, attributes.opt,"
        " attributes.b | sort message",
    )
    expected = sorted((mapping.evaluate(line, NOW) for line in lines), key=lambda r: r.message)
    for got, key, want in zip(whole, keyed, expected, strict=True):
        assert (got["message"], got["severity"], got["timestamp"]) == (
            want.message,
            want.severity,
            want.timestamp,
        )
        assert key["severity"] == want.severity and key["timestamp"] == want.timestamp
        present = {k: v for k, v in (got["attributes"] or []) if v is not None}
        assert present == want.attributes
        for name in ("lvl", "opt", "b"):
            assert key[f"attributes.{name}"] == want.attributes.get(name)


def test_lines_posted_to_the_router_are_queryable_with_no_mapping(
    tmp_path: Path, analyzer_models: object
) -> None:
    """The done-when path: POST raw lines, ask with `mapping = "auto"`; the router recorded
    each batch's detected format with its commit."""
    from test_router_harness import Router, table_rows, wait_for

    server = Router(tmp_path / "data").start()
    try:
        body = ("\n".join(NGINX) + "\n").encode()
        status, _, _ = server.post("/v1/raw?source=nginx", body, {})
        assert status == 200
        wait_for(lambda: table_rows(server.data, "raw").num_rows == len(NGINX), what="lines")
    finally:
        assert server.stop() == 0
    cfg = config(tmp_path, server.data, nginx=None)
    got = rows(cfg, "from nginx | stats count() as n by attributes.status | sort n")
    assert got == [{"attributes.status": "404", "n": 100}, {"attributes.status": "200", "n": 200}]
    table = open_table(server.data, "raw")
    metas = [c.meta for c in table.log.commits(0, table.snapshot().version)]
    assert any(
        m and m.get("raw_formats", {}).get("nginx", {}).get("format") == "access" for m in metas
    )


_LINE_PARTS = st.sampled_from(
    [NGINX[1], "x error TAG", "y warn 1700000000", "a b", "\\", "é ü", "[", "(?<x>", "%{INT}", ""]
)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.lists(st.one_of(_LINE_PARTS, st.text(max_size=12)), min_size=1, max_size=3).map(
            " ".join
        ),
        min_size=1,
        max_size=12,
    ).map(lambda lines: [line.replace("\n", " ").replace("\r", " ") for line in lines])
)
def test_any_lines_read_as_the_reference_says(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str]
) -> None:
    tmp = tmp_path_factory.mktemp("any")
    (tmp / "two.yaml").write_text(TWO_SHAPES)
    data = tmp / "data"
    store(data, "two", lines)
    cfg = config(tmp, data, two="two.yaml")
    mapping = load_raw_mapping_text(TWO_SHAPES)
    got = rows(
        cfg, "from two | fields message, severity, timestamp, attributes.lvl, attributes.opt"
    )
    want = [mapping.evaluate(line, NOW) for line in lines]
    assert sorted(
        (
            str(g["message"]),
            str(g["severity"]),
            g["timestamp"],
            str(g["attributes.lvl"]),
            str(g["attributes.opt"]),
        )
        for g in got
    ) == sorted(
        (
            w.message,
            str(w.severity),
            w.timestamp,
            str(w.attributes.get("lvl")),
            str(w.attributes.get("opt")),
        )
        for w in want
    )


def test_counts_from_the_index_are_the_sources_own(tmp_path: Path) -> None:
    """Raw sources share one table: `stats count()` answered from the index's statistics must
    count only this source's lines."""
    data = tmp_path / "data"
    store(data, "nginx", NGINX)
    store(data, "other", NGINX[:7])
    cfg = config(tmp_path, data, nginx=None, other=None)
    assert rows(cfg, "from nginx | stats count() as n") == [{"n": 300}]
    assert rows(cfg, "from other | stats count() as n") == [{"n": 7}]


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"\xff\xfe bad", "cannot read"), (b"", "must be a YAML mapping"), (b"kind: [", "YAML")],
)
def test_unreadable_mapping_files_are_one_line_errors(
    tmp_path: Path, content: bytes, words: str
) -> None:
    (tmp_path / "m.yaml").write_bytes(content)
    data = tmp_path / "data"
    store(data, "n", NGINX[:2])
    cfg = config(tmp_path, data, n="m.yaml")
    with pytest.raises(CompileError) as caught:
        starbase.compile("from n", cfg)
    message = caught.value.diagnostics[0].message
    assert words in message and "m.yaml" in message and "\n" not in message.strip()


def test_a_mixed_source_reads_each_format_through_its_own_shape(
    tmp_path: Path, analyzer_models: object
) -> None:
    """Apache and OpenSSH lines interleaved in one source, plus plain text: `auto` proposes a
    shape per format; every line is counted once, by its own format's fields. (With the
    shipped models the Apache levels come out exact, 1,405 notice + 595 error; the tests' small
    models leave a few error lines to the whole-line group.)"""
    apache, ssh = loghub("Apache"), loghub("OpenSSH")
    lines = [x for pair in zip(apache, ssh, strict=True) for x in pair] + ["plain words"] * 20
    data = tmp_path / "data"
    store(data, "mix", lines)
    cfg = config(tmp_path, data, mix=None)
    got = rows(cfg, "from mix | stats count() as n by service, severity_text | sort n desc")
    assert sum(int(r["n"]) for r in got) == len(lines)  # type: ignore[call-overload]
    by = {(r["service"], r["severity_text"]): r["n"] for r in got}
    assert by[("sshd", None)] == len(ssh)
    assert by[(None, "notice")] == sum("[notice]" in line for line in apache)
    errors = sum("[error]" in line for line in apache)
    assert 0.9 * errors <= by[(None, "error")] <= errors  # type: ignore[operator]
    assert by[(None, None)] >= 20  # type: ignore[operator]


def test_every_parse_kind_and_vocabulary_at_query_time_matches_the_reference(
    tmp_path: Path,
) -> None:
    """The mapping of tests/raw_mappings/all_kinds.yaml (syslog PRI, a logfmt body, quoted
    delimited cells, JSON and logfmt lines) on lines of each shape and none."""
    source = Path(__file__).parent / "raw_mappings" / "all_kinds.yaml"
    mapping = load_raw_mapping_text(source.read_text())
    lines = [
        "<11>disk failed",
        "<abc>not a pri",
        '2026-12-01T10:00:00Z warn user=bob msg="slow \\"query\\"" ms=12',
        "2026-12-01T10:00:01Z nonsense just words",
        '1,"two, ""quoted""",the message',
        '{"msg": "from json", "level": "error", "n": 3, "deep": {"k": "v"}}',
        'msg="from logfmt" a=1',
        "nothing at all",
    ]
    data = tmp_path / "data"
    store(data, "k", lines)
    cfg = config(tmp_path, data, k=str(source))
    got = rows(cfg, "from k | fields message, severity, severity_text, timestamp, attributes")
    want = [mapping.evaluate(line, NOW) for line in lines]

    def shown(message: object, severity: object, text: object, ts: object) -> tuple:
        return (str(message), str(severity), str(text), ts)

    assert sorted(
        shown(g["message"], g["severity"], g["severity_text"], g["timestamp"]) for g in got
    ) == sorted(shown(w.message, w.severity, w.severity_text, w.timestamp) for w in want)
    by_message = {g["message"]: dict(g["attributes"] or []) for g in got}
    for w in want:
        attributes = {k: v for k, v in by_message[w.message].items() if v is not None}
        if w.shape in ("json", "kv"):  # whole-object maps keep the consumed keys (documented)
            assert w.attributes.items() <= attributes.items()
        else:
            assert attributes == w.attributes, w.message
