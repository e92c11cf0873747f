"""DataFusion: Starbase's engine — backend-neutral plans as SQL over Parquet, in process.

Requires: nothing at import (the lowering, dialect and execution modules load on first use).
Guarantees: `BACKEND` lowers a plan to DataFusion SQL (`lower.py` through the sqlglot dialect
in `dialect.py`), explains it as that SQL, and makes engines (`engine.py`: a `SessionContext`
with the stored sources registered by `tables.py` and Starbase's UDFs from `udfs.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from starbase.backends.base import Engine, EngineBackend, EngineOption, Section, UnsupportedError
from starbase.config import LOOKUP_FORMAT

if TYPE_CHECKING:
    from starbase.compiler import ir
    from starbase.compiler.driver import CompiledQuery
    from starbase.config import Config, SourceConfig


class DataFusionBackend(EngineBackend):
    name: ClassVar[str] = "datafusion"
    title: ClassVar[str] = "DataFusion"
    options: ClassVar[tuple[EngineOption, ...]] = (
        EngineOption("partitions", "threads one query may use (default: one per CPU)"),
    )

    def render(self, plan: ir.Plan) -> str:
        from starbase.backends.datafusion.lower import to_sql

        return to_sql(plan, pretty=True)

    def sections(self, compiled: CompiledQuery) -> tuple[Section, ...]:
        if any(n != self.name for n in compiled.backends):
            return ()  # the SQL that runs locally depends on the fetched rows: see the plan
        try:
            sql = self.target(compiled)
        except UnsupportedError as exc:
            return (Section("DataFusion SQL", f"(not available: {exc})"),)
        return (Section("DataFusion SQL", sql, "sql"),)

    def describe(self, scan: ir.Scan, source: SourceConfig | None) -> str:
        if scan.format == LOOKUP_FORMAT:
            return f"{scan.source} (lookup table) → DataFusion, the file read whole"
        where = (source.location or "") if source is not None else ""
        return f"{scan.source} ({scan.format}) → DataFusion, over Parquet" + (
            f" at {where}" if where else ""
        )

    def engine(self, config: Config, options: Mapping[str, str] | None = None) -> Engine:
        from starbase.backends.datafusion.engine import DataFusionEngine

        return DataFusionEngine(config, options)


BACKEND = DataFusionBackend()
