"""The `starbase` command line.

Requires: the compiler (and, per command, the parts it drives). Guarantees: every command that
takes a query takes it as an argument or from `-f FILE.starql`; compile errors print the
rendered diagnostic (line:col, the source line, a caret, hints) on stderr and exit 2; other
failures print one line with the cause and exit 1 (a traceback only with `--debug`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import starbase.router.early  # noqa: F401  (first of ours: holds SIGTERM for `starbase router`)
from starbase import devenv
from starbase.analyzer import cli as analyzer_cli
from starbase.api import cli as serve_cli
from starbase.compiler.driver import STAGE_NAMES, Context, compile, render_stage, run_pipeline
from starbase.compiler.errors import Code, CompileError, Diagnostic, Span
from starbase.config import Config, ConfigError, default_config, load_config
from starbase.emitter import cli as emitter_cli
from starbase.router import cli as router_cli
from starbase.rules import cli as rules_cli
from starbase.runtime.bind import value_from_text
from starbase.runtime.engine import QueryFailed
from starbase.runtime.output import FORMATS, render
from starbase.storage import cli as storage_cli

EXIT_OK, EXIT_FAILURE, EXIT_COMPILE_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
TARGETS = ("ir", "datafusion", "cloudwatch")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_FAILURE
    try:
        return int(args.handler(args))
    except CompileError as exc:
        if args.diagnostics == "json":
            print(json.dumps([d.to_dict() for d in exc.diagnostics], indent=2), file=sys.stderr)
        else:
            print(exc.render(), file=sys.stderr)
        return EXIT_COMPILE_ERROR
    except (ConfigError, OSError, QueryFailed) as exc:
        if args.debug:
            raise
        print(f"starbase: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:  # Ctrl-C: running CloudWatch queries were stopped on the way out
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="starbase", description="Query logs where they live, in one language: StarQL."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(metavar="COMMAND")

    query_cmd = commands.add_parser("query", help="run a query and print the result")
    _query_arguments(query_cmd)
    query_cmd.add_argument(
        "--output", "-o", choices=FORMATS, default="table", help="default: table"
    )
    query_cmd.set_defaults(handler=_query)

    compile_cmd = commands.add_parser("compile", help="print what a backend would run")
    _query_arguments(compile_cmd)
    compile_cmd.add_argument("--target", choices=TARGETS, default="ir", help="default: ir")
    compile_cmd.add_argument(
        "--stage", choices=STAGE_NAMES, default="plan", help="stop after this stage (ir only)"
    )
    compile_cmd.set_defaults(handler=_compile)

    explain_cmd = commands.add_parser(
        "explain", help="print every compiler stage's output and the backend's plans"
    )
    _query_arguments(explain_cmd)
    explain_cmd.add_argument(
        "--analyze", action="store_true", help="run the query and show DataFusion's metrics"
    )
    explain_cmd.set_defaults(handler=_explain)

    repl_cmd = commands.add_parser("repl", help="query interactively (a terminal UI)")
    repl_cmd.add_argument("--config", type=Path, help="a starbase.toml (default: embedded)")
    repl_cmd.add_argument("--data", help="the data folder (default: $STARBASE_DATA)")
    repl_cmd.set_defaults(handler=_repl, diagnostics="text")
    storage_cli.add_parsers(commands)
    emitter_cli.add_parser(commands)
    router_cli.add_parser(commands)
    serve_cli.add_parser(commands)
    devenv.add_parser(commands)
    analyzer_cli.add_parsers(commands)
    rules_cli.add_parsers(commands)
    return parser


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
    params: dict[str, object] = {}
    for item in args.param:
        name, sep, raw = str(item).partition("=")
        name = name.lstrip("$")
        if not sep or not name:
            raise ConfigError(f"--param needs NAME=VALUE, got {item!r}")
        params[name] = value_from_text(raw, expected.get(name, "null"))
    return params


def _query(args: argparse.Namespace) -> int:
    compiled = compile(_query_text(args), _config(args))
    for warning in compiled.warnings:
        print(f"warning[{warning.code.value}]: {warning.message}", file=sys.stderr)
    table = compiled.run(**_params(args, compiled.parameters))
    sys.stdout.write(render(table, args.output))
    return EXIT_OK


def _compile(args: argparse.Namespace) -> int:
    text = _query_text(args)
    config = _config(args)
    if args.target in ("datafusion", "cloudwatch"):
        print(compile(text, config).sql(args.target))
        return EXIT_OK
    result = run_pipeline(text, Context(config), until=args.stage)
    print(render_stage(args.stage, result))
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    compiled = compile(_query_text(args), _config(args))
    params = _params(args, compiled.parameters)
    print(compiled.explain(analyze=bool(args.analyze), params=params))
    return EXIT_OK


def _repl(args: argparse.Namespace) -> int:
    try:
        from starbase.repl.app import StarbaseRepl
    except ImportError as exc:  # textual is needed only here
        raise ConfigError(f"the REPL needs the 'textual' package ({exc})") from None
    StarbaseRepl(_config(args)).run()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
