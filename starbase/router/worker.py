"""One worker: replay its WAL, serve HTTP, flush; stop cleanly on SIGTERM/SIGINT.

Requires: a `RouterConfig` and a worker number (its WAL is `<wal_dir>/<worker>/`). Run in
process by the CLI (`--workers 1`) or as `python -m starbase.router.worker N` by the
supervisor (config in $STARBASE_ROUTER_CONFIG; it dies with its parent: PR_SET_PDEATHSIG).
Guarantees: the port is opened once the WAL has been read back into the buffers (as
references: the flusher commits the backlog while new requests are served, and a backlog over
`max_buffer_bytes` is answered with 503 until it is under again, even if the store is down);
on SIGTERM/SIGINT — at any moment, also while starting (`signals`): then the WAL is still read
back but the port is never opened — it stops accepting, answers the requests in flight, writes
the queued WAL group, commits every buffer and exits 0 — or exits 1 saying how many
acknowledged records stay in the WAL (they are committed at the next start). A port it cannot
listen on is one line on stderr and exit 1 (after committing the backlog). `drain` commits
another worker's WAL (e.g. after `--workers` shrank) and deletes it. aiohttp's report of a
malformed HTTP request is one log line, not a traceback.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from starbase.router import native, signals
from starbase.router.compactor import Compactor
from starbase.router.config import CONFIG_ENV, SUPERVISOR_ENV, RouterConfig
from starbase.router.connections import CappedSite, raise_fd_limit
from starbase.router.destinations import Destinations
from starbase.router.flusher import Flusher
from starbase.router.groupcommit import GroupCommit
from starbase.router.metrics import Metrics
from starbase.router.server import Ingest, application
from starbase.router.signals import STOP_SIGNALS
from starbase.router.wal import Wal, WalBusy, WalCorrupt, writer_name

log = logging.getLogger("starbase.router")
_PR_SET_PDEATHSIG = 1
_SWITCH_INTERVAL_S = 0.001  # the flusher holds the GIL for long stretches: hand it back often


def run(config: RouterConfig, worker: int, stopping: threading.Event | None = None) -> int:
    """Serve until `stopping` is set (by SIGTERM/SIGINT); the exit code."""
    stopping = stopping or threading.Event()
    native.use(config.otlp_converter)
    sys.setswitchinterval(_SWITCH_INTERVAL_S)
    logging.getLogger("aiohttp.server").addFilter(_one_line_for_bad_requests)
    wal = Wal(Path(config.wal_dir) / str(worker), config.wal_segment_bytes)
    wal.open()
    metrics = Metrics(Path(config.wal_dir), worker, config.workers)
    destinations = Destinations(config)
    flusher = Flusher(config, wal, writer_name(worker, wal.id), destinations, metrics)
    ingest = Ingest(config, wal, flusher, metrics)
    replayed = _replay(wal, flusher)
    if replayed:
        log.info("worker %d: %d records from the WAL to commit", worker, replayed)
    flusher.start()
    compactor = Compactor(config, destinations)
    if config.compact_every_s > 0 and worker == 0:
        compactor.start()
    ingest.group = GroupCommit(wal, ingest.on_durable)
    code = 0
    try:
        if stopping.is_set():
            log.info("worker %d: asked to stop while starting: committing the WAL", worker)
        else:
            code = asyncio.run(_serve(ingest, worker, stopping))
    finally:
        compactor.stop()
        ingest.group.close()
        ingest.decoders.shutdown(wait=True)
        done = flusher.stop(config.shutdown_timeout_s)
        if done:
            wal.retire()
        wal.close()
    if not done:
        log.error(
            "worker %d: %d acknowledged records stay in the WAL (store: %s); "
            "they will be committed at the next start",
            worker,
            flusher.buffered_records,
            flusher.store_error,
        )
        return 1
    return code


def _replay(wal: Wal, flusher: Flusher) -> int:
    records = 0
    for entry in wal.replay():
        flusher.add([entry])  # kept as a reference: the payload stays on disk
        records += entry.records
    return records


async def _serve(ingest: Ingest, worker: int, stopping: threading.Event) -> int:
    config = ingest.config
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        stopping.set()
        stop.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal)
    if stopping.is_set():  # a signal that came before these handlers
        return 0
    runner = web.AppRunner(
        application(ingest),
        access_log=None,
        handle_signals=False,
        auto_decompress=False,  # gunzip is ours: one limit, one error message, 415 for others
        shutdown_timeout=config.shutdown_timeout_s,
        # aiohttp closes a connection still waiting for a request's headers this long after
        # it opened or after its previous reply: idle and header-trickling clients alike
        keepalive_timeout=config.header_timeout_s,
    )
    await runner.setup()
    site = CappedSite(
        runner,
        config.host,
        config.port,
        limit=raise_fd_limit(config.max_connections),
        retry_after_s=config.retry_after_s,
        backlog=1024,
        reuse_port=config.workers > 1 or None,
    )
    try:
        await site.start()
    except OSError as exc:
        print(
            f"starbase: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
            file=sys.stderr,
            flush=True,
        )
        await runner.cleanup()
        return 1
    log.info(
        "worker %d (pid %d) serving on http://%s:%d", worker, os.getpid(), config.host, config.port
    )
    print(f"starbase router: worker {worker} ready on {config.host}:{config.port}", flush=True)
    await stop.wait()
    log.info("worker %d: stopping", worker)
    await runner.cleanup()
    return 0


def _one_line_for_bad_requests(record: logging.LogRecord) -> bool:
    """aiohttp logs a traceback for every malformed request: keep one line instead."""
    if record.exc_info and isinstance(record.exc_info[1], HttpProcessingError):
        error = record.exc_info[1]
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.msg, record.args = "bad HTTP request from %s: %s", (remote, error)
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True


def drain(config: RouterConfig, worker: int) -> None:
    """Commit everything in worker `worker`'s WAL, then remove it (it will not run again)."""
    native.use(config.otlp_converter)
    directory = Path(config.wal_dir) / str(worker)
    wal = Wal(directory, config.wal_segment_bytes)
    wal.open()
    metrics = Metrics(None, worker, config.workers)
    flusher = Flusher(config, wal, writer_name(worker, wal.id), Destinations(config), metrics)
    _replay(wal, flusher)
    flusher.stop(deadline_s=float("inf"))
    wal.close()
    shutil.rmtree(directory)


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux); exit at once if
    the supervisor that spawned it (SUPERVISOR_ENV) is already gone."""
    parent = int(os.environ.get(SUPERVISOR_ENV, os.getppid()))
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl (while this one imported)
        os._exit(1)


def main() -> int:
    stopping = signals.catch()
    die_with_parent()
    config = RouterConfig.from_json(os.environ[CONFIG_ENV])
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        return run(config, int(sys.argv[1]), stopping)
    except (WalBusy, WalCorrupt) as exc:
        print(f"starbase: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
