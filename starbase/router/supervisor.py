"""Several workers on one port (SO_REUSEPORT), each its own process, WAL and table writer.

Requires: Linux (SO_REUSEPORT balances connections across the workers' sockets); imports only
the standard library and the router's config until it needs a worker in process (it stays
small: ≈ 15 MB). Guarantees: WALs of worker numbers >= `workers` (left by a run with more
workers) are committed and removed before any worker starts; each worker runs
`python -m starbase.router.worker N` and is killed by the kernel if the supervisor dies (so a
SIGKILL of the supervisor is a SIGKILL of the router; a worker still importing when it dies
exits as soon as it can tell); a worker that dies on its own is restarted (it replays its
WAL), unless it dies within `_FAST_FAIL_S` of starting twice in a row, which stops the router
with exit 1. SIGTERM/SIGINT are caught from the first instant (`signals`) and passed on, also
to workers still starting (they commit their WAL backlog before exiting); the supervisor exits
when every worker has, with the worst exit code (1 for a worker killed by a signal).
`main` is the router's process entry point (see its docstring).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from starbase.router import signals
from starbase.router.config import CONFIG_ENV, SUPERVISOR_ENV, RouterConfig

log = logging.getLogger("starbase.router")
_FAST_FAIL_S = 3.0


def orphan_workers(config: RouterConfig) -> list[int]:
    """Worker numbers with a WAL in `wal_dir` that this configuration will not run."""
    root = Path(config.wal_dir)
    if not root.is_dir():
        return []
    found = [int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted(n for n in found if n >= config.workers)


def drain_orphans(config: RouterConfig) -> None:
    from starbase.router.worker import drain  # the heavy imports, only when needed

    for worker in orphan_workers(config):
        log.info("committing the WAL of worker %d (no longer run) before starting", worker)
        drain(config, worker)


def run(config: RouterConfig, stopping: threading.Event) -> int:
    """Supervise `config.workers` workers until they have all exited; the worst exit code."""
    env = {**os.environ, CONFIG_ENV: config.to_json(), SUPERVISOR_ENV: str(os.getpid())}
    children: dict[int, subprocess.Popen[bytes]] = {}
    started: dict[int, float] = {}
    fast_failures: dict[int, int] = {}
    forwarded = False

    def spawn(worker: int) -> None:
        command = [sys.executable, "-m", "starbase.router.worker", str(worker)]
        signals.hold()  # the child starts with the stop signals held until it can take them
        try:
            children[worker] = subprocess.Popen(command, env=env)
        finally:
            signals.release()
        started[worker] = time.monotonic()

    def forward() -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    # A stop asked for while orphaned WALs drain, or before the workers run: they still start
    # (each replays its WAL), are told to stop at once, and commit their backlog.
    drain_orphans(config)
    for worker in range(config.workers):
        spawn(worker)
    codes: dict[int, int] = {}
    while len(codes) < len(children):
        if stopping.is_set() and not forwarded:
            forwarded = True
            forward()
        time.sleep(0.1)
        for worker, child in list(children.items()):
            code = child.poll()
            if code is None or worker in codes:
                continue
            if stopping.is_set():
                codes[worker] = code
                continue
            quick = time.monotonic() - started[worker] < _FAST_FAIL_S
            fast_failures[worker] = fast_failures.get(worker, 0) + 1 if quick else 0
            if fast_failures[worker] >= 2:
                log.error("worker %d keeps failing at start (exit %d): stopping", worker, code)
                stopping.set()
                codes[worker] = code or 1
                continue
            log.warning("worker %d exited with %d: restarting it", worker, code)
            spawn(worker)
    return max((1 if code < 0 else code for code in codes.values()), default=0)


def main() -> int:
    """`python -m starbase.router.supervisor`: the router (config in $STARBASE_ROUTER_CONFIG).

    `starbase router` execs this, so the router does not carry the CLI's imports (the query
    engine): one worker runs in this process, several are supervised from it.
    """
    stopping = signals.catch()  # first: `starbase router` held the stop signals until now
    config = RouterConfig.from_json(os.environ.pop(CONFIG_ENV))
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        if config.workers == 1:
            from starbase.router import worker

            drain_orphans(config)
            return worker.run(config, 0, stopping)
        return run(config, stopping)
    except Exception as exc:
        from starbase.router.wal import WalBusy, WalCorrupt  # not before: it imports pyarrow

        if not isinstance(exc, WalBusy | WalCorrupt):
            raise
        print(f"starbase: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
