"""The compiler driver: text → `CompiledQuery` through the pass pipeline; binding per run.

Requires: a `Config` (sources) — the embedded default when none is given. Guarantees: the
pipeline is the tuple `PIPELINE`, one entry per stage of ARCHITECTURE.md, each a pure
function of (previous output, context); `run_pipeline` can stop after any stage and calls a
trace callback after each one (the same hook serves `explain` and the golden snapshots, so
they cannot drift); every failure is a `CompileError` carrying the source text.
`CompiledQuery` is a plain value (the plan, its output schema, warnings, every stage's
output) — running it is a `starbase.runtime.Session`'s job; `bind` is the compiler pass that
turns it into the plan of one run (parameters and `now()` as literals). The compiler imports
no execution code: `sql(target)` reaches a backend's lowering through the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping as MappingOf
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from starbase import backends as registry
from starbase.compiler import ast, ir
from starbase.compiler.errors import Code, CompileError, Diagnostic, Span, error
from starbase.compiler.format import format_query
from starbase.compiler.grammar.parser import parse
from starbase.compiler.passes import bind as binding
from starbase.compiler.passes.federate import federate
from starbase.compiler.passes.map_fields import absent_field_warnings, map_fields
from starbase.compiler.passes.normalize import normalize
from starbase.compiler.passes.prune import prune
from starbase.compiler.passes.pushdown import pushdown
from starbase.compiler.passes.resolve import resolve
from starbase.compiler.render import render_plan
from starbase.config import Config, default_config
from starbase.mappings import Mapping, MappingError, load_mapping
from starbase.mappings.raw import RawMapping
from starbase.mappings.raw_sources import RawSourceError, raw_mapping_for

Trace = Callable[[str, Any], None]


@dataclass(frozen=True)
class Context:
    """What passes may consult besides their input: the sources and their mappings, and the
    engine that reads stored sources (a registered engine backend)."""

    config: Config
    engine: str = registry.DEFAULT_ENGINE

    def mapping_for(self, format_name: str) -> Mapping:
        return _mapping(format_name)

    def raw_mapping_for(self, source_name: str) -> RawMapping:
        """The raw-line mapping of a configured `raw` source (its file, or "auto")."""
        source = self.config.source(source_name)
        assert source is not None, source_name
        try:
            return raw_mapping_for(self.config, source)
        except (MappingError, RawSourceError) as exc:
            raise error(Code.INVALID_MAPPING, str(exc)) from None


@cache
def _mapping(format_name: str) -> Mapping:
    try:
        return load_mapping(format_name)
    except MappingError as exc:
        raise error(Code.INVALID_MAPPING, str(exc)) from None


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[Any, Context], Any]
    render: Callable[[Any], str]


PIPELINE: tuple[Stage, ...] = (
    Stage("parse", lambda text, ctx: parse(text), lambda q: format_query(q, explicit=True)),
    Stage("resolve", lambda q, ctx: resolve(q, ctx.config), render_plan),
    Stage("normalize", lambda p, ctx: normalize(p), render_plan),
    Stage(
        "map fields",
        lambda p, ctx: map_fields(p, ctx.mapping_for, ctx.engine, ctx.raw_mapping_for),
        render_plan,
    ),
    Stage("pushdown", lambda p, ctx: pushdown(p, ctx.mapping_for), render_plan),
    Stage("prune", lambda p, ctx: prune(p), render_plan),
    Stage("federate", lambda p, ctx: federate(p), render_plan),
)
STAGE_NAMES = tuple(s.name for s in PIPELINE)
LAST_STAGE = STAGE_NAMES[-1]


def run_pipeline(
    text: str,
    context: Context,
    *,
    until: str = LAST_STAGE,
    trace: Trace | None = None,
) -> Any:
    """Run the stages up to and including `until`; `trace(name, output)` after each."""
    if until not in STAGE_NAMES:
        raise ValueError(f"unknown stage {until!r}; stages: {', '.join(STAGE_NAMES)}")
    value: Any = text
    try:
        for stage in PIPELINE:
            value = stage.run(value, context)
            if trace is not None:
                trace(stage.name, value)
            if stage.name == until:
                break
    except CompileError as exc:
        raise CompileError(exc.diagnostics, text, exc.origin) from None
    except RecursionError:  # a safety net: the parser bounds stages and nesting well below
        problem = error(
            Code.TOO_COMPLEX, "this query is too complex to compile", Span.at(text, 0, len(text))
        )
        raise CompileError(problem.diagnostics, text) from None
    return value


@dataclass(frozen=True)
class CompiledQuery:
    """A query compiled once: a plain value to explain, lower for any backend, and bind for
    each run (`bind`); a `Session` runs it."""

    text: str
    config: Config
    ast: ast.Query
    plan: ir.Plan
    warnings: tuple[Diagnostic, ...] = ()
    stages: tuple[tuple[str, Any], ...] = field(default=(), repr=False, compare=False)

    @property
    def columns(self) -> tuple[ir.Column, ...]:
        """The output columns (names per contract §5) and their types."""
        return ir.output_schema(self.plan)

    @property
    def parameters(self) -> dict[str, str]:
        """The `$parameters` the query needs, with the type each expects."""
        return {name: kind.value for name, kind in binding.parameters(self.plan).items()}

    @property
    def backends(self) -> tuple[str, ...]:
        """The backends the plan's scans run on, in plan order, each once."""
        return scan_backends(self.plan)

    def sql(self, target: str = registry.DEFAULT_ENGINE) -> str:
        """What `target` (a registered backend) runs for this query, parameters and now()
        shown unbound: an engine's SQL, or a native store's queries with what runs after."""
        try:
            backend = registry.get(target)
        except registry.UnknownBackend as exc:
            raise ValueError(str(exc)) from None
        return backend.target(self)


def scan_backends(plan: ir.Plan) -> tuple[str, ...]:
    """The backends `plan`'s scans run on, in plan order, each once."""
    found = (n.backend for n in ir.plan_walk(plan) if isinstance(n, ir.Scan))
    return tuple(dict.fromkeys(found))


def retarget(plan: ir.Plan, engine: str) -> ir.Plan:
    """`plan` with every scan that an engine reads given to `engine` (the plan is otherwise
    engine-neutral); scans of native stores are kept."""
    engines = set(registry.engines())

    def visit(node: ir.Plan) -> ir.Plan:
        node = ir.with_inputs(node, tuple(visit(child) for child in ir.plan_inputs(node)))
        if isinstance(node, ir.Scan) and node.backend in engines and node.backend != engine:
            return replace(node, backend=engine)
        return node

    return visit(plan)


def bind(compiled: CompiledQuery, params: MappingOf[str, object], now_ns: int) -> ir.Plan:
    """The plan of one run: `$parameters` and `now()` replaced by typed literals (the `bind`
    pass); a missing or unusable value is a `CompileError` on the query's text."""
    try:
        return binding.bind(compiled.plan, params, now_ns)
    except CompileError as exc:
        raise CompileError(exc.diagnostics, compiled.text, exc.origin) from None


def compile(
    text: str, config: Config | None = None, *, engine: str = registry.DEFAULT_ENGINE
) -> CompiledQuery:
    """Compile StarQL `text` against `config` (default: the embedded one-source setup), with
    stored sources read by `engine`."""
    context = Context(config or default_config(), engine)
    outputs: dict[str, Any] = {}
    final = run_pipeline(text, context, trace=outputs.__setitem__)
    try:
        warnings = absent_field_warnings(outputs["normalize"], context.mapping_for)
    except CompileError as exc:
        raise CompileError(exc.diagnostics, text) from None
    stages = tuple(outputs.items())
    return CompiledQuery(text, context.config, outputs["parse"], final, warnings, stages)


def render_stage(name: str, value: Any) -> str:
    """The text of one stage's output, as `explain` and the golden files show it."""
    return next(s.render for s in PIPELINE if s.name == name)(value)
