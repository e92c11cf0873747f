"""The `starbase` command line.

Requires: the compiler (and, per command, the parts it drives). Guarantees: every command that
takes a query takes it as an argument or from `-f FILE.starql`; compile errors print the
rendered diagnostic (line:col, the source line, a caret, hints) on stderr and exit 2; other
failures print one line with the cause and exit 1 (a traceback only with `--debug`); Ctrl-C
prints one line and exits 130 at once, even in the middle of a query. Only the command being
run is built and imported (`COMMANDS`: `starbase --help` lists the others from their one-line
help), so the command line starts without loading engines it does not use. Backend names come
from the registry (`starbase.backends`): `--target` and `--engine` list what is registered.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import starbase.router.early  # noqa: F401  (first of ours: holds SIGTERM for `starbase router`)
from starbase import backends
from starbase.config import Config, ConfigError, default_config, load_config
from starbase.runtime.errors import QueryFailed

if TYPE_CHECKING:
    from starbase.runtime.cursor import Cursor
    from starbase.runtime.session import Session

EXIT_OK, EXIT_FAILURE, EXIT_COMPILE_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
STOP_GRACE = 3.0  # seconds Ctrl-C waits for native queries (Logs Insights) to be stopped
ALL = "*"  # `_parser(ALL)` defines every command fully


@dataclass(frozen=True)
class Command:
    """Commands that one builder adds: `module.function(subparsers)` defines them fully."""

    helps: tuple[tuple[str, str], ...]  # (name, one-line help) as `--help` lists them
    module: str
    function: str


COMMANDS: tuple[Command, ...] = (
    Command((("query", "run a query and print the result"),), __name__, "_add_query"),
    Command((("compile", "print what a backend would run"),), __name__, "_add_compile"),
    Command(
        (("explain", "print every compiler stage's output and the backend's plans"),),
        __name__,
        "_add_explain",
    ),
    Command((("repl", "query interactively (a terminal UI)"),), __name__, "_add_repl"),
    Command(
        (
            ("compact", "merge small files into large ones"),
            ("migrate", "rewrite files of the legacy hour x service layout into the day layout"),
            ("retention", "expire data older than a duration"),
            ("tables", "show stored tables from their index"),
        ),
        "starbase.storage.cli",
        "add_parsers",
    ),
    Command(
        (
            (
                "emit",
                "send realistic logs of a simulated shop (OTLP, CloudWatch, Firehose or raw lines)",
            ),
        ),
        "starbase.emitter.cli",
        "add_parser",
    ),
    Command(
        (("router", "receive logs over HTTP (OTLP, Firehose, raw lines) into the tables"),),
        "starbase.router.cli",
        "add_parser",
    ),
    Command((("serve", "serve the HTTP API and the web UI"),), "starbase.api.cli", "add_parser"),
    Command(
        (("dev", "a local AWS stand-in (moto) and router"),),
        "starbase.devenv",
        "add_parser",
    ),
    Command(
        (
            ("analyze", "detect the format of raw lines and propose a raw mapping"),
            ("learn", "train the analyzer's models, give feedback"),
        ),
        "starbase.analyzer.cli",
        "add_parsers",
    ),
    Command(
        (("rules", "alerting and recording rules over StarQL (check, run)"),),
        "starbase.rules.cli",
        "add_parsers",
    ),
)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(_command_of(args_list))
    args = parser.parse_args(args_list)
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_FAILURE
    from starbase.backends.base import UnsupportedError
    from starbase.compiler.errors import CompileError

    try:
        return int(args.handler(args))
    except UnsupportedError as exc:  # the query compiles, but not for the backend asked for
        if args.debug:
            raise
        print(f"starbase: {exc}", file=sys.stderr)
        return EXIT_COMPILE_ERROR
    except CompileError as exc:
        if getattr(args, "diagnostics", "text") == "json":
            print(json.dumps([d.to_dict() for d in exc.diagnostics], indent=2), file=sys.stderr)
        else:
            print(exc.render(), file=sys.stderr)
        return EXIT_COMPILE_ERROR
    except (ConfigError, OSError, QueryFailed) as exc:
        if args.debug:
            raise
        print(f"starbase: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:  # running native queries were stopped on the way out
        if args.debug:
            raise
        print("starbase: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: still one line, the traceback with --debug
        if args.debug:
            raise
        print(
            f"starbase: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


def run() -> None:
    """The console script (and `python -m starbase`): `main`; after Ctrl-C, leave at once —
    an engine may still be busy in native code, and waiting for it is not what was asked."""
    code = main()
    if code == EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _command_of(argv: list[str]) -> str | None:
    """The command word of `argv` (the first argument that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _parser(command: str | None = ALL) -> argparse.ArgumentParser:
    """The parser with `command` fully defined and the other commands as one-line stubs
    (`ALL`: every command fully defined; None: none)."""
    parser = argparse.ArgumentParser(
        prog="starbase", description="Query logs where they live, in one language: StarQL."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(metavar="COMMAND")
    for entry in COMMANDS:
        names = [name for name, _ in entry.helps]
        if command == ALL or command in names:
            builder: Callable[[Any], object] = getattr(
                __import__(entry.module, fromlist=[entry.function]), entry.function
            )
            builder(commands)
        else:
            for name, text in entry.helps:
                commands.add_parser(name, help=text, add_help=False)
    return parser


# ---------------------------------------------------------------- query, compile, explain, repl


def _add_query(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from starbase.runtime.output import FORMATS

    query_cmd = commands.add_parser("query", help="run a query and print the result")
    _query_arguments(query_cmd)
    query_cmd.add_argument(
        "--output", "-o", choices=FORMATS, default="table", help="default: table"
    )
    _engine_argument(query_cmd)
    query_cmd.set_defaults(handler=_query)


def _add_compile(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from starbase.compiler.driver import LAST_STAGE, STAGE_NAMES

    compile_cmd = commands.add_parser("compile", help="print what a backend would run")
    _query_arguments(compile_cmd)
    targets = ("ir", *backends.names())
    compile_cmd.add_argument("--target", choices=targets, default="ir", help="default: ir")
    compile_cmd.add_argument(
        "--stage", choices=STAGE_NAMES, default=LAST_STAGE, help="stop after this stage (ir only)"
    )
    compile_cmd.set_defaults(handler=_compile)


def _add_explain(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    explain_cmd = commands.add_parser(
        "explain", help="print every compiler stage's output and the backend's plans"
    )
    _query_arguments(explain_cmd)
    explain_cmd.add_argument(
        "--analyze", action="store_true", help="run the query and show the engine's metrics"
    )
    _engine_argument(explain_cmd)
    explain_cmd.set_defaults(handler=_explain)


def _add_repl(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    repl_cmd = commands.add_parser("repl", help="query interactively (a terminal UI)")
    repl_cmd.add_argument("--config", type=Path, help="a starbase.toml (default: embedded)")
    repl_cmd.add_argument("--data", help="the data folder (default: $STARBASE_DATA)")
    _engine_argument(repl_cmd)
    repl_cmd.set_defaults(handler=_repl, diagnostics="text")


def _query_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("query", nargs="?", help="a StarQL query (or use -f)")
    command.add_argument("-f", "--file", type=Path, help="read the query from a .starql file")
    command.add_argument("--config", type=Path, help="a starbase.toml (default: embedded)")
    command.add_argument("--data", help="the data folder (default: $STARBASE_DATA)")
    command.add_argument(
        "--diagnostics", choices=("text", "json"), default="text", help="how errors are printed"
    )
    command.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="bind $NAME (numbers and true/false are typed; everything else is text)",
    )


def _engine_argument(command: argparse.ArgumentParser) -> None:
    """`--engine` and, for each registered engine, its options (`--ENGINE-OPTION`)."""
    command.add_argument(
        "--engine",
        choices=backends.engines(),
        default=backends.DEFAULT_ENGINE,
        help=f"the engine that runs stored sources (default: {backends.DEFAULT_ENGINE})",
    )
    for name in backends.engines():
        for option in backends.engine(name).options:
            command.add_argument(
                f"--{name}-{option.name}",
                dest=f"engine_option_{name}_{option.name}",
                default=option.default,
                help=f"{option.help} (--engine {name})",
            )


def _session(args: argparse.Namespace, workers: int = 0) -> Session:
    """The session of this command: its sources and the engine it chose, with its options."""
    from starbase.runtime.session import Session

    prefix = f"engine_option_{args.engine}_"
    options = {
        key.removeprefix(prefix): str(value)
        for key, value in vars(args).items()
        if key.startswith(prefix) and value is not None
    }
    return Session(_config(args), workers=workers, engine=args.engine, engine_options=options)


def _query_text(args: argparse.Namespace) -> str:
    if args.file is not None:
        if args.query is not None:
            raise ConfigError("give a query or -f FILE, not both")
        return _decoded(args.file.read_bytes(), str(args.file))
    if args.query is None:
        raise ConfigError("no query: give one as an argument or with -f FILE.starql")
    return str(args.query)


def _decoded(raw: bytes, origin: str) -> str:
    """A query file's text; bytes that are not UTF-8 are a compile error at their place."""
    from starbase.compiler.errors import Code, CompileError, Diagnostic, Span

    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = raw.decode("utf-8", errors="replace")
        start = len(raw[: exc.start].decode("utf-8"))
        problem = Diagnostic(
            Code.INVALID_ENCODING,
            f"the query file is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
            Span.at(text, start, start + 1),
            ("save the file as UTF-8",),
        )
        raise CompileError((problem,), text, origin) from None


def _config(args: argparse.Namespace) -> Config:
    if args.config is not None:
        return load_config(args.config)
    return default_config(args.data)


def _params(args: argparse.Namespace, expected: dict[str, str]) -> dict[str, object]:
    """`--param NAME=VALUE` values, read as the type the query expects for each."""
    from starbase.compiler.passes.bind import value_from_text

    params: dict[str, object] = {}
    for item in args.param:
        name, sep, raw = str(item).partition("=")
        name = name.lstrip("$")
        if not sep or not name:
            raise ConfigError(f"--param needs NAME=VALUE, got {item!r}")
        params[name] = value_from_text(raw, expected.get(name, "null"))
    return params


def _query(args: argparse.Namespace) -> int:
    from starbase.runtime.output import render

    session = _session(args)  # one run: in this process
    compiled = session.compile(_query_text(args))
    for warning in compiled.warnings:
        print(f"warning[{warning.code.value}]: {warning.message}", file=sys.stderr)
    cursor = session.execute(compiled, _params(args, compiled.parameters))
    table = _interruptible(cursor)
    sys.stdout.write(render(table, args.output))
    return EXIT_OK


def _interruptible(cursor: Cursor) -> Any:
    """The cursor's result; on Ctrl-C, cancel it and re-raise at once — after the native
    queries being fetched, if any, were stopped (an engine in this process is left to the
    process's exit)."""
    try:
        return cursor.fetch_all()
    except KeyboardInterrupt:
        fetching = cursor.fetching
        cursor.cancel()
        if fetching:
            cursor.wait_stopped(STOP_GRACE)
        raise


def _compile(args: argparse.Namespace) -> int:
    from starbase.compiler.driver import Context, compile, render_stage, run_pipeline

    text = _query_text(args)
    config = _config(args)
    if args.target != "ir":
        print(compile(text, config).sql(args.target))
        return EXIT_OK
    result = run_pipeline(text, Context(config), until=args.stage)
    print(render_stage(args.stage, result))
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    session = _session(args)
    compiled = session.compile(_query_text(args))
    params = _params(args, compiled.parameters)
    print(session.explain(compiled, params, analyze=bool(args.analyze)).render_text())
    return EXIT_OK


def _repl(args: argparse.Namespace) -> int:
    try:
        from starbase.repl.app import WORKERS, StarbaseRepl
        from starbase.repl.runner import SessionBackend
    except ImportError as exc:  # textual is needed only here
        raise ConfigError(f"the REPL needs the 'textual' package ({exc})") from None
    session = _session(args, workers=WORKERS)
    StarbaseRepl(session.config, backend=SessionBackend(session)).run()
    return EXIT_OK


if __name__ == "__main__":
    run()
