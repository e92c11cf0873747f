"""Inputs at and beyond the compiler's limits: they compile, or fail as positioned compile errors.

Long `and`/`or` chains compile (they are flat, however long); nesting deeper than
`MAX_DEPTH` and pipelines longer than `MAX_STAGES` are refused where they go too far (E108);
the largest queries within the limits compile, explain and run on DataFusion (whose SQL parser
has a depth limit of its own). Numbers beyond 64 bits, times beyond every calendar and files
that are not UTF-8 are compile errors or work — never an internal error, whatever the input.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from starbase import compile
from starbase.cli import EXIT_COMPILE_ERROR, EXIT_FAILURE, EXIT_OK, main
from starbase.compiler.errors import Code, CompileError
from starbase.compiler.grammar.parser import MAX_DEPTH, MAX_STAGES
from starbase.compiler.timestamps import parse_iso
from starbase.config import default_config
from starbase.storage import write_batch

T0 = parse_iso("2026-11-20T10:00:00Z")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("limits-data")
    write_batch(
        root,
        pa.table(
            {
                "time_unix_nano": pa.array([T0 + i for i in range(3)], pa.int64()),
                "severity_number": pa.array([9, 13, 17], pa.int32()),
                "body": ["x7", "x250", "x499"],
                "resource_attributes": pa.array(
                    [[("service.name", s)] for s in ("a", "b", "a")],
                    pa.map_(pa.string(), pa.string()),
                ),
            }
        ),
    )
    return root


def refused(text: str) -> CompileError:
    with pytest.raises(CompileError) as caught:
        compile(text)
    return caught.value


# ---------------------------------------------------------------- deep and long inputs


@pytest.mark.parametrize("op", ["or", "and"])
def test_chains_of_500_terms_compile_and_run(data: Path, op: str) -> None:
    terms = [f'message == "x{i}"' if op == "or" else f'message != "y{i}"' for i in range(500)]
    compiled = compile(f"from otel | where {f' {op} '.join(terms)}", default_config(data))
    assert compiled.run().num_rows == 3
    compiled.explain(plans=False)
    assert compiled.sql("cloudwatch")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("from otel | extend x = " + "-" * 5000 + "1", "-"),
        ("from otel | where " + "not " * 5000 + "true", "not"),
        ("from otel | extend x = " + "lower(" * 2000 + "message" + ")" * 2000, "lower("),
        ("from otel | extend x = " + "(1 + " * 2000 + "1" + ")" * 2000, "1 +"),
        ("from otel | where " + "(true or " * 2000 + "true" + ")" * 2000, "true or"),
        ("from otel | extend x = " + "1 + " * 3000 + "1", "1 +"),
    ],
)
def test_deep_nesting_is_a_positioned_error(text: str, where: str) -> None:
    err = refused(text)
    assert err.first.code is Code.TOO_COMPLEX and "nested too deeply" in err.first.message
    span = err.first.span
    assert span is not None and text[span.start :].startswith(where)
    assert "^" in err.render()


def test_too_many_stages_is_a_positioned_error() -> None:
    text = "from otel" + " | limit 5" * 3000
    err = refused(text)
    assert err.first.code is Code.TOO_COMPLEX and f"at most {MAX_STAGES}" in err.first.message
    span = err.first.span
    assert span is not None and span.start == len("from otel" + " | limit 5" * MAX_STAGES) + 3


def test_the_largest_queries_within_the_limits_run(data: Path) -> None:
    deep = "-" * (MAX_DEPTH - 3) + "(severity + 1)"
    calls = "lower(" * (MAX_DEPTH - 1) + "message" + ")" * (MAX_DEPTH - 1)
    for text in (
        "from otel" + " | dedup service" * (MAX_STAGES - 2) + f" | extend x = {deep} | fields x",
        f"from otel | extend x = {calls}" + " | dedup service" * (MAX_STAGES - 1),
        "from otel | extend x0 = 0"
        + "".join(f" | sort x{i - 1} | extend x{i} = {deep}" for i in range(1, MAX_STAGES // 2)),
    ):
        compiled = compile(text, default_config(data))
        assert compiled.run().num_rows >= 2
        compiled.explain()


# ---------------------------------------------------------------- numbers and times


@pytest.mark.parametrize(
    ("text", "code", "at"),
    [
        ("from otel | extend x = 9223372036854775807 + 1", Code.INTEGER_OVERFLOW, "9223"),
        ("from otel | extend x = -9223372036854775807 - 2 * 1", Code.INTEGER_OVERFLOW, "-9223"),
        ("from otel | extend x = 99999999999999999999", Code.INVALID_NUMBER, "9999"),
        ("from otel | limit 99999999999999999999", Code.INVALID_LIMIT, "9999"),
    ],
)
def test_numbers_beyond_64_bits_are_positioned_errors(text: str, code: Code, at: str) -> None:
    err = refused(text)
    assert err.first.code is code
    span = err.first.span
    assert span is not None and text[span.start :].startswith(at)


def test_times_far_from_now_run(data: Path) -> None:
    for text in (
        "from otel | since 9999999w | stats count() as n",
        'from otel | where timestamp > "0001-01-01T00:00:00Z" | stats count() as n',
    ):
        assert compile(text, default_config(data)).run().to_pylist() == [{"n": 3}]


# ---------------------------------------------------------------- files and the command line


def test_a_query_file_that_is_not_utf8_is_a_positioned_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = tmp_path / "q.starql"
    query.write_bytes(b'from otel\n| where message == "caf\xe9"\n')
    assert main(["compile", "-f", str(query)]) == EXIT_COMPILE_ERROR
    err = capsys.readouterr().err
    assert "E109" in err and "byte 0xe9" in err and "2:" in err


def test_a_config_file_that_is_not_utf8_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "starbase.toml"
    config.write_bytes(b'[sources.otel]\nformat = "otel"\nlocation = "/tmp/\xff"\n')
    assert main(["compile", "--config", str(config), "from otel"]) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not UTF-8" in err and "internal error" not in err


@settings(max_examples=max(1, 100 * settings.default.max_examples // 100))
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", errors="surrogatepass")),
        st.builds(
            lambda head, body: head + body,
            st.sampled_from([b"from otel | where ", b"from otel | extend x = ", b"from otel"]),
            st.binary(max_size=100),
        ),
    )
)
def test_any_bytes_on_the_command_line_compile_or_fail_cleanly(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    query = tmp_path_factory.mktemp("fuzz") / "q.starql"
    query.write_bytes(raw)
    code = main(["compile", "--target", "datafusion", "-f", str(query)])
    assert code in (EXIT_OK, EXIT_COMPILE_ERROR)


@settings(max_examples=max(1, 60 * settings.default.max_examples // 100))
@given(
    st.lists(
        st.sampled_from(["-", "not ", "lower(", "(", "abs(", "1 + ", "(true or "]),
        min_size=1,
        max_size=3,
    ),
    st.integers(1, 400),
)
def test_any_depth_compiles_or_fails_cleanly(openers: list[str], depth: int) -> None:
    prefix = "".join(openers) * depth
    closers = prefix.count("(")
    text = "from otel | where " + prefix + "true" + ")" * closers
    try:
        compile(text)
    except CompileError as exc:
        assert exc.first.span is not None
