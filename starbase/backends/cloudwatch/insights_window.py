"""The event-time window of one CloudWatch request, and how each API is told about it.

Requires: an absolute `ir.TimeRange` (bound: no `now()` or `$param` left) or None.
Guarantees: `Window.of` converts it to epoch milliseconds — CloudWatch's resolution — with
both bounds inclusive, losing nothing: an event at `t` ms is in the window exactly when
`t × 10⁶` ns is in the range. From there:

- `FilterLogEvents` takes the bounds as they are (`startTime`/`endTime` in ms, inclusive);
- `StartQuery` takes whole seconds, "inclusive", without saying whether `endTime` means the
  instant `endTime × 1000` ms or the whole second. `start_query_times` gives the smallest
  whole-second range containing the window under either reading, and `exact_filter` the
  condition (`toMillis(@timestamp)`, an Insights datetime function) that restricts the
  events to the window exactly: needed for a lower bound inside a second and for every upper
  bound. An open lower bound is `startTime` 0; an open upper bound is two hours after now —
  CloudWatch rejects events further in the future (PutLogEvents), so that is every event;
- `split` halves a window for a result that hit the row cap (at a whole second where it
  can). An open side is first closed at the first/last instant an event can have: 14 days
  before the oldest log group was created (PutLogEvents rejects older events) and two hours
  after now.

    between "2026-11-20T10:00:00Z" and "2026-11-20T11:00:00Z"
    → Window(1763632800000, 1763636399999): startTime 1763632800, endTime 1763636400,
      filter toMillis(@timestamp) <= 1763636399999
"""

from __future__ import annotations

from dataclasses import dataclass

from starbase.compiler import ir

NS_PER_MS = 1_000_000
MAX_FUTURE_MS = 2 * 3_600_000  # PutLogEvents: no event more than 2 hours in the future
MAX_PAST_MS = 14 * 86_400_000  # … and none older than 14 days (before its log group existed)


@dataclass(frozen=True, slots=True)
class Window:
    """Epoch milliseconds, both inclusive; None on a side means unbounded."""

    lower: int | None = None
    upper: int | None = None

    @classmethod
    def of(cls, time_range: ir.TimeRange | None) -> Window:
        if time_range is None:
            return cls()
        lower = upper = None
        if time_range.lower is not None:
            nanos = _absolute(time_range.lower)
            # t·10⁶ ≥ L  ⇔ t ≥ ⌈L/10⁶⌉;  t·10⁶ > L ⇔ t ≥ ⌊L/10⁶⌋ + 1
            lower = -(-nanos // NS_PER_MS) if time_range.lower.inclusive else nanos // NS_PER_MS + 1
        if time_range.upper is not None:
            nanos = _absolute(time_range.upper)
            # t·10⁶ ≤ U ⇔ t ≤ ⌊U/10⁶⌋;  t·10⁶ < U ⇔ t ≤ ⌈U/10⁶⌉ − 1
            upper = nanos // NS_PER_MS if time_range.upper.inclusive else -(-nanos // NS_PER_MS) - 1
        return cls(lower, upper)

    @property
    def empty(self) -> bool:
        return self.lower is not None and self.upper is not None and self.lower > self.upper

    def start_query_times(self, now_ms: int) -> tuple[int, int]:
        """StartQuery's `startTime`/`endTime` (epoch seconds) covering the window."""
        start = 0 if self.lower is None else max(0, self.lower // 1000)
        upper = now_ms + MAX_FUTURE_MS if self.upper is None else self.upper
        return start, max(start, -(-upper // 1000))

    def exact_filter(self) -> str | None:
        """The Insights condition keeping exactly the window's events, when `startTime` and
        `endTime` alone may let others in."""
        parts = []
        if self.lower is not None and self.lower % 1000:
            parts.append(f"toMillis(@timestamp) >= {self.lower}")
        if self.upper is not None:
            parts.append(f"toMillis(@timestamp) <= {self.upper}")
        return " and ".join(parts) or None

    def closed(self, earliest_ms: int, now_ms: int) -> Window:
        """The window with open sides closed at the first/last instant an event can have."""
        lower = earliest_ms - MAX_PAST_MS if self.lower is None else self.lower
        upper = now_ms + MAX_FUTURE_MS if self.upper is None else self.upper
        return Window(lower, upper)

    def split(self) -> tuple[Window, Window] | None:
        """Two halves of a closed window, or None when it is one millisecond. The second half
        starts on a whole second when the window spans one, so that StartQuery's own range
        already separates the halves (the `toMillis` filter still makes each exact)."""
        assert self.lower is not None and self.upper is not None, "close the window first"
        if self.upper <= self.lower:
            return None
        middle = (self.lower + self.upper + 1) // 2  # the first instant of the second half
        second = middle - middle % 1000
        if self.lower < second:
            middle = second
        elif self.lower < second + 1000 <= self.upper:
            middle = second + 1000
        return Window(self.lower, middle - 1), Window(middle, self.upper)


def _absolute(bound: ir.TimeBound) -> int:
    if bound.base is None or bound.param is not None:
        raise ValueError("the time range must be bound (no now() or $parameter) first")
    return bound.base + bound.offset


def with_window(text: str, window: Window) -> str:
    """Insights `text` restricted to `window` exactly (see `Window.exact_filter`)."""
    condition = window.exact_filter()
    return text if condition is None else f"filter {condition}\n| {text}"
