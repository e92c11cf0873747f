"""Feedback: labelled lines that accept or correct the analyzer, stored beside the data.

Requires: a data folder. Guarantees: `label(line, format=…, timestamp=…, level=…, message=…)`
builds an `Example` from substrings or spans (the message runs from its start to the end of
the line); `add_feedback(data_dir, examples)` checks every example and the whole set (existing
ones included) and appends them to `<data>/analyzer/feedback/examples.jsonl`, or raises
`FeedbackConflict` with one line naming the contradiction and stores nothing. Contradictions:
spans outside the line or overlapping each other; a timestamp no known or inducible time format
reads; the same line labelled differently (other spans, other format); one level word given two
levels within a format; examples of one format whose timestamps need different formats.
`accept(lines, mapping, format)` turns the lines a proposal parses into examples (accepting it).
`as_labelled(examples)` gives the training form; `layout_examples` what `models.train` keeps to
build the learned shapes.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from starbase.analyzer.corpus.lines import Labelled
from starbase.analyzer.timestamps import induce_format, parses_as
from starbase.mappings.raw import LEVEL_WORDS, RawMapping, extract_fields
from starbase.mappings.timeformats import compile_time_format

FILE = "examples.jsonl"
Span = tuple[int, int]


class FeedbackConflict(Exception):
    """Feedback that contradicts itself or what was stored before (one line)."""


@dataclass(frozen=True)
class Example:
    line: str
    format: str
    timestamp: Span | None = None
    level: Span | None = None
    message: Span | None = None
    level_value: str | None = None  # the level the word means (e.g. "warn" for "W")
    spans: dict[str, Span] = field(default_factory=dict)  # other roles (logger, thread, …)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> Example:
        raw: dict[str, Any] = json.loads(text)
        spans = {k: (int(v[0]), int(v[1])) for k, v in raw.get("spans", {}).items()}

        def span(key: str) -> Span | None:
            value = raw.get(key)
            return None if value is None else (int(value[0]), int(value[1]))

        return Example(
            raw["line"],
            raw["format"],
            span("timestamp"),
            span("level"),
            span("message"),
            raw.get("level_value"),
            spans,
        )

    def text(self, span: Span | None) -> str | None:
        return None if span is None else self.line[span[0] : span[1]]


def _locate(line: str, part: str | Span | None, what: str, after: int = 0) -> Span | None:
    if part is None:
        return None
    if isinstance(part, tuple):
        return part
    at = line.find(part, after)
    if at < 0:
        raise FeedbackConflict(f"the {what} {part!r} does not occur in the line {line[:80]!r}")
    return (at, at + len(part))


def label(
    line: str,
    *,
    format: str,
    timestamp: str | Span | None = None,
    level: str | Span | None = None,
    message: str | Span | None = None,
    level_value: str | None = None,
) -> Example:
    """An example from substrings (first occurrence; the level is searched after the time)."""
    ts = _locate(line, timestamp, "timestamp")
    lv = _locate(line, level, "level", ts[1] if ts and isinstance(level, str) else 0)
    if isinstance(level, str) and lv is None:
        lv = _locate(line, level, "level")
    msg = _locate(line, message, "message", max(ts[1] if ts else 0, lv[1] if lv else 0))
    if msg is not None:
        msg = (msg[0], len(line))
    return Example(line, format, ts, lv, msg, level_value)


def time_format_of(texts: Sequence[str]) -> str | None:
    """One format reading all `texts`: a known one when it reads them all, else induced."""
    known = {parses_as(t) for t in texts}
    if len(known) == 1 and None not in known:
        return known.pop()
    return induce_format(list(texts))


def check(examples: Sequence[Example]) -> None:
    """Raise `FeedbackConflict` for the first contradiction in `examples` (see above)."""
    by_line: dict[str, Example] = {}
    levels: dict[tuple[str, str], str] = {}
    times: dict[str, list[str]] = {}
    for ex in examples:
        if not ex.format or not ex.format.replace("_", "").replace("-", "").isalnum():
            raise FeedbackConflict(f"format name {ex.format!r} must be letters, digits, _ or -")
        spans = {"timestamp": ex.timestamp, "level": ex.level, "message": ex.message}
        spans |= dict(ex.spans.items())
        placed = sorted((s, name) for name, s in spans.items() if s is not None)
        for (lo, hi), name in placed:
            if not 0 <= lo < hi <= len(ex.line):
                raise FeedbackConflict(
                    f"{name} span {lo}:{hi} is outside the line ({len(ex.line)} characters)"
                )
        for (a, name_a), (b, name_b) in itertools.pairwise(placed):
            if b[0] < a[1]:
                raise FeedbackConflict(f"{name_a} and {name_b} overlap in {ex.line[:80]!r}")
        previous = by_line.get(ex.line)
        if previous is not None and previous != ex:
            raise FeedbackConflict(
                f"the line {ex.line[:80]!r} is labelled twice differently "
                f"(format {previous.format!r} vs {ex.format!r}, or other spans)"
            )
        by_line[ex.line] = ex
        word = ex.text(ex.level)
        if word is not None:
            meaning = (ex.level_value or "").lower()
            if meaning and meaning not in LEVEL_WORDS:
                raise FeedbackConflict(f"unknown level {ex.level_value!r} for the word {word!r}")
            if meaning:
                key = (ex.format, word)
                if levels.setdefault(key, meaning) != meaning:
                    raise FeedbackConflict(
                        f"level word {word!r} of format {ex.format!r} is labelled both "
                        f"{levels[key]!r} and {meaning!r}"
                    )
        stamp = ex.text(ex.timestamp)
        if stamp is not None:
            if time_format_of([stamp]) is None:
                raise FeedbackConflict(f"no time format reads the timestamp {stamp!r}")
            times.setdefault(ex.format, []).append(stamp)
    for name, stamps in times.items():
        if time_format_of(stamps) is None:
            raise FeedbackConflict(
                f"the timestamps labelled for format {name!r} need different formats "
                f"(e.g. {stamps[0]!r} and {stamps[-1]!r}): label them as two formats"
            )


def feedback_path(data_dir: Path) -> Path:
    return data_dir / "analyzer" / "feedback" / FILE


def load_feedback(data_dir: Path) -> list[Example]:
    path = feedback_path(data_dir)
    if not path.exists():
        return []
    out = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if text.strip():
            try:
                out.append(Example.from_json(text))
            except (ValueError, KeyError, TypeError) as exc:
                raise FeedbackConflict(f"{path}:{number}: unreadable example ({exc})") from None
    return out


def add_feedback(data_dir: Path, examples: Iterable[Example]) -> int:
    """Check and store `examples` (see the module docstring); returns how many are new."""
    new = list(examples)
    stored = load_feedback(data_dir)
    check(stored + new)
    known = {e.line for e in stored}
    fresh = [e for e in new if e.line not in known]
    path = feedback_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for example in fresh:
            handle.write(example.to_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return len(fresh)


def accept(lines: Iterable[str], mapping: RawMapping, format: str) -> list[Example]:
    """Examples that say "the proposal is right" for the lines it parses."""
    out = []
    for line in lines:
        for shape in mapping.shapes:
            if shape.compiled is None:
                continue
            match = shape.compiled.search(line)
            if match is None or extract_fields(shape, line) is None:
                continue
            groups = match.groupdict()

            def span(name: str | None, m: Any = match, g: dict[str, Any] = groups) -> Span | None:
                if name is None or g.get(name) is None or m.start(name) == m.end(name):
                    return None
                return (m.start(name), m.end(name))

            message = span(shape.message)
            out.append(
                Example(
                    line,
                    format,
                    span(shape.timestamp.field if shape.timestamp else None),
                    span(shape.severity.field if shape.severity else None),
                    (message[0], len(line)) if message else None,
                )
            )
            break
    return out


def as_labelled(examples: Sequence[Example]) -> list[Labelled]:
    """Training lines for the models: spans as roles, the family `app`."""
    out = []
    for ex in examples:
        spans = dict(ex.spans)
        for role, span in (
            ("timestamp", ex.timestamp),
            ("level", ex.level),
            ("message", ex.message),
        ):
            if span is not None:
                spans[role] = span
        instant = None
        stamp = ex.text(ex.timestamp)
        if stamp is not None:
            spec = time_format_of([stamp])
            instant = compile_time_format(spec).parse(stamp) if spec else None
        out.append(Labelled(ex.line, ex.format, "app", instant, None, spans))
    return out


def layout_examples(examples: Sequence[Example]) -> dict[str, list[dict[str, Any]]]:
    """Examples per format, as plain data kept inside the trained models."""
    out: dict[str, list[dict[str, Any]]] = {}
    for ex in examples:
        out.setdefault(ex.format, []).append(json.loads(ex.to_json()))
    return out
