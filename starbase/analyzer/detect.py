"""Ingest-time format detection: which learned format a batch of raw lines fits, cheaply.

Requires: the models (loaded once per process). Guarantees: `detect_format(lines)` looks at
no more than `SAMPLE` lines spread evenly over the batch (first and last included): standard
formats by the same rules as the analyzer, every other line by the format classifier alone (one
vectorised call for the sample, no token model, no regex per line of the batch). It returns a
`BatchFormat`: the format id (`family` for standard formats, the nearest trained or learned
format name otherwise, `mixed` when no format holds `MAJORITY` of the sample), its share of the
sample and a `fingerprint` (family counts, sorted) that changes when the batch's make-up does.
`batch_record` is the JSON-ready record a raw table's commit carries per source, and
`format_changed(previous, current)` says when `mapping = "auto"` must propose again.

Wiring (router): call `detect_format(lines)` for each source's lines in a raw batch and store
`{source: batch_record(...)}` with the commit; readers compare the newest records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starbase.analyzer.layouts import rule_family

if TYPE_CHECKING:
    from starbase.analyzer.models import Models


def load_models() -> Models:
    from starbase.analyzer.models import load_models as load

    return load()


SAMPLE = 8
MAJORITY = 0.6
MAX_CHARS = 2048


@dataclass(frozen=True)
class BatchFormat:
    format: str
    family: str
    share: float
    confidence: float
    fingerprint: str
    sampled: int


def _spread(count: int, k: int) -> list[int]:
    if count <= k:
        return list(range(count))
    return sorted({round(i * (count - 1) / (k - 1)) for i in range(k)})


def detect_format(
    lines: Sequence[str], models: Models | None = None, *, learned: bool = True
) -> BatchFormat:
    """See the module docstring. With `learned=False` (the router: no model in its memory)
    lines no rule recognises count as the family `other`."""
    picked = [lines[i][:MAX_CHARS] for i in _spread(len(lines), SAMPLE)]
    picked = [p for p in picked if p.strip()]
    if not picked:
        return BatchFormat("empty", "empty", 1.0, 1.0, "", 0)
    families: list[str] = []
    formats: list[str] = []
    probabilities: list[float] = []
    unruled = [p for p in picked if rule_family(p) is None]
    predictions: Any = iter(())
    if unruled and learned:
        predictions = iter((models or load_models()).classify(unruled))
    elif unruled:
        predictions = iter(_Other() for _ in unruled)
    for line in picked:
        family = rule_family(line)
        if family is not None:
            families.append(family)
            formats.append(family)
            probabilities.append(1.0)
        else:
            prediction = next(predictions)
            families.append(prediction.family)
            formats.append(prediction.format)
            probabilities.append(prediction.probability)
    best, count = Counter(formats).most_common(1)[0]
    share = count / len(picked)
    family = Counter(families).most_common(1)[0][0]
    confidence = sum(p for f, p in zip(formats, probabilities, strict=True) if f == best) / count
    fingerprint = ",".join(sorted(set(families)))
    if share < MAJORITY:
        best, family = "mixed", "mixed"
    return BatchFormat(best, family, share, confidence, fingerprint, len(picked))


@dataclass(frozen=True)
class _Other:
    family: str = "other"
    format: str = "other"
    probability: float = 0.0


def batch_record(found: BatchFormat) -> dict[str, Any]:
    return {
        "format": found.format,
        "family": found.family,
        "share": round(found.share, 3),
        "confidence": round(found.confidence, 3),
        "fingerprint": found.fingerprint,
        "sampled": found.sampled,
    }


def format_changed(previous: dict[str, Any] | None, current: dict[str, Any]) -> bool:
    """True when the batch's format (or family make-up) differs from the previous batch's."""
    if previous is None:
        return True
    return bool(
        previous.get("format") != current.get("format")
        or previous.get("fingerprint") != current.get("fingerprint")
    )


META_KEY = "raw_formats"


def raw_batch_meta(
    batch: Any, models: Models | None = None, *, learned: bool = True
) -> dict[str, Any]:
    """The commit metadata for a raw batch (a pyarrow table with `source` and `line`):
    `{"raw_formats": {source: batch_record(...)}}`, to pass as `Table.append(..., meta=…)`."""
    import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

    per_source: dict[str, list[str]] = {}
    column = batch["source"]
    for source in pc.unique(column).to_pylist():
        mine = batch["line"].filter(pc.equal(column, source))
        picks = _spread(len(mine), SAMPLE)  # only the sample leaves Arrow
        texts = [mine[i].as_py() for i in picks]
        per_source[str(source)] = [t for t in texts if t is not None]
    if learned and models is None:
        models = load_models()
    return {
        META_KEY: {
            source: batch_record(detect_format(texts, models, learned=learned))
            for source, texts in sorted(per_source.items())
        }
    }


def recorded_formats(table: Any, source: str, limit: int = 50) -> list[tuple[int, dict[str, Any]]]:
    """(commit version, record) of `source` in the newest `limit` commits of a raw table that
    carry one, oldest first (commits before the last checkpoint may have been pruned)."""
    head = table.snapshot()
    found: list[tuple[int, dict[str, Any]]] = []
    for commit in table.log.commits(max(0, head.version - limit), head.version):
        record = (commit.meta or {}).get(META_KEY, {}).get(source)
        if record is not None:
            found.append((commit.version, dict(record)))
    return found
