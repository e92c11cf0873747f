"""The router's settings: one frozen value built by the CLI and handed to every worker.

Requires: nothing beyond the standard library. Guarantees: every limit has a documented
default (docs/router.md); `RouterConfig.to_json`/`from_json` round-trip exactly (the
supervisor passes the config to worker processes that way); `Credentials` maps a bearer token
or Firehose access key to the tenant whose namespace it writes (None = the default namespace);
`tenant_location` is where a tenant's tables live (`<location>/tenants/<tenant>`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields

MiB = 1024 * 1024
DEFAULT_PORT = 4318
CONFIG_ENV = "STARBASE_ROUTER_CONFIG"  # how the router's processes receive their config
SUPERVISOR_ENV = "STARBASE_ROUTER_SUPERVISOR"  # the pid a worker must die with
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class S3Target:
    """An `s3://bucket/prefix` location; credentials come from the environment."""

    bucket: str
    prefix: str
    endpoint: str | None = None
    region: str = "us-east-1"


@dataclass(frozen=True)
class RouterConfig:
    location: str  # the data folder, or s3://bucket/prefix
    wal_dir: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = 1
    s3: S3Target | None = None
    # Flush policy, per table and worker: commit when either is reached.
    flush_bytes: int = 32 * MiB  # WAL payload bytes buffered for one table
    flush_age_s: float = 5.0  # age of the oldest buffered record
    # Limits (per worker); see docs/router.md for the memory bound they give.
    max_body_bytes: int = 32 * MiB  # request body, on the wire and after gunzip
    max_inflight_bytes: int = 64 * MiB  # bodies read but not yet in the WAL -> 429
    max_buffer_bytes: int = 1024 * MiB  # acknowledged, not yet committed (in the WAL) -> 503
    max_wal_bytes: int = 2048 * MiB  # WAL on disk -> 503
    max_records: int = 200_000  # records (OTLP records, lines, events) in one request -> 413
    max_partitions: int = 1000  # distinct days (a file each) per request; a commit when reached
    max_decode_cpu_s: float = 10.0  # CPU time to decode one request -> 413
    body_timeout_s: float = 10.0  # a body must arrive within this, plus 1 s per ...
    body_min_rate: int = 64 * 1024  # ... bytes received (else 408)
    header_timeout_s: float = 10.0  # a request's headers, from the connection or last reply
    max_connections: int = 1000  # open connections per worker; past it 503 and closed
    wal_segment_bytes: int = 64 * MiB
    retry_after_s: int = 2
    shutdown_timeout_s: float = 30.0
    compact_every_s: float = 0.0  # 0 = no background compaction
    otlp_converter: str = "auto"  # auto (compiled when built), compiled, python (native.use)
    log_level: str = "INFO"
    tokens: dict[str, str | None] = field(default_factory=dict)  # bearer token -> tenant
    firehose_keys: dict[str, str | None] = field(default_factory=dict)  # access key -> tenant
    metrics_tokens: list[str] = field(default_factory=list)  # bearer tokens for /metrics only
    public_metrics: bool = False  # serve /metrics without a token even when tokens are set

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(text: str) -> RouterConfig:
        raw = json.loads(text)
        known = {f.name for f in fields(RouterConfig)}
        values = {k: v for k, v in raw.items() if k in known}
        if values.get("s3") is not None:
            values["s3"] = S3Target(**values["s3"])
        return RouterConfig(**values)

    @property
    def open(self) -> bool:
        """No token and no Firehose key configured: every request is accepted."""
        return not self.tokens and not self.firehose_keys


def parse_credential(text: str) -> tuple[str, str | None]:
    """`SECRET` or `SECRET=TENANT` → (secret, tenant); ValueError names what is wrong."""
    secret, eq, tenant = text.partition("=")
    if not secret:
        raise ValueError("a token or key must not be empty")
    if not eq:
        return secret, None
    if not TENANT_PATTERN.match(tenant):
        raise ValueError(
            f"tenant {tenant!r} must be 1-63 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return secret, tenant


def tenant_location(location: str, tenant: str | None) -> str:
    """Where `tenant`'s tables live below `location` (itself for the default namespace)."""
    if tenant is None:
        return location
    return f"{location.rstrip('/')}/tenants/{tenant}"


def tenant_prefix(prefix: str, tenant: str | None) -> str:
    """The S3 prefix of `tenant`'s tables below `prefix`."""
    if tenant is None:
        return prefix
    return "/".join(p for p in (prefix.strip("/"), "tenants", tenant) if p)
