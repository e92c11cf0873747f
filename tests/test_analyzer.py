"""The format analyzer: proposals per family, mixed sources, bad input, the CLI (§7)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from starbase.analyzer.analyze import analyze_lines
from starbase.analyzer.corpus.formats import generate
from starbase.analyzer.source import InputError, decode_lines
from starbase.cli import main
from starbase.mappings.raw import load_raw_mapping_text
from starbase.storage.table import open_table

FAMILIES = {
    "json_app": "json",
    "logfmt": "logfmt",
    "nginx_combined": "access",
    "syslog3164": "syslog3164",
    "syslog5424": "syslog5424",
    "log4j": "app",
    "python_logging": "app",
    "klog": "app",
    "pipe_delimited": "delimited",
    "keyvalue_app": "keyvalue",
}


def accuracy(fmt: str, models: object) -> tuple[float, float, float, str]:
    lines = generate([fmt], 150, seed=11)
    received = max(line.time_ns or 0 for line in lines) + 10**9
    analysis = analyze_lines([line.text for line in lines], models, received_ns=received)
    assert analysis.mapping is not None
    ts = level = msg = 0
    for line in lines:
        record = analysis.mapping.evaluate(line.text, received)
        ts += record.timestamp == line.time_ns
        level += line.severity is None or record.severity == line.severity
        msg += record.message.strip() == line.message.strip()
    n = len(lines)
    return ts / n, level / n, msg / n, analysis.formats[0].family


@pytest.mark.parametrize("fmt", sorted(FAMILIES))
def test_each_family_is_detected_and_extracted(fmt: str, analyzer_models: object) -> None:
    ts, level, msg, family = accuracy(fmt, analyzer_models)
    assert family == FAMILIES[fmt]
    assert (ts, level, msg) >= (0.97, 0.97, 0.97), (ts, level, msg)


def test_mixed_source_gets_one_shape_per_format(analyzer_models: object) -> None:
    lines = generate(["log4j", "syslog3164", "nginx_combined", "stacktrace"], 60, seed=3)
    random.Random(0).shuffle(lines)
    analysis = analyze_lines([line.text for line in lines], analyzer_models, name="mixed")
    assert analysis.mapping is not None
    assert {f.family for f in analysis.formats} == {"app", "syslog3164", "access"}
    assert all(abs(f.share - 0.25) < 0.02 for f in analysis.formats)
    assert analysis.continuation == pytest.approx(0.25, abs=0.02)
    assert analysis.unmatched == pytest.approx(0.25, abs=0.02)  # stack lines stay whole
    # the proposal is valid YAML of the schema and means the same when read back
    again = load_raw_mapping_text(analysis.yaml)
    assert again == analysis.mapping
    shapes = {r.shape for r in (again.evaluate(line.text) for line in lines)}
    assert shapes == {f.name for f in analysis.formats} | {None}


def test_plain_text_and_a_single_line_get_low_confidence(analyzer_models: object) -> None:
    plain = analyze_lines(["just some words", "more words here"], analyzer_models)
    assert plain.mapping is not None and plain.confidence < 0.5
    assert plain.mapping.evaluate("anything").message == "anything"
    one = analyze_lines(["2026-11-20 10:00:00,123 ERROR [main] a.B - boom"], analyzer_models)
    assert one.confidence < 0.6 and any("only 1 line" in w for w in one.warnings)
    assert (
        one.mapping is not None
        and one.mapping.evaluate("2026-11-20 10:00:01,000 WARN [main] a.B - late").severity == 13
    )


def test_empty_input_proposes_nothing(analyzer_models: object) -> None:
    analysis = analyze_lines(["", "  ", "\r\n"], analyzer_models)
    assert analysis.mapping is None and analysis.lines == 0


def test_huge_line_and_regex_like_text_stay_bounded(analyzer_models: object) -> None:
    huge = "2026-11-20T10:00:00Z INFO " + "(a+)+" * 2_000_000  # a 10 MB line
    nasty = ["((((((((((a*)*)*)*)*)*)*)*)*)*)" * 50 + "!" for _ in range(20)]
    analysis = analyze_lines([huge, *nasty], analyzer_models)
    assert analysis.mapping is not None
    assert any("longer than" in w for w in analysis.warnings)


@settings(max_examples=40)
@given(st.lists(st.text(max_size=200), max_size=8))
def test_analyze_never_raises(lines: list[str]) -> None:
    from starbase.analyzer.models import load_models

    analysis = analyze_lines(lines, load_models())
    if analysis.mapping is not None:
        for line in lines:
            assert isinstance(analysis.mapping.evaluate(line).message, str)


def test_decoding_bad_bytes() -> None:
    with pytest.raises(InputError, match="binary data"):
        decode_lines(b"\x00\x01\x02abc\n" * 10, "x.bin")
    with pytest.raises(InputError, match="not UTF-8"):
        decode_lines("é\n".encode("latin-1") * 10, "x.log")
    warnings: list[str] = []
    lines = decode_lines(b"ok line\n" * 9 + b"bad \xff\n", "x.log", warnings)
    assert lines[-1] == "bad \ufffd" and "not UTF-8" in warnings[0]
    assert decode_lines(b"   \n", "x") == []


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_analyze_file_json_and_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], analyzer_models: object
) -> None:
    log = tmp_path / "app.log"
    log.write_text("\n".join(line.text for line in generate(["spark"], 50, seed=2)) + "\n")
    target = tmp_path / "app.yaml"
    code, out, err = run(
        capsys,
        "analyze",
        str(log),
        "--output",
        "json",
        "--write",
        str(target),
        "--data",
        str(tmp_path),
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["formats"][0]["family"] == "app"
    fields = {f["target"]: f for f in report["formats"][0]["fields"]}
    assert fields["timestamp"]["coverage"] == 1.0 and "%y/%m/%d" in fields["timestamp"]["evidence"]
    assert fields["severity"]["coverage"] == 1.0
    assert load_raw_mapping_text(target.read_text()).name == "app"
    code, out, _ = run(capsys, "analyze", str(log), "--data", str(tmp_path))
    assert code == 0 and "proposed mapping:" in out and "coverage:" in out


def test_cli_bad_inputs_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], analyzer_models: object
) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    binary = tmp_path / "x.bin"
    binary.write_bytes(bytes(range(256)) * 100)
    for args, words in (
        ([str(empty)], "no readable lines"),
        ([str(binary)], "binary data"),
        ([str(tmp_path / "missing.log")], "cannot read"),
        (["--source", "nginx"], "no raw sources stored"),
    ):
        code, _, err = run(capsys, "analyze", *args, "--data", str(tmp_path))
        assert code == 1 and words in err and len(err.strip().splitlines()) == 1, err


def test_cli_analyze_stored_raw_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], analyzer_models: object
) -> None:
    lines = generate(["nginx_combined"], 40, seed=1) + generate(["syslog5424"], 10, seed=1)
    table = open_table(tmp_path, "raw")
    table.append(
        pa.table(
            {
                "received_time_unix_nano": [line.time_ns for line in lines],
                "line": [line.text for line in lines],
                "source": ["nginx"] * 40 + ["syslog"] * 10,
            }
        )
    )
    code, out, err = run(
        capsys, "analyze", "--source", "nginx", "--data", str(tmp_path), "-o", "json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["lines"] == 40 and report["formats"][0]["family"] == "access"
    assert report["mapping"]["name"] == "nginx"
    code, _, err = run(capsys, "analyze", "--source", "nope", "--data", str(tmp_path))
    assert code == 1 and "stored: nginx, syslog" in err
