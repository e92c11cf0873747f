"""The `starbase` command line: compile and explain, query files, exit codes, diagnostics."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from heavy_data import HEAVY_QUERY, cpu_seconds

from starbase import backends
from starbase.cli import ALL, COMMANDS, _parser, main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_compile_prints_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "compile", 'from otel | where severity >= "warn" | limit 3')
    assert code == 0
    assert out.splitlines()[0] == "Limit: 3"
    assert "filter=(severity_number > 0) and (severity_number >= 13)" in out


def test_compile_can_stop_after_a_stage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "compile", "--stage", "resolve", "from otel | since 1h")
    assert code == 0
    assert out == "Sort: timestamp desc\n  Filter: since(1h)\n    Sources: otel (otel)\n"


def test_explain_shows_every_stage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "from otel | stats count() by service")
    assert code == 0
    headers = [line for line in out.splitlines() if line.startswith("== ")]
    assert headers == [
        "== Where it runs ==",
        "== parse ==",
        "== resolve ==",
        "== normalize ==",
        "== map fields ==",
        "== pushdown ==",
        "== prune ==",
        "== federate ==",
        "== DataFusion SQL ==",
        "== DataFusion plan ==",
    ]


def test_query_from_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    query = tmp_path / "errors.starql"
    query.write_text('# errors by service\nfrom otel\n| where severity >= "error"\n')
    code, out, _ = run(capsys, "compile", "-f", str(query))
    assert code == 0 and "severity_number >= 17" in out


def test_compile_error_exits_2_with_caret(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "compile", 'from otel | where servce == "x"')
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "<query>:1:19: error[E302]: unknown field 'servce'",
        '1 | from otel | where servce == "x"',
        "                      ^^^^^^",
        "  hint: did you mean 'service' or 'source'?",
        "  hint: record attributes are under attributes.KEY, resource attributes under "
        "resource.KEY",
    ]


def test_diagnostics_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "compile", "--diagnostics", "json", "from otel | where")
    assert code == 2
    [diagnostic] = json.loads(err)
    assert diagnostic["code"] == "E102"
    assert diagnostic["span"]["line"] == 1


def test_missing_query_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "compile")
    assert code == 1
    assert err == "starbase: no query: give one as an argument or with -f FILE.starql\n"


def test_config_file_sources(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "starbase.toml"
    config.write_text(
        '[sources.otel]\nformat = "otel"\nlocation = "/tmp/x"\n\n'
        '[sources.lambda]\nformat = "cloudwatch"\nlog_groups = ["/aws/lambda/checkout"]\n'
        'region = "us-east-1"\n'
    )
    code, out, _ = run(capsys, "compile", "--config", str(config), "from * | limit 1")
    assert code == 0
    assert "Scan: otel" in out and "Scan: lambda" in out


def test_console_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "starbase.cli", "compile", "from otel | limit 1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Limit: 1")


def test_help_lists_every_command_as_its_own_module_describes_it() -> None:
    """`starbase --help` imports no command module: its one-line help per command must be
    what the module says when the command is built for real."""
    listed = {name: text for command in COMMANDS for name, text in command.helps}
    stubs = _subcommands(_parser(None))
    assert {name: action.help for name, action in stubs.items()} == listed
    for name in listed:
        built = _subcommands(_parser(name))
        assert built[name].help == listed[name], name
    # and every command a module builds is listed (else `starbase NAME` is refused)
    assert set(_subcommands(_parser(ALL))) == set(listed)


def test_targets_and_engines_come_from_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["compile", "--help"])
    out = capsys.readouterr().out
    assert "{" + ",".join(("ir", *backends.names())) + "}" in out
    with pytest.raises(SystemExit):
        main(["query", "--help"])
    assert "{" + ",".join(backends.engines()) + "}" in capsys.readouterr().out


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    group = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {action.dest: action for action in group._choices_actions}


def test_ctrl_c_ends_a_running_query_at_once(heavy_data: Path) -> None:
    """SIGINT in the middle of an aggregation: one line, exit 130, without waiting for it."""
    command = [sys.executable, "-m", "starbase", "query", "--data", str(heavy_data), HEAVY_QUERY]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while (cpu_seconds(process.pid) or 0.0) < 2.0:  # imports, then a second of aggregating
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    out, err = process.communicate(timeout=30)
    assert time.monotonic() - interrupted < 1.0  # the aggregation needed seconds more
    assert process.returncode == 130 and out == "" and err == "starbase: interrupted\n"


@pytest.mark.parametrize(
    ("target", "query", "refusal"),
    [
        ("spark", "from otel | parse message /(?:x(?<r>a*)|b)/", "spark cannot run a capture"),
        ("trino", "from otel | stats pct(severity, 90)", "trino cannot run pct()"),
    ],
)
def test_compile_for_a_target_that_refuses_is_one_line(
    capsys: pytest.CaptureFixture[str], target: str, query: str, refusal: str
) -> None:
    """What a backend cannot run is a compile error of one line (exit 2), not an internal error."""
    code, out, err = run(capsys, "compile", "--target", target, query)
    assert code == 2 and not out
    assert err.startswith(f"starbase: {refusal}") and len(err.strip().splitlines()) == 1
