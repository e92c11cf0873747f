"""The compiler driver: text → `CompiledQuery` through the pass pipeline.

Requires: a `Config` (sources) — the embedded default when none is given. Guarantees: the
pipeline is the tuple `PIPELINE`, one entry per stage of ARCHITECTURE.md, each a pure
function of (previous output, context); `run_pipeline` can stop after any stage and calls a
trace callback after each one (the same hook serves `explain` and the golden snapshots, so
they cannot drift); every failure is a `CompileError` carrying the source text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from starbase.compiler import ast, ir
from starbase.compiler.errors import Code, CompileError, Diagnostic, Span, error
from starbase.compiler.format import format_query
from starbase.compiler.grammar.parser import parse
from starbase.compiler.passes.federate import federate
from starbase.compiler.passes.map_fields import absent_field_warnings, map_fields
from starbase.compiler.passes.normalize import normalize
from starbase.compiler.passes.plan import plan
from starbase.compiler.passes.pushdown import pushdown
from starbase.compiler.passes.resolve import resolve
from starbase.compiler.render import render_plan
from starbase.config import Config, default_config
from starbase.mappings import Mapping, MappingError, load_mapping

if TYPE_CHECKING:
    from starbase.compiler.backends.cloudwatch import InsightsQuery

Trace = Callable[[str, Any], None]


@dataclass(frozen=True)
class Context:
    """What passes may consult besides their input: the sources and their mappings."""

    config: Config

    def mapping_for(self, format_name: str) -> Mapping:
        return _mapping(format_name)


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
    Stage("map fields", lambda p, ctx: map_fields(p, ctx.mapping_for), render_plan),
    Stage("pushdown", lambda p, ctx: pushdown(p, ctx.mapping_for), render_plan),
    # `plan` prunes each source's reads, then `federate` gives each source of a union its
    # exact share of the query: one stage, so the golden sections, `explain` and the REPL's
    # stage list keep their shape
    Stage("plan", lambda p, ctx: federate(plan(p)), render_plan),
)
STAGE_NAMES = tuple(s.name for s in PIPELINE)


def run_pipeline(
    text: str,
    context: Context,
    *,
    until: str = "plan",
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
    """A query compiled once, ready to explain (and, with a backend, to run many times)."""

    text: str
    config: Config
    ast: ast.Query
    plan: ir.Plan
    warnings: tuple[Diagnostic, ...] = ()
    stages: tuple[tuple[str, Any], ...] = field(default=(), repr=False, compare=False)
    _engines: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def columns(self) -> tuple[ir.Column, ...]:
        """The output columns (names per contract §5) and their types."""
        return ir.output_schema(self.plan)

    @property
    def parameters(self) -> dict[str, str]:
        """The `$parameters` the query needs, with the type each expects."""
        from starbase.runtime.bind import parameters

        return {name: kind.value for name, kind in parameters(self.plan).items()}

    def sql(self, target: str = "datafusion") -> str:
        """What `target` runs for this query (parameters and now() shown unbound); for
        `cloudwatch`, the rendered `insights()` (text, time range, log groups, remainder)."""
        if target == "cloudwatch":
            from starbase.compiler.backends.cloudwatch import render

            return render(self.insights())
        if target != "datafusion":
            raise ValueError(f"unknown target {target!r}; targets: datafusion, cloudwatch")
        from starbase.compiler.backends.datafusion import to_sql

        return to_sql(self.plan, pretty=True)

    def insights(self, profile: str | None = None) -> tuple[InsightsQuery, ...]:
        """One `cloudwatch.InsightsQuery` per CloudWatch source (each source's configured
        capability profile unless `profile` is given); empty when there is none."""
        from starbase.compiler.backends.cloudwatch import lower

        return lower(self.plan, self.config, profile=profile)

    def run(self, **params: object) -> Any:
        """Run on the configured sources with `params` bound; returns a `pyarrow.Table`.

        The engine (and its DataFusion session) is created on the first run and reused."""
        return self._engine().execute(self.plan, params)

    def explain(
        self,
        *,
        backend: bool = True,
        analyze: bool = False,
        params: dict[str, object] | None = None,
    ) -> str:
        """Every stage's output, the DataFusion SQL and, when the data can be reached,
        DataFusion's optimized logical and physical plans (EXPLAIN ANALYZE with `analyze`).
        A query reading CloudWatch shows instead each source's native calls (StartQuery or
        FilterLogEvents, with this run's time range and text), what runs locally over the
        fetched rows, and the local DataFusion SQL and plans."""
        from starbase.runtime.federation import reads_cloudwatch

        blocks = [f"== {name} ==\n{render_stage(name, value)}" for name, value in self.stages]
        if backend and reads_cloudwatch(self.plan):
            plans = self._backend_plan(params or {}, analyze)
            blocks.append(f"== execution ==\n{plans}")
        elif backend:
            blocks.append(f"== datafusion ==\n{self.sql()}")
            plans = self._backend_plan(params or {}, analyze)
            blocks.append(f"== datafusion plan ==\n{plans}")
        blocks.extend(f"warning[{w.code.value}]: {w.message}" for w in self.warnings)
        return "\n\n".join(blocks)

    def _backend_plan(self, params: dict[str, object], analyze: bool) -> str:
        from starbase.runtime.engine import QueryFailed

        try:
            return str(self._engine().explain(self.plan, params, analyze=analyze))
        except (QueryFailed, CompileError) as exc:
            return f"(not available: {exc})"

    def _engine(self) -> Any:
        from starbase.runtime.engine import Engine

        if "datafusion" not in self._engines:
            self._engines["datafusion"] = Engine(self.config)
        return self._engines["datafusion"]


def compile(text: str, config: Config | None = None) -> CompiledQuery:
    """Compile StarQL `text` against `config` (default: the embedded one-source setup)."""
    context = Context(config or default_config())
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
