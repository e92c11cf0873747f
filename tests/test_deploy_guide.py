"""docs/deploy-aws.md is followable: its blocks marked ```sh moto run, in order, as written.

They run in one bash script (`set -e`) in a scratch folder, with moto's server and the router
on free ports of 127.0.0.1 (the guide's ${AWS_PORT:-4566} and ${ROUTER_PORT:-4318}); the last
block's query must count every event the emitter sent. Processes the script starts are killed
if it fails half-way.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from starbase.devenv import free_port

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "deploy-aws.md"


def guide_script() -> str:
    blocks = re.findall(r"```sh moto\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert len(blocks) >= 4, "the guide's moto walk-through is missing"
    cleanup = "trap 'for f in *.pid; do kill $(cat $f) 2>/dev/null || true; done' EXIT\n"
    return "set -euo pipefail\n" + cleanup + "\n".join(blocks)


def test_the_aws_guide_runs_against_moto(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "AWS_PORT": str(free_port()),
        "ROUTER_PORT": str(free_port()),
    }
    done = subprocess.run(
        ["bash", "-c", guide_script()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "delivered 2,000 · failed 0" in done.stderr, done.stderr[-2000:]
    counts = [int(n) for n in re.findall(r"^\S+:/aws/lambda/\S+\s+(\d+)$", done.stdout, re.M)]
    assert sum(counts) == 2000, done.stdout
    assert "DeliveryStreamArn=arn:aws:firehose:eu-west-1:" in done.stdout
