"""The contract's Python API: a compiled query paired with the session that runs it.

Requires: the compiler and a `Session`. Guarantees: `compile_query(text, config)` returns a
`Query` (what `starbase.compile` returns): compile once, then `run(**params)` as often as
needed (a `pyarrow.Table` each time; parameters bound as typed literals, `now()` per run),
`explain()` (the text `starbase explain` prints), `sql(target)` (what a backend runs). The
queries of one `Config` share one in-process session (`default_session`), so its sources
are registered once; pass `session=` to run elsewhere (e.g. in worker processes).
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from starbase.config import Config, default_config
from starbase.runtime.session import Session

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    from starbase.compiler import ast, ir
    from starbase.compiler.driver import CompiledQuery
    from starbase.compiler.errors import Diagnostic

_DEFAULTS: list[weakref.ref[Session]] = []
_LOCK = threading.Lock()


def default_session(config: Config) -> Session:
    """The in-process session shared by the `starbase.compile` queries over `config` that
    are alive (it goes when the last of them does)."""
    with _LOCK:
        _DEFAULTS[:] = [ref for ref in _DEFAULTS if ref() is not None]
        for ref in _DEFAULTS:
            session = ref()
            if session is not None and session.config == config:
                return session
        session = Session(config)
        _DEFAULTS.append(weakref.ref(session))
        return session


def compile_query(
    text: str, config: Config | None = None, *, session: Session | None = None
) -> Query:
    """`text` compiled for `config` (default: the session's, else the embedded one) and
    paired with `session` (default: `default_session(config)`)."""
    if session is None:
        session = default_session(config or default_config())
    elif config is not None and config != session.config:
        raise ValueError("the session runs other sources than the config given")
    return Query(session.compile(text), session)


class Query:
    """A `CompiledQuery` and its `Session` (see the module docstring)."""

    def __init__(self, compiled: CompiledQuery, session: Session) -> None:
        self.compiled = compiled
        self.session = session

    def run(self, **params: object) -> pa.Table:
        """The result with `params` bound to the query's `$parameters`."""
        return self.session.run(self.compiled, params)

    def explain(
        self,
        *,
        analyze: bool = False,
        params: dict[str, object] | None = None,
        plans: bool = True,
    ) -> str:
        """Every stage's output, each backend's text and the engine's plans (module docs of
        `runtime.explain`); `analyze` runs the query and shows the engine's metrics;
        `plans=False` leaves out what needs an engine or the network."""
        explain = self.session.explain(self.compiled, params, analyze=analyze, plans=plans)
        return explain.render_text()

    def sql(self, target: str | None = None) -> str:
        """What `target` (default: the session's engine) runs, parameters unbound."""
        return self.compiled.sql(target or self.session.engine)

    # the compiled value's fields, for convenience
    @property
    def text(self) -> str:
        return self.compiled.text

    @property
    def config(self) -> Config:
        return self.compiled.config

    @property
    def ast(self) -> ast.Query:
        return self.compiled.ast

    @property
    def plan(self) -> ir.Plan:
        return self.compiled.plan

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return self.compiled.warnings

    @property
    def stages(self) -> tuple[tuple[str, Any], ...]:
        return self.compiled.stages

    @property
    def columns(self) -> tuple[ir.Column, ...]:
        return self.compiled.columns

    @property
    def parameters(self) -> dict[str, str]:
        return self.compiled.parameters

    def __repr__(self) -> str:
        return f"Query({self.compiled.text!r})"
