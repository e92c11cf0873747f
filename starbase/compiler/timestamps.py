"""ISO-8601 instants ↔ integer nanoseconds since the Unix epoch (UTC), exactly.

Requires nothing. Guarantees: `parse_iso` accepts `YYYY-MM-DD`, and date-times with `T` or a
space, optional seconds, up to nine fractional digits, and `Z` or `±HH:MM` (no zone means
UTC); anything else raises `ValueError` with a reason. Nanoseconds are kept exactly (no float).
`format_iso` writes RFC 3339 UTC with only the fractional digits needed; `format_utc` fills a
strftime-like pattern (`%Y %m %d %H %M %S`). Both work for any instant (proleptic Gregorian,
integer arithmetic only) and write the year with four digits (`0999`), as ISO 8601 and the
partition keys need; a year outside 0–9999 gets a sign (`+10000`, `-0001`).
"""

from __future__ import annotations

import calendar
import re

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
    stamp = format_utc("%Y-%m-%dT%H:%M:%S", nanos)
    fraction = nanos % NANOS_PER_SECOND
    if fraction:
        stamp += "." + f"{fraction:09d}".rstrip("0")
    return stamp + "Z"


def civil(nanos: int) -> tuple[int, int, int, int, int, int]:
    """(year, month, day, hour, minute, second) of an instant in UTC."""
    days, rest = divmod(nanos // NANOS_PER_SECOND, 86_400)
    # days → (year, month, day): H. Hinnant's civil_from_days, eras of 146097 days
    era, day_of_era = divmod(days + 719_468, 146_097)
    year_of_era = (
        day_of_era - day_of_era // 1_460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    year = year_of_era + era * 400 + (month <= 2)
    hour, rest = divmod(rest, 3_600)
    return year, month, day, hour, rest // 60, rest % 60


def format_utc(pattern: str, nanos: int) -> str:
    """`pattern` with `%Y %m %d %H %M %S` replaced by the instant's UTC fields."""
    year, month, day, hour, minute, second = civil(nanos)
    fields = {
        "Y": f"{year:04d}" if 0 <= year <= 9999 else f"{year:+05d}",
        "m": f"{month:02d}",
        "d": f"{day:02d}",
        "H": f"{hour:02d}",
        "M": f"{minute:02d}",
        "S": f"{second:02d}",
    }
    return re.sub(r"%([YmdHMS%])", lambda m: fields.get(m.group(1), "%"), pattern)


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
