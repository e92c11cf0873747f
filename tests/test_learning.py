"""Learning: reproducible training, feedback that teaches a new format, contradictions,
sample selection, ingest-time detection recorded in the raw table's commits."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from starbase.analyzer import models as models_module
from starbase.analyzer.analyze import analyze_lines
from starbase.analyzer.corpus.formats import generate
from starbase.analyzer.detect import (
    detect_format,
    format_changed,
    raw_batch_meta,
    recorded_formats,
)
from starbase.analyzer.feedback import (
    FeedbackConflict,
    add_feedback,
    as_labelled,
    label,
    layout_examples,
    load_feedback,
)
from starbase.analyzer.sampling import select_for_review
from starbase.cli import main
from starbase.storage.table import open_table

LEVELS = (("d", 5), ("i", 9), ("i", 9), ("w", 13), ("e", 17))
WORDS = {"d": "debug", "i": "info", "w": "warn", "e": "error"}


def novel_format(n: int, seed: int) -> list[tuple[str, int, int, str, str, str]]:
    """A layout no generator writes: `<<YYYYMMDD.HHMMSS.mmm>> w [svc] message`; returns
    (line, instant, severity, timestamp text, level word, message)."""
    rng = random.Random(seed)
    t = 1_790_000_000_000
    out = []
    for _ in range(n):
        t += rng.randrange(1, 90_000)
        moment = datetime.fromtimestamp(t / 1000, UTC)
        stamp = f"{moment:%Y%m%d.%H%M%S}.{t % 1000:03d}"
        word, severity = rng.choice(LEVELS)
        message = (
            f"{rng.choice(('payment', 'order', 'cart'))} {rng.randrange(10**6)} "
            + rng.choice(("declined", "accepted after retry", "timed out"))
        )
        line = f"<<{stamp}>> {word} [{rng.choice(('checkout', 'billing'))}] {message}"
        out.append((line, t * 1_000_000, severity, stamp, word, message))
    return out


def field_accuracy(models: models_module.Models, rows: list) -> float:
    lines = [r[0] for r in rows]
    analysis = analyze_lines(lines, models, received_ns=rows[-1][1] + 10**9)
    assert analysis.mapping is not None
    good = 0
    for line, instant, severity, _, _, message in rows:
        record = analysis.mapping.evaluate(line, 0)
        good += (record.timestamp == instant) + (record.severity == severity)
        good += record.message == message
    return good / (3 * len(rows))


def test_feedback_teaches_a_new_format_in_ten_lines(tmp_path: Path, analyzer_models) -> None:
    rows = novel_format(200, seed=5)
    before = field_accuracy(analyzer_models, rows)
    assert before < 0.95
    corrected = [
        label(
            line,
            format="shop",
            timestamp=stamp,
            level=word,
            message=message,
            level_value=WORDS[word],
        )
        for line, _, _, stamp, word, message in rows[:10]
    ]
    assert add_feedback(tmp_path, corrected) == 10
    examples = load_feedback(tmp_path)
    trained = models_module.train(
        per_format=40, examples=as_labelled(examples), learned=layout_examples(examples)
    )
    after = field_accuracy(trained, novel_format(200, seed=6))
    assert after >= 0.95, (before, after)
    # the classifier learned the format's name too (used by the ingest-time detection)
    assert detect_format([r[0] for r in rows[20:40]], trained).format == "shop"


def test_contradictory_feedback_is_refused(tmp_path: Path) -> None:
    line = "<<20261120.100001.123>> w [a] boom"
    good = label(line, format="shop", timestamp="20261120.100001.123", level="w", message="boom")
    add_feedback(tmp_path, [good])
    other_format = label(line, format="other", timestamp="20261120.100001.123")
    with pytest.raises(FeedbackConflict, match="labelled twice differently"):
        add_feedback(tmp_path, [other_format])
    with pytest.raises(FeedbackConflict, match="overlap"):
        add_feedback(
            tmp_path,
            [label("x 2026-11-20T10:00:00Z y", format="s", timestamp=(2, 22), message=(10, 24))],
        )
    w1 = label("<<20261120.100001.123>> w [a] one", format="shop", level="w", level_value="warn")
    w2 = label("<<20261120.100002.123>> w [a] two", format="shop", level="w", level_value="error")
    with pytest.raises(FeedbackConflict, match="labelled both 'warn' and 'error'"):
        add_feedback(tmp_path, [w1, w2])
    mixed = label("2026-11-20T10:00:00Z other", format="shop", timestamp="2026-11-20T10:00:00Z")
    with pytest.raises(FeedbackConflict, match="need different formats"):
        add_feedback(tmp_path, [mixed])
    with pytest.raises(FeedbackConflict, match="no time format reads"):
        add_feedback(tmp_path, [label("zz tuesday", format="t", timestamp="tuesday")])
    with pytest.raises(FeedbackConflict, match="does not occur"):
        label("abc", format="t", timestamp="2026")
    assert len(load_feedback(tmp_path)) == 1  # nothing of a refused batch was stored


def test_training_is_reproducible() -> None:
    a = models_module.train(per_format=5, seed=3)
    b = models_module.train(per_format=5, seed=3)
    assert np.array_equal(a.classifier.coef_.toarray(), b.classifier.coef_.toarray())
    assert np.array_equal(a.roles.coef_.toarray(), b.roles.coef_.toarray())


def test_cli_feedback_train_and_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], analyzer_models, monkeypatch
) -> None:
    monkeypatch.setattr(models_module, "PER_FORMAT", 20)
    rows = novel_format(30, seed=8)
    for line, _, _, stamp, word, message in rows[:3]:
        code = main(
            [
                "learn",
                "feedback",
                "--data",
                str(tmp_path),
                "--format",
                "shop",
                "--line",
                line,
                "--timestamp",
                stamp,
                "--level",
                f"{word}={WORDS[word]}",
                "--message",
                message,
            ]
        )
        assert code == 0
    code = main(
        [
            "learn",
            "feedback",
            "--data",
            str(tmp_path),
            "--format",
            "shop",
            "--line",
            rows[0][0],
            "--timestamp",
            rows[1][3],
        ]
    )
    assert code == 1
    assert "does not occur" in capsys.readouterr().err
    code = main(["learn", "train", "--data", str(tmp_path), "--per-format", "20"])
    out = capsys.readouterr().out
    assert code == 0 and "3 labelled line(s)" in out
    assert (tmp_path / "analyzer" / "model.pkl").exists()
    log = tmp_path / "shop.log"
    log.write_text("\n".join(r[0] for r in rows) + "\n")
    code = main(["analyze", str(log), "--data", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "learned" in out and "%Y%m%d.%H%M%S.%f" in out
    code = main(["learn", "sample", str(log), "-n", "4", "--data", str(tmp_path)])
    assert code == 0 and len(capsys.readouterr().out.strip().splitlines()) == 4


def test_sample_selection_prefers_rare_and_uncertain_lines(analyzer_models) -> None:
    rng = random.Random(2)
    common = [
        f"2026-11-20 10:00:{i % 60:02d},{i:03d} INFO  [main] c.e.Shop - "
        + rng.choice(("order {} paid", "cart {} updated", "user {} logged in")).format(i)
        for i in range(300)
    ]
    rare = ["2026-11-20 10:00:00,001 ERROR [main] c.e.X - disk /dev/sda1 failed SMART check"]
    odd = ["~~~ checkpoint marker ~~~"]
    lines = common[:150] + rare + common[150:] + odd
    picks = select_for_review(lines, 6, analyzer_models)
    chosen = {p.line for p in picks}
    assert rare[0] in chosen and odd[0] in chosen
    assert len(picks) == 6 and len({p.template for p in picks}) == 5  # every template shown


def test_ingest_detection_is_recorded_in_the_raw_commit(tmp_path: Path, analyzer_models) -> None:
    nginx = [line.text for line in generate(["nginx_combined"], 50, seed=1)]
    app = [line.text for line in generate(["logback"], 50, seed=1)]
    found = detect_format(app, analyzer_models)
    assert (found.format, found.family, found.sampled) == ("logback", "app", 8)
    assert detect_format(nginx, analyzer_models).format == "access"
    table = open_table(tmp_path, "raw")
    for lines in (nginx, app):
        batch = pa.table(
            {"received_time_unix_nano": list(range(1, 51)), "line": lines, "source": ["web"] * 50}
        )
        table.append(batch, meta=raw_batch_meta(batch, analyzer_models))
    history = recorded_formats(open_table(tmp_path, "raw"), "web")
    assert [record["format"] for _, record in history] == ["access", "logback"]
    assert format_changed(history[0][1], history[1][1])
    assert not format_changed(history[1][1], history[1][1])
