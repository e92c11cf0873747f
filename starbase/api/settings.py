"""What `starbase serve` is configured with: sources, listening address, tokens and limits.

Requires: nothing beyond the standard library and `starbase.config`. Guarantees: one frozen
value built by the CLI (or a test) and read by every handler; every limit has a default that
docs/api.md documents; `loopback_only` is true when no token is configured, and the server
then listens on 127.0.0.1 whatever `host` says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from starbase.config import Config

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1024 * 1024  # a request body (JSON)
    max_query_bytes: int = 64 * 1024  # the query text (UTF-8)
    max_concurrent: int = 4  # queries (sync, streams, running jobs) per token at once
    max_tails: int = 4  # live tails per token at once
    default_rows: int = 1000  # rows of a synchronous JSON answer when no limit is given
    max_rows: int = 100_000  # rows of a synchronous JSON answer (and of a job's kept rows)
    max_stream_rows: int = 50_000_000  # rows of one NDJSON / Arrow stream
    max_seconds: float = 300.0  # run time of one query before it is cancelled
    max_jobs: int = 16  # jobs kept per token (running or finished, not yet expired)
    job_ttl_s: float = 600.0  # a finished job is kept this long after it ended
    tail_poll_s: float = 0.25  # how often a live tail reads the commit log's head
    tail_buffer_rows: int = 100_000  # rows waiting for a slow tail client before dropping
    tail_stall_s: float = 30.0  # a tail client that reads nothing this long is disconnected


@dataclass(frozen=True)
class ServeSettings:
    config: Config
    state_dir: Path  # saved queries and other server state (per tenant)
    host: str = LOOPBACK
    port: int = 8080
    tokens: dict[str, str | None] = field(default_factory=dict)  # secret -> tenant
    cors_origins: tuple[str, ...] = ()
    router_url: str | None = None  # the router whose health and metrics the admin page shows
    engines: int = 4  # queries running at once (engines), for the whole server
    limits: Limits = field(default_factory=Limits)
    # alerting and recording rules evaluated inside serve (docs/alerting.md)
    rule_files: tuple[Path, ...] = ()
    alertmanagers: tuple[str, ...] = ()
    external_url: str | None = None  # what alerts link to (default: this server)
    data_dir: Path | None = None  # rules' state and recorded series (default: state_dir's parent)

    @property
    def open(self) -> bool:
        """No token configured: every request is let in, and only from this machine."""
        return not self.tokens

    @property
    def listen_host(self) -> str:
        return LOOPBACK if self.open else self.host
