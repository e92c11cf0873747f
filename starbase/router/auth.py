"""Who may write, and into which namespace: bearer tokens and Firehose access keys.

Requires: `RouterConfig.tokens` / `firehose_keys` (secret → tenant or None). Guarantees: with
neither configured every request is let in to the default namespace (the router warns at
start); otherwise OTLP and raw requests need `Authorization: Bearer <token>` and Firehose
requests an `X-Amz-Firehose-Access-Key` that is a configured key or token; a missing secret is
401, a wrong one 403; secrets are compared in constant time. The answer is a `Grant` naming the
tenant (None = the default namespace) or a `Problem`. `/metrics` (every worker's and tenant's
volumes) is open only when the router is open and no metrics token is set, or with
`public_metrics`; otherwise it needs a token not bound to a tenant, or a metrics token.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starbase.router.config import RouterConfig
from starbase.router.problems import Problem


@dataclass(frozen=True)
class Grant:
    tenant: str | None


def _match(secret: str, known: dict[str, str | None]) -> Grant | None:
    found: Grant | None = None
    given = secret.encode()
    for candidate, tenant in known.items():
        if hmac.compare_digest(given, candidate.encode()):
            found = Grant(tenant)
    return found


def bearer(config: RouterConfig, authorization: str | None) -> Grant | Problem:
    if config.open:
        return Grant(None)
    return bearer_token(config.tokens, authorization)


def bearer_token(tokens: dict[str, str | None], authorization: str | None) -> Grant | Problem:
    """The grant of `Authorization: Bearer <token>` among `tokens` (secret → tenant); also
    used by `starbase serve`, whose tokens have the router's `SECRET[=TENANT]` form."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return Problem(401, "missing bearer token (Authorization: Bearer <token>)")
    grant = _match(token.strip(), tokens)
    return grant if grant is not None else Problem(403, "unknown bearer token")


def firehose(config: RouterConfig, access_key: str | None) -> Grant | Problem:
    if config.open:
        return Grant(None)
    if not access_key:
        return Problem(401, "missing X-Amz-Firehose-Access-Key")
    grant = _match(access_key, {**config.tokens, **config.firehose_keys})
    return grant if grant is not None else Problem(403, "unknown Firehose access key")


def metrics(config: RouterConfig, authorization: str | None) -> Grant | Problem:
    if config.public_metrics or (config.open and not config.metrics_tokens):
        return Grant(None)
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return Problem(401, "missing bearer token (Authorization: Bearer <token>)")
    readers: dict[str, str | None] = {t: None for t in config.metrics_tokens}
    readers |= {t: None for t, tenant in config.tokens.items() if tenant is None}
    if _match(token.strip(), readers) is None:
        return Problem(403, "this token may not read /metrics (use an operator or metrics token)")
    return Grant(None)
