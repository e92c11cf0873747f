"""The status line under the results: what ran, how long it took, how much it read.

Requires: nothing but Textual and the values the app gives it. Guarantees: one line, never
wrapped; states are `idle`, `running` (with the elapsed time, refreshed by the app),
`done` (rows — and whether the REPL stopped at its row cap —, elapsed time, bytes scanned
as DataFusion counted them, sources used, the time range, hidden empty columns), `failed`
(the one-line cause) and `cancelled`; the state is also a CSS class (`-running`, `-failed`…)
so `app.tcss` can colour it.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def human_bytes(count: int | None) -> str:
    if count is None:
        return "? B"
    size = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{count} B"


def human_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


class StatusLine(Static):
    STATES = ("idle", "running", "done", "failed", "cancelled")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.state = "idle"
        self.set_state("idle", Text("Ready."))

    def set_state(self, state: str, text: Text) -> None:
        self.state = state
        for name in self.STATES:
            self.set_class(name == state, f"-{name}")
        text.no_wrap = True
        text.overflow = "ellipsis"
        self.update(text)

    def running(self, elapsed: float) -> None:
        spinner = SPINNER[int(elapsed * 10) % len(SPINNER)]
        self.set_state(
            "running", Text(f"{spinner} running… {human_seconds(elapsed)}   Esc cancels")
        )

    def done(
        self,
        *,
        rows: int,
        truncated: bool,
        elapsed: float,
        bytes_scanned: int | None,
        sources: Sequence[str],
        window: str,
        hidden: Sequence[str],
    ) -> None:
        parts = [
            f"{rows:,} row{'s' if rows != 1 else ''}" + (" (row cap reached)" if truncated else "")
        ]
        parts.append(human_seconds(elapsed))
        if bytes_scanned is not None:
            parts.append(f"{human_bytes(bytes_scanned)} scanned")
        if sources:
            parts.append(", ".join(sources))
        parts.append(window)
        if hidden:
            parts.append(f"{len(hidden)} empty column{'s' if len(hidden) != 1 else ''} hidden")
        self.set_state("done", Text("✓ " + " · ".join(parts)))

    def failed(self, message: str) -> None:
        self.set_state("failed", Text("✗ " + message))

    def cancelled(self) -> None:
        self.set_state("cancelled", Text("Cancelled. The previous results are kept."))
