"""What every deployment target agrees on: ports, paths, probes, secrets' variables, sizing.

Requires: nothing beyond the standard library. Guarantees: the CloudFormation templates, the
Kubernetes manifests and the Dockerfile name these values and nothing else (the tests check
each against this module), so a port or a path is changed in one place; `router_memory_mib`
is the memory bound of docs/router.md ("Memory bound") with its constants in `MEMORY_BOUND`,
which a test reads back out of that document so a re-measurement there cannot go unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024

# ------------------------------------------------------------------ processes and ports
ROUTER_PORT = 4318  # `starbase router` (OTLP/HTTP's port)
SERVE_PORT = 8080  # `starbase serve` (contract §8)
DATA_DIR = "/data"  # the router's data folder: the write-ahead log lives in DATA_DIR/_router
STATE_DIR = "/data/state"  # $STARBASE_STATE: the S3 tables' writer lock files, shared by the
#                             router and its retention companion (one host, one set of locks)
CONFIG_DIR = "/etc/starbase"
CONFIG_FILE = f"{CONFIG_DIR}/starbase.toml"
USER_ID = 10001  # the image's `starbase` user

# Liveness and readiness (docs/router.md, "Endpoints").
ROUTER_LIVENESS = "/healthz"
ROUTER_READINESS = "/readyz"
# `starbase serve`'s liveness and readiness (docs/api.md); neither needs a token.
SERVE_LIVENESS = "/healthz"
SERVE_READINESS = "/readyz"

# Paths the load balancer sends to the router; everything else goes to `serve`.
ROUTER_PATHS = ("/v1/logs", "/v1/raw", "/firehose")

# ------------------------------------------------------------------ secrets, as processes read them
ROUTER_TOKENS_ENV = "STARBASE_ROUTER_TOKENS"  # TOKEN[=TENANT],… (docs/router.md, "Auth")
FIREHOSE_KEYS_ENV = "STARBASE_FIREHOSE_KEYS"  # KEY[=TENANT],…
SERVE_TOKENS_FILE = f"{CONFIG_DIR}/serve-tokens"  # one TOKEN[=TENANT] a line (`--tokens-file`)

# ------------------------------------------------------------------ the router's flags
SHUTDOWN_TIMEOUT_S = 90  # --shutdown-timeout: how long SIGTERM keeps committing the backlog
TERMINATION_GRACE_S = 120  # what the orchestrator waits after SIGTERM before SIGKILL
FLUSH_BYTES = 32 * MiB  # --flush-bytes (the default)
MAX_INFLIGHT = 64 * MiB  # --max-inflight (the default)
MAX_BUFFER = 1024 * MiB  # --max-buffer (the default), per worker
MAX_WAL = 2048 * MiB  # --max-wal (the default), per worker
RETENTION_EVERY_S = 3600  # how often the retention companion applies `retention`


@dataclass(frozen=True)
class MemoryBound:
    """docs/router.md: base + flush × flush-bytes + inflight × bodies in flight, per worker."""

    base_mb: float = 95.0
    flush_factor: float = 8.0
    inflight_factor: float = 5.0
    supervisor_mb: float = 15.0


MEMORY_BOUND = MemoryBound()


def router_memory_mib(
    workers: int, flush_bytes: int = FLUSH_BYTES, max_inflight: int = MAX_INFLIGHT
) -> int:
    """The router's worst-case resident memory (all processes) in MiB, rounded up to 64 MiB."""
    bound = MEMORY_BOUND
    per_worker = (
        bound.base_mb * 1e6
        + bound.flush_factor * flush_bytes
        + bound.inflight_factor * max_inflight
    )
    total = workers * per_worker + (bound.supervisor_mb * 1e6 if workers > 1 else 0.0)
    mib = total / MiB
    return int(-(-mib // 64) * 64)


def wal_disk_gib(workers: int, max_wal: int = MAX_WAL) -> int:
    """Disk the write-ahead logs may take (the router answers 503 past `--max-wal` per worker),
    plus one 64 MiB segment each of headroom, in whole GiB."""
    return -(-(workers * (max_wal + 64 * MiB)) // (1024 * MiB))


def drain_seconds(commit_mb_per_s_per_worker: float = 25.0) -> float:
    """How long committing a full `--max-buffer` backlog takes at the measured commit rate
    (docs/router.md: 165k–205k records/s of ~294 B with ~1.8 cores ≈ 25 MB/s per worker;
    workers drain in parallel)."""
    return MAX_BUFFER / (commit_mb_per_s_per_worker * 1e6)


def router_args(
    *,
    workers: int | str,
    s3: str | None = None,
    region: str | None = None,
    host: str = "0.0.0.0",
) -> list[str]:
    """`starbase router …` as every target runs it (tokens come from the environment)."""
    args = ["router", "--host", host, "--port", str(ROUTER_PORT), "--data", DATA_DIR]
    if s3:
        args += ["--s3", s3]
    if region:
        args += ["--region", region]
    args += ["--workers", str(workers), "--shutdown-timeout", str(SHUTDOWN_TIMEOUT_S)]
    return args


def serve_args(config: str = CONFIG_FILE) -> list[str]:
    """`starbase serve …` as every target runs it."""
    return [
        "serve",
        "--config",
        config,
        "--host",
        "0.0.0.0",
        "--port",
        str(SERVE_PORT),
        "--tokens-file",
        SERVE_TOKENS_FILE,
    ]


def retention_args(config: str = CONFIG_FILE) -> list[str]:
    """`starbase retention …`: each stored source's `retention` setting, applied."""
    return ["retention", "--config", config]
