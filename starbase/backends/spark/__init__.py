"""Spark: the engine for data that outgrows one machine — the same plans as Spark SQL.

Requires: nothing at import (lowering and execution load on first use; `pyspark` and Java 17
only when an engine starts). Guarantees: `BACKEND` lowers a plan to Spark SQL (`lower.py`:
DataFusion's relational lowering with Spark's spellings and DataFusion's semantics, through
sqlglot's Spark dialect), explains it as that SQL, and makes engines (`engine.py`: a
`SparkSession` — `local[2]` unless `master` says otherwise — whose views read exactly the
committed snapshot's files, listed from the table's index).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from starbase.backends.base import Engine, EngineBackend, EngineOption, Section, UnsupportedError

if TYPE_CHECKING:
    from starbase.compiler import ir
    from starbase.compiler.driver import CompiledQuery
    from starbase.config import Config, SourceConfig

DEFAULT_MASTER = "local[2]"


class SparkBackend(EngineBackend):
    name: ClassVar[str] = "spark"
    title: ClassVar[str] = "Spark"
    options: ClassVar[tuple[EngineOption, ...]] = (
        EngineOption("master", f"Spark master URL (default: {DEFAULT_MASTER})", DEFAULT_MASTER),
    )
    # refused at compile time (UnsupportedError; docs/spark.md): JSON text read as a map,
    # raw sources' functions (logfmt, templates, times from text, regex replacement: not
    # lowered yet; raw sources run on DataFusion)
    refused_functions: ClassVar[frozenset[str]] = frozenset(
        {"json_to_map", "json_get", "json_flatten", "logfmt_get", "logfmt_to_map",
         "make_map", "map_merge", "mine_template", "parse_time", "level_keyword",
         "level_number", "unquote", "window_total", "totimestamp", "replace_regex"}
    )  # fmt: skip

    def render(self, plan: ir.Plan) -> str:
        from starbase.backends.spark.lower import to_sql

        return to_sql(plan, pretty=True)

    def sections(self, compiled: CompiledQuery) -> tuple[Section, ...]:
        if any(n != self.name for n in compiled.backends):
            return ()  # the SQL that runs depends on the fetched rows: see the plan
        try:
            sql = self.target(compiled)
        except UnsupportedError as exc:
            return (Section("Spark SQL", f"(not available: {exc})"),)
        return (Section("Spark SQL", sql, "sql"),)

    def describe(self, scan: ir.Scan, source: SourceConfig | None) -> str:
        where = (source.location or "") if source is not None else ""
        return f"{scan.source} ({scan.format}) → Spark, over the committed Parquet files" + (
            f" at {where}" if where else ""
        )

    def engine(self, config: Config, options: Mapping[str, str] | None = None) -> Engine:
        from starbase.backends.spark.engine import SparkEngine

        return SparkEngine(config, options)


BACKEND = SparkBackend()
