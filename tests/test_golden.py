"""Golden files: every stage of the compiler, compared as text (layout in tests/golden/README.md).

- `queries/NAME.starql` → `queries/NAME.expected`: one section per entry of `SECTIONS` (the
  output of every pipeline stage, what each registered backend runs, then the warnings).
- `passes/STAGE.txt`: small queries alternating with the rendered output of that one stage.
- `errors.txt`: queries that must fail, each followed by its rendered diagnostics.

`STARBASE_UPDATE_GOLDEN=1` (`make golden-update`) rewrites the expected text instead of
comparing it; review every resulting diff before committing it.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from starbase import backends
from starbase.backends.base import UnsupportedError
from starbase.compiler.driver import (
    STAGE_NAMES,
    CompiledQuery,
    Context,
    compile,
    render_stage,
    run_pipeline,
)
from starbase.compiler.errors import CompileError, render_terminal
from starbase.compiler.format import format_query
from starbase.compiler.grammar.parser import parse
from starbase.compiler.passes.normalize import normalize
from starbase.compiler.passes.resolve import resolve
from starbase.config import Config, config_from_dict

GOLDEN = Path(__file__).parent / "golden"
QUERIES = GOLDEN / "queries"
PASSES = GOLDEN / "passes"
ERRORS = GOLDEN / "errors.txt"
UPDATE = os.environ.get("STARBASE_UPDATE_GOLDEN") == "1"

GOLDEN_SOURCES: dict[str, dict[str, object]] = {
    "otel": {"format": "otel", "location": "/var/lib/starbase"},
    "lambda": {
        "format": "cloudwatch",
        "log_groups": ["/aws/lambda/checkout", "/aws/lambda/payments"],
        "region": "us-east-1",
    },
}
CONFIG: Config = config_from_dict({"sources": GOLDEN_SOURCES})


# ---------------------------------------------------------------- sections of a .expected file


def _stage_section(name: str) -> Callable[[CompiledQuery], str | None]:
    return lambda compiled: render_stage(name, dict(compiled.stages)[name])


def _warnings(compiled: CompiledQuery) -> str | None:
    if not compiled.warnings:
        return None
    return render_terminal(compiled.warnings, compiled.text)


def _backend_section(name: str) -> Callable[[CompiledQuery], str | None]:
    """What backend `name` runs (`compile --target NAME`), or why it cannot."""

    def produce(compiled: CompiledQuery) -> str | None:
        try:
            return compiled.sql(name)
        except UnsupportedError as exc:
            return f"(not run by {name}: {exc})"

    return produce


# Section name → producer (None: the section is left out). Order is the order in the file:
# the stages, then every registered backend (a new backend adds its section by registering).
SECTIONS: tuple[tuple[str, Callable[[CompiledQuery], str | None]], ...] = (
    *((name, _stage_section(name)) for name in STAGE_NAMES),
    *((name, _backend_section(name)) for name in backends.names()),
    ("warnings", _warnings),
)


def render_sections(text: str) -> str:
    compiled = compile(text, CONFIG)
    blocks = []
    for name, produce in SECTIONS:
        body = produce(compiled)
        if body is not None:
            blocks.append(f"-- {name} --\n{body}\n")
    return "\n".join(blocks)


# ---------------------------------------------------------------- comparison


def check(expected: str, actual: str, where: str, query: str = "") -> None:
    """Fail with a unified diff (expected → actual) unless the texts are equal."""
    if expected == actual:
        return
    diff = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        f"{where} (expected)",
        f"{where} (actual)",
    )
    shown = f"query: {query}\n" if query else ""
    pytest.fail(
        "golden mismatch; if the change is intended, run `make golden-update` and review "
        f"the diff\n{shown}" + "".join(diff),
        pytrace=False,
    )


def _compile_error(text: str) -> CompileError | None:
    try:
        compile(text, CONFIG)
    except CompileError as exc:
        return exc
    return None


# ---------------------------------------------------------------- case files


@dataclass(frozen=True)
class Case:
    """One input and its expected text; `comments` are the `#` lines written above it."""

    comments: tuple[str, ...]
    input: str
    expected: str
    line: int  # of the input, 1-based
    index: int  # among the cases of its file (stable while expected texts are rewritten)


Item = Case | str  # a case, or a block of comment lines kept as written


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Runs of non-blank lines, each with the number of its first line."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            if not current:
                start = number
            current.append(line)
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def read_cases(path: Path, *, is_expected: Callable[[str], bool] | None = None) -> list[Item]:
    """Parse a fixture file: an input block, then its expected block, separated by blank lines.

    A block of only `#` lines is a comment kept as written; `#` lines leading an input block
    are that case's comments. With `is_expected`, each further block whose first line
    satisfies it also belongs to the expected text (one error's diagnostics are separated by
    blank lines)."""
    items: list[Item] = []
    blocks = _blocks(path.read_text())
    i = 0
    while i < len(blocks):
        start, lines = blocks[i]
        count = next((n for n, line in enumerate(lines) if not line.startswith("#")), len(lines))
        if count == len(lines):
            items.append("\n".join(lines))
            i += 1
            continue
        if i + 1 >= len(blocks):
            raise ValueError(f"{path.name}:{start}: an input without an expected block")
        expected = ["\n".join(blocks[i + 1][1])]
        i += 2
        while is_expected is not None and i < len(blocks) and is_expected(blocks[i][1][0]):
            expected.append("\n".join(blocks[i][1]))
            i += 1
        items.append(
            Case(
                tuple(lines[:count]),
                "\n".join(lines[count:]),
                "\n\n".join(expected),
                start + count,
                sum(isinstance(x, Case) for x in items),
            )
        )
    return items


def write_cases(path: Path, items: list[Item]) -> None:
    chunks = []
    for item in items:
        if isinstance(item, str):
            chunks.append(item)
        else:
            chunks.append("\n".join([*item.comments, item.input]) + "\n\n" + item.expected)
    path.write_text("\n\n".join(chunks) + "\n")


def _update_case(path: Path, case: Case, actual: str, **options: Callable[[str], bool]) -> None:
    items = read_cases(path, **options)
    for position, item in enumerate(items):
        if isinstance(item, Case) and item.index == case.index:
            assert item.input == case.input, f"{path.name} changed while being updated"
            items[position] = replace(item, expected=actual)
    write_cases(path, items)


def _cases(path: Path, **options: Callable[[str], bool]) -> list[Case]:
    return [item for item in read_cases(path, **options) if isinstance(item, Case)]


# ---------------------------------------------------------------- queries/*.starql


QUERY_FILES = sorted(QUERIES.glob("*.starql"))


@pytest.mark.parametrize("query", QUERY_FILES, ids=[p.stem for p in QUERY_FILES])
def test_query_stages(query: Path) -> None:
    text = query.read_text()
    actual = render_sections(text)
    expected_path = query.with_suffix(".expected")
    if UPDATE:
        expected_path.write_text(actual)
        return
    if not expected_path.exists():
        pytest.fail(f"{expected_path.name} is missing: run `make golden-update`", pytrace=False)
    check(expected_path.read_text(), actual, expected_path.name)


@pytest.mark.parametrize("query", QUERY_FILES, ids=[p.stem for p in QUERY_FILES])
def test_query_invariants(query: Path) -> None:
    """Formatting round-trips, and normalize is idempotent, on every golden query."""
    text = query.read_text()
    tree = parse(text)
    assert parse(format_query(tree)) == tree
    assert parse(format_query(tree, explicit=True)) == tree
    once = normalize(resolve(tree, CONFIG))
    assert normalize(once) == once


def test_every_expected_file_has_a_query() -> None:
    orphans = [p.name for p in QUERIES.glob("*.expected") if not p.with_suffix(".starql").exists()]
    assert not orphans, f"expected files without a query: {orphans}"


# ---------------------------------------------------------------- passes/STAGE.txt


def _stage_of(path: Path) -> str:
    name = path.stem.replace("_", " ")
    assert name in STAGE_NAMES, f"{path.name}: no stage named {name!r} in {STAGE_NAMES}"
    return name


PASS_FILES = sorted(PASSES.glob("*.txt"))
PASS_CASES = [
    pytest.param(path, case, id=f"{path.name}:{case.line}")
    for path in PASS_FILES
    for case in _cases(path)
]


@pytest.mark.parametrize(("path", "case"), PASS_CASES)
def test_pass(path: Path, case: Case) -> None:
    stage = _stage_of(path)
    try:
        output = run_pipeline(case.input, Context(CONFIG), until=stage)
    except CompileError as exc:
        pytest.fail(f"{path.name}:{case.line}: does not compile\n{exc.render()}", pytrace=False)
    actual = render_stage(stage, output)
    if UPDATE:
        _update_case(path, case, actual)
        return
    check(case.expected, actual, f"{path.name}:{case.line}", case.input)


# ---------------------------------------------------------------- errors.txt


def _is_diagnostic(line: str) -> bool:
    return line.startswith("<query>")


ERROR_CASES = [
    pytest.param(case, id=f"errors.txt:{case.line}")
    for case in _cases(ERRORS, is_expected=_is_diagnostic)
]


@pytest.mark.parametrize("case", ERROR_CASES)
def test_error(case: Case) -> None:
    failure = _compile_error(case.input)
    if failure is None:
        pytest.fail(f"errors.txt:{case.line}: compiled without an error", pytrace=False)
    actual = failure.render()
    assert actual.startswith("<query>"), "every diagnostic must start with its origin"
    if UPDATE:
        _update_case(ERRORS, case, actual, is_expected=_is_diagnostic)
        return
    check(case.expected, actual, f"errors.txt:{case.line}", case.input)
