"""Request flows: what each kind of request does across the services, and what they log.

Requires: `system`, `scenarios.Health`, `records`. Guarantees: `FLOWS` lists (weight, flow)
pairs; a flow takes a `Calls` builder and drives it — entering services (a replica is chosen,
honouring how many run the new version), spending their latency, failing at their error rate,
logging what such a service logs — all drawn from the builder's `random.Random`, so the same
draws give the same request. Failures propagate: a caller logs and answers what its callee's
failure implies (retries, 4xx/5xx, timeouts). Every flow enters the gateway first and ends with
its access line (`METHOD PATH STATUS DURATIONms` with `http.*` and `duration_ms` attributes),
or a 504 when the upstream took longer than the gateway waits.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from starbase.emitter.records import AttrValue, Record, Request, Span
from starbase.emitter.scenarios import Health
from starbase.emitter.system import (
    AUTH_METHODS,
    BY_NAME,
    CURRENCIES,
    DEBUG,
    DECLINE_REASONS,
    ERROR,
    FAILURES,
    INFO,
    PAYMENT_METHODS,
    REGRESSION,
    SEARCH_TERMS,
    SERVICES,
    SKUS,
    UPSTREAM_TIMEOUT,
    UPSTREAM_TIMEOUT_MS,
    USER_AGENTS,
    USERS,
    WARN,
    Failure,
    Service,
    host_name,
)

_NS_PER_MS = 1_000_000
_UPSTREAM = {"/api/products/{id}": "inventory", "/api/search": "inventory", "/api/login": "auth"}
# HOSTS[service][new_version][replica]
HOSTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    s.name: (
        tuple(host_name(s.name, s.versions[0], i) for i in range(s.replicas)),
        tuple(host_name(s.name, s.versions[1], i) for i in range(s.replicas)),
    )
    for s in SERVICES
}


class Call:
    """A service's span being built: where it runs and what it has logged so far."""

    __slots__ = ("health", "host", "new", "records", "service", "span_id", "start_ms", "version")

    def __init__(
        self, service: Service, health: Health, replica: int, new: bool, span_id: int, at: float
    ) -> None:
        self.service = service
        self.health = health
        self.new = new
        self.host = HOSTS[service.name][new][replica]
        self.version = service.versions[new]
        self.span_id = span_id
        self.start_ms = at
        self.records: list[Record] = []


class Calls:
    """Builds one request: enter services, spend time, log, leave; then `request()`."""

    def __init__(
        self, rng: random.Random, health: dict[str, Health], start_ns: int, trace_id: int
    ) -> None:
        self.rng = rng
        self.health = health
        self.start_ns = start_ns
        self.trace_id = trace_id
        self._calls: list[tuple[Call, float]] = []

    def enter(self, name: str, at: float) -> Call:
        """Start a span of service `name` at `at` ms into the request, on a random replica."""
        service = BY_NAME[name]
        health = self.health[name]
        replica = int(self.rng.random() * service.replicas)
        span_id = self.rng.getrandbits(64) | 1
        return Call(service, health, replica, replica < health.new_replicas, span_id, at)

    def leave(self, call: Call, at: float) -> float:
        """End `call` at `at` ms; returns `at`."""
        self._calls.append((call, at))
        return at

    def work(self, call: Call) -> float:
        """Milliseconds of the service's own work for one call, under its current health."""
        health = call.health
        factor = health.latency * (health.new_latency if call.new else 1.0)
        service = call.service
        return service.latency_ms * factor * self.rng.lognormvariate(0.0, service.spread)

    def fails(self, call: Call) -> Failure | None:
        """How this call fails, or None: at the service's error rate, plus the regression's on
        a new-version replica."""
        draw = self.rng.random()
        health = call.health
        if draw < health.error_rate:
            return self.rng.choice(FAILURES[call.service.name])
        if call.new and draw < health.error_rate + health.regression:
            return REGRESSION
        return None

    def log(
        self,
        call: Call,
        at: float,
        severity: int,
        body: str,
        attributes: dict[str, AttrValue],
        scope: str = "app",
    ) -> None:
        """Log a record from `call` at `at` ms into the request."""
        call.records.append(
            Record(
                self.start_ns + int(at * _NS_PER_MS),
                call.service.name,
                call.host,
                call.version,
                scope,
                severity,
                body,
                attributes,
                self.trace_id,
                call.span_id,
            )
        )

    def failure(self, call: Call, at: float, failure: Failure, **attrs: AttrValue) -> float:
        """Log `failure` from `call` (after its timeout, if any) and end the call; returns when."""
        end = at + failure.timeout_ms + self.rng.random() * 3.0
        attributes: dict[str, AttrValue] = {
            "error.type": failure.error_type,
            failure.key: failure.value,
            "duration_ms": round(end - call.start_ms),
        }
        attributes.update(attrs)
        self.log(call, end, ERROR, failure.message, attributes, scope="errors")
        return self.leave(call, end)

    def access(
        self, gateway: Call, end: float, method: str, route: str, path: str, status: int, user: str
    ) -> None:
        """The gateway's access line for the request, and the end of its span. Past the upstream
        timeout the gateway gives up: it logs the timeout and answers 504 at that moment."""
        if end > UPSTREAM_TIMEOUT_MS and status != 504:
            end, status = UPSTREAM_TIMEOUT_MS + self.rng.random(), 504
            attrs: dict[str, AttrValue] = {
                "error.type": "UpstreamTimeout",
                "upstream.address": f"{_UPSTREAM.get(route, 'checkout')}:8080",
                "http.route": route,
            }
            self.log(gateway, end - 0.1, ERROR, UPSTREAM_TIMEOUT, attrs, "proxy")
        severity = INFO if status < 400 else WARN if status < 500 else ERROR
        duration = round(end)
        ip = self.rng.getrandbits(24)
        attributes: dict[str, AttrValue] = {
            "http.method": method,
            "http.route": route,
            "http.status_code": status,
            "duration_ms": duration,
            "client.address": f"10.{ip >> 16}.{(ip >> 8) & 255}.{ip & 255}",
            "user_agent.original": self.rng.choice(USER_AGENTS),
            "http.response.body.size": 180 + self.rng.getrandbits(12) if status < 300 else 96,
        }
        if user:
            attributes["user.id"] = user
        if route == "/healthz":
            severity = DEBUG
        self.log(
            gateway, end, severity, f"{method} {path} {status} {duration}ms", attributes, "http"
        )
        self.leave(gateway, end)

    def user(self) -> str:
        return f"u-{int(self.rng.random() * USERS):05d}"

    def sku(self) -> str:
        return f"SKU-{int(self.rng.random() * SKUS):05d}"

    def request(self) -> Request:
        """The finished request: its spans in the order they were entered."""
        spans = [
            Span(
                c.service.name,
                c.host,
                c.version,
                c.span_id,
                self.start_ns + int(c.start_ms * _NS_PER_MS),
                self.start_ns + int(end * _NS_PER_MS),
                c.records,
            )
            for c, end in sorted(self._calls, key=lambda pair: pair[0].start_ms)
        ]
        return Request(self.trace_id, self.start_ns, spans)


def _status_of(failure: Failure) -> int:
    return 504 if failure.timeout_ms else 502


def _front(b: Calls) -> tuple[Call, float, Failure | None]:
    """Enter the gateway; its own share of work before it calls upstream; its own failure."""
    gateway = b.enter("gateway", 0.0)
    return gateway, b.work(gateway), b.fails(gateway)


def _gateway_down(
    b: Calls,
    gateway: Call,
    at: float,
    failure: Failure,
    method: str,
    route: str,
    path: str,
    user: str,
) -> None:
    end = at + failure.timeout_ms + b.rng.random() * 2.0
    attributes: dict[str, AttrValue] = {
        "error.type": failure.error_type,
        failure.key: failure.value,
        "http.route": route,
    }
    b.log(gateway, end, ERROR, failure.message, attributes, scope="proxy")
    b.access(gateway, end + 0.1, method, route, path, 504 if failure.timeout_ms else 503, user)


def product(b: Calls) -> None:
    """GET /api/products/{id}: the gateway asks inventory for the product and its stock."""
    sku = b.sku()
    path, route = f"/api/products/{sku[4:]}", "/api/products/{id}"
    user = b.user() if b.rng.random() < 0.4 else ""
    gateway, t, down = _front(b)
    if down:
        return _gateway_down(b, gateway, t, down, "GET", route, path, user)
    inventory = b.enter("inventory", t)
    end = t + b.work(inventory)
    failure = b.fails(inventory)
    if failure:
        end, status = b.failure(inventory, end, failure, sku=sku), _status_of(failure)
    elif b.rng.random() < 0.03:
        b.log(inventory, end, INFO, f"product {sku} not found", {"sku": sku})
        status = 404
        b.leave(inventory, end)
    else:
        available = int(b.rng.random() * 60)
        severity = DEBUG if b.rng.random() < 0.5 else INFO
        body = f"stock lookup sku={sku} available={available} warehouse=eu-west-1"
        b.log(inventory, end, severity, body, {"sku": sku, "stock.available": available})
        status = 200 if b.rng.random() < 0.9 else 304
        b.leave(inventory, end)
    b.access(gateway, end + 0.3, "GET", route, path, status, user)


def search(b: Calls) -> None:
    """GET /api/search: inventory runs the query."""
    term = b.rng.choice(SEARCH_TERMS)
    path, route = f"/api/search?q={term.replace(' ', '+')}", "/api/search"
    user = b.user() if b.rng.random() < 0.3 else ""
    gateway, t, down = _front(b)
    if down:
        return _gateway_down(b, gateway, t, down, "GET", route, path, user)
    inventory = b.enter("inventory", t)
    took = b.work(inventory) * 3.0
    end = t + took
    failure = b.fails(inventory)
    if failure:
        end, status = b.failure(inventory, end, failure), _status_of(failure)
    else:
        results = int(b.rng.random() * 120)
        body = f'search "{term}" returned {results} results in {round(took)}ms'
        b.log(inventory, end, INFO, body, {"search.query": term, "search.results": results})
        status = 200
        b.leave(inventory, end)
    b.access(gateway, end + 0.4, "GET", route, path, status, user)


def _authorize(b: Calls, at: float, user: str, scope: str) -> tuple[float, int]:
    """Auth validates the session token; returns when it answered and a failure status (0)."""
    auth = b.enter("auth", at)
    end = at + b.work(auth)
    failure = b.fails(auth)
    if failure:
        return b.failure(auth, end, failure, **{"user.id": user}), 503
    body = f"token validated for user {user} (scope={scope})"
    attributes: dict[str, AttrValue] = {"user.id": user, "event.name": "auth.token_validated"}
    b.log(auth, end, DEBUG, body, attributes, scope="auth")
    return b.leave(auth, end), 0


def login(b: Calls) -> None:
    """POST /api/login: auth checks credentials (successes, bad passwords, lockouts)."""
    user = b.user()
    method = b.rng.choice(AUTH_METHODS)
    route = "/api/login"
    gateway, t, down = _front(b)
    if down:
        return _gateway_down(b, gateway, t, down, "POST", route, route, "")
    auth = b.enter("auth", t)
    end = t + b.work(auth) * 4.0  # password hashing
    failure = b.fails(auth)
    attributes: dict[str, AttrValue] = {"user.id": user, "auth.method": method}
    draw = b.rng.random()
    if failure:
        end, status = b.failure(auth, end, failure, **attributes), _status_of(failure)
    elif draw < 0.005:
        attributes.update({"event.name": "auth.lockout", "auth.result": "locked"})
        b.log(
            auth,
            end,
            WARN,
            f"account {user} locked after 5 failed login attempts",
            attributes,
            "auth",
        )
        status = 423
        b.leave(auth, end)
    elif draw < 0.10:
        attempt = 1 + int(b.rng.random() * 4)
        attributes.update({"event.name": "auth.login", "auth.result": "failure"})
        body = f"login failed for user {user}: invalid credentials (attempt {attempt} of 5)"
        b.log(auth, end, WARN, body, attributes, "auth")
        status = 401
        b.leave(auth, end)
    else:
        mfa = "true" if b.rng.random() < 0.3 else "false"
        attributes.update({"event.name": "auth.login", "auth.result": "success"})
        body = f"login succeeded for user {user} (method={method}, mfa={mfa})"
        b.log(auth, end, INFO, body, attributes, "auth")
        status = 200
        b.leave(auth, end)
    b.access(gateway, end + 0.5, "POST", route, route, status, user if status == 200 else "")


def cart(b: Calls) -> None:
    """GET /api/cart: auth, then checkout loads the cart."""
    user = b.user()
    route = "/api/cart"
    gateway, t, down = _front(b)
    if down:
        return _gateway_down(b, gateway, t, down, "GET", route, route, user)
    end, status = _authorize(b, t, user, "cart")
    if not status:
        checkout = b.enter("checkout", end)
        end += b.work(checkout)
        failure = b.fails(checkout)
        if failure:
            end, status = b.failure(checkout, end, failure, **{"user.id": user}), 500
        else:
            items = 1 + int(b.rng.random() * 6)
            total = f"{items * (5 + b.rng.random() * 60):.2f}"
            currency = b.rng.choice(CURRENCIES)
            body = f"cart loaded for user {user}: {items} item(s), {total} {currency}"
            attributes: dict[str, AttrValue] = {"user.id": user, "cart.items": items}
            b.log(checkout, end, INFO, body, attributes)
            status = 200
            b.leave(checkout, end)
    b.access(gateway, end + 0.3, "GET", route, route, status, user)


def checkout(b: Calls) -> None:
    """POST /api/checkout: auth, checkout creates the order, inventory reserves stock,
    payments charges (checkout retries failed charges up to 3 times)."""
    user = b.user()
    route = "/api/checkout"
    gateway, t, down = _front(b)
    if down:
        return _gateway_down(b, gateway, t, down, "POST", route, route, user)
    end, status = _authorize(b, t, user, "checkout")
    if not status:
        end, status = _place_order(b, end, user)
    b.access(gateway, end + 0.5, "POST", route, route, status, user)


def _place_order(b: Calls, at: float, user: str) -> tuple[float, int]:
    rng = b.rng
    order = f"o-{rng.getrandbits(40):010x}"
    items = 1 + int(rng.random() * 4)
    amount = f"{items * (8 + rng.random() * 90):.2f}"
    currency = rng.choice(CURRENCIES)
    base: dict[str, AttrValue] = {"order.id": order, "user.id": user}
    co = b.enter("checkout", at)
    t = at + b.work(co) * 0.5
    body = f"creating order {order} for user {user}: {items} item(s), total {amount} {currency}"
    b.log(co, t, INFO, body, {**base, "order.items": items, "order.total": float(amount)})
    failure = b.fails(co)
    if failure:
        return b.failure(co, t, failure, **base), 500
    # inventory reserves the items
    inventory = b.enter("inventory", t)
    t += b.work(inventory)
    failure = b.fails(inventory)
    if failure:
        t = b.failure(inventory, t, failure, **{"order.id": order})
        b.log(co, t + 0.2, ERROR, f"order {order} failed: inventory unavailable", dict(base))
        return b.leave(co, t + 0.4), 503
    sku = b.sku()
    if rng.random() < 0.03:
        available = int(rng.random() * items)
        body = f"insufficient stock for {sku}: requested {items}, available {available}"
        b.log(inventory, t, WARN, body, {"sku": sku, "order.id": order})
        b.leave(inventory, t)
        b.log(co, t + 0.2, INFO, f"order {order} rejected: out of stock ({sku})", dict(base))
        return b.leave(co, t + 0.3), 409
    body = f"reserved {items} item(s) of {sku} for order {order}"
    b.log(inventory, t, INFO, body, {"sku": sku, "order.id": order})
    b.leave(inventory, t)
    # payments, with retries
    method = rng.choice(PAYMENT_METHODS)
    charge: dict[str, AttrValue] = {
        "order.id": order,
        "payment.amount": float(amount),
        "payment.currency": currency,
        "payment.method": method,
    }
    for attempt in (1, 2, 3):
        pay = b.enter("payments", t + 0.3)
        b.log(
            pay,
            t + 0.5,
            INFO,
            f"charging {amount} {currency} for order {order} via {method}",
            dict(charge),
            "payments",
        )
        took = b.work(pay)
        end = t + 0.5 + took
        failure = b.fails(pay)
        if failure is None:
            if rng.random() < 0.04:
                reason = rng.choice(DECLINE_REASONS)
                b.log(
                    pay,
                    end,
                    WARN,
                    f"card declined for order {order}: {reason}",
                    {**charge, "payment.decline_reason": reason},
                    "payments",
                )
                b.leave(pay, end)
                b.log(co, end + 0.3, INFO, f"order {order} payment declined ({reason})", base)
                return b.leave(co, end + 0.5), 402
            payment = f"pay_{rng.getrandbits(56):014x}"
            body = f"payment authorized for order {order}: {payment} in {round(took)}ms"
            b.log(
                pay,
                end,
                INFO,
                body,
                {**charge, "payment.id": payment, "duration_ms": round(took)},
                "payments",
            )
            b.leave(pay, end)
            b.log(co, end + 0.4, INFO, f"order {order} confirmed (payment {payment})", dict(base))
            return b.leave(co, end + 0.6), 201
        t = b.failure(pay, end, failure, **charge)
        if attempt < 3:
            delay = 100 * 2**attempt
            body = (
                f"payments call failed for order {order} (attempt {attempt}/3): "
                f"{failure.error_type}; retrying in {delay}ms"
            )
            b.log(co, t + 0.2, WARN, body, {**base, "retry.attempt": attempt}, "http.client")
            t += delay
    b.log(
        co,
        t + 0.3,
        ERROR,
        f"order {order} failed: payments unavailable after 3 attempts",
        {**base, "error.type": "PaymentsUnavailable"},
    )
    return b.leave(co, t + 0.5), 502


def healthz(b: Calls) -> None:
    """GET /healthz from the load balancer: the gateway alone."""
    gateway = b.enter("gateway", 0.0)
    b.access(gateway, 0.2 + b.rng.random(), "GET", "/healthz", "/healthz", 200, "")


Flow = Callable[[Calls], None]
FLOWS: tuple[tuple[float, Flow], ...] = (
    (0.34, product),
    (0.14, search),
    (0.14, cart),
    (0.12, login),
    (0.16, checkout),
    (0.10, healthz),
)
