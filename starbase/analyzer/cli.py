"""`starbase analyze` and `starbase learn train|feedback|sample`.

Requires: the analyzer, imported when a command runs (scikit-learn must not slow down the
start of every other command). Guarantees (contract §7): `analyze [FILE…|-] [--source NAME]
[--data DIR] [--name NAME] [--write FILE.yaml] [--output text|json]` prints the detected
formats, their share and confidence, the timestamp format, per-field coverage and the
proposed mapping (YAML, or the whole report as JSON with per-field evidence); exit 0 when a
mapping was proposed, 1 when the input holds no readable lines or cannot be read (one line on
stderr, no traceback). `learn train` rebuilds the models (fixed seed, no network) with the
feedback stored in the data folder and writes them beside it; `learn feedback` stores a
labelled line or accepts a proposal; `learn sample` lists the lines worth labelling.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from starbase.config import data_dir

EXIT_OK, EXIT_NO_LINES = 0, 1


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    analyze = commands.add_parser(
        "analyze", help="detect the format of raw lines and propose a raw mapping"
    )
    _inputs(analyze)
    analyze.add_argument("--name", help="name of the proposed mapping (default: the source)")
    analyze.add_argument("--write", type=Path, metavar="FILE.yaml", help="write the mapping")
    analyze.add_argument("--output", "-o", choices=("text", "json"), default="text")
    analyze.set_defaults(handler=_analyze, diagnostics="text")

    learn = commands.add_parser("learn", help="train the analyzer's models, give feedback")
    steps = learn.add_subparsers(metavar="STEP")
    train_cmd = steps.add_parser("train", help="rebuild the models with the stored feedback")
    train_cmd.add_argument("--data", help="the data folder (default: $STARBASE_DATA)")
    train_cmd.add_argument("--seed", type=int, default=None, help="default: the fixed seed")
    train_cmd.add_argument("--per-format", type=int, default=None, help="lines per format")
    train_cmd.set_defaults(handler=_train, diagnostics="text")

    fb = steps.add_parser("feedback", help="label a line (or accept a proposal) for training")
    fb.add_argument("--data", help="the data folder (default: $STARBASE_DATA)")
    fb.add_argument("--format", required=True, help="the format the line belongs to")
    fb.add_argument("--line", help="the line as it was logged")
    fb.add_argument("--timestamp", help="the timestamp as written in the line")
    fb.add_argument("--level", help="the level word; WORD=LEVEL says what it means (W=warn)")
    fb.add_argument("--message", help="where the message starts (its first words)")
    fb.add_argument(
        "--accept",
        metavar="FILE",
        help="accept the proposal for the lines of FILE (- for stdin) as labelled examples",
    )
    fb.set_defaults(handler=_feedback, diagnostics="text")

    sample = steps.add_parser("sample", help="the lines worth labelling (diverse, least sure)")
    _inputs(sample)
    sample.add_argument("-n", type=int, default=20, help="how many lines (default 20)")
    sample.set_defaults(handler=_sample, diagnostics="text")


def _inputs(command: argparse.ArgumentParser) -> None:
    command.add_argument("files", nargs="*", metavar="FILE", help="files of lines (- = stdin)")
    command.add_argument("--source", help="a stored raw source (the /v1/raw?source= name)")
    command.add_argument("--data", help="the data folder (default: $STARBASE_DATA)")


def _read(args: argparse.Namespace, warnings: list[str]) -> tuple[list[str], int]:
    from starbase.analyzer.source import InputError, read_inputs, read_raw_source

    if args.source and args.files:
        raise InputError("give files or --source NAME, not both")
    if args.source:
        pairs = read_raw_source(data_dir(args.data), args.source)
        return [line for _, line in pairs], (pairs[-1][0] if pairs else 0)
    return read_inputs(args.files, warnings), 0


def _fail(message: str) -> int:
    print(f"starbase: {message}", file=sys.stderr)
    return EXIT_NO_LINES


def _models_dir(args: argparse.Namespace) -> Path | None:
    from starbase.analyzer.models import data_model_path

    folder = data_dir(args.data)
    return folder if data_model_path(folder).exists() else None


def _analyze(args: argparse.Namespace) -> int:
    from starbase.analyzer.analyze import analyze_lines
    from starbase.analyzer.models import load_models
    from starbase.analyzer.source import InputError

    warnings: list[str] = []
    try:
        lines, received = _read(args, warnings)
    except InputError as exc:
        return _fail(str(exc))
    name = args.name or args.source or (Path(args.files[0]).stem if args.files else "stdin")
    analysis = analyze_lines(lines, load_models(_models_dir(args)), name=name, received_ns=received)
    analysis.warnings[:0] = warnings
    if analysis.mapping is None:
        return _fail("no readable lines in the input")
    if args.write is not None:
        args.write.write_text(analysis.yaml, encoding="utf-8")
    stored = _stored_proposal(args)
    if args.output == "json":
        report = analysis.to_json()
        if stored is not None:
            report["stored_mapping"] = str(stored)
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(analysis.render_text())
        if stored is not None:
            print(f'\nqueries with mapping = "auto" read this source through {stored}')
    return EXIT_OK


def _stored_proposal(args: argparse.Namespace) -> Path | None:
    """The proposal `mapping = "auto"` stored for `--source` (None: none yet)."""
    if not args.source:
        return None
    from starbase.analyzer.auto import proposal_files

    stored, _meta = proposal_files(data_dir(args.data), args.source)
    return stored if stored.is_file() else None


def _train(args: argparse.Namespace) -> int:
    from starbase.analyzer.feedback import (
        FeedbackConflict,
        as_labelled,
        layout_examples,
        load_feedback,
    )
    from starbase.analyzer.models import SEED, data_model_path, save, train

    folder = data_dir(args.data)
    try:
        examples = load_feedback(folder)
    except FeedbackConflict as exc:
        return _fail(str(exc))
    started = time.perf_counter()
    options = {"per_format": args.per_format} if args.per_format else {}
    models = train(
        seed=SEED if args.seed is None else args.seed,
        examples=as_labelled(examples),
        learned=layout_examples(examples),
        **options,
    )
    path = data_model_path(folder)
    size = save(models, path)
    info = models.info
    print(
        f"trained on {info['lines']} generated lines of {info['formats']} formats and "
        f"{len(examples)} labelled line(s) in {time.perf_counter() - started:.1f} s; "
        f"{size / 1024:.0f} KiB written to {path}"
    )
    return EXIT_OK


def _feedback(args: argparse.Namespace) -> int:
    from starbase.analyzer.analyze import analyze_lines
    from starbase.analyzer.feedback import FeedbackConflict, accept, add_feedback, label
    from starbase.analyzer.models import load_models
    from starbase.analyzer.source import InputError, read_inputs

    folder = data_dir(args.data)
    try:
        if args.accept:
            lines = read_inputs([args.accept], [])
            analysis = analyze_lines(lines, load_models(_models_dir(args)), name=args.format)
            if analysis.mapping is None:
                return _fail("no readable lines to accept")
            examples = accept(lines, analysis.mapping, args.format)
        else:
            if not args.line:
                return _fail(
                    "give --line TEXT (with --timestamp/--level/--message) or --accept FILE"
                )
            word, _, meaning = (args.level or "").partition("=")
            examples = [
                label(
                    args.line,
                    format=args.format,
                    timestamp=args.timestamp,
                    level=word or None,
                    message=args.message,
                    level_value=meaning or None,
                )
            ]
        added = add_feedback(folder, examples)
    except (FeedbackConflict, InputError) as exc:
        return _fail(str(exc))
    print(f"{added} labelled line(s) stored for format {args.format!r}; run `starbase learn train`")
    return EXIT_OK


def _sample(args: argparse.Namespace) -> int:
    from starbase.analyzer.models import load_models
    from starbase.analyzer.sampling import select_for_review
    from starbase.analyzer.source import InputError

    try:
        lines, _ = _read(args, [])
    except InputError as exc:
        return _fail(str(exc))
    if not lines:
        return _fail("no readable lines in the input")
    for pick in select_for_review(lines, args.n, load_models(_models_dir(args))):
        print(f"{pick.index + 1:>7}  {pick.reason:<28} p={pick.confidence:.2f}  {pick.line[:160]}")
    return EXIT_OK
