"""ISO-8601 instants ↔ integer nanoseconds since the Unix epoch (UTC), exactly.

Requires nothing. Guarantees: `parse_iso` accepts `YYYY-MM-DD`, and date-times with `T` or a
space, optional seconds, up to nine fractional digits, and `Z` or `±HH:MM` (no zone means
UTC); anything else raises `ValueError` with a reason. Nanoseconds are kept exactly (no float).
`format_iso` writes RFC 3339 UTC with only the fractional digits needed.
"""

from __future__ import annotations

import calendar
import re
import time

_ISO = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
    r"(?P<tz>Z|z|[+-]\d{2}:?\d{2})?)?"
)
NANOS_PER_SECOND = 1_000_000_000


def parse_iso(text: str) -> int:
    """Nanoseconds since the epoch for an ISO-8601 instant."""
    match = _ISO.fullmatch(text.strip())
    if not match:
        raise ValueError("not an ISO-8601 date or date-time (e.g. 2026-11-27T05:00:00Z)")
    g = match.groupdict()
    year, month, day = int(g["y"]), int(g["mo"]), int(g["d"])
    hour, minute, second = int(g["h"] or 0), int(g["mi"] or 0), int(g["s"] or 0)
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} is out of range")
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise ValueError(f"day {day} does not exist in {year}-{month:02d}")
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"time {hour:02d}:{minute:02d}:{second:02d} is out of range")
    offset = 0
    tz = g["tz"]
    if tz and tz not in "Zz":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        tz_hours, tz_minutes = int(digits[:2]), int(digits[2:])
        if tz_hours > 23 or tz_minutes > 59:
            raise ValueError(f"UTC offset {tz} is out of range")
        offset = sign * (tz_hours * 3600 + tz_minutes * 60)
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    fraction = int((g["f"] or "").ljust(9, "0"))
    return seconds * NANOS_PER_SECOND + fraction


def format_iso(nanos: int) -> str:
    """RFC 3339 UTC text for an instant, e.g. 2026-11-27T05:00:00.123Z."""
    seconds, fraction = divmod(nanos, NANOS_PER_SECOND)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction:
        stamp += "." + f"{fraction:09d}".rstrip("0")
    return stamp + "Z"


def format_duration(nanos: int) -> str:
    """The shortest exact StarQL duration for `nanos` (e.g. 5400000000000 → 90m)."""
    units = (
        ("w", 7 * 86_400 * NANOS_PER_SECOND),
        ("d", 86_400 * NANOS_PER_SECOND),
        ("h", 3_600 * NANOS_PER_SECOND),
        ("m", 60 * NANOS_PER_SECOND),
        ("s", NANOS_PER_SECOND),
        ("ms", 1_000_000),
        ("us", 1_000),
    )
    sign = "-" if nanos < 0 else ""
    magnitude = abs(nanos)
    for unit, size in units:
        if magnitude and magnitude % size == 0:
            return f"{sign}{magnitude // size}{unit}"
    return f"{sign}{magnitude}ns"
