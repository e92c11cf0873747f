"""Calling the CloudWatch Logs API: a client per source, retries, a deadline, cancellation.

Requires: boto3, and a `SourceConfig` of format `cloudwatch` (`region`, `endpoint`, and in its
options `access_key_id`/`secret_access_key`/`session_token` or `aws_profile`, else the
standard AWS environment and files; `query_timeout` in seconds, default `DEFAULT_TIMEOUT`).
Guarantees: `logs_client` makes a client whose own retries are off and whose connections time
out, so that `Caller` alone decides: a throttled or briefly unavailable call
(`RETRYABLE`: ThrottlingException, LimitExceededException — too many concurrent Insights
queries —, ServiceUnavailableException, …) is retried with exponential backoff and full
jitter until it succeeds or the deadline would pass; every other failure, and a deadline or a
cancellation, raises `QueryFailed` with one line naming the source, the operation and the
cause. The clock, sleep and random draw are injectable so that tests run the real code path
without waiting.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3  # type: ignore[import-untyped, unused-ignore]
from botocore.config import Config as BotoConfig  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    BotoCoreError,
    ClientError,
)

from starbase.config import SourceConfig
from starbase.runtime.errors import QueryFailed, one_line

DEFAULT_TIMEOUT = 300.0  # seconds for everything one source's fetch does
RETRYABLE = frozenset(
    {
        "ThrottlingException",
        "LimitExceededException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "InternalFailure",
    }
)
T = TypeVar("T")


def logs_client(source: SourceConfig) -> Any:
    """A boto3 `logs` client for `source` (see the module docstring)."""
    options = source.options
    try:
        session = boto3.session.Session(profile_name=_option(options, "aws_profile"))
        return session.client(
            "logs",
            region_name=source.region or session.region_name or "us-east-1",
            endpoint_url=source.endpoint,
            aws_access_key_id=_option(options, "access_key_id"),
            aws_secret_access_key=_option(options, "secret_access_key"),
            aws_session_token=_option(options, "session_token"),
            config=BotoConfig(
                retries={"total_max_attempts": 1},
                connect_timeout=5,
                read_timeout=60,
                user_agent_extra="starbase",
            ),
        )
    except (BotoCoreError, ValueError) as exc:
        raise QueryFailed(f"source '{source.name}': {one_line(exc)}") from None


def timeout_of(source: SourceConfig) -> float:
    value = source.options.get("query_timeout", DEFAULT_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise QueryFailed(f"source '{source.name}': query_timeout must be a positive number")
    return float(value)


def _option(options: Any, key: str) -> str | None:
    value = options.get(key)
    return str(value) if value else None


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    return None


@dataclass
class Caller:
    """Makes API calls for one source within one deadline (see the module docstring)."""

    source: str
    timeout: float
    cancel: threading.Event | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    first_backoff: float = 0.2
    max_backoff: float = 10.0
    retries: int = 0  # calls retried so far (for the fetch report)
    calls: int = 0
    deadline: float = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = self.clock() + self.timeout

    def __call__(self, operation: str, call: Callable[[], T]) -> T:
        backoff = self.first_backoff
        while True:
            self.check()
            self.calls += 1
            try:
                return call()
            except ClientError as exc:
                code = error_code(exc)
                if code not in RETRYABLE:
                    raise QueryFailed(self.failure(operation, exc)) from None
                pause = backoff * self.jitter()
                if self.clock() + pause >= self.deadline:
                    raise QueryFailed(
                        f"source '{self.source}': {operation} still throttled ({code}) when "
                        f"the {self.timeout:g}s deadline came"
                    ) from None
                self.retries += 1
                self.sleep(pause)
                backoff = min(backoff * 2, self.max_backoff)
            except BotoCoreError as exc:  # no connection, timeouts, bad credentials
                raise QueryFailed(self.failure(operation, exc)) from None

    def check(self) -> None:
        """Raise when the run was cancelled or the deadline has passed."""
        if self.cancel is not None and self.cancel.is_set():
            raise QueryFailed(f"source '{self.source}': cancelled")
        if self.clock() >= self.deadline:
            raise QueryFailed(
                f"source '{self.source}': no answer within {self.timeout:g}s "
                "(set query_timeout on the source to wait longer)"
            )

    def pause(self, seconds: float) -> None:
        """Sleep `seconds`, but not past the deadline (then `check` raises), and wake at once
        when the run is cancelled."""
        seconds = max(0.0, min(seconds, self.deadline - self.clock()))
        if self.cancel is not None and self.sleep is time.sleep:
            self.cancel.wait(seconds)
        else:
            self.sleep(seconds)

    def failure(self, operation: str, exc: BaseException) -> str:
        code = error_code(exc)
        if isinstance(exc, ClientError):
            message = exc.response.get("Error", {}).get("Message") or str(exc)
            return f"source '{self.source}': {operation} failed: {code}: {one_line(message)}"
        return f"source '{self.source}': {operation} failed: {one_line(exc)}"
