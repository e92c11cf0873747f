"""Trino and Athena: Starbase translates plans for them; they run elsewhere.

Requires: nothing at import. Guarantees: `BACKEND` lowers a plan to Trino SQL (`lower.py`:
the Spark lowering's semantics with Trino's spellings), shown by `starbase compile --target
trino` and the golden files; `ddl.py` makes the tables it reads (`python -m
starbase.backends.trino.ddl --data DIR --location s3://…`). Starbase has no Trino engine
here: `runs_here` is false, so `--engine` does not offer it and asking for one says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from starbase.backends.base import Engine, EngineBackend, Section, UnsupportedError

if TYPE_CHECKING:
    from starbase.compiler import ir
    from starbase.compiler.driver import CompiledQuery
    from starbase.config import Config


class TrinoBackend(EngineBackend):
    name: ClassVar[str] = "trino"
    title: ClassVar[str] = "Trino/Athena"
    runs_here: ClassVar[bool] = False
    # refused at compile time (docs/spark.md): JSON text as a map; pct (no exact percentile)
    refused_functions: ClassVar[frozenset[str]] = frozenset(
        {"pct", "json_to_map", "json_get", "json_flatten", "logfmt_get", "logfmt_to_map",
         "make_map", "map_merge", "mine_template", "parse_time", "level_keyword",
         "level_number", "unquote", "window_total", "totimestamp", "replace_regex"}
    )  # fmt: skip

    def render(self, plan: ir.Plan) -> str:
        from starbase.backends.trino.lower import TRINO

        return TRINO.to_sql(plan, pretty=True)

    def sections(self, compiled: CompiledQuery) -> tuple[Section, ...]:
        return ()  # shown by `compile --target trino`; nothing of it runs in a session

    def engine(self, config: Config, options: Mapping[str, str] | None = None) -> Engine:
        from starbase.runtime.errors import QueryFailed

        raise QueryFailed(
            "trino: Starbase does not run Trino; run `starbase compile --target trino` in "
            "Athena or Trino over the tables of `python -m starbase.backends.trino.ddl`"
        )


BACKEND = TrinoBackend()
__all__ = ["BACKEND", "UnsupportedError"]
