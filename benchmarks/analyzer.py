"""Analyzer benchmarks: template mining on Loghub-2k, format detection and field extraction on
held-out generated formats, and the speed of `analyze`. One command: `make bench-analyzer`.

1. Template mining, untuned (one configuration for all 16 systems), Starbase's miner and Drain
   (faithful reimplementation, published defaults) in the same run, over each system's
   `Content` column (the message after the header, as in the Loghub benchmark), against the
   corrected labels grouped by `EventTemplate`. GA: share of lines whose predicted group is
   exactly their true group; PA: share of lines whose template equals the true one after the
   Loghub-2.0 normalisation (digits and word-glued variables to `<*>`, consecutive variables
   merged), applied to both sides; FGA: F1 over groups.
2. Held-out formats: the generated formats are split into folds; for each fold the models are
   trained without its formats, then `analyze` proposes a mapping for 300 lines of each held-out
   format and the mapping is applied: per format, the share of lines whose timestamp is the
   exact instant, whose severity is the right number (formats with levels), and whose message
   is exactly the true message.
3. Speed: `analyze` on 10,000 mixed lines (trained models loaded), repeated 3 times.
Loghub data is research-licensed: read here as a benchmark fixture only, never trained on.
"""

from __future__ import annotations

import csv
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from drain_reference import Drain

from starbase.analyzer.analyze import analyze_lines
from starbase.analyzer.corpus.formats import FORMATS, generate
from starbase.analyzer.models import base_model_path, load_models, save, train
from starbase.analyzer.templates import generic, mine

LOGHUB = Path(__file__).resolve().parents[1].parent.parent / "shared" / "data" / "loghub-2k"
SYSTEMS = [
    "Android",
    "Apache",
    "BGL",
    "HDFS",
    "HPC",
    "Hadoop",
    "HealthApp",
    "Linux",
    "Mac",
    "OpenSSH",
    "OpenStack",
    "Proxifier",
    "Spark",
    "Thunderbird",
    "Windows",
    "Zookeeper",
]
_DELIMS = r"([\s,!;:=|\"'\[\](){}.\-+@#$%&])"


def normalise(template: str) -> str:
    template = re.sub(r"\s+", " ", template.strip())
    out = []
    for token in re.split(_DELIMS, template):
        glued = "<*>" in token and re.fullmatch(r"[^\s/]*<\*>[^\s/]*", token)
        if re.fullmatch(r"\d+", token) or glued:
            token = "<*>"
        out.append(token)
    template = "".join(out)
    changed = True
    while changed:
        before = template
        for glued in ("<*>.<*>", "<*><*>", "<*>:<*>", "<*>#<*>", "<*>/<*>", "<*>@<*>"):
            template = template.replace(glued, "<*>")
        template = template.replace(" #<*> ", " <*> ")
        changed = before != template
    return template


def scores(truth: list[str], predicted: list[str]) -> tuple[float, float, float]:
    true_groups: dict[str, set[int]] = defaultdict(set)
    pred_groups: dict[str, set[int]] = defaultdict(set)
    for i, (t, p) in enumerate(zip(truth, predicted, strict=True)):
        true_groups[t].add(i)
        pred_groups[p].add(i)
    true_sets = {frozenset(s) for s in true_groups.values()}
    correct_lines = 0
    correct_groups = 0
    for members in pred_groups.values():
        if frozenset(members) in true_sets:
            correct_lines += len(members)
            correct_groups += 1
    ga = correct_lines / len(truth)
    pa = sum(normalise(t) == normalise(p) for t, p in zip(truth, predicted, strict=True)) / len(
        truth
    )
    precision = correct_groups / len(pred_groups)
    recall = correct_groups / len(true_groups)
    fga = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ga, pa, fga


def loghub() -> None:
    print("== Template mining on Loghub-2k (corrected labels), untuned: one configuration")
    print(
        f"{'system':<12} {'ours GA':>8} {'PA':>6} {'FGA':>6} | {'Drain GA':>8} {'PA':>6} "
        f"{'FGA':>6} | {'ours s':>6} {'Drain s':>7}"
    )
    totals: Counter[str] = Counter()
    for system in SYSTEMS:
        path = LOGHUB / system / f"{system}_2k.log_structured.csv"
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        contents = [r["Content"] for r in rows]
        truth = [r["EventTemplate"] for r in rows]
        started = time.perf_counter()
        mined = mine(contents)
        ours_s = time.perf_counter() - started
        ours = [generic(mined.templates[i]) for i in mined.ids]
        started = time.perf_counter()
        drain = Drain().parse(contents)
        drain_s = time.perf_counter() - started
        a = scores(truth, ours)
        b = scores(truth, drain)
        for key, value in zip(("ga", "pa", "fga", "dga", "dpa", "dfga"), a + b, strict=True):
            totals[key] += value
        print(
            f"{system:<12} {a[0]:8.3f} {a[1]:6.3f} {a[2]:6.3f} | {b[0]:8.3f} {b[1]:6.3f} "
            f"{b[2]:6.3f} | {ours_s:6.2f} {drain_s:7.2f}"
        )
    n = len(SYSTEMS)
    print(
        f"{'average':<12} {totals['ga'] / n:8.3f} {totals['pa'] / n:6.3f} "
        f"{totals['fga'] / n:6.3f} | {totals['dga'] / n:8.3f} {totals['dpa'] / n:6.3f} "
        f"{totals['dfga'] / n:6.3f}"
    )


def held_out(folds: int = 5, per_format: int = 300) -> None:
    print(f"\n== Held-out formats ({folds} folds; models trained without the fold's formats)")
    names = sorted(n for n in FORMATS if FORMATS[n].family not in ("plain", "continuation"))
    results = []
    for fold in range(folds):
        held = names[fold::folds]
        models = train(exclude=held)
        for name in held:
            lines = generate([name], per_format, seed=1000 + fold)
            received = max(line.time_ns or 0 for line in lines) + 60 * 10**9
            analysis = analyze_lines([line.text for line in lines], models, received_ns=received)
            mapping = analysis.mapping
            ts_ok = level_ok = msg_ok = 0
            levels = sum(line.severity is not None for line in lines)
            for line in lines:
                record = mapping.evaluate(line.text, received) if mapping else None
                if record is None:
                    continue
                ts_ok += record.timestamp_parsed and record.timestamp == line.time_ns
                if line.severity is not None:
                    level_ok += record.severity == line.severity
                msg_ok += record.message.strip() == line.message.strip()
            n = len(lines)
            family = analysis.formats[0].family if analysis.formats else "-"
            results.append(
                (name, family, ts_ok / n, (level_ok / levels) if levels else None, msg_ok / n)
            )
    print(f"{'format':<16} {'family':<11} {'timestamp':>9} {'level':>6} {'message':>8}")
    for name, family, ts, lv, msg in results:
        level = f"{lv:6.3f}" if lv is not None else "     -"
        print(f"{name:<16} {family:<11} {ts:9.3f} {level} {msg:8.3f}")
    ts_avg = sum(r[2] for r in results) / len(results)
    levels = [r[3] for r in results if r[3] is not None]
    lv_avg = sum(levels) / len(levels)
    msg_avg = sum(r[4] for r in results) / len(results)
    print(
        f"{'average':<16} {'':<11} {ts_avg:9.3f} {lv_avg:6.3f} {msg_avg:8.3f}   "
        f"(all three: {(ts_avg + lv_avg + msg_avg) / 3:.3f})"
    )


def speed() -> None:
    print("\n== Speed")
    started = time.perf_counter()
    models = train()
    seconds = time.perf_counter() - started
    size = save(models, base_model_path())
    print(
        f"train (all formats, {models.info['lines']} lines, {models.info['tokens']} tokens): "
        f"{seconds:.1f} s, artefact {size / 1024:.0f} KiB"
    )
    load_models.__globals__["_MEMORY"].clear()
    mixed = [line.text for line in generate(per_format=400, seed=5)][:10_000]
    for attempt in range(3):
        started = time.perf_counter()
        analysis = analyze_lines(mixed, load_models())
        elapsed = time.perf_counter() - started
        print(
            f"analyze {len(mixed)} mixed lines (run {attempt + 1}): {elapsed:.2f} s, "
            f"{len(analysis.formats)} formats, unmatched {analysis.unmatched:.1%}"
        )


if __name__ == "__main__":
    parts = sys.argv[1:] or ["loghub", "held_out", "speed"]
    for part in parts:
        {"loghub": loghub, "held_out": held_out, "speed": speed}[part]()
