"""Properties of the compiler over generated queries (strategies in tests/strategies.py).

- the formatter and the parser are inverses: parse(format(q)) == q, and format is a fixed point;
- whatever the text, compiling it succeeds or raises a `CompileError` whose diagnostics all
  have a code, a message and a span inside the text — never any other exception;
- normalize is idempotent on resolved plans of valid queries;
- every pass is deterministic, and the final plan's output column names are unique.

Example counts scale with the hypothesis profile (see conftest.py): `dev` by default,
`ci` (derandomized) when CI=true, `thorough` for ten times as many examples.
"""

from __future__ import annotations

import math
from typing import Any

import strategies as gen
from hypothesis import example, given, settings
from hypothesis import strategies as st

from starbase.compiler import ast, ir
from starbase.compiler.driver import Context, compile, render_stage, run_pipeline
from starbase.compiler.errors import Code, CompileError, Span
from starbase.compiler.format import format_query
from starbase.compiler.grammar.parser import parse
from starbase.compiler.ir import output_schema
from starbase.compiler.passes.normalize import normalize
from starbase.compiler.types import Type
from starbase.runtime.session import Session


def examples(n: int) -> settings:
    """`n` examples under the default profile, scaled by the loaded profile."""
    return settings(max_examples=max(1, n * settings.default.max_examples // 100))


CONTEXT = Context(gen.CONFIG)


# ---------------------------------------------------------------- (a) format ↔ parse


@examples(300)
@given(gen.queries())
@example(  # `a.b / c / 2` once lexed as `a.b` and the regex `/ c /`
    ast.Query(
        ast.From((ast.SourceRef("otel"),)),
        (
            ast.Where(
                ast.Binary(
                    "/",
                    ast.Binary("/", ast.FieldRef(("a", "b")), ast.FieldRef(("c",))),
                    ast.NumberLit(2),
                )
            ),
        ),
    )
)
def test_parse_inverts_format(query: ast.Query) -> None:
    text = format_query(query)
    assert parse(text) == query, text


@examples(100)
@given(gen.queries())
def test_format_is_a_fixed_point(query: ast.Query) -> None:
    text = format_query(query)
    assert format_query(parse(text)) == text
    explicit = format_query(query, explicit=True)  # every compound parenthesized: same tree
    assert parse(explicit) == query, explicit


@examples(200)
@given(st.one_of(gen.mutated_texts(), gen.token_soup()))
def test_format_inverts_parse(text: str) -> None:
    try:
        query = parse(text)
    except CompileError:
        return
    assert parse(format_query(query)) == query


INT64 = st.integers(-(2**63) + 1, 2**63 - 1)


@examples(200)
@given(
    st.one_of(INT64, st.integers(-20, 20)),
    st.sampled_from(["+", "-", "*", "/", "%"]),
    st.one_of(INT64, st.integers(-20, 20)),
)
@example(10**17 + 1, "%", 3)  # once folded through floats: 5
@example(2**63 - 1, "+", 1)  # beyond 64 bits: E411
def test_integer_constants_fold_exactly(a: int, op: str, b: int) -> None:
    text = f"from otel | extend n = {a} {op} {b} | fields n"
    exact = {"+": a + b, "-": a - b, "*": a * b}.get(op, 0)
    if not -(2**63) <= exact < 2**63:
        try:
            run_pipeline(text, CONTEXT, until="normalize")
        except CompileError as exc:
            assert exc.first.code is Code.INTEGER_OVERFLOW
            return
        raise AssertionError(f"{text} overflows 64 bits but compiled")
    plan = run_pipeline(text, CONTEXT, until="normalize")
    while not isinstance(plan, ir.Extend):  # below the default order and the projection
        plan = ir.plan_inputs(plan)[0]
    folded = plan.items[0].expr
    if op in "/%" and b == 0:
        assert folded == ir.Lit(None, Type.FLOAT if op == "/" else Type.INT)
    elif op == "/":
        assert folded == ir.Lit(a / b, Type.FLOAT)
    else:
        truncated = abs(a) % abs(b) * (-1 if a < 0 else 1) if b else 0
        exact = {"+": a + b, "-": a - b, "*": a * b, "%": truncated}[op]
        assert folded == ir.Lit(exact, Type.INT)


@examples(100)
@given(gen.valid_queries())
def test_parse_inverts_format_for_valid_queries(query: ast.Query) -> None:
    assert parse(format_query(query)) == query


# ---------------------------------------------------------------- (b) robustness


def _check_outcome(text: str) -> None:
    """Compile `text`: success (then explain works) or a well-formed CompileError."""
    try:
        compiled = compile(text, gen.CONFIG)
    except CompileError as exc:
        assert exc.diagnostics, "a CompileError without diagnostics"
        assert exc.source == text
        for diag in exc.diagnostics:
            assert isinstance(diag.code, Code)
            assert isinstance(diag.message, str) and diag.message.strip()
            span = diag.span
            assert span is not None, f"{diag.code}: {diag.message} has no span"
            assert 0 <= span.start <= span.end <= len(text), (span, len(text), diag.message)
            where = Span.at(text, span.start)
            assert (span.line, span.column) == (where.line, where.column), (span, diag.message)
            diag.to_dict()
        rendered = exc.render()
        assert isinstance(rendered, str) and exc.diagnostics[0].code.value in rendered
    else:
        Session(gen.CONFIG).explain(compiled, plans=False).render_text()  # no data access


@examples(300)
@given(st.text(max_size=80))
@example("#")  # "the query ended" once pointed one character past the end
@example("from otel | where x ==")
@example("from otel | limit " + "9" * 5000)  # beyond Python's int-from-text limit
@example("from otel | extend n = 1" + "0" * 400 + " / 3.0")  # beyond the float range
@example("from otel | where 1e999 > 0")
@example('from otel | stats count() | where "timeout"')  # a search without `message`
@example("from otel | extend n = 1e308 * 10 | where n > 0")  # folds to inf: left unfolded
@example('from otel | extend timestamp = "x" | since 1h')  # `since` on a string
def test_arbitrary_text_compiles_or_fails_cleanly(text: str) -> None:
    _check_outcome(text)


@examples(100)
@given(st.text(max_size=60).map(lambda t: "from otel | " + t))
def test_arbitrary_stage_text_compiles_or_fails_cleanly(text: str) -> None:
    _check_outcome(text)


@examples(300)
@given(gen.token_soup())
def test_token_soup_compiles_or_fails_cleanly(text: str) -> None:
    _check_outcome(text)


@examples(300)
@given(gen.mutated_texts())
def test_damaged_queries_compile_or_fail_cleanly(text: str) -> None:
    _check_outcome(text)


@examples(100)
@given(gen.queries(max_stages=3))
def test_generated_syntax_trees_compile_or_fail_cleanly(query: ast.Query) -> None:
    _check_outcome(format_query(query))


# ---------------------------------------------------------------- (c) normalize


_SUGAR = (ir.Since, ir.Between, ir.Search)


@examples(150)
@given(gen.valid_texts())
def test_normalize_is_idempotent(text: str) -> None:
    resolved = run_pipeline(text, CONTEXT, until="resolve")
    once = normalize(resolved)
    assert normalize(once) == once, render_stage("normalize", once)
    for node in ir.plan_walk(once):
        for expr in ir.node_exprs(node):
            sugar = [e for e in ir.walk(expr) if isinstance(e, _SUGAR)]
            sugar += [e for e in ir.walk(expr) if isinstance(e, ir.Call) and e.name == "exists"]
            assert not sugar, render_stage("normalize", once)
            floats = [e.value for e in ir.walk(expr) if isinstance(e, ir.Lit)]
            finite = all(math.isfinite(v) for v in floats if isinstance(v, float))
            assert finite, render_stage("normalize", once)  # inf, nan: no literal anywhere


# ---------------------------------------------------------------- (d) determinism, outputs


def _trace(text: str) -> list[tuple[str, Any]]:
    outputs: list[tuple[str, Any]] = []
    run_pipeline(text, CONTEXT, trace=lambda name, value: outputs.append((name, value)))
    return outputs


@examples(150)
@given(gen.valid_texts())
def test_valid_queries_compile_deterministically(text: str) -> None:
    first, second = _trace(text), _trace(text)
    assert [n for n, _ in first] == [n for n, _ in second]
    for (name, a), (_, b) in zip(first, second, strict=True):
        assert a == b, name
        assert render_stage(name, a) == render_stage(name, b), name
    final = first[-1][1]
    names = [c.name for c in output_schema(final)]
    assert len(names) == len(set(names)), names
    # every pass after resolve keeps the output columns (names and types)
    schemas = {name: output_schema(value) for name, value in first[1:]}
    assert len(set(schemas.values())) == 1, schemas


@examples(100)
@given(gen.valid_queries())
def test_reformatted_text_compiles_to_the_same_plan(query: ast.Query) -> None:
    text = format_query(query)
    again = format_query(parse(text), explicit=True)
    assert compile(again, gen.CONFIG).plan == compile(text, gen.CONFIG).plan
