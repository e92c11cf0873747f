"""Engines in worker processes: the way to stop a running query for real.

DataFusion's Python API cannot interrupt a running plan (a signal is seen only when the plan
finishes; docs/… and the stack notes), so a session that must cancel runs its engine in
worker processes and kills the one running a query.

Requires: a registered engine backend and a picklable `Config`; Linux or another POSIX
system. Guarantees:

- `WorkerEngine` is an `Engine` whose jobs run in a child process (`python -m
  starbase.runtime.workers`) holding the backend's own engine — its sources stay registered
  and its caches warm between jobs. Requests travel as pickles over one pipe; replies over
  another as length-prefixed pickles (`_write_frame`), a job's result as one Arrow IPC stream
  written straight into that pipe, already in the result shape (`runtime.results`: the cast
  happens beside the engine), which the session's process reads batch by batch. The child
  ignores
  SIGINT (Ctrl-C is the parent's to handle), writes nothing to the terminal's stdout, and
  exits within a second of its parent's death, even in the middle of a query.
- `Execution.stop()` of a job running in a worker kills the worker (SIGKILL) and reaps it:
  its CPU is free at once. The worker is then dead; the pool starts a replacement.
- `WorkerPool` hands out at most `size` workers, one job each at a time; a caller waits for
  a free one. `prestart()` starts one in the background so the first query finds it warm.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from multiprocessing.connection import Connection
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.backends.base import Engine, Execution, ExecutionStats, Job
from starbase.compiler import ir
from starbase.config import Config
from starbase.runtime.errors import QueryFailed, one_line
from starbase.runtime.results import conform, result_schema

STARTUP_TIMEOUT = 120.0  # seconds for a worker to import its engine and answer
PIPE_BYTES = 1 << 20  # pipe buffer asked for (Linux): fewer switches per result byte
PARENT_CHECK = 0.5  # seconds between a worker's checks that its parent is alive


class WorkerGone(QueryFailed):
    """The worker process ended (killed on cancel, or crashed) before answering."""


class WorkerEngine(Engine):
    """An engine of backend `backend` in a child process (see the module docstring)."""

    def __init__(
        self,
        backend: str,
        config: Config,
        options: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        _widen(from_child_w)
        command = [sys.executable, "-m", "starbase.runtime.workers"]
        try:
            self.process = subprocess.Popen(
                [*command, str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                cwd=cwd,  # relative source locations mean what they meant to the session
                start_new_session=True,  # the terminal's Ctrl-C goes to the parent only
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._send = Connection(to_child_w, readable=False)
        self._fd = from_child_r
        self._recv = os.fdopen(from_child_r, "rb", buffering=PIPE_BYTES)
        self._ready = False
        self._killed = False
        self._lock = threading.Lock()
        self._send.send(("start", backend, config, dict(options or {})))

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return not self._killed and self.process.poll() is None

    def ready_now(self) -> bool:
        """Whether the worker has imported its engine (never blocks)."""
        if not self._ready and select.select([self._fd], [], [], 0)[0]:
            try:
                self.wait_ready()
            except QueryFailed:
                return False
        return self._ready

    def wait_ready(self) -> None:
        """Block until the worker has imported its engine (the first job does this)."""
        if not self._ready:
            reply = self._reply(timeout=STARTUP_TIMEOUT)
            if reply[0] != "ready":
                raise self._failure(reply)
            self._ready = True

    def execute(self, job: Job) -> Execution:
        self.wait_ready()
        self._request(("execute", job))
        reply = self._reply()
        if reply[0] != "schema":
            raise self._failure(reply)
        schema: pa.Schema = reply[1]
        return _RemoteExecution(self, schema)

    def explain(self, job: Job, *, analyze: bool = False) -> str:
        self.wait_ready()
        self._request(("explain", job, analyze))
        reply = self._reply()
        if reply[0] != "explained":
            raise self._failure(reply)
        return str(reply[1])

    def kill(self) -> None:
        """Stop the worker now (SIGKILL) and reap it; a reader waiting on it wakes up (the
        pipe's only writer is gone: it reads the end of the stream)."""
        self._killed = True
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._send.close()

    def close(self) -> None:
        if self._killed:
            return
        try:
            self._send.send(("close",))
            self.process.wait(timeout=2)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        self.kill()

    # ------------------------------------------------------------ the pipe

    def _request(self, message: tuple[Any, ...]) -> None:
        try:
            self._send.send(message)
        except (OSError, ValueError) as exc:
            raise WorkerGone(self._gone()) from exc

    def _reply(self, timeout: float | None = None) -> tuple[Any, ...]:
        try:
            if timeout is not None and not select.select([self._fd], [], [], timeout)[0]:
                self.kill()
                raise WorkerGone(f"the worker did not start within {timeout:g}s")
            reply: tuple[Any, ...] = _read_frame(self._recv)
        except (EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
            raise WorkerGone(self._gone()) from exc
        return reply

    def _stream(self) -> Iterator[pa.RecordBatch]:
        """The batches of the IPC stream that follows a ("stream",) reply."""
        reply = self._reply()
        if reply[0] != "stream":
            raise self._failure(reply)
        try:
            reader = pa.ipc.open_stream(pa.PythonFile(self._recv, mode="r"))
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                yield batch
        except (OSError, ValueError, pa.ArrowInvalid) as exc:
            raise WorkerGone(self._gone()) from exc

    def _failure(self, reply: tuple[Any, ...]) -> QueryFailed:
        if reply and reply[0] == "failed":
            return QueryFailed(str(reply[1]))
        return QueryFailed(f"the worker answered {reply[0]!r} unexpectedly")

    def _gone(self) -> str:
        if self._killed:
            return "the worker was stopped"
        code = self.process.poll()
        return f"the worker process ended (exit status {code})"


def _widen(fd: int) -> None:
    """Ask for a larger pipe buffer (Linux's F_SETPIPE_SZ; elsewhere the default stays)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (ImportError, OSError):  # not Linux, or above the system's pipe-max-size
        pass


def _read_frame(source: Any) -> Any:
    """One length-prefixed pickle (EOFError at the end of the pipe)."""
    header = source.read(4)
    if len(header) < 4:
        raise EOFError
    (size,) = struct.unpack("!I", header)
    data = source.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def _write_frame(sink: Any, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sink.write(struct.pack("!I", len(data)))
    sink.write(data)
    sink.flush()


class _RemoteExecution(Execution):
    def __init__(self, worker: WorkerEngine, schema: pa.Schema) -> None:
        self.schema = schema
        self._worker = worker
        self._stats = ExecutionStats()

    def batches(self) -> Iterator[pa.RecordBatch]:
        yield from self._worker._stream()
        reply = self._worker._reply()  # after the stream: how it ended
        if reply[0] != "done":
            raise self._worker._failure(reply)
        self._stats = reply[1]

    def stats(self) -> ExecutionStats:
        return self._stats

    def stop(self) -> None:
        self._worker.kill()


class WorkerPool:
    """At most `size` workers of one engine backend over one `Config` (with the engine's
    `options`, started in folder `cwd`)."""

    def __init__(
        self,
        backend: str,
        config: Config,
        size: int,
        options: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.backend, self.config, self.size = backend, config, size
        self.options, self.cwd = dict(options or {}), cwd
        self._idle: list[WorkerEngine] = []
        self._all: set[WorkerEngine] = set()
        self._cond = threading.Condition()
        self._closed = False

    @property
    def pids(self) -> tuple[int, ...]:
        """The process ids of the live workers (for tests and figures)."""
        with self._cond:
            return tuple(w.pid for w in self._all if w.alive)

    def acquire(self) -> WorkerEngine:
        """A worker for one job: an idle one (a warm one first), a new one, or the next one
        released."""
        with self._cond:
            while True:
                if self._closed:
                    raise QueryFailed("the session is closed")
                for worker in [w for w in self._idle if not w.alive]:
                    self._idle.remove(worker)
                    self._all.discard(worker)
                if self._idle:
                    warm = [w for w in self._idle if w.ready_now()]
                    worker = (warm or self._idle)[-1]
                    self._idle.remove(worker)
                    return worker
                if len(self._all) < self.size:
                    worker = self._start()
                    self._all.add(worker)
                    return worker
                self._cond.wait()

    def release(self, worker: WorkerEngine) -> None:
        """Give `worker` back; a killed one is replaced in the background."""
        with self._cond:
            if worker.alive and not self._closed:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
                if not self._closed and not self._idle and len(self._all) < self.size:
                    replacement = self._start()
                    self._all.add(replacement)
                    self._idle.append(replacement)
            self._cond.notify_all()

    def prestart(self) -> None:
        """Start a worker now unless one is idle already (it warms up meanwhile)."""
        with self._cond:
            if not self._closed and not self._idle and len(self._all) < self.size:
                worker = self._start()
                self._all.add(worker)
                self._idle.append(worker)

    def _start(self) -> WorkerEngine:
        return WorkerEngine(self.backend, self.config, self.options, self.cwd)

    def close(self) -> None:
        """Kill every worker (running jobs fail with `WorkerGone`)."""
        with self._cond:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
            self._cond.notify_all()
        for worker in workers:
            worker.kill()


# ---------------------------------------------------------------- the child process


def _die_with_parent() -> None:
    """Exit when the parent is gone (the engine may be busy in native code for minutes)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(PARENT_CHECK)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="starbase-parent-watch").start()


def _serve(inbox: Connection, outbox: Any) -> None:
    from starbase import backends

    start = inbox.recv()
    try:
        engine = backends.engine(start[1]).engine(start[2], start[3])
    except Exception as exc:
        _write_frame(outbox, ("failed", f"the {start[1]} engine did not start: {one_line(exc)}"))
        return
    _write_frame(outbox, ("ready",))
    while True:
        try:
            message = inbox.recv()
        except EOFError:
            return
        if message[0] == "close":
            engine.close()
            return
        try:
            if message[0] == "execute":
                _execute(engine, message[1], outbox)
            elif message[0] == "explain":
                explained = engine.explain(message[1], analyze=message[2])
                _write_frame(outbox, ("explained", explained))
        except QueryFailed as exc:
            _write_frame(outbox, ("failed", str(exc)))
        except Exception as exc:  # a bug: one line for the session, the worker lives on
            failure = f"internal error: {type(exc).__name__}: {one_line(exc)}"
            _write_frame(outbox, ("failed", failure))


def _execute(engine: Engine, job: Job, outbox: Any) -> None:
    """Run `job`: its schema, then its batches as one IPC stream in the result shape (cast
    here, beside the engine, so that the session's process only reads them), then how it
    ended — a failure after the first batch ends the stream first."""
    execution = engine.execute(job)
    schema = result_schema(execution.schema, ir.output_schema(job.plan))
    _write_frame(outbox, ("schema", schema))
    _write_frame(outbox, ("stream",))
    failure: BaseException | None = None
    with pa.ipc.new_stream(pa.PythonFile(outbox, mode="w"), schema) as writer:
        try:
            for batch in execution.batches():
                writer.write_batch(conform(batch, schema))
        except Exception as exc:  # reported after the stream's end
            failure = exc
    outbox.flush()
    if failure is not None:
        raise failure
    _write_frame(outbox, ("done", execution.stats()))


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    inbox = Connection(int(argv[0]), writable=False)
    outbox = os.fdopen(int(argv[1]), "wb", buffering=PIPE_BYTES)
    os.dup2(2, 1)  # what libraries print must not reach the parent's terminal as output
    try:
        _serve(inbox, outbox)
    except (BrokenPipeError, EOFError):  # the parent went away
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
