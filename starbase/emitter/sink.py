"""What every mode's sender offers the run loop.

Requires: nothing. Guarantees: the `Sink` protocol — `add` one unit (it may buffer, block for
backpressure or send), `status` what is known so far, `close` send everything still buffered,
wait for it and release resources, returning the final `Delivery`. Units a sink could not
deliver are counted in `failed`, never raised: a run always ends with a summary — unless
the destination cannot be used at all, which raises `SinkError` (an `OSError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar


@dataclass(frozen=True)
class Delivery:
    """Units acknowledged by the receiver, units given up on, and requests (HTTP requests or
    API calls) made, and the cause of the last failure."""

    delivered: int = 0
    failed: int = 0
    requests: int = 0
    problem: str = ""  # the last failure's cause, if any

    def describe(self) -> str:
        text = f"delivered {self.delivered:,} · failed {self.failed:,} · {self.requests:,} requests"
        return f"{text} · last failure: {self.problem}" if self.problem else text


class SinkError(OSError):
    """The destination cannot be used at all (no credentials, no such endpoint): the run stops."""


U_contra = TypeVar("U_contra", contravariant=True)


class Sink(Protocol[U_contra]):
    def add(self, unit: U_contra) -> None: ...

    def status(self) -> Delivery: ...

    def close(self) -> Delivery: ...
