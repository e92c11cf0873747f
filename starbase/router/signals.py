"""SIGTERM and SIGINT from the first instant of every router process.

Requires: POSIX signals (the mask is per thread: call these from the main thread). Guarantees:
`hold()` blocks the stop signals, so one that arrives meanwhile waits, pending, instead of
killing the process with Python's default action; the mask survives `execve` and is inherited
by child processes, so `starbase router` holds them before it execs the supervisor, and the
supervisor around spawning each worker. `catch()` then installs handlers that set (and
return) a `threading.Event` and unblocks: a signal held since the start is delivered to the
handler at once. The router's processes call `catch()` first thing, and treat the event as a
request to stop: finish replaying the WAL, commit it, exit 0.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def hold() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def release() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def catch() -> threading.Event:
    stopping = threading.Event()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)
    release()
    return stopping
