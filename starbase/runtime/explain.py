"""How a query runs, as one value: rendered by the CLI, the REPL and (as JSON) the API.

Requires: the sections a `Session` assembles (`Session.explain`). Guarantees: an `Explain`
holds, in order, where each source runs; every compiler stage's output (the trace behind the
golden files); each backend's own text (its SQL, or a native store's query and what runs
after it); the plans of the engine (and, for native stores, the calls a run makes); and the
compiler's warnings. `render_text()` is the text `starbase explain` prints (`== title ==`
then the body, per section); `to_dict()` is JSON-ready. The value never changes once built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from starbase.backends.base import Section

Kind = Literal["summary", "stage", "backend", "plan", "warnings", "note"]


@dataclass(frozen=True, slots=True)
class Part:
    """A section and what kind of part of the explanation it is."""

    kind: Kind
    section: Section

    @property
    def title(self) -> str:
        return self.section.title

    @property
    def body(self) -> str:
        return self.section.body

    @property
    def language(self) -> str:
        return self.section.language


@dataclass(frozen=True)
class Explain:
    """See the module docstring."""

    query: str
    parts: tuple[Part, ...]

    def render_text(self) -> str:
        return "\n\n".join(f"== {p.title} ==\n{p.body}" for p in self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "sections": [
                {"kind": p.kind, "title": p.title, "body": p.body, "language": p.language}
                for p in self.parts
            ],
        }

    def part(self, title: str) -> Part | None:
        """The part titled `title` (None when absent)."""
        return next((p for p in self.parts if p.title == title), None)
