"""Layers: the compiler needs no execution code, and the command line loads only what it runs.

Each check runs a fresh interpreter and lists the modules it imported (an import-linter of
our own), and the compiler's sources are read for imports of the runtime, whatever path
would reach them.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "starbase"
EXECUTION = (
    "starbase.runtime",
    "starbase.repl",
    "starbase.backends.datafusion.engine",
    "starbase.backends.datafusion.tables",
    "starbase.backends.datafusion.udfs",
    "starbase.backends.cloudwatch.connector",
    "starbase.backends.cloudwatch.fetch",
    "starbase.backends.cloudwatch.aws_calls",
    "starbase.backends.cloudwatch.federation",
)
HEAVY = ("datafusion", "pyarrow", "boto3", "botocore", "textual", "aiohttp", "opentelemetry")


def imported_after(code: str) -> list[str]:
    """The modules a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules: list[str] = json.loads(done.stdout.splitlines()[-1])
    return modules


def _under(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)]


def test_compiling_and_lowering_import_no_execution_code() -> None:
    modules = imported_after(
        "from starbase.compiler.driver import compile\n"
        "q = compile('from otel | where severity >= $level | stats count() by service')\n"
        "q.sql('datafusion'); q.sql('cloudwatch'); q.parameters"
    )
    assert _under(modules, EXECUTION) == []
    assert _under(modules, HEAVY) == []


def test_the_compiler_sources_import_no_runtime() -> None:
    offenders = []
    for path in sorted((PACKAGE / "compiler").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if _under(names, EXECUTION):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


def test_the_command_line_starts_without_engines() -> None:
    helped = imported_after("from starbase.cli import _parser\n_parser(None).format_help()")
    assert _under(helped, (*HEAVY, "sqlglot", "lark", "pydantic", "yaml")) == []
    assert _under(helped, ("starbase.compiler", "starbase.storage", "starbase.emitter")) == []
    compiled = imported_after(
        "from starbase.cli import main\nmain(['compile', '--target', 'datafusion', 'from otel'])"
    )
    assert _under(compiled, HEAVY) == []  # no engine to lower a query
