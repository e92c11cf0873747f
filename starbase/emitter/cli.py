"""`starbase emit`: the command line of the emitter.

Requires: `run` (and, when it runs, the chosen mode's client library). Guarantees:
`add_parser(subparsers)` registers `emit` with its options, validated by argparse (a bad value
exits 2 with the usage); its handler `run_command(args)` emits, prints the progress line and
the summary on stderr, and returns 0 when every unit was delivered, 1 otherwise. SIGTERM stops
a run like Ctrl-C: what was emitted is flushed before the summary.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import threading
from types import FrameType
from typing import Any

from starbase.compiler.timestamps import parse_iso
from starbase.emitter.run import MODES, Options, run
from starbase.emitter.scenarios import SCENARIOS
from starbase.emitter.system import SERVICE_NAMES

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def duration(text: str) -> float:
    """Seconds in `90`, `90s`, `5m`, `1h30m`, `250ms`."""
    parts = list(_DURATION.finditer(text.strip()))
    if not parts or "".join(p.group(0) for p in parts) != text.strip():
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 5m, 1h30m)")
    seconds = sum(float(p.group(1)) * _SECONDS[p.group(2)] for p in parts)
    if seconds <= 0:
        raise argparse.ArgumentTypeError("a duration must be positive")
    return seconds


def rate(text: str) -> float | None:
    """Units per second; `max` or 0: as fast as possible (None)."""
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a rate: {text!r} (a number or 'max')") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a rate cannot be negative")
    return value or None


def count(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a count: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a count cannot be negative")
    return value


def start_time(text: str) -> int:
    try:
        return parse_iso(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `emit` on an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "emit",
        help="send realistic logs of a simulated shop (OTLP, CloudWatch, Firehose or raw lines)",
        description="Simulate a small shop (gateway, checkout, payments, auth, inventory) and "
        "send its logs. The same --seed and --start give the same logs, one for one.",
    )
    parser.add_argument("--mode", choices=tuple(MODES), default="otlp", help="default: otlp")
    parser.add_argument("--scenario", choices=SCENARIOS, default="steady", help="default: steady")
    parser.add_argument(
        "--target",
        choices=SERVICE_NAMES,
        help="the service the incident degrades (default payments) or the deploy rolls out "
        "(default checkout)",
    )
    parser.add_argument(
        "--rate",
        type=rate,
        default=1_000.0,
        help="records (events, lines) per second; 0 or 'max': as fast as possible (default 1000)",
    )
    parser.add_argument("--count", type=count, help="stop after this many records")
    parser.add_argument(
        "--duration",
        type=duration,
        help="stop after this much simulated time (90s, 5m, 1h); with --rate max and --count, "
        "the records are spread over it",
    )
    parser.add_argument("--seed", type=int, default=1, help="default: 1")
    parser.add_argument(
        "--start",
        type=start_time,
        help="timestamp of the first record (RFC 3339); default now, or, with --rate max and a "
        "count or duration, so that the run ends about now",
    )
    parser.add_argument(
        "--endpoint",
        help="otlp: the logs URL (default http://127.0.0.1:4318/v1/logs); firehose, raw: the "
        "router's URL (default http://127.0.0.1:4318); cloudwatch: the AWS endpoint "
        "(default AWS's own; locally moto's server)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("STARBASE_TOKEN"),
        help="bearer token (otlp, raw) or Firehose access key (default $STARBASE_TOKEN)",
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        help="cloudwatch: the AWS region (default $AWS_REGION or us-east-1)",
    )
    parser.add_argument("--profile", help="cloudwatch: the AWS profile (default: boto3's chain)")
    parser.add_argument(
        "--batch-size", type=count, default=1_000, help="otlp: records per export (default 1000)"
    )
    parser.add_argument(
        "--encoder",
        choices=("sdk", "direct"),
        default="sdk",
        help="otlp: through the OpenTelemetry SDK, as an application would (default), or "
        "encoded directly, several times faster, for load generation",
    )
    parser.add_argument(
        "--processes",
        type=count,
        default=1,
        help="emitter processes sharing the rate and count, seeds seed, seed+1, … (default 1)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    parser.set_defaults(handler=run_command, diagnostics="text")
    return parser


def options(args: argparse.Namespace) -> Options:
    """The run's options from parsed arguments."""
    return Options(
        mode=args.mode,
        scenario=args.scenario,
        target=args.target,
        rate=args.rate,
        count=args.count,
        duration_s=args.duration,
        seed=args.seed,
        start_ns=args.start,
        endpoint=args.endpoint,
        token=args.token,
        region=args.region,
        profile=args.profile,
        batch_size=max(1, args.batch_size),
        encoder=args.encoder,
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_command(args: argparse.Namespace) -> int:
    """The `emit` handler: 0 when everything emitted was delivered."""
    if not getattr(args, "debug", False):
        # the exporter's retry warnings would break the progress line; failures still count
        logging.getLogger("opentelemetry").setLevel(logging.ERROR)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        if args.processes > 1:
            from starbase.emitter.parallel import run_parallel  # multiprocessing: only then

            summary = run_parallel(options(args), args.processes)
        else:
            summary = run(options(args), progress=not args.quiet)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0 if summary.ok else 1
