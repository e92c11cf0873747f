"""`starbase router`: the command line of the router (contract §6).

Requires: argparse only at import (the CLI stays fast to start); the router's modules are
imported when it runs. Guarantees: `add_parser(subparsers)` adds the `router` command, whose
handler is `run(args)`; every option has a default shown in `--help` (and docs/router.md);
tokens and Firehose keys can come from the command line, from $STARBASE_ROUTER_TOKENS /
$STARBASE_FIREHOSE_KEYS (comma-separated, so they stay out of `ps`) or from a file with one per
line; a bad option is a `ConfigError` naming it; with no token and no key the router warns on
stderr that anyone can write. `run` replaces the calling process with the router (exec).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

from starbase.config import ConfigError, data_dir

_SIZE = re.compile(r"^(\d+)\s*([kmg]i?b?|b)?$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = subparsers.add_parser(
        "router",
        help="receive logs over HTTP (OTLP, Firehose, raw lines) into the tables",
        description="Serve POST /v1/logs (OTLP/HTTP), /firehose (Kinesis Data Firehose) and "
        "/v1/raw?source=NAME; acknowledge once durable in the write-ahead log; commit to the "
        "tables under --data (or --s3).",
    )
    where = command.add_argument_group("where")
    where.add_argument("--data", help="the data folder (default: $STARBASE_DATA or per-user)")
    where.add_argument("--s3", metavar="s3://BUCKET/PREFIX", help="write the tables to S3")
    where.add_argument("--s3-endpoint", help="an S3-compatible endpoint URL")
    where.add_argument("--region", default="us-east-1", help="S3 region (default: us-east-1)")
    where.add_argument("--wal", help="write-ahead log folder (default: DATA/_router)")
    listen = command.add_argument_group("listening")
    listen.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    listen.add_argument("--port", type=int, default=4318, help="default: 4318")
    listen.add_argument("--listen", metavar="HOST:PORT", help="shorthand for --host and --port")
    listen.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes sharing the port (default: one per CPU)",
    )
    policy = command.add_argument_group("flushing and limits (per worker)")
    policy.add_argument("--flush-bytes", default="32MiB", help="commit a table at (default 32MiB)")
    policy.add_argument("--flush-age", type=float, default=5.0, help="or after SECONDS (default 5)")
    policy.add_argument("--max-body", default="32MiB", help="request body limit (default 32MiB)")
    policy.add_argument("--max-inflight", default="64MiB", help="bodies in flight → 429")
    policy.add_argument(
        "--max-buffer", default="1GiB", help="acknowledged, uncommitted WAL bytes → 503"
    )
    policy.add_argument("--max-wal", default="2GiB", help="WAL on disk → 503 (default 2GiB)")
    policy.add_argument(
        "--shutdown-timeout",
        type=float,
        default=30.0,
        help="on SIGTERM, keep trying to commit for SECONDS (default 30; what is left stays "
        "in the WAL for the next start)",
    )
    policy.add_argument(
        "--compact-every",
        type=float,
        default=600.0,
        help="compact and vacuum the tables every SECONDS (default 600; 0 = never)",
    )
    access = command.add_argument_group("access")
    access.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN[=TENANT]",
        help="accepted bearer token, optionally bound to a tenant (repeatable)",
    )
    access.add_argument("--tokens-file", type=Path, help="one TOKEN[=TENANT] per line")
    access.add_argument(
        "--firehose-key",
        action="append",
        default=[],
        metavar="KEY[=TENANT]",
        help="accepted X-Amz-Firehose-Access-Key (repeatable; tokens are accepted too)",
    )
    command.add_argument("--log-level", default="INFO", help="default: INFO")
    command.set_defaults(handler=run, diagnostics="text")
    return command


def config_from_args(args: argparse.Namespace) -> Any:
    """The `RouterConfig` the options describe (ConfigError names a bad option)."""
    from starbase.router.config import RouterConfig, S3Target, parse_credential

    location = str(data_dir(args.data))
    s3 = None
    if args.s3:
        if not str(args.s3).startswith("s3://"):
            raise ConfigError(f"--s3 must look like s3://bucket/prefix, not {args.s3!r}")
        bucket, _, prefix = str(args.s3)[5:].partition("/")
        if not bucket:
            raise ConfigError("--s3 needs a bucket: s3://bucket/prefix")
        s3 = S3Target(bucket, prefix.strip("/"), args.s3_endpoint, args.region)
        location = f"s3://{bucket}/{prefix.strip('/')}".rstrip("/")
    host, port = args.host, args.port
    if args.listen:
        host, _, text = str(args.listen).rpartition(":")
        if not host or not text.isdigit():
            raise ConfigError(f"--listen must be HOST:PORT, not {args.listen!r}")
        port = int(text)
    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    if args.flush_age <= 0:
        raise ConfigError("--flush-age must be positive")
    try:
        tokens = dict(parse_credential(t) for t in _secrets(args.token, "STARBASE_ROUTER_TOKENS"))
        if args.tokens_file is not None:
            lines = args.tokens_file.read_text().splitlines()
            tokens |= dict(parse_credential(t.strip()) for t in lines if t.strip())
        keys = dict(
            parse_credential(k) for k in _secrets(args.firehose_key, "STARBASE_FIREHOSE_KEYS")
        )
    except ValueError as exc:
        raise ConfigError(f"--token/--firehose-key: {exc}") from None
    wal = args.wal or str(data_dir(args.data) / "_router")
    return RouterConfig(
        location=location,
        wal_dir=wal,
        host=host,
        port=port,
        workers=args.workers,
        s3=s3,
        flush_bytes=size(args.flush_bytes, "--flush-bytes"),
        flush_age_s=args.flush_age,
        max_body_bytes=size(args.max_body, "--max-body"),
        max_inflight_bytes=size(args.max_inflight, "--max-inflight"),
        max_buffer_bytes=size(args.max_buffer, "--max-buffer"),
        max_wal_bytes=size(args.max_wal, "--max-wal"),
        compact_every_s=args.compact_every,
        shutdown_timeout_s=args.shutdown_timeout,
        log_level=str(args.log_level).upper(),
        tokens=tokens,
        firehose_keys=keys,
    )


def run(args: argparse.Namespace) -> int:
    """Check the options, then exec the router process (`starbase.router.supervisor`).

    The exec keeps this process id (signals reach the router) and sheds the CLI's imports.
    """
    from starbase.router.config import CONFIG_ENV

    config = config_from_args(args)
    if config.open:
        print(
            "starbase router: warning: no --token or --firehose-key configured; "
            "anyone who can reach the port can write",
            file=sys.stderr,
        )
    sys.stdout.flush()
    sys.stderr.flush()
    command = [sys.executable, "-m", "starbase.router.supervisor"]
    os.execve(sys.executable, command, {**os.environ, CONFIG_ENV: config.to_json()})
    return 1  # not reached


def size(text: str, option: str) -> int:
    """`64MiB`, `512k`, `1G`, `1048576` → bytes."""
    match = _SIZE.match(str(text).strip())
    if not match:
        raise ConfigError(f"{option}: not a size: {text!r} (e.g. 32MiB)")
    unit = (match.group(2) or "").lower()[:1]
    value = int(match.group(1)) * _UNITS[unit]
    if value <= 0:
        raise ConfigError(f"{option} must be positive")
    return value


def _secrets(given: list[str], variable: str) -> list[str]:
    from_env = [s.strip() for s in os.environ.get(variable, "").split(",") if s.strip()]
    return [*given, *from_env]
