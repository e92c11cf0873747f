"""`starbase rules check FILE…` and `starbase rules run FILE…`.

Requires: argparse only at import; the evaluator's modules load when a command runs.
Guarantees:

- `check` loads the files as `run` would (their StarQL compiled against the sources) and
  prints every problem as `file:line:col: message` with the line and a caret (or, with
  `--output json`, a list of `{file, line, column, message, code, hints}`); exit 0 when
  every file is valid (a summary line on stdout), 2 otherwise;
- `run` evaluates the rules until SIGINT/SIGTERM, sends alerts to each `--alertmanager`,
  serves `/api/v1/rules`, `/api/v1/alerts`, `/metrics` and `/healthz` on `--listen`, prints
  `starbase rules: listening on http://HOST:PORT/` once it listens, and on stop saves the
  alert state (`--state`, default `DATA/_rules/state.json`) and exits 0. Rule files with
  problems stop it before it starts (exit 2, as `check`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from starbase.config import ConfigError, data_dir, default_config, load_config

EXIT_OK, EXIT_INVALID = 0, 2


def _duration(text: str) -> float:
    from starbase.rules.model import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parsers(subparsers: Any) -> None:
    rules: argparse.ArgumentParser = subparsers.add_parser(
        "rules",
        help="alerting and recording rules over StarQL (check, run)",
        description="Prometheus-style rule groups whose expr is StarQL (docs/alerting.md).",
    )
    commands = rules.add_subparsers(metavar="COMMAND")
    check = commands.add_parser("check", help="validate rule files (positions for every error)")
    _common(check)
    check.add_argument("--output", choices=("text", "json"), default="text", help="default: text")
    check.set_defaults(handler=_check, diagnostics="text")

    run = commands.add_parser("run", help="evaluate rules, send alerts, serve their API")
    _common(run)
    run.add_argument(
        "--alertmanager",
        action="append",
        default=[],
        metavar="URL",
        help="an Alertmanager base URL, e.g. http://127.0.0.1:9093 (repeatable)",
    )
    run.add_argument(
        "--listen", default="127.0.0.1:9095", help="HOST:PORT (default 127.0.0.1:9095)"
    )
    run.add_argument(
        "--external-url",
        default="http://127.0.0.1:8080",
        help="the web UI (starbase serve) that alerts link to (default http://127.0.0.1:8080)",
    )
    run.add_argument("--state", type=Path, help="alert state file (default DATA/_rules/state.json)")
    run.add_argument(
        "--recorded", type=Path, help="where recorded series are stored (default DATA/recorded)"
    )
    run.add_argument(
        "--resend-delay", type=_duration, default=60.0, help="re-send firing alerts every (1m)"
    )
    run.add_argument(
        "--query-timeout", type=_duration, help="a rule's query limit (default: its interval)"
    )
    run.add_argument(
        "--outage-tolerance",
        type=_duration,
        default=3600.0,
        help="restore saved pending/firing state only if saved within this (1h)",
    )
    run.add_argument("--workers", type=int, default=1, help="query worker processes (default 1)")
    run.add_argument("--log-level", default="INFO", help="default: INFO")
    run.set_defaults(handler=_run, diagnostics="text")


def _common(command: argparse.ArgumentParser) -> None:
    command.add_argument("files", nargs="+", type=Path, metavar="FILE", help="rule files (YAML)")
    command.add_argument("--config", type=Path, help="a starbase.toml (default: embedded)")
    command.add_argument("--data", help="the data folder (default: $STARBASE_DATA)")
    command.add_argument(
        "--evaluation-interval",
        type=_duration,
        default=60.0,
        help="interval of groups that set none (default 1m)",
    )


def check_urls(alertmanagers: list[str], external_url: str | None) -> None:
    """ConfigError (one line) when an `--alertmanager` or `--external-url` is not a URL."""
    from starbase.rules.model import http_url

    try:
        for url in alertmanagers:
            http_url(url, "--alertmanager")
        if external_url is not None:
            http_url(external_url, "--external-url")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _config(args: argparse.Namespace) -> Any:
    if args.config is not None:
        return load_config(args.config)
    return default_config(args.data)


def _load(args: argparse.Namespace) -> Any:
    from starbase.rules.loader import check

    return check(args.files, _config(args))


def _check(args: argparse.Namespace) -> int:
    ruleset, problems = _load(args)
    if args.output == "json":
        print(json.dumps([p.to_dict() for p in problems], indent=2))
    else:
        for problem in problems:
            print(problem.render(), file=sys.stderr)
    if problems:
        return EXIT_INVALID
    if args.output == "text":
        rules = sum(len(g.rules) for g in ruleset.groups)
        print(f"{len(args.files)} file(s), {len(ruleset.groups)} group(s), {rules} rule(s): OK")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    host, _, port_text = str(args.listen).rpartition(":")
    if not host or not port_text.isdigit():
        raise ConfigError(f"--listen needs HOST:PORT, got {args.listen!r}")
    if args.workers < 0:
        raise ConfigError("--workers must be 0 or more")
    check_urls(args.alertmanager, args.external_url)
    level = str(args.log_level).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(
            f"--log-level must be DEBUG, INFO, WARNING or ERROR, got {args.log_level!r}"
        )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from aiohttp import web

    from starbase.rules.api import build_evaluator, rules_app
    from starbase.rules.loader import RuleFileError

    try:
        evaluator = build_evaluator(
            args.files,
            _config(args),
            data=data_dir(args.data),
            alertmanagers=args.alertmanager,
            external_url=args.external_url,
            workers=args.workers,
            state=args.state,
            recorded=args.recorded,
            resend_s=args.resend_delay,
            query_timeout_s=args.query_timeout,
            outage_tolerance_s=args.outage_tolerance,
            default_interval_s=args.evaluation_interval,
        )
    except RuleFileError as exc:
        for problem in exc.problems:
            print(problem.render(), file=sys.stderr)
        return EXIT_INVALID

    def ready(_: Any) -> None:
        print(f"starbase rules: listening on http://{host}:{port_text}/", flush=True)

    web.run_app(
        rules_app(evaluator),
        host=host,
        port=int(port_text),
        print=ready,
        access_log=None,
        handle_signals=True,
    )
    return EXIT_OK
