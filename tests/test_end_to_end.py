"""End to end on 127.0.0.1: emitter → router → tables → StarQL, `starbase dev`, `make demo`.

Every part is the real one, each in its own process where it runs so in production: the
router (`python -m starbase router`), the emitter through the OpenTelemetry SDK, moto's server
for `starbase dev`. Counts are exact: the emitter's seeded model says what was sent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port

from starbase import compile
from starbase.config import config_from_dict, default_config
from starbase.devenv import spawn, wait_answering
from starbase.emitter.run import Options, units

SEED = 31
START_NS = 1_795_755_600 * 10**9  # 2026-11-27T05:00Z: a fixed start makes runs identical


def starbase(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starbase", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )


@pytest.fixture
def router(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    data = tmp_path / "data"
    command = [sys.executable, "-m", "starbase", "router", "--data", str(data)]
    command += ["--port", str(port), "--flush-age", "1"]
    process = spawn(command, tmp_path / "router.log")
    endpoint = f"http://127.0.0.1:{port}"
    wait_answering(f"{endpoint}/readyz", process, tmp_path / "router.log")
    try:
        yield endpoint, data
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0


def wait_for(query: str, config: object, expected: int) -> None:
    compiled = compile(query, config)  # type: ignore[arg-type]
    deadline = time.monotonic() + 30
    while (n := int(compiled.run()["n"][0].as_py())) < expected:
        assert time.monotonic() < deadline, f"only {n} of {expected} visible"
        time.sleep(0.2)
    assert n == expected


def test_a_seeded_incident_arrives_exactly_and_is_queryable(router: tuple[str, Path]) -> None:
    endpoint, data = router
    options = Options(scenario="incident", rate=None, count=4_000, seed=SEED, start_ns=START_NS)
    sent = list(units(options, START_NS))
    by_service = Counter(r.service for r in sent)
    errors = Counter(r.service for r in sent if r.severity >= 17)
    emitted = starbase(
        "emit", "--scenario", "incident", "--rate", "max", "--count", "4000", "--seed", str(SEED),
        "--start", "2026-11-27T05:00:00Z", "--endpoint", endpoint, "--quiet",
    )  # fmt: skip
    assert emitted.returncode == 0, emitted.stderr
    config = default_config(data)
    wait_for("from otel | stats count() as n", config, len(sent))
    counts = compile("from otel | stats count() as n by service", config).run().to_pydict()
    assert dict(zip(counts["service"], counts["n"], strict=True)) == by_service
    failed = compile(
        'from otel | where severity >= "error" | stats count() as n by service', config
    ).run()
    assert dict(zip(*failed.to_pydict().values(), strict=True)) == errors
    trace = f"{sent[0].trace_id:032x}"
    path = compile("from otel | where trace_id == $t | fields service", config).run(t=trace)
    assert path.num_rows == sum(1 for r in sent if r.trace_id == sent[0].trace_id)


def test_firehose_and_raw_modes_land_in_their_tables(router: tuple[str, Path]) -> None:
    endpoint, data = router
    for mode in ("firehose", "raw"):
        done = starbase(
            "emit", "--mode", mode, "--rate", "max", "--count", "1500", "--seed", str(SEED),
            "--start", "2026-11-27T05:00:00Z", "--endpoint", endpoint, "--quiet",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    config = config_from_dict(
        {"sources": {"firehose": {"format": "cloudwatch", "location": str(data)}}}
    )
    wait_for("from firehose | stats count() as n", config, 1500)
    services = compile("from firehose | stats count() as n by service", config).run()
    assert set(services["service"].to_pylist()) <= {
        "gateway", "checkout", "payments", "auth", "inventory",
    }  # fmt: skip
    tables = starbase("tables", "--data", str(data))
    assert tables.returncode == 0, tables.stderr


def test_dev_up_starts_aws_and_a_router_and_down_stops_them(tmp_path: Path) -> None:
    env = os.environ | {"STARBASE_STATE": str(tmp_path / "state")}
    aws, port = free_port(), free_port()
    up = starbase("dev", "up", "--aws-port", str(aws), "--port", str(port), env=env)
    try:
        assert up.returncode == 0, up.stderr + up.stdout
        config_file = tmp_path / "state" / "dev" / "starbase.toml"
        assert str(config_file) in up.stdout
        assert starbase("dev", "up", env=env).returncode == 1  # already up
        sent = starbase(
            "emit", "--rate", "max", "--count", "1200", "--seed", str(SEED), "--quiet",
            "--endpoint", f"http://127.0.0.1:{port}",
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        from starbase.config import load_config

        config = load_config(config_file)
        wait_for("from otel | stats count() as n", config, 1200)  # the router wrote S3
        status = starbase("dev", "status", env=env)
        assert status.stdout.count("running") == 2
    finally:
        down = starbase("dev", "down", env=env)
    assert down.returncode == 0 and "stopped router" in down.stdout
    assert starbase("dev", "status", env=env).stdout.strip() == "down"


def test_make_demo_runs_end_to_end() -> None:
    demo = subprocess.run(
        [sys.executable, "-m", "starbase.demo"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    out = demo.stdout
    assert "100,000 records visible" in out
    assert "timeout after" in out  # the degraded service's slowest calls
    assert "error[E101]" in out and "router exited with 0" in out
    assert '{"columns": [{"name": "service", "type": "string"}' in out  # the HTTP API answered
    assert "starbase serve exited with 0" in out
