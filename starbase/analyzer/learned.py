"""Shapes learned from feedback: the labelled examples of a format become a raw-mapping shape.

Requires: examples as kept by `models.train` (`feedback.layout_examples`). Guarantees:
`learned_shapes(models)` gives, per labelled format, a `ShapeProposal` whose regex reproduces
the header the examples label (their time format read or induced from the labelled spans,
level words with the levels given, other header tokens as captures or literals) and the
message from its labelled start; formats whose examples cannot be read are skipped.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from starbase.analyzer.feedback import Example, time_format_of
from starbase.analyzer.layouts import LineView, ShapeProposal, shape_for
from starbase.analyzer.models import Models
from starbase.analyzer.timestamps import Found
from starbase.analyzer.tokens import header_tokens


def _view(index: int, ex: Example, spec: str | None) -> LineView | None:
    ts = ex.timestamp if spec else None
    tokens = header_tokens(ex.line, ts)
    start = ex.message[0] if ex.message else len(ex.line)
    header = [t for t in tokens if t.outer_end <= start or t.end <= start]
    if len(header) == len(tokens) and start < len(ex.line):
        return None  # the header is longer than the tokenizer reads
    roles: list[tuple[str, float]] = []
    for token in header:
        role = "other"
        if token.is_timestamp:
            role = "timestamp"
        elif ex.level and token.start < ex.level[1] and ex.level[0] < token.end:
            role = "level"
        else:
            for name, (lo, hi) in ex.spans.items():
                if token.start < hi and lo < token.end:
                    role = name
        roles.append((role, 1.0))
    roles.append(("message", 1.0))
    found = None
    if ts is not None and spec is not None:
        found = Found(ts[0], ts[1], spec, ex.line[ts[0] : ts[1]], 0)
    view = LineView(index, ex.line, "app", found, tokens, roles, len(header))
    elements = []
    for token, (role, _) in zip(header, roles, strict=False):
        elements.append((role, token.open, token.close, token.prefix, token.suffix))
    view.signature = ("learned", tuple(elements))
    return view


def learned_shapes(models: Models) -> list[ShapeProposal]:
    out = []
    for name, raw in sorted(models.learned.items()):
        examples = [Example.from_json(json.dumps(r)) for r in raw]
        stamps = [s for s in (ex.text(ex.timestamp) for ex in examples) if s is not None]
        spec = time_format_of(stamps) if stamps else None
        views = [v for i, ex in enumerate(examples) if (v := _view(i, ex, spec)) is not None]
        if not views:
            continue
        signature, _ = Counter(v.signature for v in views).most_common(1)[0]
        group = [v for v in views if v.signature == signature]
        shape_name = re.sub(r"[^A-Za-z0-9_-]", "_", name)
        if not shape_name[0].isalpha():
            shape_name = "f_" + shape_name
        proposal = shape_for(shape_name, "app", group)
        levels: dict[str, Any] = {}
        for ex in examples:
            word = ex.text(ex.level)
            if word is not None and ex.level_value:
                levels[word] = ex.level_value.lower()
        severity = proposal.data.get("severity")
        if severity is not None and levels:
            severity["levels"] = {**severity.get("levels", {}), **levels}
        proposal.family = "learned"
        proposal.evidence["format"] = f"learned from {len(examples)} labelled line(s)"
        out.append(proposal)
    return out
