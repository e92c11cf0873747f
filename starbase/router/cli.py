"""`starbase router`: the command line of the router (contract §6).

Requires: argparse only at import (the CLI stays fast to start); the router's modules are
imported when it runs. Guarantees: `add_parser(subparsers)` adds the `router` command, whose
handler is `run(args)`; every option has a default shown in `--help` (and docs/router.md);
tokens and Firehose keys can come from the command line, from $STARBASE_ROUTER_TOKENS /
$STARBASE_FIREHOSE_KEYS (comma-separated, so they stay out of `ps`) or from a file with one per
line; every option is checked before the router starts — numbers finite and in range, sizes
within what the WAL can hold, folders that are folders, a host that resolves and a port free to
listen on — and a bad one is a `ConfigError` naming it (one line on stderr, exit 1); with no
token and no key the router warns on stderr that anyone can write. `run` replaces the calling
process with the router (exec), with SIGTERM and SIGINT held so that the router takes them
from its first instant (`signals`).
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import re
import socket
import sys
from pathlib import Path
from typing import Any

from starbase.config import ConfigError, data_dir

_SIZE = re.compile(r"^(\d+)\s*([kmg]i?b?|b)?$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_MAX_BODY = 1024**3  # a WAL entry's length is 32 bits; keep well below
_MAX_WORKERS = 256


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
    listen.add_argument("--port", default="4318", help="default: 4318")
    listen.add_argument("--listen", metavar="HOST:PORT", help="shorthand for --host and --port")
    listen.add_argument(
        "--workers",
        default=str(os.cpu_count() or 1),
        help="worker processes sharing the port (default: one per CPU)",
    )
    policy = command.add_argument_group("flushing and limits (per worker)")
    policy.add_argument("--flush-bytes", default="32MiB", help="commit a table at (default 32MiB)")
    policy.add_argument("--flush-age", default="5", help="or after SECONDS (default 5)")
    policy.add_argument("--max-body", default="32MiB", help="request body limit (default 32MiB)")
    policy.add_argument("--max-inflight", default="64MiB", help="bodies in flight → 429")
    policy.add_argument(
        "--max-buffer", default="1GiB", help="acknowledged, uncommitted WAL bytes → 503"
    )
    policy.add_argument("--max-wal", default="2GiB", help="WAL on disk → 503 (default 2GiB)")
    policy.add_argument(
        "--max-records",
        default="200000",
        help="records (OTLP records, lines, events) in one request → 413 (default 200000)",
    )
    policy.add_argument(
        "--max-partitions",
        default="1000",
        help="distinct days (a Parquet file each) one request may touch → rejected; a table's "
        "pending commit is made when it reaches as many (default 1000)",
    )
    policy.add_argument(
        "--max-decode-cpu",
        default="10",
        help="CPU SECONDS to decode one request → 413 (default 10)",
    )
    policy.add_argument(
        "--body-timeout",
        default="10",
        help="a body must arrive within SECONDS plus 1 s per --body-min-rate bytes → 408 "
        "(default 10)",
    )
    policy.add_argument("--body-min-rate", default="64KiB", help="default: 64KiB (per second)")
    policy.add_argument(
        "--header-timeout",
        default="10",
        help="a connection must send a request's headers within SECONDS of opening or of its "
        "previous reply, else it is closed (idle keep-alive connections too; default 10)",
    )
    policy.add_argument(
        "--max-connections",
        default="1000",
        help="open connections per worker; past it a new one is answered 503 and closed "
        "(default 1000)",
    )
    policy.add_argument(
        "--shutdown-timeout",
        default="30",
        help="on SIGTERM, keep trying to commit for SECONDS (default 30; what is left stays "
        "in the WAL for the next start)",
    )
    policy.add_argument(
        "--compact-every",
        default="600",
        help="compact and vacuum the tables every SECONDS (default 600; 0 = never)",
    )
    policy.add_argument(
        "--otlp-converter",
        choices=("auto", "compiled", "python"),
        default="auto",
        help="how OTLP is checked and turned into columns: the compiled decoder, the Python "
        "reference, or auto (compiled when it is built; default)",
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
    access.add_argument(
        "--metrics-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="a bearer token that may read /metrics only (repeatable; tokens without a "
        "tenant may read it too)",
    )
    access.add_argument(
        "--public-metrics",
        action="store_true",
        help="serve /metrics without a token even when tokens are configured",
    )
    command.add_argument(
        "--log-level", default="INFO", help=f"{', '.join(_LOG_LEVELS)} (default: INFO)"
    )
    command.set_defaults(handler=run, diagnostics="text")
    return command


def config_from_args(args: argparse.Namespace) -> Any:
    """The `RouterConfig` the options describe (ConfigError names a bad option)."""
    from starbase.router.config import RouterConfig, S3Target, parse_credential

    data = data_dir(args.data)
    location = str(data)
    s3 = None
    if args.s3:
        if not str(args.s3).startswith("s3://"):
            raise ConfigError(f"--s3 must look like s3://bucket/prefix, not {args.s3!r}")
        bucket, _, prefix = str(args.s3)[5:].partition("/")
        if not bucket:
            raise ConfigError("--s3 needs a bucket: s3://bucket/prefix")
        if args.s3_endpoint and not re.match(r"^https?://[^/\s]+", str(args.s3_endpoint)):
            raise ConfigError(f"--s3-endpoint must be an http(s):// URL, not {args.s3_endpoint!r}")
        s3 = S3Target(bucket, prefix.strip("/"), args.s3_endpoint, args.region)
        location = f"s3://{bucket}/{prefix.strip('/')}".rstrip("/")
    else:
        _folder(data, "--data" if args.data else "the data folder ($STARBASE_DATA)")
    host, port = args.host, _port(args.port, "--port")
    if args.listen:
        host, _, text = str(args.listen).rpartition(":")
        if not host or not text.isdigit():
            raise ConfigError(f"--listen must be HOST:PORT, not {args.listen!r}")
        port = _port(text, "--listen")
    host = host.strip("[]")
    _check_listen(host, port, "--listen" if args.listen else "--host/--port")
    workers = _integer(args.workers, "--workers", 1, _MAX_WORKERS)
    try:
        tokens = dict(parse_credential(t) for t in _secrets(args.token, "STARBASE_ROUTER_TOKENS"))
        if args.tokens_file is not None:
            try:
                lines = args.tokens_file.read_text().splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"--tokens-file: cannot read {args.tokens_file}: {exc}") from None
            tokens |= dict(parse_credential(t.strip()) for t in lines if t.strip())
        keys = dict(
            parse_credential(k) for k in _secrets(args.firehose_key, "STARBASE_FIREHOSE_KEYS")
        )
    except ValueError as exc:
        raise ConfigError(f"--token/--firehose-key: {exc}") from None
    if any(not t for t in args.metrics_token):
        raise ConfigError("--metrics-token must not be empty")
    wal = Path(args.wal) if args.wal else data / "_router"
    _folder(wal, "--wal")
    max_body = size(args.max_body, "--max-body")
    if max_body > _MAX_BODY:
        raise ConfigError(f"--max-body must be at most {_MAX_BODY // 1024**2}MiB")
    max_inflight = size(args.max_inflight, "--max-inflight")
    if max_inflight < max_body:
        raise ConfigError("--max-inflight must be at least --max-body")
    if args.otlp_converter == "compiled":
        from starbase.router import native

        if not native.built():
            raise ConfigError(
                "--otlp-converter compiled: the compiled OTLP decoder is not built "
                "(reinstall with a C compiler: make .venv/.installed)"
            )
    return RouterConfig(
        location=location,
        wal_dir=str(wal),
        host=host,
        port=port,
        workers=workers,
        s3=s3,
        flush_bytes=size(args.flush_bytes, "--flush-bytes"),
        flush_age_s=_seconds(args.flush_age, "--flush-age", zero=False),
        max_body_bytes=max_body,
        max_inflight_bytes=max_inflight,
        max_buffer_bytes=size(args.max_buffer, "--max-buffer"),
        max_wal_bytes=size(args.max_wal, "--max-wal"),
        max_records=_integer(args.max_records, "--max-records", 1, 2**32 - 1),
        max_partitions=_integer(args.max_partitions, "--max-partitions", 1, 10**6),
        max_decode_cpu_s=_seconds(args.max_decode_cpu, "--max-decode-cpu", zero=False),
        body_timeout_s=_seconds(args.body_timeout, "--body-timeout", zero=False),
        body_min_rate=size(args.body_min_rate, "--body-min-rate"),
        header_timeout_s=_seconds(args.header_timeout, "--header-timeout", zero=False),
        max_connections=_integer(args.max_connections, "--max-connections", 1, 10**6),
        compact_every_s=_seconds(args.compact_every, "--compact-every", zero=True),
        otlp_converter=str(args.otlp_converter),
        shutdown_timeout_s=_seconds(args.shutdown_timeout, "--shutdown-timeout", zero=True),
        log_level=_log_level(args.log_level),
        tokens=tokens,
        firehose_keys=keys,
        metrics_tokens=list(args.metrics_token),
        public_metrics=bool(args.public_metrics),
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
    from starbase.router import signals

    signals.hold()  # also done at the CLI's start (starbase.cli); the supervisor takes them
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


def _seconds(text: str, option: str, *, zero: bool) -> float:
    """A finite number of seconds, positive (or zero when `zero`)."""
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{option}: not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        kind = "zero or positive" if zero else "positive"
        raise ConfigError(f"{option} must be a finite, {kind} number of seconds, not {text!r}")
    return value


def _integer(text: str, option: str, low: int, high: int) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise ConfigError(f"{option}: not a whole number: {text!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{option} must be between {low} and {high}, not {value}")
    return value


def _log_level(text: str) -> str:
    level = str(text).strip().upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(f"--log-level must be one of {', '.join(_LOG_LEVELS)}, not {text!r}")
    return level


def _port(text: str, option: str) -> int:
    return _integer(text, option, 1, 65535)


def _folder(path: Path, option: str) -> None:
    """The folder exists (created if need be) and is a folder we can write in."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option}: {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option}: cannot create {path}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{option}: cannot write in {path}")


def _check_listen(host: str, port: int, option: str) -> None:
    """The host resolves and the port can be listened on (it is not in use)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"{option}: cannot resolve host {host!r}: {exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"{option}: port {port} on {host} is in use") from None
            raise ConfigError(
                f"{option}: cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None


def _secrets(given: list[str], variable: str) -> list[str]:
    from_env = [s.strip() for s in os.environ.get(variable, "").split(",") if s.strip()]
    return [*given, *from_env]
