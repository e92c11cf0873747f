"""The seams: backends are registered units named in one place, and read the function registry.

- every registry entry is a module whose `BACKEND` carries that name, a title and a kind;
- no module outside `starbase/backends/` spells a backend's name (the CLI, mappings, explain,
  the REPL and the compiler read the registry);
- the function library is the one list: each engine lowers every function and aggregate in
  it, a native store's tables and capability profiles name only functions in it, and what a
  profile lists is pushed down.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from starbase import backends
from starbase.backends.base import EngineBackend, NativeBackend, UnsupportedError
from starbase.compiler import functions, ir
from starbase.compiler.driver import CompiledQuery, compile
from starbase.config import config_from_dict
from starbase.mappings import BACKENDS, load_mapping

PACKAGE = Path(__file__).parents[1] / "starbase"
CONFIG = config_from_dict(
    {
        "sources": {
            "otel": {"format": "otel", "location": "/var/lib/starbase"},
            "lambda": {"format": "cloudwatch", "log_groups": ["/aws/lambda/checkout"]},
        }
    }
)


@pytest.mark.parametrize("name", backends.names())
def test_each_registered_backend_is_a_unit(name: str) -> None:
    backend = backends.get(name)
    assert backend.name == name and backend.title
    assert isinstance(backend, EngineBackend | NativeBackend)
    assert backend.kind == ("engine" if isinstance(backend, EngineBackend) else "native")
    assert (PACKAGE / "backends" / name / "__init__.py").exists()


def test_the_registry_is_what_everything_else_lists() -> None:
    assert frozenset(backends.names()) == BACKENDS
    assert backends.DEFAULT_ENGINE in backends.engines()
    with pytest.raises(backends.UnknownBackend, match="backends: datafusion, cloudwatch"):
        backends.get("spork")
    with pytest.raises(ValueError, match="unknown backend 'spork'"):
        compile("from otel", CONFIG).sql("spork")


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    }


# Modules that use a backend's name as something else: a mapping format, an emitter mode, a
# stored table format or an AWS service name.
NOT_BACKENDS = ("emitter", "router", "storage", "devenv.py", "demo.py", "analyzer")


def test_only_the_registry_and_the_backends_folders_name_a_backend() -> None:
    named = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "backends" or relative.parts[0] in NOT_BACKENDS:
            continue
        found = _string_constants(path) & set(backends.names())
        named += [f"{relative}: {name}" for name in sorted(found)]
    assert named == []


# ---------------------------------------------------------------- the function registry


def _plan(call: str, stage: str) -> str:
    return f"from otel | {stage} {call}"


def _lowers(compiled: CompiledQuery, name: str) -> bool:
    """Whether backend `name` lowers `compiled`; it may refuse only the functions it lists
    in `refused_functions` (documented), with an `UnsupportedError` naming one of them."""
    refused = getattr(backends.get(name), "refused_functions", frozenset())
    try:
        assert compiled.sql(name)
    except UnsupportedError as exc:
        assert any(f"{f}()" in exc.operation for f in refused), exc
        return False
    return True


@pytest.mark.parametrize("name", [*backends.engines(), "trino"])
def test_engines_lower_every_function_of_the_library(name: str) -> None:
    for signature in functions.SCALARS.values():
        assert signature.example, signature.name
        _lowers(compile(_plan(f"x = {signature.example}", "extend"), CONFIG), name)
    for signature in functions.AGGREGATES.values():
        _lowers(compile(_plan(signature.example, "stats"), CONFIG), name)
    # the internal functions: produced by map fields and parse for the formats that need
    # them (hex: ids Starbase stores as bytes; a native store never reads those)
    produced: set[str] = set()
    for query, config in INTERNAL_USES:
        compiled = compile(query, config)
        _lowers(compiled, name)
        produced |= {
            e.name
            for node in ir.plan_walk(compiled.plan)
            for top in ir.node_exprs(node)
            for e in ir.walk(top)
            if isinstance(e, ir.Call)
        }
    assert not functions.INTERNAL - produced, "internal functions no query here produces"


STORED_LAMBDA = config_from_dict(
    {"sources": {"lambda": {"format": "cloudwatch", "location": "/x"}}}
)
RAW = config_from_dict(
    {
        "sources": {
            "raw": {
                "format": "raw",
                "location": "/x",
                "mapping": str(Path(__file__).parent / "raw_mappings" / "all_kinds.yaml"),
            }
        }
    }
)
INTERNAL_USES = (  # queries whose plans hold every internal function of the library
    (
        "from lambda | where severity >= 'warn' and attributes.a == 'x' | parse message /a(?<x>b)/",
        STORED_LAMBDA,
    ),
    ("from otel | where trace_id == 'ab' and span_id != 'cd'", CONFIG),
    # raw lines through a mapping using every parse kind and level vocabulary
    ("from raw | where attributes.k == 'v' | parse message json as j", RAW),
    ("from raw | patterns message", RAW),
)


def test_every_call_resolves_through_the_library() -> None:
    for signature in (*functions.SCALARS.values(), *functions.AGGREGATES.values()):
        assert functions.lookup(signature.name) is signature
    for name in functions.INTERNAL:
        assert functions.lookup(name) is not None
    assert functions.lookup("nope") is None


def test_native_stores_name_only_library_functions_and_push_what_they_list() -> None:
    from starbase.backends.cloudwatch import expr

    library = set(functions.SCALARS) | set(functions.INTERNAL)
    assert set(expr._SCALARS) <= library
    mapping = load_mapping("cloudwatch")
    for profile_name in mapping.profile_names:
        profile = mapping.capabilities(profile_name)
        assert set(profile.functions) <= set(functions.SCALARS)
        assert set(profile.aggregates) <= set(functions.AGGREGATES)
    aws = mapping.capabilities("aws")
    from starbase.backends.cloudwatch.lower import lower

    for name in aws.functions:
        if name in ("bin", "exists", "now"):
            continue  # shapes of their own: bin(timestamp, d) in stats, exists() in where
        example = functions.SCALARS[name].example.replace("attributes.duration_ms", "attributes.d")
        compiled = compile(f"from lambda | where {example} == {example}", CONFIG)
        (query,) = lower(compiled.plan, CONFIG)
        assert not any(name in reason for reason in query.unsupported), (name, query.unsupported)
