"""Pacing and the progress line.

Requires: nothing. Guarantees:
- `Pacer.wait(time_ns)` holds the caller until that timestamp is due in wall-clock time
  (relative to the first call and the timeline's start), so a paced run emits each unit when
  it happens; it sleeps only when ahead by more than a millisecond. `Pacer(None)` never waits.
- `Progress` rewrites one stderr line in place (on a terminal, at most 4 times a second) with
  totals and the current rate; elsewhere it prints a plain line every 10 s. `finish` ends it
  with the summary on its own line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

_AHEAD_S = 0.001


class Pacer:
    """Wall-clock pacing by unit timestamps; `start_ns` is the timeline's start."""

    def __init__(self, start_ns: int | None) -> None:
        self._start_ns = start_ns
        self._wall0 = time.monotonic()

    def wait(self, time_ns: int) -> None:
        if self._start_ns is None:
            return
        ahead = (time_ns - self._start_ns) / 1e9 - (time.monotonic() - self._wall0)
        if ahead > _AHEAD_S:
            time.sleep(ahead)


class Progress:
    """The progress line: `label`, units emitted, the rate, and what `status()` adds."""

    def __init__(
        self,
        label: str,
        unit: str,
        status: Callable[[], str],
        stream: TextIO | None = None,
        enabled: bool = True,
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty()
        self._interval = 0.25 if self._tty else 10.0
        self._label, self._unit, self._status = label, unit, status
        self._enabled = enabled
        self._t0 = time.monotonic()
        self._next = self._t0 + self._interval
        self._last = (self._t0, 0)
        self._width = 0

    def tick(self, count: int) -> None:
        """Called per unit; redraws when the interval has passed."""
        now = time.monotonic()
        if now < self._next or not self._enabled:
            return
        last_time, last_count = self._last
        current = (count - last_count) / max(now - last_time, 1e-9)
        self._last = (now, count)
        self._next = now + self._interval
        line = (
            f"{self._label}: {count:,} {self._unit} · {current:,.0f}/s · "
            f"{now - self._t0:.1f}s · {self._status()}"
        )
        if self._tty:
            pad = max(0, self._width - len(line))
            self._stream.write("\r" + line + " " * pad)
            self._width = len(line)
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def finish(self, summary: str) -> None:
        """Replace the progress line with `summary`."""
        if self._tty and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
        self._stream.write(summary + "\n")
        self._stream.flush()
