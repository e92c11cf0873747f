"""The format analyzer: lines in, a proposed raw mapping and the evidence for it out.

Requires: the models (`models.load_models`), `layouts`. Guarantees: `analyze_lines(lines)`
never raises on any text: it returns an `Analysis` with the formats found (family, share of the
lines, confidence, timestamp format, per-field coverage and evidence), one raw-mapping shape per
format (a mixed source gets several, each anchored so the shapes discriminate), the share of
lines no shape parses (they stay whole-line `message`), the stack-trace continuation lines, and
the mapping as validated `RawMapping` and YAML. Structure is induced from a sample of at most
`SAMPLE` lines chosen for diversity (not the first N); coverage is measured on every line
through the reference evaluator. Lines longer than `MAX_ANALYZED` characters are analyzed on
their first `MAX_ANALYZED` characters (the evaluator still reads them whole), so the time per
line is bounded.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from starbase.analyzer.layouts import (
    LineView,
    ShapeProposal,
    example,
    level_table,
    shape_for,
    value_type,
    view_lines,
)
from starbase.analyzer.learned import learned_shapes
from starbase.analyzer.models import Models, load_models
from starbase.analyzer.timestamps import parses_as
from starbase.compiler.regex import to_python
from starbase.mappings.model import MappingProblems
from starbase.mappings.raw import LEVEL_WORDS, RawMapping, dump_raw_mapping

SAMPLE = 2000
COVERAGE_LINES = 5000  # coverage and shares are measured on this many lines, evenly spread
MAX_ANALYZED = 4096
MIN_SHARE = 0.01
_DELIMITERS = ("\t", "|", ";", ",")
# shapes are tried in this order of families; app-like shapes by how many header fields
# they require (a bare `time message` shape must not swallow richer layouts)
_FAMILY_ORDER = {
    "learned": -1,
    "json": 0,
    "syslog5424": 1,
    "access": 2,
    "syslog3164": 3,
    "delimited": 4,
    "keyvalue": 5,
    "app": 5,
    "logfmt": 7,
}
# classifier family -> the analyzer families it agrees with
_AGREES = {"delimited": {"delimited", "app"}, "app": {"app", "keyvalue", "delimited"}}
_UNIVERSAL_CHECKS = ("timestamp", "severity", "message", "service", "host")


@dataclass
class FormatReport:
    name: str
    family: str
    share: float
    confidence: float
    timestamp_format: str | None
    fields: list[dict[str, Any]]
    examples: list[str]
    classifier: dict[str, Any]


@dataclass
class Analysis:
    lines: int
    sample: int
    formats: list[FormatReport]
    unmatched: float
    continuation: float
    coverage: dict[str, float]
    mapping: RawMapping | None
    yaml: str
    confidence: float
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "sample": self.sample,
            "confidence": round(self.confidence, 3),
            "formats": [
                {
                    "name": f.name,
                    "family": f.family,
                    "share": round(f.share, 4),
                    "confidence": round(f.confidence, 3),
                    "timestamp_format": f.timestamp_format,
                    "fields": f.fields,
                    "examples": f.examples,
                    "classifier": f.classifier,
                }
                for f in self.formats
            ],
            "unmatched": round(self.unmatched, 4),
            "continuation": round(self.continuation, 4),
            "coverage": {k: round(v, 4) for k, v in self.coverage.items()},
            "mapping": self.mapping.to_data() if self.mapping else None,
            "mapping_yaml": self.yaml,
            "warnings": self.warnings,
        }

    def render_text(self) -> str:
        out = [f"{self.lines} lines analyzed ({self.sample} in the structure sample)"]
        if not self.formats:
            out.append("no structure found: every line stays a whole-line message")
        for f in self.formats:
            ts = f.timestamp_format or "none (time received)"
            out.append(
                f"  {f.name}: {f.family}, {f.share:.1%} of lines, confidence {f.confidence:.2f}, "
                f"timestamp {ts}"
            )
            for item in f.fields:
                out.append(
                    f"      {item['name']:<14} -> {item['target']:<24} {item['type']:<9} "
                    f"{item['coverage']:.0%}  {item['evidence']}"
                )
            out.append(f"      e.g. {f.examples[0]}" if f.examples else "")
        if self.continuation:
            out.append(
                f"  {self.continuation:.1%} continue a multi-line record (stack traces): "
                "kept as whole-line messages"
            )
        out.append(f"  unmatched: {self.unmatched:.1%} (kept as whole-line messages)")
        cover = ", ".join(f"{k} {v:.0%}" for k, v in self.coverage.items())
        out.append(f"coverage: {cover}")
        out.extend(f"warning: {w}" for w in self.warnings)
        out.append("proposed mapping:")
        out.append(self.yaml.rstrip())
        return "\n".join(x for x in out if x != "") + "\n"


def diverse_sample(lines: Sequence[str], size: int) -> list[int]:
    """Indices of up to `size` lines: half spread evenly over the input (so each format keeps
    its share), half round-robin over cheap line skeletons (the first characters with digits
    and letters folded), so rare layouts are represented too."""
    if len(lines) <= size:
        return list(range(len(lines)))
    half = size // 2
    chosen = {round(i * (len(lines) - 1) / (half - 1)) for i in range(half)}
    buckets: dict[str, list[int]] = defaultdict(list)
    for i, line in enumerate(lines):
        if i not in chosen:
            buckets[_skeleton(line)].append(i)
    queues = sorted(buckets.values(), key=len, reverse=True)
    depth = 0
    while len(chosen) < size and queues:
        queues = [q for q in queues if depth < len(q)]
        for queue in queues:
            chosen.add(queue[depth])
            if len(chosen) >= size:
                break
        depth += 1
    return sorted(chosen)


def _skeleton(line: str) -> str:
    head = line[:24]
    return re.sub(r"[A-Za-z]+", "a", re.sub(r"\d+", "0", head))


def _delimited(views: list[LineView], floor: int) -> dict[str, list[LineView]]:
    """Groups of lines that are delimited records: lines whose timestamp is a whole cell, in
    the same column, and that nearly all (90%) have the same number of separators, at least
    2 — a separator that only messages sometimes contain does not make a layout delimited."""
    candidates = [v for v in views if v.family in ("app", "plain") and v.ts is not None]
    groups: dict[str, list[LineView]] = {}
    for sep in _DELIMITERS:
        by_column: dict[int, list[tuple[int, LineView]]] = defaultdict(list)
        for view in candidates:
            assert view.ts is not None
            column = view.text.count(sep, 0, view.ts.start)
            parts = view.text.split(sep, column + 1)
            if column < len(parts) and parts[column].strip() == view.ts.text:
                by_column[column].append((view.text.count(sep), view))
        for column, rows in sorted(by_column.items()):
            counts = Counter(count for count, _ in rows)
            count, hits = counts.most_common(1)[0]
            if count < 2 or count <= column or hits < 0.9 * len(rows) or hits < max(3, floor):
                continue
            members = [v for c, v in rows if c == count]
            cells = [v.text.split(sep) for v in members[:50]]
            short = sum(all(len(c) <= 64 for c in row[:-1]) for row in cells)
            if short < 0.9 * len(cells):
                continue
            label = sep if sep not in groups else f"{sep}{count}"
            groups[label] = members
            taken = {id(v) for v in members}
            candidates = [v for v in candidates if id(v) not in taken]
    return groups


def _delimited_shape(name: str, sep: str, views: list[LineView]) -> ShapeProposal:
    rows = [v.text.split(sep) for v in views]
    width = len(rows[0])
    columns: list[str] = []
    data: dict[str, Any] = {"name": name}
    evidence: dict[str, str] = {}
    time_format = None
    for c in range(width):
        values = [r[c].strip() for r in rows]
        label = f"col{c + 1}"
        spec = parses_as(values[0]) if values[0] else None
        if c == width - 1:
            label = "message"
            data["message"] = label
            evidence["message"] = f"the last column (separator {sep!r}); it keeps the rest"
        elif spec and "timestamp" not in data and all(parses_as(v) == spec for v in values[:50]):
            label = "time"
            data["timestamp"] = {"field": label, "format": spec}
            time_format = spec
            evidence["timestamp"] = f"column {c + 1} holds {spec} times (e.g. {values[0]})"
        elif "severity" not in data and sum(v.lower() in LEVEL_WORDS for v in values) >= 0.8 * len(
            values
        ):
            label = "level"
            data["severity"] = {"field": label}
            extra = level_table(values)
            if extra:
                data["severity"]["levels"] = extra
            evidence["severity"] = f"column {c + 1} holds level words"
        elif all(re.fullmatch(r"[0-9a-fA-F-]{16,}", v) for v in values[:50]):
            label = "id" if "id" not in columns else f"id{c + 1}"
            evidence[label] = f"column {c + 1} holds identifiers"
        columns.append(label)
    data["parse"] = {"kind": "delimited", "separator": sep, "columns": columns}
    order = ("name", "parse", "timestamp", "severity", "message")
    ordered = {k: data[k] for k in order if k in data}
    return ShapeProposal("delimited", ordered, evidence, 0.95, time_format)


def analyze_lines(
    lines: Sequence[str],
    models: Models | None = None,
    name: str = "auto",
    received_ns: int = 0,
    sample_size: int = SAMPLE,
) -> Analysis:
    """See the module docstring. `received_ns` dates year-less timestamps (0: now)."""
    import time as _time

    received = received_ns or _time.time_ns()
    models = models or load_models()
    warnings: list[str] = []
    texts = [line.rstrip("\r\n") for line in lines]
    texts = [t for t in texts if t.strip()]
    if not texts:
        return Analysis(0, 0, [], 0.0, 0.0, {}, None, "", 0.0, ["no readable lines"])
    long_lines = sum(len(t) > MAX_ANALYZED for t in texts)
    if long_lines:
        warnings.append(
            f"{long_lines} line(s) longer than {MAX_ANALYZED} characters: their structure is "
            "read from the first part"
        )
    indices = diverse_sample(texts, sample_size)
    sample = [texts[i][:MAX_ANALYZED] for i in indices]
    learned_groups: list[tuple[ShapeProposal, list[LineView]]] = []
    rest = list(range(len(sample)))
    for proposal in learned_shapes(models):
        pattern = re.compile(to_python(proposal.data["parse"]["pattern"]))
        hits = [i for i in rest if pattern.search(sample[i])]
        if hits:
            members = [LineView(i, sample[i], "learned") for i in hits]
            learned_groups.append((proposal, members))
            taken = set(hits)
            rest = [i for i in rest if i not in taken]
    views = view_lines([sample[i] for i in rest], models, received)
    for _, members in learned_groups:
        views.extend(members)
    groups: dict[tuple[Any, ...], list[LineView]] = defaultdict(list)
    floor = max(1 if len(sample) < 50 else 2, int(MIN_SHARE * len(sample)))
    delimited = _delimited(views, floor)
    in_delimited = {id(v) for members in delimited.values() for v in members}
    for view in views:
        if id(view) not in in_delimited and view.family != "learned":
            groups[view.signature].append(view)
    if len(sample) < 20:
        warnings.append(f"only {len(sample)} line(s): the proposal has low confidence")
    proposals: list[tuple[ShapeProposal, list[LineView]]] = list(learned_groups)
    counters: Counter[str] = Counter()
    for sep, members in delimited.items():
        counters["delimited"] += 1
        label = "delimited" if counters["delimited"] == 1 else f"delimited{counters['delimited']}"
        proposals.append((_delimited_shape(label, sep[:1], members), members))
    for signature, members in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        family = signature[0]
        if family in ("plain", "continuation") or len(members) < floor:
            continue
        family = members[0].family
        counters[family] += 1
        label = family if counters[family] == 1 else f"{family}{counters[family]}"
        proposals.append((shape_for(label, family, members), members))
    proposals.sort(key=lambda p: (_FAMILY_ORDER.get(p[0].family, 9), -p[0].specificity, -len(p[1])))
    mapping, shapes = _build(name, proposals, warnings)
    continuation = sum(v.family == "continuation" for v in views) / len(views)
    return _report(texts, views, mapping, shapes, continuation, received, models, warnings)


def _build(
    name: str, proposals: list[tuple[ShapeProposal, list[LineView]]], warnings: list[str]
) -> tuple[RawMapping | None, list[tuple[ShapeProposal, list[LineView]]]]:
    kept: list[tuple[ShapeProposal, list[LineView]]] = []
    for proposal, members in proposals:
        try:
            RawMapping.model_validate({"kind": "raw", "name": "check", "shapes": [proposal.data]})
        except (ValidationError, MappingProblems) as exc:
            warnings.append(f"shape {proposal.data.get('name')} dropped: {exc}".splitlines()[0])
            continue
        kept.append((proposal, members))
    if not kept:
        whole = {
            "name": "line",
            "parse": {"kind": "regex", "pattern": "^(?<message>.*)$"},
            "message": "message",
        }
        evidence = {"message": "no structure found: the whole line"}
        kept = [(ShapeProposal("plain", whole, evidence, 0.2, None), [])]
    safe = re.sub(r"[^a-z0-9_]", "_", name.lower()).strip("_") or "auto"
    if not safe[0].isalpha():
        safe = "raw_" + safe
    data = {"kind": "raw", "name": safe, "shapes": [p.data for p, _ in kept]}
    return RawMapping.model_validate(data), kept


def _report(
    texts: list[str],
    views: list[LineView],
    mapping: RawMapping | None,
    shapes: list[tuple[ShapeProposal, list[LineView]]],
    continuation: float,
    received: int,
    models: Models,
    warnings: list[str],
) -> Analysis:
    lines = len(texts)
    if len(texts) > COVERAGE_LINES:
        step = len(texts) / COVERAGE_LINES
        texts = [texts[int(i * step)] for i in range(COVERAGE_LINES)]
    total = len(texts)
    matched: Counter[str] = Counter()
    populated: dict[str, Counter[str]] = defaultdict(Counter)
    universal: Counter[str] = Counter()
    values: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    if mapping is not None:
        for text in texts:
            record = mapping.evaluate(text, received)
            if record.shape is None:
                continue
            matched[record.shape] += 1
            universal["timestamp"] += record.timestamp_parsed
            universal["severity"] += record.severity is not None
            universal["message"] += record.message != text
            universal["service"] += record.service is not None
            universal["host"] += record.host is not None
            for key, value in record.attributes.items():
                populated[record.shape][key] += 1
                if len(values[record.shape][key]) < 100:
                    values[record.shape][key].append(value)
            for key in ("timestamp", "severity", "message", "service", "host"):
                got = getattr(record, key) is not None
                if key == "timestamp":
                    got = record.timestamp_parsed
                populated[record.shape]["=" + key] += got
    reports: list[FormatReport] = []
    predictions = models.classify([v.text for _, members in shapes for v in members[:200]])
    cursor = 0
    for proposal, members in shapes:
        shape_name = proposal.data["name"]
        n = matched[shape_name]
        chunk = predictions[cursor : cursor + min(200, len(members))]
        cursor += len(chunk)
        agree = sum(
            p.family == proposal.family or proposal.family in _AGREES.get(p.family, set())
            for p in chunk
        ) / max(1, len(chunk))
        top = Counter(p.format for p in chunk).most_common(1)
        self_match = n / total if total else 0.0
        fields = _fields(proposal, n, populated[shape_name], values[shape_name])
        reports.append(
            FormatReport(
                shape_name,
                proposal.family,
                self_match,
                min(
                    1.0,
                    0.6 * proposal.confidence
                    + 0.2 * agree
                    + 0.2 * min(1.0, n / max(1, len(members))),
                ),
                proposal.time_format,
                fields,
                [example(v) for v in members[:3]],
                {
                    "nearest_trained_format": top[0][0] if top else None,
                    "family_agreement": round(agree, 3),
                },
            )
        )
    unmatched = (total - sum(matched.values())) / total
    coverage = {k: universal[k] / total for k in _UNIVERSAL_CHECKS}
    confidence = sum(r.confidence * r.share for r in reports)
    if len(texts) < 20:
        confidence *= 0.5
    yaml_text = dump_raw_mapping(mapping) if mapping is not None else ""
    return Analysis(
        lines,
        len(views),
        reports,
        unmatched,
        continuation,
        coverage,
        mapping,
        yaml_text,
        confidence,
        warnings,
    )


def _fields(
    proposal: ShapeProposal, matched: int, populated: Counter[str], values: dict[str, list[str]]
) -> list[dict[str, Any]]:
    data = proposal.data
    out: list[dict[str, Any]] = []

    def share(key: str) -> float:
        return populated[key] / matched if matched else 0.0

    for universal in ("timestamp", "severity", "message", "service", "host"):
        spec = data.get(universal)
        if spec is None:
            continue
        source = spec["field"] if isinstance(spec, dict) else spec
        kind = (
            "timestamp"
            if universal == "timestamp"
            else "int"
            if universal == "severity"
            else "string"
        )
        out.append(
            {
                "name": source,
                "target": universal,
                "type": kind,
                "coverage": round(share("=" + universal), 4),
                "evidence": proposal.evidence.get(universal, ""),
            }
        )
    for key, seen in values.items():
        out.append(
            {
                "name": key,
                "target": f"attributes.{key}",
                "type": value_type(seen),
                "coverage": round(share(key), 4),
                "evidence": proposal.evidence.get(key, "captured by the shape"),
            }
        )
    return out
