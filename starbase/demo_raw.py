"""The raw-logs part of `make demo`: lines nobody declared, queryable with no mapping written.

Requires: a running router at `endpoint` writing to `data`. Guarantees: sends the emitter's raw
mode (nginx access and error lines, syslog) and a small application log (timestamp, level,
logger, message — deterministic) to `/v1/raw`, writes a `starbase.toml` naming the three
sources as `format = "raw"` with no `mapping` (so `auto`: the analyzer proposes one on the
first query and stores it beside the data), waits until every line is visible, and runs the
questions a new user asks first: requests by status, errors by template (`patterns`).
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import starbase
from starbase.config import load_config
from starbase.runtime.output import render

RAW_RECORDS = 3000
APP_LINES = 2000
SOURCES = ("nginx", "syslog", "app")

QUESTIONS = (
    (
        'nginx requests by status (no mapping written: `mapping = "auto"`)',
        "from nginx | stats count() by attributes.status | sort `count()` desc",
    ),
    (
        "the application's errors, grouped by template",
        'from app | where severity >= "error" | patterns message',
    ),
    (
        "syslog warnings and worse per program",
        'from syslog | where severity >= "warn" | stats count() by service | sort `count()` desc'
        " | limit 5",
    ),
)


def app_lines(count: int = APP_LINES) -> list[str]:
    """A Python-logging style application log with a few recurring error templates."""
    errors = (
        "payment {n} declined by provider: insufficient funds",
        "timeout after {ms}ms calling inventory for order {n}",
        "database connection reset (pool size {k})",
    )
    out = []
    start = time.time() - count
    for i in range(count):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start + i)) + f",{i % 1000:03d}"
        if i % 10 == 0:
            level, text = (
                "ERROR",
                errors[(i // 10) % 3].format(n=1000 + i, ms=3000 + i % 7, k=i % 9),
            )
        elif i % 7 == 0:
            level, text = "WARNING", f"slow response {200 + i % 50}ms for order {1000 + i}"
        else:
            level, text = "INFO", f"order {1000 + i} processed for user u{i % 37}"
        out.append(f"{stamp} {level} [shop.checkout] {text}")
    return out


def post_lines(endpoint: str, source: str, lines: list[str]) -> None:
    body = ("\n".join(lines) + "\n").encode()
    request = urllib.request.Request(
        f"{endpoint}/v1/raw?source={source}", body, {"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()


def run(endpoint: str, data: Path, step: object) -> None:
    say = step if callable(step) else print
    say(f"raw lines: the emitter's raw mode ({RAW_RECORDS:,} records as nginx and syslog lines)")
    emit = [sys.executable, "-m", "starbase", "emit", "--mode", "raw", "--scenario", "incident"]
    emit += ["--rate", "max", "--count", str(RAW_RECORDS), "--seed", "7", "--endpoint", endpoint]
    emit += ["--quiet"]
    if subprocess.run(emit, check=False).returncode != 0:
        raise SystemExit("the emitter did not deliver every raw line")
    lines = app_lines()
    say(f"and {len(lines):,} lines of an application log, POSTed to /v1/raw?source=app")
    post_lines(endpoint, "app", lines)
    config_file = data / "starbase.toml"
    config_file.write_text(
        "".join(f'[sources.{name}]\nformat = "raw"\nlocation = "{data}"\n\n' for name in SOURCES)
    )
    print(config_file.read_text().rstrip())
    config = load_config(config_file)
    count = starbase.compile("from app | stats count() as n", config)
    began = time.perf_counter()
    while int(count.run()["n"][0].as_py()) < len(lines):
        if time.perf_counter() - began > 30:
            raise SystemExit("the application log was not visible after 30 s")
        time.sleep(0.25)
    time.sleep(2.5)  # the router's flush age: the emitter's last lines
    for title, text in QUESTIONS:
        say(title)
        print(text + "\n")
        began = time.perf_counter()
        table = starbase.compile(text, config).run()
        print(render(table, "table") + f"({(time.perf_counter() - began) * 1000:.0f} ms)")
    say("the mapping the analyzer proposed for nginx (stored beside the data)")
    print((data / "raw" / "mappings" / "nginx.yaml").read_text()[:1200])
