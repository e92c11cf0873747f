"""Choosing the lines worth a human look: diverse templates and the least certain lines.

Requires: the models and the template miner. Guarantees: `select_for_review(lines, n)` returns
up to `n` distinct line indices, deterministic for the input: half (rounded up) are the lines
the models are least sure of (the lowest token-role and format-classifier probabilities), the
rest one line per template in order of template rarity, so a format seen in a handful of lines
is shown before the thousandth line of the common one; with fewer templates than `n`, more of
the least certain lines fill the list. Each choice says why it was picked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starbase.analyzer.layouts import view_lines
from starbase.analyzer.models import Models, load_models
from starbase.analyzer.templates import mine

MAX_SCORED = 20_000


@dataclass(frozen=True)
class Pick:
    index: int
    line: str
    reason: str
    confidence: float
    template: str


def select_for_review(
    lines: Sequence[str], n: int = 20, models: Models | None = None
) -> list[Pick]:
    models = models or load_models()
    texts = [line for line in lines[:MAX_SCORED]]
    if not texts or n <= 0:
        return []
    mined = mine(texts)
    views = view_lines(texts, models)
    predictions = models.classify(texts)
    confidence = [min(v.confidence, p.probability) for v, p in zip(views, predictions, strict=True)]
    picks: dict[int, Pick] = {}
    uncertain = sorted(range(len(texts)), key=lambda i: (confidence[i], i))
    seen_templates: set[int] = set()
    for i in uncertain:
        if len(picks) >= (n + 1) // 2:
            break
        if mined.ids[i] in seen_templates:
            continue
        seen_templates.add(mined.ids[i])
        picks[i] = Pick(
            i, texts[i], "least confident", confidence[i], mined.templates[mined.ids[i]]
        )
    first_of: dict[int, int] = {}
    for i, template_id in enumerate(mined.ids):
        first_of.setdefault(template_id, i)
    for template_id in sorted(first_of, key=lambda t: (mined.sizes[t], t)):
        if len(picks) >= n:
            break
        i = first_of[template_id]
        if i in picks or template_id in seen_templates:
            continue
        picks[i] = Pick(
            i,
            texts[i],
            f"template seen in {mined.sizes[template_id]} line(s)",
            confidence[i],
            mined.templates[template_id],
        )
    for i in uncertain:  # fewer templates than asked for: more of the least sure lines
        if len(picks) >= n:
            break
        if i not in picks:
            template = mined.templates[mined.ids[i]]
            picks[i] = Pick(i, texts[i], "least confident", confidence[i], template)
    return sorted(picks.values(), key=lambda p: p.index)
