"""The parser: AST shape, spans, literals, and syntax diagnostics in the user's words."""

from __future__ import annotations

import pytest

from starbase.compiler import ast
from starbase.compiler.errors import Code, CompileError
from starbase.compiler.grammar.parser import parse, parse_expression


def where(text: str) -> ast.Expr:
    stage = parse(f"from otel | where {text}").stages[0]
    assert isinstance(stage, ast.Where)
    return stage.condition


def fails(text: str) -> CompileError:
    with pytest.raises(CompileError) as info:
        parse(text)
    return info.value


def test_precedence_loosest_first() -> None:
    expr = where("not a == 1 or b + 2 * -c > 3 and d")
    assert expr == ast.Binary(
        "or",
        ast.Unary("not", ast.Binary("==", ast.FieldRef(("a",)), ast.NumberLit(1))),
        ast.Binary(
            "and",
            ast.Binary(
                ">",
                ast.Binary(
                    "+",
                    ast.FieldRef(("b",)),
                    ast.Binary("*", ast.NumberLit(2), ast.Unary("-", ast.FieldRef(("c",)))),
                ),
                ast.NumberLit(3),
            ),
            ast.FieldRef(("d",)),
        ),
    )


def test_arithmetic_is_left_associative() -> None:
    assert where("a - b - c") == ast.Binary(
        "-", ast.Binary("-", ast.FieldRef(("a",)), ast.FieldRef(("b",))), ast.FieldRef(("c",))
    )


def test_spans_point_at_source_text() -> None:
    text = 'from otel\n| where service == "checkout"\n| limit 5'
    query = parse(text)
    condition = query.stages[0]
    assert isinstance(condition, ast.Where)
    assert text[condition.span.start : condition.span.end] == 'where service == "checkout"'
    assert (condition.span.line, condition.span.column) == (2, 3)
    literal = condition.condition
    assert isinstance(literal, ast.Binary)
    assert text[literal.right.span.start : literal.right.span.end] == '"checkout"'


@pytest.mark.parametrize(
    ("source", "value"),
    [
        (r'"a\"b"', 'a"b'),
        (r"'it\'s'", "it's"),
        (r'"tab\there\nnew"', "tab\there\nnew"),
        (r'"back\\slash"', "back\\slash"),
        (r'"\u00e9t\u00E9"', "été"),
    ],
)
def test_string_escapes(source: str, value: str) -> None:
    assert parse_expression(source) == ast.StringLit(value)


@pytest.mark.parametrize(
    ("source", "nanos"),
    [
        ("5ns", 5),
        ("3us", 3_000),
        ("250ms", 250_000_000),
        ("30s", 30 * 10**9),
        ("5m", 300 * 10**9),
        ("1h", 3600 * 10**9),
        ("7d", 7 * 86400 * 10**9),
        ("2w", 14 * 86400 * 10**9),
    ],
)
def test_durations_are_exact_nanoseconds(source: str, nanos: int) -> None:
    assert parse_expression(source) == ast.DurationLit(nanos, source)


def test_regex_literal_with_escaped_slash_and_flags() -> None:
    assert parse_expression(r"/a\/b|c/is") == ast.RegexLit("a/b|c", "is")


def test_division_and_regex_are_told_apart() -> None:
    assert parse_expression("a / b / c") == ast.Binary(
        "/", ast.Binary("/", ast.FieldRef(("a",)), ast.FieldRef(("b",))), ast.FieldRef(("c",))
    )


def test_field_paths_with_backticks_and_keywords() -> None:
    assert parse_expression("attributes.`user-agent`") == ast.FieldRef(("attributes", "user-agent"))
    assert where("limit == 1") == ast.Binary("==", ast.FieldRef(("limit",)), ast.NumberLit(1))


def test_comments_and_free_line_breaks() -> None:
    query = parse("# leading comment\nfrom otel # trailing\n|\n  limit\n  10 # done")
    assert query.stages == (ast.Limit(ast.NumberLit(10)),)


def test_stats_by_and_aliases() -> None:
    stage = parse("from otel | stats count() as n, avg(x) by service, bin(timestamp, 5m) as b")
    stats = stage.stages[0]
    assert isinstance(stats, ast.Stats)
    assert [i.alias.value if i.alias else None for i in stats.aggregates] == ["n", None]
    assert [i.alias.value if i.alias else None for i in stats.by] == [None, "b"]


def test_expected_expression_after_operator() -> None:
    error = fails("from otel | where severity >= | limit 2")
    assert error.first.code is Code.UNEXPECTED_TOKEN
    assert error.first.message == "expected an expression after '>=', found '|'"
    assert error.first.span is not None and error.first.span.column == 31


def test_query_ending_early() -> None:
    error = fails("from otel | where severity >=")
    assert error.first.code is Code.UNEXPECTED_END
    assert "expected an expression after '>='" in error.first.message


def test_misspelt_stage_suggests_the_keyword() -> None:
    error = fails("from otel | wher x == 1")
    assert "did you mean 'where'?" in error.first.hints


def test_single_equals_hints_double() -> None:
    assert "use '==' to compare values" in fails("from otel | where a = 1").first.hints


def test_unterminated_string_and_regex() -> None:
    assert fails('from otel | where a == "abc').first.code is Code.UNTERMINATED_STRING
    assert fails("from otel | where a ~ /abc").first.code is Code.UNTERMINATED_REGEX


def test_invalid_escape_is_positioned_on_the_escape() -> None:
    error = fails(r'from otel | where a == "x\q"')
    assert error.first.code is Code.INVALID_ESCAPE
    assert error.first.span is not None and (error.first.span.start, error.first.span.end) == (
        25,
        27,
    )


@pytest.mark.parametrize(
    ("regex", "construct"),
    [
        ("(?=x)", "(?="),
        ("(?!x)", "(?!"),
        ("(?<=x)y", "(?<="),
        ("(?<!x)y", "(?<!"),
        (r"(a)\1", r"\1"),
        ("a++", "+"),
        ("(?>a)", "(?>"),
    ],
)
def test_non_portable_regex_is_rejected_at_its_position(regex: str, construct: str) -> None:
    text = f"from otel | where message ~ /{regex}/"
    error = fails(text)
    assert error.first.code is Code.NON_PORTABLE_REGEX
    span = error.first.span
    assert span is not None
    assert text[span.start : span.end] == construct


def test_character_classes_are_not_mistaken_for_groups() -> None:
    assert parse_expression("/[(?=]x/") == ast.RegexLit("[(?=]x")


def test_unknown_regex_flag() -> None:
    assert fails("from otel | where a ~ /x/g").first.code is Code.INVALID_REGEX_FLAG


def test_rendered_diagnostic_has_caret_under_the_offending_text() -> None:
    error = fails("from otel\n| where a ~ /x/g")
    assert error.render() == (
        "<query>:2:16: error[E203]: unknown regex flag 'g'\n"
        "2 | | where a ~ /x/g\n"
        "                   ^\n"
        "  hint: flags are i (ignore case), m (multi-line) and s (dot matches newline)"
    )
