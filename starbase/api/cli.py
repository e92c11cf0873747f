"""`starbase serve`: the HTTP API and the web UI (contract §8).

Requires: argparse only at import (the CLI stays fast to start); aiohttp and the server's
modules are imported when it runs. Guarantees: `add_parser(subparsers)` adds the `serve`
command; tokens (`TOKEN[=TENANT]`, the router's form) come from `--token`, from
$STARBASE_SERVE_TOKENS (comma-separated, so they stay out of `ps`) or from `--tokens-file`
(one a line; blank lines and `#` comments skipped); with no token the server listens on
127.0.0.1 only, whatever `--host` says, and says so on stderr; once it listens it prints
`starbase serve: listening on http://HOST:PORT/` on stdout; SIGINT/SIGTERM stop it (running
queries and tails are cancelled). A bad option is a `ConfigError` naming it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from starbase.config import ConfigError, data_dir, default_config, load_config

TOKENS_ENV = "STARBASE_SERVE_TOKENS"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="serve the HTTP API and the web UI",
        description="Serve the web UI at / and the HTTP API under /api/v1 (OpenAPI document "
        "at /openapi.json; docs/api.md).",
    )
    command.add_argument("--data", help="the data folder (default: $STARBASE_DATA or per-user)")
    command.add_argument("--config", type=Path, help="a starbase.toml (default: embedded)")
    command.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    command.add_argument("--port", type=int, default=8080, help="default: 8080")
    command.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN[=TENANT]",
        help="accepted bearer token, optionally bound to a tenant (repeatable)",
    )
    command.add_argument("--tokens-file", type=Path, help="one TOKEN[=TENANT] per line")
    command.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser pages of ORIGIN (e.g. https://grafana.example) to call the API "
        "(repeatable; default: none)",
    )
    command.add_argument(
        "--router", metavar="URL", help="the router whose health and metrics the admin page shows"
    )
    command.add_argument(
        "--state", type=Path, help="where saved queries are kept (default: DATA/_serve)"
    )
    limits = command.add_argument_group("limits")
    limits.add_argument("--max-concurrent", type=int, default=4, help="queries per token (4)")
    limits.add_argument(
        "--max-seconds", type=float, default=300.0, help="run time of a query (300)"
    )
    limits.add_argument(
        "--max-rows", type=int, default=100_000, help="rows of a JSON answer or a job (100000)"
    )
    limits.add_argument(
        "--max-query-bytes", type=int, default=64 * 1024, help="query text size (65536)"
    )
    limits.add_argument(
        "--engines", type=int, default=4, help="queries running at once, server-wide (4)"
    )
    rules = command.add_argument_group("alerting and recording rules (docs/alerting.md)")
    rules.add_argument(
        "--rules", action="append", default=[], type=Path, metavar="FILE", help="a rule file"
    )
    rules.add_argument(
        "--alertmanager", action="append", default=[], metavar="URL", help="an Alertmanager"
    )
    rules.add_argument("--external-url", help="the URL alerts link to (default: this server)")
    command.add_argument("--log-level", default="INFO", help="default: INFO")
    command.set_defaults(handler=run, diagnostics="text")
    return command


def settings_from_args(args: argparse.Namespace) -> Any:
    from starbase.api.settings import Limits, ServeSettings
    from starbase.router.config import parse_credential

    config = load_config(args.config) if args.config is not None else default_config(args.data)
    given = list(args.token)
    given += [t.strip() for t in os.environ.get(TOKENS_ENV, "").split(",") if t.strip()]
    if args.tokens_file is not None:
        try:
            lines = args.tokens_file.read_text().splitlines()
        except OSError as exc:
            raise ConfigError(f"--tokens-file {args.tokens_file}: {exc.strerror}") from None
        given += [t.strip() for t in lines if t.strip() and not t.strip().startswith("#")]
    try:
        tokens = dict(parse_credential(t) for t in given)
    except ValueError as exc:
        raise ConfigError(f"--token: {exc}") from None
    for name, value in (
        ("--max-concurrent", args.max_concurrent),
        ("--max-rows", args.max_rows),
        ("--max-query-bytes", args.max_query_bytes),
        ("--engines", args.engines),
    ):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1")
    if args.max_seconds <= 0:
        raise ConfigError("--max-seconds must be positive")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0-65535, not {args.port}")
    from starbase.rules.cli import check_urls

    check_urls(args.alertmanager, args.external_url)
    limits = Limits(
        max_concurrent=args.max_concurrent,
        max_seconds=args.max_seconds,
        max_rows=args.max_rows,
        max_query_bytes=args.max_query_bytes,
    )
    return ServeSettings(
        config=config,
        state_dir=args.state or data_dir(args.data) / "_serve",
        host=args.host,
        port=args.port,
        tokens=tokens,
        cors_origins=tuple(args.cors_origin),
        router_url=args.router,
        engines=args.engines,
        limits=limits,
        rule_files=tuple(args.rules),
        alertmanagers=tuple(args.alertmanager),
        external_url=args.external_url,
        data_dir=data_dir(args.data),
    )


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    from aiohttp import web

    from starbase.api.app import RUNNER_OPTIONS, build_app

    logging.basicConfig(
        level=str(args.log_level).upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.open:
        note = "no token configured: listening on 127.0.0.1 only"
        if args.host not in ("127.0.0.1", "localhost"):
            note += f" (not {args.host})"
        print(
            f"starbase serve: {note}; give --token or --tokens-file to serve other machines",
            file=sys.stderr,
        )
    url = f"http://{settings.listen_host}:{settings.port}/"

    def announce(*_: object, **__: object) -> None:
        print(f"starbase serve: listening on {url}", flush=True)

    from starbase.rules.loader import RuleFileError

    try:
        app = build_app(settings)
    except RuleFileError as exc:
        for problem in exc.problems:
            print(problem.render(), file=sys.stderr)
        return 2
    web.run_app(
        app,
        host=settings.listen_host,
        port=settings.port,
        print=announce,
        shutdown_timeout=5.0,
        **RUNNER_OPTIONS,  # type: ignore[arg-type]
    )
    return 0
