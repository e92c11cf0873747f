"""The one place `starbase serve` runs queries: the shared execution API, and the tail.

Requires: `starbase.runtime` (`Session`, `Cursor`, `Explain`, `Sample`) and, for the tail, the
DataFusion backend's stored tables. Guarantees:

- `Session(config, engines=N)` is the runtime's `Session` with its queries in up to N worker
  processes (a query waits for a free one): `compile`, `execute` → `Cursor` (Arrow record
  batches through a bounded buffer, `schema`, `state`, `metrics`, `cancel()`), `explain` →
  `Explain` (`to_dict()`), `sample` → `Sample` (keys and top values for completion; native
  stores are never sampled). Cancel — a client gone, DELETE, the time limit — kills the
  worker running the query, so its CPU is free at once, an aggregation included; `close()`
  stops the workers.
- `TailReader` runs a row-only query over exactly the rows each new commit adds (below).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase import backends
from starbase.compiler import ir
from starbase.compiler.driver import CompiledQuery, bind
from starbase.config import Config
from starbase.runtime import session as runtime
from starbase.runtime.cursor import Cursor, Metrics
from starbase.runtime.errors import QueryCancelled, QueryFailed, one_line
from starbase.runtime.explain import Explain, Part
from starbase.runtime.results import conform, result_schema
from starbase.runtime.session import Sample

__all__ = [
    "Cursor",
    "Delta",
    "Explain",
    "Metrics",
    "Part",
    "QueryCancelled",
    "QueryFailed",
    "Sample",
    "Session",
    "TailReader",
]


class Session(runtime.Session):
    """The server's session over one `Config`: queries in up to `engines` worker processes."""

    def __init__(self, config: Config, *, engines: int = 4) -> None:
        super().__init__(config, workers=max(1, engines))


@dataclass(frozen=True)
class Delta:
    """Rows committed since the previous poll, and when the newest of those commits was made."""

    table: pa.Table
    committed_ns: int


class TailReader:
    """A row-only query over the rows each new commit adds to its stored sources.

    Reads the commit log's head of every table the query scans (one small read each, never a
    folder listing of the data) and, when it moved from version A to B, runs the query over
    exactly the files appended by commits A+1…B: a DataFusion view admitting the incoming
    files with A < c <= B (`storage.table.Visibility` of that range). Compaction commits add no
    incoming files, so rows are delivered once; the files of those commits stay readable for
    the vacuum's grace period, far longer than a poll. Not thread-safe: one poller at a time.
    """

    def __init__(self, compiled: CompiledQuery, params: Mapping[str, object]) -> None:
        from starbase.backends.datafusion.engine import new_session
        from starbase.backends.datafusion.tables import register

        self.compiled = compiled
        self.params = dict(params)
        self.ctx = new_session()
        self.sources: dict[str, Any] = {}
        for node in ir.plan_walk(compiled.plan):
            if not isinstance(node, ir.Scan) or node.source in self.sources:
                continue
            source = compiled.config.source(node.source)
            if source is None or backends.native(node.backend) is not None:
                raise QueryFailed(
                    f"source '{node.source}' is not a stored table: it cannot be tailed"
                )
            try:
                self.sources[node.source] = register(self.ctx, source)
            except Exception as exc:
                raise QueryFailed(one_line(exc)) from None
        self.seen = {name: s.table.snapshot().version for name, s in self.sources.items()}

    def poll(self) -> Delta | None:
        from starbase.backends.datafusion.lower import to_sql
        from starbase.backends.datafusion.tables import view_sql
        from starbase.storage.index import State as TableState
        from starbase.storage.table import Visibility

        heads = {name: s.table.snapshot() for name, s in self.sources.items()}
        if all(heads[name].version <= self.seen[name] for name in heads):
            return None
        for name, stored in self.sources.items():
            upto = max(heads[name].version, self.seen[name])
            delta = TableState(version=upto, floor=self.seen[name], files=1, incoming=1)
            visible = Visibility(delta, stored.table.format)
            self.ctx.sql(view_sql(name, stored.table, visible)).collect()
            stored.shown = None
        bound = bind(self.compiled, self.params, time.time_ns())
        try:
            table = self.ctx.sql(to_sql(bound)).to_arrow_table()
        except Exception as exc:
            raise QueryFailed(one_line(exc)) from exc
        schema = result_schema(table.schema, ir.output_schema(self.compiled.plan))
        table = pa.Table.from_batches([conform(b, schema) for b in table.to_batches()], schema)
        if "timestamp" in table.column_names and table.num_rows > 1:
            table = table.sort_by("timestamp")
        for name, head in heads.items():
            self.seen[name] = max(head.version, self.seen[name])
        return Delta(table, max(h.committed_ns for h in heads.values()))

    def close(self) -> None:
        self.sources.clear()
