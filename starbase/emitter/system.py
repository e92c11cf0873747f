"""The simulated shop: its services, their replicas and versions, and the value pools of requests.

Requires: nothing. Guarantees: plain constant data — `SERVICES` in a fixed order, each with
its replicas (pod-style host names that change with the version, as a Kubernetes rollout
gives), its current version and the one a `deploy` rolls out, its base latency and error rate,
and the Lambda function settings CloudWatch mode uses. Changing any value here changes the
records a seed produces.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NamedTuple

ENVIRONMENT = "production"
NAMESPACE = "shop"
ACCOUNT_ID = "123456789012"

# OTel severity numbers (logs data model) and the text the services write for them.
DEBUG, INFO, WARN, ERROR, FATAL = 5, 9, 13, 17, 21
SEVERITY_TEXT: dict[int, str] = {DEBUG: "DEBUG", INFO: "INFO", WARN: "WARN", ERROR: "ERROR"}
SEVERITY_TEXT[FATAL] = "FATAL"


@dataclass(frozen=True)
class Service:
    """One service of the shop.

    `latency_ms` is the median of its own work per request (lognormal, `spread` its sigma);
    `error_rate` the share of its calls that fail when healthy. `versions` are the running
    version and the one a `deploy` rolls out; `lambda_versions` the published Lambda version
    numbers CloudWatch mode shows for them.
    """

    name: str
    replicas: int
    versions: tuple[str, str]
    latency_ms: float
    spread: float
    error_rate: float
    memory_mb: int
    lambda_versions: tuple[int, int]
    log_format: str  # CloudWatch mode: "json", "python" or "node"


SERVICES: tuple[Service, ...] = (
    Service("gateway", 3, ("2.14.1", "2.15.0"), 2.0, 0.5, 0.001, 256, (57, 58), "python"),
    Service("checkout", 3, ("3.8.0", "3.9.0"), 18.0, 0.6, 0.004, 512, (41, 42), "json"),
    Service("payments", 2, ("1.22.4", "1.23.0"), 45.0, 0.5, 0.005, 512, (88, 89), "json"),
    Service("auth", 2, ("4.1.2", "4.2.0"), 6.0, 0.4, 0.002, 256, (23, 24), "python"),
    Service("inventory", 2, ("2.3.7", "2.4.0"), 9.0, 0.6, 0.003, 384, (15, 16), "node"),
)
BY_NAME: dict[str, Service] = {service.name: service for service in SERVICES}
SERVICE_NAMES: tuple[str, ...] = tuple(service.name for service in SERVICES)


def _digest(*parts: object, size: int = 8) -> str:
    return hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=size).hexdigest()


_POD_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def host_name(service: str, version: str, replica: int) -> str:
    """A pod-style host name: `checkout-7f9c6d4b8-x2k4p`; the middle part changes with the
    version (a new ReplicaSet), the suffix with the replica."""
    template = int(_digest(service, version), 16)
    pod = int(_digest(service, version, replica), 16)
    suffix = ""
    for _ in range(5):
        pod, index = divmod(pod, len(_POD_ALPHABET))
        suffix += _POD_ALPHABET[index]
    return f"{service}-{template % 16**9:09x}-{suffix}"


# The gateway gives up on an upstream after this long (and answers 504).
UPSTREAM_TIMEOUT_MS = 5_000
UPSTREAM_TIMEOUT = "upstream timed out (110: Connection timed out) while reading response header"

# Value pools.
USERS = 20_000
SKUS = 4_000
CURRENCIES = ("EUR", "EUR", "EUR", "USD", "USD", "GBP")
PAYMENT_METHODS = ("card", "card", "card", "paypal", "apple_pay")
DECLINE_REASONS = ("insufficient_funds", "card_expired", "do_not_honor", "suspected_fraud")
AUTH_METHODS = ("password", "password", "password", "sso", "passkey")
SEARCH_TERMS = (
    "running shoes", "rain jacket", "usb-c cable", "coffee grinder", "desk lamp",
    "wool socks", "backpack", "headphones", "yoga mat", "water bottle", "gift card",
)  # fmt: skip
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "shop-android/5.12.0 (Pixel 8; Android 15)",
    "shop-ios/5.12.1 (iPhone15,2; iOS 18.1)",
)


class Failure(NamedTuple):
    """One way a call fails: the message logged, its `error.type`, one attribute naming what
    failed, and how long the call hangs before failing (0: it fails at once)."""

    message: str
    error_type: str
    key: str
    value: str
    timeout_ms: int


FAILURES: dict[str, tuple[Failure, ...]] = {
    "gateway": (
        Failure(UPSTREAM_TIMEOUT, "UpstreamTimeout", "upstream.address", "checkout:8080", 5000),
        Failure("no healthy upstream for cluster checkout", "NoHealthyUpstream",
                "upstream.address", "checkout:8080", 0),
    ),
    "checkout": (
        Failure("timeout after 5000ms waiting for db-orders", "DatabaseTimeout",
                "db.instance", "db-orders", 5000),
        Failure("unhandled exception: KeyError: 'shipping_address'", "KeyError",
                "code.function", "orders.create_order", 0),
    ),
    "payments": (
        Failure("timeout after 3000ms waiting for db-payments", "DatabaseTimeout",
                "db.instance", "db-payments", 3000),
        Failure("upstream connect error: connection refused to bank-gateway:443",
                "ConnectionRefused", "upstream.address", "bank-gateway:443", 0),
        Failure("payment provider returned 503 Service Unavailable", "ProviderUnavailable",
                "upstream.address", "api.psp.example:443", 0),
    ),
    "auth": (
        Failure("failed to reach session store redis-auth:6379: i/o timeout",
                "SessionStoreTimeout", "db.instance", "redis-auth", 1000),
        Failure("token validation failed: could not fetch JWKS", "JWKSFetchError",
                "upstream.address", "idp.example:443", 0),
    ),
    "inventory": (
        Failure("database query failed: deadlock detected on table stock", "Deadlock",
                "db.instance", "db-inventory", 0),
        Failure("timeout after 2000ms waiting for db-inventory", "DatabaseTimeout",
                "db.instance", "db-inventory", 2000),
    ),
}  # fmt: skip

# The failure a `deploy`'s new version brings (a bug shipped with it).
REGRESSION = Failure(
    "TypeError: Cannot read properties of undefined (reading 'discount')",
    "TypeError",
    "code.function",
    "pricing.applyPromotions",
    0,
)
