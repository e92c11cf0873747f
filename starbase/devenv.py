"""`starbase dev up|down|status`: a local AWS stand-in and a router writing to it.

Requires: moto's server (`pip install 'starbase[dev]'`) and free ports on 127.0.0.1. Guarantees:
`up` starts moto's server (S3 and CloudWatch Logs) and `starbase router` writing its tables
to the bucket `starbase-dev` on it, creates the bucket and the Lambda log groups the emitter
writes to, writes a `starbase.toml` naming both sources (stored OTel logs on S3, CloudWatch
log groups through the emulator profile) into the state folder, and prints how to query; the
processes run in the background, their pids and logs in the state folder
(`$STARBASE_STATE/dev`, default `~/.cache/starbase/dev`). `down` stops exactly what `up`
started (SIGTERM, so the router flushes) and forgets it; `up` twice is refused. `free_port`,
`spawn` and `wait_answering` are how every Starbase process starter (demo, tests, benchmarks)
starts a local service and waits for it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

BUCKET = "starbase-dev"
PREFIX = "logs"
REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
SERVICES = ("gateway", "checkout", "payments", "auth", "inventory")


def state_dir() -> Path:
    base = os.environ.get("STARBASE_STATE") or Path.home() / ".cache" / "starbase"
    return Path(base) / "dev"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = commands.add_parser("dev", help="a local AWS stand-in (moto) and router")
    actions = dev.add_subparsers(metavar="ACTION")
    up = actions.add_parser("up", help="start moto's server and a router writing to it")
    up.add_argument("--aws-port", type=int, default=4566, help="moto's port (default 4566)")
    up.add_argument("--port", type=int, default=4318, help="the router's port (default 4318)")
    up.set_defaults(handler=_up, diagnostics="text")
    down = actions.add_parser("down", help="stop what `dev up` started")
    down.set_defaults(handler=_down, diagnostics="text")
    status = actions.add_parser("status", help="what `dev up` started, and whether it runs")
    status.set_defaults(handler=_status, diagnostics="text")


def _up(args: argparse.Namespace) -> int:
    folder = state_dir()
    state_file = folder / "state.json"
    if state_file.exists():
        print(f"already up (state in {folder}); `starbase dev down` first", file=sys.stderr)
        return 1
    folder.mkdir(parents=True, exist_ok=True)
    aws = f"http://127.0.0.1:{args.aws_port}"
    router = f"http://127.0.0.1:{args.port}"
    env = os.environ | CREDENTIALS | {"AWS_REGION": REGION}
    started: dict[str, Any] = {"aws": aws, "router": router, "pids": {}}
    moto = spawn(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(args.aws_port)],
        folder / "moto.log",
        env,
        detached=True,
    )
    started["pids"]["moto"] = moto.pid
    state_file.write_text(json.dumps(started))
    wait_answering(f"{aws}/moto-api/", moto, folder / "moto.log")
    _prepare_aws(aws)
    router_cmd = [sys.executable, "-m", "starbase", "router", "--port", str(args.port)]
    router_cmd += ["--data", str(folder / "router"), "--s3", f"s3://{BUCKET}/{PREFIX}"]
    router_cmd += ["--s3-endpoint", aws, "--region", REGION]
    process = spawn(router_cmd, folder / "router.log", env, detached=True)
    started["pids"]["router"] = process.pid
    state_file.write_text(json.dumps(started))
    wait_answering(f"{router}/readyz", process, folder / "router.log")
    config = folder / "starbase.toml"
    config.write_text(toml(aws))
    print(f"moto (S3, CloudWatch Logs) on {aws}; router on {router} writing s3://{BUCKET}/{PREFIX}")
    print(f"sources: {config}")
    print("try:")
    print(f"  starbase emit --scenario incident --count 20000 --endpoint {router}")
    print(
        "  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
        f"starbase emit --mode cloudwatch --count 2000 --endpoint {aws}"
    )
    print(f"  starbase query --config {config} 'from otel | stats count() by service'")
    print("  starbase dev down")
    return 0


def toml(aws: str) -> str:
    groups = ", ".join(f'"/aws/lambda/{s}"' for s in SERVICES)
    return (
        "# Written by `starbase dev up`: the local stand-ins of S3 and CloudWatch Logs.\n"
        "[sources.otel]\n"
        'format = "otel"\n'
        f'location = "s3://{BUCKET}/{PREFIX}"\n'
        f'endpoint = "{aws}"\n'
        f'region = "{REGION}"\n'
        'access_key_id = "testing"\n'
        'secret_access_key = "testing"\n\n'
        "[sources.lambda]\n"
        'format = "cloudwatch"\n'
        f"log_groups = [{groups}]\n"
        f'endpoint = "{aws}"\n'
        f'region = "{REGION}"\n'
        'profile = "emulator"\n'
        'access_key_id = "testing"\n'
        'secret_access_key = "testing"\n'
    )


def _prepare_aws(endpoint: str) -> None:
    import boto3  # type: ignore[import-untyped, unused-ignore]

    keys = {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    boto3.client("s3", **keys).create_bucket(Bucket=BUCKET)
    logs = boto3.client("logs", **keys)
    for service in SERVICES:
        logs.create_log_group(logGroupName=f"/aws/lambda/{service}")


def _down(args: argparse.Namespace) -> int:
    folder = state_dir()
    state_file = folder / "state.json"
    if not state_file.exists():
        print("nothing is up", file=sys.stderr)
        return 0
    state = json.loads(state_file.read_text())
    for name in ("router", "moto"):  # the router first: it flushes to moto's S3
        pid = state["pids"].get(name)
        if pid and _alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            print(f"stopped {name} (pid {pid})")
    state_file.unlink()
    return 0


def _status(args: argparse.Namespace) -> int:
    state_file = state_dir() / "state.json"
    if not state_file.exists():
        print("down")
        return 0
    state = json.loads(state_file.read_text())
    for name, pid in state["pids"].items():
        print(f"{name}: pid {pid} {'running' if _alive(pid) else 'not running'}")
    print(f"aws {state['aws']}, router {state['router']}")
    return 0


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(
    command: list[str], log: Path, env: dict[str, str] | None = None, *, detached: bool = False
) -> subprocess.Popen[bytes]:
    """Start `command` with its output appended to `log` (`detached`: in a session of its own,
    so it outlives the terminal that started it)."""
    with open(log, "ab") as sink:
        return subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=detached
        )


def wait_answering(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> None:
    """Return once `url` answers; OSError (naming `log`) if `process` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise OSError(f"{log.stem} exited with {process.returncode}: see {log}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise OSError(f"{url} did not answer within {timeout:.0f} s: see {log}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # our own child that exited but was not reaped yet
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True
