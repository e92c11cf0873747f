"""Synthetic OpenTelemetry logs of a small shop, in the stored layout, fast and reproducible.

Test and benchmark data: the test fixtures (`tests/conftest.py`) and the query and storage
benchmarks use it; nothing in the `starbase` package does.

Requires: numpy and pyarrow; nothing else (no network, no model, no data set).

Guarantees:
- `generate` returns a table whose columns are the OTel logs columns as a router receives
  them (ids as lowercase hex) followed by a string `service` column (`SYNTHETIC_SCHEMA`), the
  shape `write_batch` takes; rows are sorted by
  `time_unix_nano`, every time lies in `[start_ns, start_ns + span_ns)`.
- The same arguments give the same table, byte for byte, given the same numpy and pyarrow
  versions (numpy fixes PCG64's bit stream, but may change its distributions across versions).
- It is vectorised: per-row work happens in numpy and Arrow kernels; Python loops run over
  templates and chunks of `_CHUNK_ROWS` rows, never over rows.
- The content looks like a small real system: `DEFAULT_SERVICES` with different volumes (any
  other service name gets a generic HTTP service profile), a realistic severity mix, bodies from
  per-service templates (HTTP access lines, upstream, database and auth errors, payments, stock),
  attributes only where they make sense, a few hosts per service, and checkout requests whose
  trace id is shared by a gateway, a checkout and a payments row when all three services are
  present. Edge cases are deliberately present on a few rows: null `severity_text`, empty bodies,
  bodies with unicode, quotes and JSON text, `duration_ms` values such as "n/a", null
  trace/span ids (~10% of rows).
- `write_dataset` writes any number of rows with bounded memory through `write_batch`.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from starbase.storage.otel_layout import OTEL_RECORDS_SCHEMA
from starbase.storage.table import write_batch

DEFAULT_SERVICES: tuple[str, ...] = ("gateway", "checkout", "payments", "auth", "inventory")
# As records arrive (hex ids), plus the service: what `write_batch` converts and stores.
SYNTHETIC_SCHEMA = OTEL_RECORDS_SCHEMA.append(pa.field("service", pa.string(), nullable=False))
SEVERITY_TEXT = {5: "DEBUG", 9: "INFO", 13: "WARN", 17: "ERROR", 21: "FATAL"}

# Part of the determinism contract: changing any of these changes the generated rows.
_CHUNK_ROWS = 1 << 20  # rows rendered at a time (bounds the temporaries of `generate`)
_FLOW_ROW_SHARE = 0.12  # share of rows in checkout requests (gateway → checkout → payments)
_FLOW_FAIL_RATE = 0.03  # such requests that time out on the payments database
_TRACE_NULL_RATE = 0.11  # other rows without trace context (≈10% of all rows)
_EMPTY_BODY_RATE = 0.001
_NULL_SEVERITY_TEXT_RATE = 0.002
_DURATION_NA_RATE = 0.003  # duration_ms attribute written as "n/a" / "-" / ""
_SCHEMA_URL = "https://opentelemetry.io/schemas/1.26.0"
_ENVIRONMENT = "production"
_FLOW_SERVICES = ("payments", "checkout", "gateway")  # order in which a request logs

_NS_PER_MS = 1_000_000
_NS_PER_HOUR = 3_600 * 1_000 * _NS_PER_MS
_INT64_MAX = 2**63 - 1

# Value pools for the slots below.
_CURRENCIES = ("EUR", "USD", "GBP")
_CURRENCY_P = (0.6, 0.3, 0.1)
_TIMEOUTS_MS = ("1000", "3000", "3000", "5000", "10000")
_PEERS = ("payments:8443", "inventory:8080", "auth:9000", "checkout:8080", "db-primary:5432")
_DATABASES = ("db-primary", "db-primary", "db-replica-1", "db-replica-2", "redis-cache")
_NOT_A_DURATION = ("n/a", "n/a", "-", "")

# Slots usable as `{name}` in bodies and attribute values (see `_Renderer.slot`).
_SLOTS = frozenset(
    {
        "method", "route", "path", "status", "duration", "duration_attr", "user", "order",
        "sku", "amount", "currency", "items", "qty", "attempt", "score",
        "timeout", "peer", "db", "client_ip",
    }
)  # fmt: skip


@dataclass(frozen=True)
class _Route:
    method: str
    route: str  # the http.route; `{id}` is replaced in the path by a number of `id_kind`
    id_kind: str = ""  # "", "order", "sku" or "user"


@dataclass(frozen=True)
class _Template:
    weight: float  # relative frequency within the service (0: only used by flows)
    severity: int
    body: str  # str.format syntax over _SLOTS
    attrs: tuple[tuple[str, str], ...] = ()  # key -> "{slot}" or a literal
    scope: str = "app"
    statuses: tuple[int, ...] = (200,)
    event: str | None = None
    slow: bool = False  # durations ~15x longer (errors and timeouts)
    route: _Route | None = None  # fixed route instead of one of the service's routes


@dataclass(frozen=True)
class _Profile:
    weight: float  # relative log volume of the service
    scope_version: str
    hosts: tuple[tuple[str, str], ...]  # (host.name, service.version)
    routes: tuple[_Route, ...]
    templates: tuple[_Template, ...]


_HTTP = (
    ("http.method", "{method}"),
    ("http.route", "{route}"),
    ("http.status_code", "{status}"),
    ("duration_ms", "{duration_attr}"),
)
_HTTP_USER = (*_HTTP, ("user.id", "{user}"))
_ACCESS = "{method} {path} {status} {duration}ms"
_OK = (200, 200, 200, 200, 200, 200, 201, 204, 304)
_CLIENT_ERRORS = (400, 401, 403, 404, 404, 404, 409, 429)
_SERVER_ERRORS = (500, 502, 502, 503, 504)


def _access(weight: float, severity: int, statuses: tuple[int, ...], **kw: Any) -> _Template:
    return _Template(weight, severity, _ACCESS, statuses=statuses, slow=severity >= 17, **kw)


_DB_TIMEOUT = _Template(
    1.0,
    17,
    "timeout after {timeout}ms waiting for {db}",
    (("db.instance", "{db}"), ("duration_ms", "{timeout}")),
    scope="db.pool",
    slow=True,
)
_UPSTREAM_REFUSED = _Template(
    1.0,
    17,
    "upstream connect error: connection refused to {peer}",
    (("upstream.address", "{peer}"),),
    scope="http.client",
)


def _weighted(template: _Template, weight: float) -> _Template:
    return replace(template, weight=weight)


_PROFILES: dict[str, _Profile] = {
    "gateway": _Profile(
        weight=0.36,
        scope_version="1.31.2",
        hosts=(
            ("gateway-7d4b9c6f5-x2k9p", "2.14.1"),
            ("gateway-7d4b9c6f5-m8q4z", "2.14.1"),
            ("gateway-7d4b9c6f5-h3v7n", "2.14.1"),
        ),
        routes=(
            _Route("GET", "/api/orders/{id}", "order"),
            _Route("GET", "/api/products/{id}", "sku"),
            _Route("GET", "/api/products/{id}", "sku"),
            _Route("GET", "/api/cart"),
            _Route("POST", "/api/cart/items"),
            _Route("POST", "/api/login"),
            _Route("POST", "/api/payments"),
            _Route("GET", "/healthz"),
        ),
        templates=(
            _access(70, 9, _OK, attrs=_HTTP_USER, scope="envoy.access_log"),
            _access(6, 13, _CLIENT_ERRORS, attrs=_HTTP_USER, scope="envoy.access_log"),
            _access(2.5, 17, _SERVER_ERRORS, attrs=_HTTP, scope="envoy.access_log"),
            _weighted(_UPSTREAM_REFUSED, 1.0),
            _Template(
                18,
                5,
                "matched route {method} {route} -> cluster {peer}",
                (("http.method", "{method}"), ("http.route", "{route}")),
                scope="envoy.router",
            ),
            _Template(
                1.5,
                13,
                "rate limit exceeded for client {client_ip}: 100 req/s",
                (("client.address", "{client_ip}"),),
                scope="envoy.ratelimit",
            ),
            _Template(
                0.4,
                9,
                'request from {client_ip} with user-agent "Mozilla/5.0 (X11; Linux) '
                'Firefox/125.0 «beta»" took {duration}ms',
                (("client.address", "{client_ip}"), ("duration_ms", "{duration_attr}")),
                scope="envoy.access_log",
            ),
            _Template(
                0.01,
                21,
                "config reload failed: listener 0.0.0.0:8443 could not bind, exiting",
                scope="envoy.main",
            ),
        ),
    ),
    "checkout": _Profile(
        weight=0.22,
        scope_version="3.2.5",
        hosts=(
            ("checkout-5f8c7b9d4-q7w2e", "1.8.3"),
            ("checkout-5f8c7b9d4-r5t1y", "1.8.3"),
            ("checkout-canary-6b9d8f7c5-u4i9o", "1.9.0-rc.1"),
        ),
        routes=(
            _Route("GET", "/api/orders/{id}", "order"),
            _Route("POST", "/api/orders"),
            _Route("GET", "/api/cart"),
            _Route("POST", "/api/cart/items"),
        ),
        templates=(
            _access(40, 9, _OK, attrs=_HTTP_USER, scope="org.eclipse.jetty.server.RequestLog"),
            _access(3, 13, _CLIENT_ERRORS, attrs=_HTTP_USER, scope="org.eclipse.jetty.server"),
            _access(1, 17, _SERVER_ERRORS, attrs=_HTTP, scope="org.eclipse.jetty.server"),
            _Template(
                15,
                9,
                "order {order} placed by {user}: {items} items, total {amount} {currency}",
                (("user.id", "{user}"), ("order.id", "{order}")),
                scope="com.shop.checkout.OrderService",
                event="order.placed",
            ),
            _Template(
                20,
                5,
                "cart for {user} loaded from redis-cache in {duration}ms",
                (("user.id", "{user}"), ("duration_ms", "{duration_attr}")),
                scope="com.shop.checkout.CartRepository",
            ),
            _Template(
                4,
                13,
                "stock reservation retry {attempt}/5 for order {order}",
                (("order.id", "{order}"),),
                scope="com.shop.checkout.InventoryClient",
            ),
            _weighted(_UPSTREAM_REFUSED, 1.5),
            _weighted(_DB_TIMEOUT, 1.2),
            _Template(
                0.5,
                9,
                'order {order} note from customer: "Bitte vor 18 Uhr liefern — danke! 🙂"',
                (("order.id", "{order}"),),
                scope="com.shop.checkout.OrderService",
            ),
            _Template(
                0.02,
                21,
                "unrecoverable: connection pool to {db} exhausted (50/50), shutting down",
                (("db.instance", "{db}"),),
                scope="com.zaxxer.hikari.pool.HikariPool",
            ),
        ),
    ),
    "payments": _Profile(
        weight=0.10,
        scope_version="0.9.4",
        hosts=(("payments-6c9f7d8b5-a1s2d", "4.2.0"), ("payments-6c9f7d8b5-f3g4h", "4.2.0")),
        routes=(
            _Route("POST", "/api/payments"),
            _Route("GET", "/api/payments/{id}", "order"),
            _Route("POST", "/api/refunds"),
        ),
        templates=(
            _access(40, 9, _OK, attrs=_HTTP, scope="payments/http"),
            _access(2, 17, _SERVER_ERRORS, attrs=_HTTP, scope="payments/http"),
            _Template(
                25,
                9,
                "charge authorized for order {order}: {amount} {currency}",
                (("order.id", "{order}"), ("payment.amount", "{amount}")),
                scope="payments/charge",
                event="payment.authorized",
            ),
            _Template(
                6,
                13,
                'card declined for order {order}: issuer said "insufficient funds"',
                (("order.id", "{order}"), ("payment.decline_code", "insufficient_funds")),
                scope="payments/charge",
            ),
            _Template(
                20,
                5,
                "fraud score {score} for order {order} (threshold 80)",
                (("order.id", "{order}"),),
                scope="payments/risk",
            ),
            _weighted(_DB_TIMEOUT, 2),
            _Template(
                2,
                9,
                '{{"event":"refund.issued","order":"{order}","amount":"{amount}",'
                '"currency":"{currency}"}}',
                (("order.id", "{order}"),),
                scope="payments/refund",
            ),
            _Template(
                0.05,
                21,
                "ledger checksum mismatch for order {order}, refusing to continue",
                (("order.id", "{order}"),),
                scope="payments/ledger",
            ),
        ),
    ),
    "auth": _Profile(
        weight=0.20,
        scope_version="2.0.1",
        hosts=(("auth-84d6f9c7b-z9x8c", "3.11.0"), ("auth-84d6f9c7b-v7b6n", "3.11.0")),
        routes=(
            _Route("POST", "/api/login"),
            _Route("POST", "/api/token/refresh"),
            _Route("GET", "/api/users/{id}", "user"),
        ),
        templates=(
            _access(20, 9, _OK, attrs=_HTTP, scope="uvicorn.access"),
            _access(3, 13, (401, 401, 403, 429), attrs=_HTTP, scope="uvicorn.access"),
            _Template(
                30,
                9,
                "login succeeded for user {user} from {client_ip}",
                (("user.id", "{user}"), ("client.address", "{client_ip}")),
                scope="auth.login",
                event="user.login",
            ),
            _Template(
                6,
                13,
                "login failed for user {user}: bad password",
                (("user.id", "{user}"), ("auth.failure_reason", "bad_password")),
                scope="auth.login",
                event="user.login",
            ),
            _Template(
                30,
                5,
                "token refreshed for user {user}, expires in 3600s",
                (("user.id", "{user}"),),
                scope="auth.tokens",
            ),
            _Template(
                0.6,
                17,
                "account {user} locked after 5 failed attempts",
                (("user.id", "{user}"),),
                scope="auth.login",
            ),
            _Template(
                0.5,
                9,
                "user {user} changed display name to \"Łukasz 'Luke' Żółć 🚀\"",
                (("user.id", "{user}"),),
                scope="auth.profile",
            ),
            _weighted(_DB_TIMEOUT, 0.3),
            _Template(
                0.01,
                21,
                "signing key kid=2026-11 not found in keystore, cannot issue tokens",
                scope="auth.tokens",
            ),
        ),
    ),
    "inventory": _Profile(
        weight=0.12,
        scope_version="0.4.0",
        hosts=(("inventory-9b7c5d6f8-j5k6l", "0.17.2"), ("inventory-9b7c5d6f8-p0o9i", "0.17.2")),
        routes=(
            _Route("GET", "/api/products/{id}", "sku"),
            _Route("GET", "/api/stock/{id}", "sku"),
            _Route("POST", "/api/stock/reserve"),
        ),
        templates=(
            _access(45, 9, _OK, attrs=_HTTP, scope="tower_http::trace"),
            _access(2, 13, (404, 409), attrs=_HTTP, scope="tower_http::trace"),
            _Template(
                25,
                5,
                "stock level for {sku}: {qty} units",
                (("sku", "{sku}"),),
                scope="inventory::stock",
            ),
            _Template(
                5,
                13,
                "low stock for {sku}: only {qty} units left",
                (("sku", "{sku}"),),
                scope="inventory::stock",
            ),
            _Template(
                10,
                9,
                "reserved {qty} x {sku} for order {order}",
                (("sku", "{sku}"), ("order.id", "{order}")),
                scope="inventory::reserve",
            ),
            _Template(
                5,
                9,
                '{{"event":"stock.sync","sku":"{sku}","delta":{qty}}}',
                scope="inventory::sync",
            ),
            _weighted(_DB_TIMEOUT, 1.5),
        ),
    ),
}
_GENERIC = _Profile(
    weight=0.05,
    scope_version="1.0.0",
    hosts=(("{service}-0", "1.0.0"), ("{service}-1", "1.0.0")),
    routes=(
        _Route("GET", "/api/items/{id}", "sku"),
        _Route("POST", "/api/items"),
        _Route("GET", "/healthz"),
    ),
    templates=(
        _access(70, 9, _OK, attrs=_HTTP),
        _access(5, 13, _CLIENT_ERRORS, attrs=_HTTP),
        _access(2, 17, _SERVER_ERRORS, attrs=_HTTP),
        _Template(20, 5, "cache hit for key {sku}", (("sku", "{sku}"),), scope="cache"),
        _weighted(_DB_TIMEOUT, 2),
    ),
)
_CHECKOUT_ROUTE = _Route("POST", "/api/checkout")
# One request: payments logs first, then checkout, then the gateway's access line; ok and failed.
_FLOW_TEMPLATES: dict[str, tuple[_Template, _Template]] = {
    "payments": (
        _Template(
            0,
            9,
            "charge authorized for order {order}: {amount} {currency}",
            (("order.id", "{order}"), ("payment.amount", "{amount}")),
            scope="payments/charge",
            event="payment.authorized",
        ),
        _Template(
            0,
            17,
            "timeout after 3000ms waiting for db-primary",
            (("order.id", "{order}"), ("db.instance", "db-primary")),
            scope="db.pool",
        ),
    ),
    "checkout": (
        _Template(
            0,
            9,
            "order {order} placed by {user}: {items} items, total {amount} {currency}",
            (("user.id", "{user}"), ("order.id", "{order}")),
            scope="com.shop.checkout.OrderService",
            event="order.placed",
        ),
        _Template(
            0,
            17,
            "order {order} failed: payments:8443 returned 503 after {duration}ms",
            (("user.id", "{user}"), ("order.id", "{order}"), ("duration_ms", "{duration}")),
            scope="com.shop.checkout.PaymentClient",
        ),
    ),
    "gateway": (
        _access(
            0, 9, (200, 201), attrs=_HTTP_USER, route=_CHECKOUT_ROUTE, scope="envoy.access_log"
        ),
        _access(
            0, 17, (502, 504), attrs=_HTTP_USER, route=_CHECKOUT_ROUTE, scope="envoy.access_log"
        ),
    ),
}

IntArray = npt.NDArray[np.int64]
Indices = npt.NDArray[np.intp]


@dataclass(frozen=True)
class _Bound:
    """A template bound to a service, parsed and ready to render."""

    service: int
    weight: float  # absolute (service weight x template share); 0 for flow templates
    template: _Template
    body: tuple[tuple[bool, str], ...]  # (is_slot, slot name or literal text)
    attr_keys: tuple[str, ...]
    attr_values: tuple[tuple[bool, str], ...]
    routes: tuple[_Route, ...]
    methods: Any = field(compare=False)  # pa.StringArray, one per route
    route_names: Any = field(compare=False)
    prefixes: Any = field(compare=False)  # the path before `{id}`
    id_kinds: npt.NDArray[np.int8] = field(compare=False)  # 0 none, 1 order, 2 sku, 3 user
    gets: npt.NDArray[np.bool_] = field(compare=False)  # per route: is the method GET
    statuses: IntArray = field(compare=False)


@dataclass(frozen=True)
class _Catalogue:
    """Everything about `services` that does not depend on the rows."""

    services: tuple[str, ...]
    templates: tuple[_Bound, ...]
    free_ids: Indices  # templates drawn at random, with their cumulative probabilities
    free_cumulative: npt.NDArray[np.float64]
    flow_ids: Indices | None  # [fail][role] -> template id, None without the three services
    tmpl_service: Indices
    tmpl_severity: npt.NDArray[np.int32]
    tmpl_slow: npt.NDArray[np.bool_]
    tmpl_severity_text: Any  # pa.StringArray per template
    tmpl_scope: Any
    tmpl_event: Any
    tmpl_attr_count: Indices
    tmpl_key_start: Indices  # into attr_keys
    attr_keys: Any  # pa.StringArray: every template's attribute keys, template after template
    service_names: Any  # pa.StringArray per service
    scope_versions: Any
    host_start: Indices  # service -> first index into `resources`
    host_count: Indices
    resources: Any  # pa.MapArray, one resource per (service, host)


def _parse(text: str) -> tuple[tuple[bool, str], ...]:
    parts: list[tuple[bool, str]] = []
    for literal, name, spec, conversion in string.Formatter().parse(text):
        if literal:
            parts.append((False, literal))
        if name is not None:
            if spec or conversion or name not in _SLOTS:
                raise ValueError(f"unknown slot {{{name}}} in template {text!r}")
            parts.append((True, name))
    return tuple(parts)


def _bind(service: int, profile: _Profile, template: _Template, share: float) -> _Bound:
    routes = (template.route,) if template.route else profile.routes
    attr_values = tuple(_parse(value) for _, value in template.attrs)
    if any(len(parts) != 1 for parts in attr_values):
        raise ValueError(f"attribute values must be one slot or one literal: {template.attrs}")
    kinds = {"": 0, "order": 1, "sku": 2, "user": 3}
    return _Bound(
        service=service,
        weight=share,
        template=template,
        body=_parse(template.body),
        attr_keys=tuple(key for key, _ in template.attrs),
        attr_values=tuple(parts[0] for parts in attr_values),
        routes=routes,
        methods=pa.array([r.method for r in routes], pa.string()),
        route_names=pa.array([r.route for r in routes], pa.string()),
        prefixes=pa.array([r.route.split("{id}")[0] for r in routes], pa.string()),
        id_kinds=np.array([kinds[r.id_kind] for r in routes], dtype=np.int8),
        gets=np.array([r.method == "GET" for r in routes], dtype=np.bool_),
        statuses=np.array(template.statuses, dtype=np.int64),
    )


@lru_cache(maxsize=16)
def _catalogue(services: tuple[str, ...]) -> _Catalogue:
    if not services or len(set(services)) != len(services) or not all(services):
        raise ValueError(f"services must be distinct non-empty names, not {services!r}")
    bound: list[_Bound] = []
    resources: list[list[tuple[str, str]]] = []
    host_start: list[int] = []
    profiles = [_PROFILES.get(name, _GENERIC) for name in services]
    total = sum(p.weight for p in profiles)
    for s, (name, profile) in enumerate(zip(services, profiles, strict=True)):
        template_total = sum(t.weight for t in profile.templates)
        for template in profile.templates:
            share = profile.weight / total * template.weight / template_total
            bound.append(_bind(s, profile, template, share))
        host_start.append(len(resources))
        for host, version in profile.hosts:
            resources.append(
                [
                    ("service.name", name),
                    ("service.version", version),
                    ("host.name", host.format(service=name)),
                    ("deployment.environment", _ENVIRONMENT),
                ]
            )
    flow_ids: Indices | None = None
    if all(name in services for name in _FLOW_SERVICES):
        ids = []
        for outcome in (0, 1):
            for name in _FLOW_SERVICES:
                s = services.index(name)
                ids.append(len(bound))
                bound.append(_bind(s, profiles[s], _FLOW_TEMPLATES[name][outcome], 0.0))
        flow_ids = np.array(ids, dtype=np.intp).reshape(2, len(_FLOW_SERVICES))
    free = [i for i, b in enumerate(bound) if b.weight > 0]
    cumulative = np.cumsum([bound[i].weight for i in free])
    cumulative /= cumulative[-1]
    cumulative[-1] = 1.0
    return _Catalogue(
        services=services,
        templates=tuple(bound),
        free_ids=np.array(free, dtype=np.intp),
        free_cumulative=cumulative,
        flow_ids=flow_ids,
        tmpl_service=np.array([b.service for b in bound], dtype=np.intp),
        tmpl_severity=np.array([b.template.severity for b in bound], dtype=np.int32),
        tmpl_slow=np.array([b.template.slow for b in bound], dtype=np.bool_),
        tmpl_severity_text=pa.array(
            [SEVERITY_TEXT[b.template.severity] for b in bound], pa.string()
        ),
        tmpl_scope=pa.array([b.template.scope for b in bound], pa.string()),
        tmpl_event=pa.array([b.template.event for b in bound], pa.string()),
        tmpl_attr_count=np.array([len(b.attr_keys) for b in bound], dtype=np.intp),
        tmpl_key_start=np.cumsum([0, *(len(b.attr_keys) for b in bound[:-1])]).astype(np.intp),
        attr_keys=pa.array([key for b in bound for key in b.attr_keys], pa.string()),
        service_names=pa.array(list(services), pa.string()),
        scope_versions=pa.array([p.scope_version for p in profiles], pa.string()),
        host_start=np.array(host_start, dtype=np.intp),
        host_count=np.array([len(p.hosts) for p in profiles], dtype=np.intp),
        resources=pa.array(resources, pa.map_(pa.string(), pa.string())),
    )


@dataclass
class _Flows:
    """Values shared by the rows of one request (indexed by flow id)."""

    fail: npt.NDArray[np.bool_]
    total_ms: IntArray
    user: IntArray
    order: IntArray
    cents: IntArray
    currency: IntArray
    items: IntArray
    trace: npt.NDArray[np.uint8]  # (flows, 16)


def generate(
    rows: int,
    *,
    start_ns: int,
    span_ns: int,
    seed: int = 0,
    services: tuple[str, ...] = DEFAULT_SERVICES,
) -> pa.Table:
    """`rows` synthetic log records in `SYNTHETIC_SCHEMA`, times in [start_ns, start_ns + span_ns).

    Deterministic in all its arguments; rows are sorted by time. See the module docstring.
    """
    return _generate(rows, start_ns, span_ns, np.random.SeedSequence(seed), services)


def write_dataset(
    root: Path,
    rows: int,
    *,
    start_ns: int,
    span_ns: int,
    seed: int = 0,
    batch_rows: int = 1_000_000,
    services: tuple[str, ...] = DEFAULT_SERVICES,
) -> int:
    """Generate `rows` records over [start_ns, start_ns + span_ns) and `write_batch` them to `root`.

    Returns the number of rows written (`rows`). Memory stays bounded: each batch holds at most
    `batch_rows` rows (peak ≈ 1.5 KB per batch row while generating and writing) and covers a
    contiguous slice of the time range with its share of the rows, so the density is uniform
    over the whole range; batch k is seeded from (`seed`, k).

    Trade-off, the number and size of files: `write_batch` writes one file per day that a
    batch touches. Random batches would each touch every day, leaving one small file per batch
    in each. Slicing by time keeps a batch to the hours it covers, and when an hour holds at
    most `batch_rows` rows the slices are cut on hour boundaries (whole hours per batch), so a
    day gets one or two files, as large as the data allows (compaction merges them). When an
    hour holds more, the batches are equal slices; raise `batch_rows` (more memory) for fewer,
    larger files. The price: no request (shared trace)
    crosses a batch boundary, and the rows differ from those of one `generate(rows)` call.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    _check(rows, start_ns, span_ns)
    written = 0
    root_seq = np.random.SeedSequence(seed)
    for k, (lo, hi, n) in enumerate(_batches(rows, start_ns, span_ns, batch_rows)):
        seq = np.random.SeedSequence(root_seq.entropy, spawn_key=(k,))
        write_batch(root, _generate(n, lo, hi - lo, seq, services))
        written += n
    return written


def _check(rows: int, start_ns: int, span_ns: int) -> None:
    if rows < 0:
        raise ValueError("rows must not be negative")
    if span_ns < 1:
        raise ValueError("span_ns must be at least 1")
    if start_ns < -(2**63) or start_ns + span_ns > _INT64_MAX:
        raise ValueError("start_ns and start_ns + span_ns must fit in int64")


def _batches(rows: int, start: int, span: int, batch_rows: int) -> Iterator[tuple[int, int, int]]:
    """(time from, time to, rows) for each batch: at most `batch_rows` rows, in time order.

    Slices are contiguous and hold rows in proportion to their width; they overlap only in the
    degenerate case of more batches than nanoseconds in the span.
    """
    end = start + span
    if rows * _NS_PER_HOUR <= batch_rows * span:  # an hour holds at most batch_rows rows
        step = (batch_rows * span) // (rows * _NS_PER_HOUR) * _NS_PER_HOUR if rows else span
        first = (start // step + 1) * step  # whole hours (of the epoch) per batch
        bounds = [start, *range(first, end, step), end]
        for lo, hi in itertools.pairwise(bounds):
            n = rows * (hi - start) // span - rows * (lo - start) // span
            if n:
                yield lo, hi, n
        return
    pieces = -(-rows // batch_rows)
    for k in range(pieces):
        lo, hi = start + span * k // pieces, start + span * (k + 1) // pieces
        yield lo, min(max(hi, lo + 1), end), rows * (k + 1) // pieces - rows * k // pieces


def _generate(
    rows: int, start: int, span: int, seq: np.random.SeedSequence, services: tuple[str, ...]
) -> pa.Table:
    _check(rows, start, span)
    cat = _catalogue(tuple(services))
    rng = np.random.default_rng(seq)
    end = start + span
    n_flows = int(rows * _FLOW_ROW_SHARE) // 3 if cat.flow_ids is not None else 0
    n_roles = len(_FLOW_SERVICES)
    free_times = np.sort(rng.integers(start, end, rows - n_roles * n_flows, dtype=np.int64))

    # Requests: payments answers after a while (3 s when its database times out), then
    # checkout logs, then the gateway's access line; clipped to the range.
    t0 = rng.integers(start, end, n_flows, dtype=np.int64)
    fail = rng.random(n_flows) < _FLOW_FAIL_RATE
    ok_wait = (rng.lognormal(np.log(120.0), 0.6, n_flows) * _NS_PER_MS).astype(np.int64)
    timeout_wait = 3_000 * _NS_PER_MS + rng.integers(0, 5 * _NS_PER_MS, n_flows)
    offsets = np.cumsum(
        [
            np.where(fail, timeout_wait, ok_wait),
            rng.integers(1 * _NS_PER_MS, 20 * _NS_PER_MS, n_flows),
            rng.integers(_NS_PER_MS // 3, 5 * _NS_PER_MS, n_flows),
        ],
        axis=0,
    )
    flow_times = t0 + np.minimum(offsets, end - 1 - t0)  # (roles, flows)
    flows = _Flows(
        fail=fail,
        total_ms=np.maximum(1, (flow_times[-1] - t0) // _NS_PER_MS),
        user=_users(rng, n_flows),
        order=rng.integers(100_000, 1_000_000, n_flows),
        cents=rng.integers(499, 49_999, n_flows),
        currency=rng.choice(len(_CURRENCIES), n_flows, p=_CURRENCY_P),
        items=rng.integers(1, 8, n_flows),
        trace=_random_bytes(rng, n_flows, 16),
    )
    flat_times = flow_times.ravel()
    by_time = np.argsort(flat_times, kind="stable")
    flow_sorted = flat_times[by_time]
    positions = np.searchsorted(free_times, flow_sorted, side="right") + np.arange(by_time.size)
    times = np.empty(rows, dtype=np.int64)
    flow_of = np.full(rows, -1, dtype=np.int64)
    role_of = np.zeros(rows, dtype=np.int64)
    is_flow = np.zeros(rows, dtype=np.bool_)
    is_flow[positions] = True
    times[positions] = flow_sorted
    times[~is_flow] = free_times
    flow_of[positions] = by_time % max(n_flows, 1)
    role_of[positions] = by_time // max(n_flows, 1)

    chunks = [
        _render(cat, rng, flows, times[i : i + _CHUNK_ROWS], flow_of[i : i + _CHUNK_ROWS],
                role_of[i : i + _CHUNK_ROWS])
        for i in range(0, rows, _CHUNK_ROWS)
    ]  # fmt: skip
    columns = [
        pa.chunked_array([chunk[i] for chunk in chunks], type=f.type)
        for i, f in enumerate(SYNTHETIC_SCHEMA)
    ]
    return pa.Table.from_arrays(columns, schema=SYNTHETIC_SCHEMA)


def _users(rng: np.random.Generator, n: int) -> IntArray:
    """User numbers: a few very active users, the rest spread over 9000."""
    hot = rng.random(n) < 0.2
    return np.where(hot, rng.integers(1000, 1020, n), rng.integers(1000, 10_000, n))


def _random_bytes(rng: np.random.Generator, n: int, width: int) -> npt.NDArray[np.uint8]:
    return np.frombuffer(bytearray(rng.bytes(n * width)), dtype=np.uint8).reshape(n, width)


# byte -> its two lowercase hex digits, as the uint16 whose memory holds them in order
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).astype(np.uint16)
_HEX_PAIRS = _HEX_DIGITS[np.arange(256) >> 4] | (_HEX_DIGITS[np.arange(256) & 15] << 8)
if np.little_endian is False:  # pragma: no cover
    _HEX_PAIRS = _HEX_PAIRS.byteswap()


def _hex(raw: npt.NDArray[np.uint8], valid: npt.NDArray[np.bool_]) -> pa.Array:
    """Lowercase hex strings of the rows of `raw` where `valid`, null elsewhere (no loop)."""
    n, width = raw.shape
    text = _HEX_PAIRS[raw[valid]]  # (kept, width) uint16 = (kept, 2 * width) ASCII bytes
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(valid * np.int32(2 * width), out=offsets[1:])
    bitmap = np.packbits(valid, bitorder="little")
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(text), pa.py_buffer(bitmap), int(n - valid.sum())
    )


def _render(
    cat: _Catalogue,
    rng: np.random.Generator,
    flows: _Flows,
    times: IntArray,
    flow_of: IntArray,
    role_of: IntArray,
) -> list[pa.Array]:
    """The SYNTHETIC_SCHEMA columns of one chunk of time-sorted rows."""
    m = times.size
    in_flow = flow_of >= 0
    fid = flow_of[in_flow]
    tmpl = cat.free_ids[np.searchsorted(cat.free_cumulative, rng.random(m), side="right")]
    if cat.flow_ids is not None:
        tmpl[in_flow] = cat.flow_ids[flows.fail[fid].astype(np.intp), role_of[in_flow]]
    service = cat.tmpl_service[tmpl]

    duration = np.maximum(1, rng.lognormal(3.0, 0.9, m)).astype(np.int64)
    duration[cat.tmpl_slow[tmpl]] *= 15
    values = _Values(
        u_route=rng.random(m),
        u_status=rng.random(m),
        duration=duration,
        not_a_duration=rng.random(m) < _DURATION_NA_RATE,
        not_a_duration_kind=rng.integers(0, len(_NOT_A_DURATION), m),
        user=_users(rng, m),
        order=rng.integers(100_000, 1_000_000, m),
        sku=rng.integers(1000, 5000, m),
        cents=rng.integers(499, 49_999, m),
        currency=rng.choice(len(_CURRENCIES), m, p=_CURRENCY_P),
        items=rng.integers(1, 8, m),
        qty=rng.integers(0, 500, m),
        attempt=rng.integers(1, 6, m),
        score=rng.integers(0, 100, m),
        timeout=rng.integers(0, len(_TIMEOUTS_MS), m),
        peer=rng.integers(0, len(_PEERS), m),
        db=rng.integers(0, len(_DATABASES), m),
        client_ip=rng.integers(0, 1 << 16, m),
    )
    for name in ("user", "order", "cents", "currency", "items"):
        getattr(values, name)[in_flow] = getattr(flows, name)[fid]
    values.duration[in_flow] = flows.total_ms[fid]

    trace_raw = _random_bytes(rng, m, 16)
    trace_raw[in_flow] = flows.trace[fid]
    has_trace = (rng.random(m) >= _TRACE_NULL_RATE) | in_flow
    span_raw = _random_bytes(rng, m, 8)
    host = cat.host_start[service] + (rng.random(m) * cat.host_count[service]).astype(np.intp)
    observed = times + np.minimum(
        (rng.lognormal(np.log(40.0), 1.0, m) * _NS_PER_MS).astype(np.int64),
        _INT64_MAX - times,
    )
    empty_body = rng.random(m) < _EMPTY_BODY_RATE
    no_severity_text = rng.random(m) < _NULL_SEVERITY_TEXT_RATE

    body, attributes = _render_templates(cat, tmpl, values)
    body = pc.if_else(pa.array(empty_body), pa.scalar("", pa.string()), body)
    severity_text = pc.if_else(
        pa.array(no_severity_text), pa.scalar(None, pa.string()), cat.tmpl_severity_text.take(tmpl)
    )
    return [
        pa.array(times, pa.int64()),
        pa.array(observed, pa.int64()),
        pa.array(cat.tmpl_severity[tmpl], pa.int32()),
        severity_text,
        body,
        attributes,
        cat.resources.take(pa.array(host)),
        pa.repeat(pa.scalar(_SCHEMA_URL, pa.string()), m),
        cat.tmpl_scope.take(tmpl),
        cat.scope_versions.take(service),
        pa.nulls(m, pa.map_(pa.string(), pa.string())),
        _hex(trace_raw, has_trace),
        _hex(span_raw, has_trace),
        pa.array(has_trace.astype(np.int32), pa.int32()),
        pa.array(np.zeros(m, dtype=np.int32), pa.int32()),
        cat.tmpl_event.take(tmpl),
        cat.service_names.take(service),
    ]


@dataclass
class _Values:
    """Random raw values for every row of a chunk; templates render the ones they use."""

    u_route: npt.NDArray[np.float64]
    u_status: npt.NDArray[np.float64]
    duration: IntArray
    not_a_duration: npt.NDArray[np.bool_]
    not_a_duration_kind: IntArray
    user: IntArray
    order: IntArray
    sku: IntArray
    cents: IntArray
    currency: IntArray
    items: IntArray
    qty: IntArray
    attempt: IntArray
    score: IntArray
    timeout: IntArray
    peer: IntArray
    db: IntArray
    client_ip: IntArray


_CURRENCY_ARRAY = pa.array(_CURRENCIES, pa.string())
_TIMEOUT_ARRAY = pa.array(_TIMEOUTS_MS, pa.string())
_PEER_ARRAY = pa.array(_PEERS, pa.string())
_DB_ARRAY = pa.array(_DATABASES, pa.string())
_NOT_A_DURATION_ARRAY = pa.array(_NOT_A_DURATION, pa.string())


def _render_templates(cat: _Catalogue, tmpl: Indices, values: _Values) -> tuple[pa.Array, pa.Array]:
    """Bodies and log_attributes of every row, rendered one template (group of rows) at a time.

    Each group renders its bodies and attribute values as whole columns; one gather per output
    column then puts every value at its row (maps are assembled from offsets, keys and items,
    which is several times faster than taking map arrays).
    """
    m = tmpl.size
    order = np.argsort(tmpl, kind="stable")
    ids = tmpl[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if m else np.array([], np.intp)
    counts = cat.tmpl_attr_count[tmpl]
    offsets = np.zeros(m + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    entry_row = np.repeat(np.arange(m), counts)
    key_ids = cat.tmpl_key_start[tmpl][entry_row] + (np.arange(offsets[-1]) - offsets[entry_row])
    item_at = np.empty(offsets[-1], dtype=np.int64)
    body_at = np.empty(m, dtype=np.int64)
    bodies: list[pa.Array] = []
    items: list[pa.Array] = []
    body_base = item_base = 0
    for a, b in zip(starts, [*starts[1:], m], strict=True):
        rows = order[a:b]
        renderer = _Renderer(cat.templates[int(ids[a])], rows, values)
        bodies.append(renderer.join(renderer.bound.body))
        body_at[rows] = body_base + np.arange(rows.size)
        body_base += rows.size
        columns = renderer.attribute_values()
        if columns:
            k = len(columns)
            slots = offsets[rows][:, None] + np.arange(k)[None, :]
            item_at[slots] = (
                item_base + np.arange(k)[None, :] * rows.size + np.arange(rows.size)[:, None]
            )
            items.extend(columns)
            item_base += k * rows.size
    body = _concat(bodies).take(body_at)
    attributes = pa.MapArray.from_arrays(
        pa.array(offsets), cat.attr_keys.take(key_ids), _concat(items).take(item_at)
    )
    return body, attributes


def _concat(arrays: list[pa.Array]) -> pa.Array:
    return pa.concat_arrays(arrays) if arrays else pa.array([], pa.string())


class _Renderer:
    """Renders one bound template for the given rows of a chunk."""

    def __init__(self, bound: _Bound, rows: Indices, values: _Values) -> None:
        self.bound, self.rows, self.values = bound, rows, values
        self.n = rows.size
        self.cache: dict[str, pa.Array] = {}
        n_routes = len(bound.routes)
        self.route = np.minimum((values.u_route[rows] * n_routes).astype(np.intp), n_routes - 1)

    def part(self, is_slot: bool, text: str) -> Any:
        return self.slot(text) if is_slot else pa.scalar(text, pa.string())

    def join(self, parts: tuple[tuple[bool, str], ...]) -> pa.Array:
        if not any(is_slot for is_slot, _ in parts):
            return pa.repeat(pa.scalar("".join(t for _, t in parts), pa.string()), self.n)
        if len(parts) == 1:
            return self.slot(parts[0][1])
        return pc.binary_join_element_wise(*(self.part(*p) for p in parts), "")

    def attribute_values(self) -> list[pa.Array]:
        """One column of values per attribute key of the template, in key order."""
        return [
            self.slot(text) if is_slot else pa.repeat(pa.scalar(text, pa.string()), self.n)
            for is_slot, text in self.bound.attr_values
        ]

    def slot(self, name: str) -> pa.Array:
        if name not in self.cache:
            self.cache[name] = self._compute(name)
        return self.cache[name]

    def _number(self, raw: IntArray, prefix: str = "") -> pa.Array:
        text = pa.array(raw[self.rows]).cast(pa.string())
        return pc.binary_join_element_wise(prefix, text, "") if prefix else text

    def _compute(self, name: str) -> pa.Array:
        v, rows, bound = self.values, self.rows, self.bound
        if name == "method":
            return bound.methods.take(self.route)
        if name == "route":
            return bound.route_names.take(self.route)
        if name == "path":
            kind = bound.id_kinds[self.route]
            number = np.choose(kind, [v.order[rows], v.order[rows], v.sku[rows], v.user[rows]])
            text = pc.if_else(pa.array(kind == 0), "", pa.array(number).cast(pa.string()))
            return pc.binary_join_element_wise(bound.prefixes.take(self.route), text, "")
        if name == "status":
            statuses = bound.statuses
            pick = np.minimum((v.u_status[rows] * statuses.size).astype(np.intp), statuses.size - 1)
            status = statuses[pick]
            get = bound.gets[self.route]  # GETs answer 200 rather than 201/204, others not 304
            status[get & ((status == 201) | (status == 204))] = 200
            status[~get & (status == 304)] = 200
            return pa.array(status).cast(pa.string())
        if name == "duration":
            return self._number(v.duration)
        if name == "duration_attr":
            missing = _NOT_A_DURATION_ARRAY.take(v.not_a_duration_kind[rows])
            return pc.if_else(pa.array(v.not_a_duration[rows]), missing, self.slot("duration"))
        if name == "user":
            return self._number(v.user, "u-")
        if name == "order":
            return self._number(v.order, "o-")
        if name == "sku":
            return self._number(v.sku, "sku-")
        if name == "amount":
            cents = v.cents[rows]
            fraction = pc.utf8_lpad(pa.array(cents % 100).cast(pa.string()), 2, "0")
            return pc.binary_join_element_wise(
                pa.array(cents // 100).cast(pa.string()), fraction, "."
            )
        if name == "currency":
            return _CURRENCY_ARRAY.take(v.currency[rows])
        if name in ("items", "qty", "attempt", "score"):
            return self._number(getattr(v, name))
        if name == "timeout":
            return _TIMEOUT_ARRAY.take(v.timeout[rows])
        if name == "peer":
            return _PEER_ARRAY.take(v.peer[rows])
        if name == "db":
            return _DB_ARRAY.take(v.db[rows])
        if name == "client_ip":
            ip = v.client_ip[rows]
            return pc.binary_join_element_wise(
                "10.0",
                pa.array(ip >> 8).cast(pa.string()),
                pa.array(ip & 255).cast(pa.string()),
                ".",
            )
        raise AssertionError(f"slot {name} has no renderer")  # _parse refuses unknown slots
