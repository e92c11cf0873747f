"""A plain HTTP POST with the retries a log shipper needs (standard library only).

Requires: nothing. Guarantees: `post` sends one request and returns the 2xx `Reply`; on 429,
500, 502, 503 or 504 and on connection errors it retries, up to `attempts` tries in all,
waiting what `Retry-After` says (seconds or an HTTP date, capped at `max_wait`) or else an
exponential backoff from 0.25 s; when it gives up, or on any other status, it raises
`DeliveryError` naming the status and the reply's first bytes. `Poster` is the accounting
the HTTP sinks share: it posts requests of `n` units each and counts them delivered or failed.
"""

from __future__ import annotations

import email.utils
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starbase.emitter.sink import Delivery

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class DeliveryError(Exception):
    """The receiver refused a request or could not be reached, after retries."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait per a `Retry-After` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    attempts: int = 6,
    timeout: float = 30.0,
    max_wait: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Reply:
    """POST `body` to `url`, retrying as the module docstring says."""
    problem = ""
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
        wait: float | None = None
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Reply(response.status, response.read())
        except urllib.error.HTTPError as error:
            detail = error.read()[:200].decode(errors="replace")
            problem = f"HTTP {error.code} from {url}: {detail}".strip()
            if error.code not in RETRY_STATUSES:
                raise DeliveryError(problem) from None
            wait = retry_after(error.headers.get("Retry-After"))
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            problem = f"cannot reach {url}: {reason}"
        if attempt + 1 < attempts:
            sleep(min(max_wait, wait if wait is not None else 0.25 * 2**attempt))
    raise DeliveryError(f"{problem} (gave up after {attempts} attempts)")


Post = Callable[[str, bytes, Mapping[str, str]], Reply]


class Poster:
    """Posts with `post`, counting each request's units as delivered or failed (never raising)."""

    def __init__(self, post: Post) -> None:
        self._post = post
        self._delivered = self._failed = self._requests = 0
        self._problem = ""

    def send(self, url: str, body: bytes, headers: Mapping[str, str], units: int) -> None:
        self._requests += 1
        try:
            self._post(url, body, headers)
        except DeliveryError as error:
            self._failed += units
            self._problem = str(error)
            return
        self._delivered += units

    def status(self) -> Delivery:
        return Delivery(self._delivered, self._failed, self._requests, self._problem)
