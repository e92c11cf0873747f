"""The worker's listening socket, with a cap on open connections.

Requires: an aiohttp runner set up (`runner.setup()`). Guarantees: `CappedSite` listens like
aiohttp's `TCPSite` (same options, `SO_REUSEPORT` for several workers) but holds at most
`limit` connections open at once: a connection past it is answered `503` with `Retry-After`
and closed before aiohttp sees it, so a client opening thousands of idle connections cannot
use up the worker's file descriptors (which the WAL and the tables need too) nor its memory.
Each connection is counted from the moment it is accepted until it is closed, whatever state
it is in. `raise_fd_limit` lifts the process's open-file limit to what the cap needs.

Idle and slow connections are closed by aiohttp's keep-alive timer, which the worker sets to
`--header-timeout`: a connection must send a request's headers within that time of opening
or of its previous reply (body arrival is timed separately, in `server.Ingest._read`).
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Callable

from aiohttp import web

log = logging.getLogger("starbase.router")
_SPARE_FDS = 256  # WAL segments, table files, pipes, the listening socket, …


class _Counter:
    def __init__(self, limit: int, retry_after_s: int) -> None:
        self.limit = limit
        self.open = 0
        self.refused = 0
        text = f"too many connections (this worker's limit is {limit}): retry later\n".encode()
        self.refusal = (
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + f"Retry-After: {retry_after_s}\r\nConnection: close\r\n".encode()
            + f"Content-Length: {len(text)}\r\n\r\n".encode()
            + text
        )


class _Counted(asyncio.Protocol):
    """Forwards a connection to aiohttp's protocol while it is counted; refuses it past the cap."""

    def __init__(self, counter: _Counter, inner: asyncio.Protocol) -> None:
        self.counter = counter
        self.inner = inner
        self.counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        counter = self.counter
        if counter.open >= counter.limit:
            counter.refused += 1
            assert isinstance(transport, asyncio.Transport)
            transport.write(counter.refusal)
            transport.close()
            return
        counter.open += 1
        self.counted = True
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.counted:
            self.counted = False
            self.counter.open -= 1
            self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.counted:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.counted else None

    def pause_writing(self) -> None:
        if self.counted:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.counted:
            self.inner.resume_writing()


class CappedSite(web.BaseSite):
    """aiohttp's TCPSite with at most `limit` connections open (see the module docstring)."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        limit: int,
        retry_after_s: int,
        backlog: int = 1024,
        reuse_port: bool | None = None,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self.host, self.port, self.reuse_port = host, port, reuse_port
        self.counter = _Counter(limit, retry_after_s)

    @property
    def name(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        factory: Callable[[], asyncio.Protocol] = server
        counter = self.counter
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Counted(counter, factory()),
            self.host,
            self.port,
            backlog=self._backlog,
            reuse_port=self.reuse_port,
        )


def raise_fd_limit(connections: int) -> int:
    """Lift the soft open-file limit so that `connections` fit beside the worker's own files;
    returns how many connections fit (fewer than asked when the hard limit is lower)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + _SPARE_FDS
    if soft != resource.RLIM_INFINITY and soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < want:
        fit = max(1, soft - _SPARE_FDS)
        log.warning(
            "the open-file limit (%d) allows %d connections, not %d", soft, fit, connections
        )
        return fit
    return connections
