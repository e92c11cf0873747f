"""CloudWatch Logs: a native store — Logs Insights runs what its profile allows, we finish.

Requires: nothing at import (boto3 and the lowering load on first use). Guarantees: `BACKEND`
lowers each CloudWatch source's part of a plan to Logs Insights text (`lower.py` with
`stages.py`, `expr.py`, `syntax.py`, `severity.py`; docs/cloudwatch-insights.md), shows it for
`compile --target cloudwatch` and explain, and makes connectors (`connector.py`) that run it
(`fetch.py`: StartQuery polling with `insights_poll.py`, or FilterLogEvents with `events.py`
for the emulator profile) and hand the fetched rows, with the plan that finishes them, to the
session's engine (`federation.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from starbase.backends.base import Connector, NativeBackend, Section

if TYPE_CHECKING:
    from starbase.compiler import ir
    from starbase.compiler.driver import CompiledQuery
    from starbase.config import Config, SourceConfig


class CloudWatchBackend(NativeBackend):
    name: ClassVar[str] = "cloudwatch"
    title: ClassVar[str] = "CloudWatch Logs Insights"

    def target(self, compiled: CompiledQuery) -> str:
        from starbase.backends.cloudwatch.lower import lower, render

        return render(lower(compiled.plan, compiled.config))

    def sections(self, compiled: CompiledQuery) -> tuple[Section, ...]:
        if self.name not in compiled.backends:
            return ()
        try:
            text = self.target(compiled)
        except KeyError as exc:  # a capability profile the mapping does not have
            text = f"(not available: {exc.args[0] if exc.args else exc})"
        return (Section("CloudWatch Logs Insights", text, "insights"),)

    def describe(self, scan: ir.Scan, source: SourceConfig | None) -> str:
        groups = ", ".join(source.log_groups) if source is not None else ""
        return (
            f"{scan.source} ({scan.format}) → CloudWatch Logs Insights"
            + (f" over {groups}" if groups else "")
            + ": its native query is below; the fetched rows are finished locally"
        )

    def connector(self, config: Config) -> Connector:
        from starbase.backends.cloudwatch.connector import CloudWatchConnector

        return CloudWatchConnector(config)


BACKEND = CloudWatchBackend()
