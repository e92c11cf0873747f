"""Who is asking and what they may see: principals, tenants and each tenant's sources.

Requires: the server's `ServeSettings` and the router's bearer-token check
(`starbase.router.auth.bearer_token`, tokens `SECRET[=TENANT]`). Guarantees:

- `authenticate(settings, header)` gives the `Principal` of a request: with no token
  configured, everyone is the anonymous principal of the default namespace; otherwise a
  missing token is a 401 and an unknown one a 403 (`ApiError`), compared in constant time.
- A tenant sees only its own tables: `tenant_config` rewrites every source that has a location
  to `<location>/tenants/<tenant>` (the router's layout, `router.config.tenant_location`) and
  leaves out sources without one (CloudWatch log groups are shared AWS resources, not a
  tenant's). The default namespace (a token without a tenant) sees the configuration as is.
- `Tenants` keeps one `Session` per tenant (made on first use) and the tenant's completion
  sample, refreshed at most every `SAMPLE_TTL_S`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, replace

from starbase.api.errors import ApiError
from starbase.api.execution import Sample, Session
from starbase.api.settings import ServeSettings
from starbase.config import Config
from starbase.router.auth import Grant, bearer_token
from starbase.router.config import tenant_location
from starbase.router.problems import Problem

SAMPLE_TTL_S = 60.0
DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class Principal:
    """Who sent a request: a stable id for per-token limits and the tenant it reads."""

    id: str
    tenant: str | None

    @property
    def namespace(self) -> str:
        return self.tenant or DEFAULT_TENANT


def authenticate(settings: ServeSettings, authorization: str | None) -> Principal:
    if settings.open:
        return Principal("anonymous", None)
    grant = bearer_token(settings.tokens, authorization)
    if isinstance(grant, Problem):
        code = "missing_token" if grant.status == 401 else "invalid_token"
        raise ApiError(grant.status, code, grant.message)
    assert isinstance(grant, Grant)
    token = (authorization or "").strip().partition(" ")[2].strip()
    digest = hashlib.sha256(token.encode()).hexdigest()[:16]
    return Principal(f"token-{digest}", grant.tenant)


def tenant_config(config: Config, tenant: str | None) -> Config:
    if tenant is None:
        return config
    sources = tuple(
        replace(s, location=tenant_location(s.location, tenant))
        for s in config.sources
        if s.location
    )
    return Config(sources, config.path)


class Tenants:
    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self._sessions: dict[str | None, Session] = {}
        self._samples: dict[tuple[str | None, str, str], tuple[float, Sample]] = {}
        self._lock = threading.Lock()

    def session(self, tenant: str | None) -> Session:
        with self._lock:
            if tenant not in self._sessions:
                config = tenant_config(self.settings.config, tenant)
                self._sessions[tenant] = Session(config, engines=self.settings.engines)
            return self._sessions[tenant]

    def sample(self, tenant: str | None, source: str) -> Sample:
        """The completion sample of `source` (blocking: call from a worker thread)."""
        found = self.session(tenant).config.source(source)
        where = (found.format, found.location or source) if found is not None else ("", source)
        key = (tenant, *where)  # sources over the same data share one sample
        with self._lock:
            cached = self._samples.get(key)
        if cached is not None and time.monotonic() - cached[0] < SAMPLE_TTL_S:
            return cached[1]
        sample = self.session(tenant).sample(source)
        with self._lock:
            self._samples[key] = (time.monotonic(), sample)
        return sample

    def close(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()
