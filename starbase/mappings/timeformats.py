"""Timestamp formats of raw log lines: named formats and a strftime-like language.

Requires: nothing beyond the standard library. Guarantees: `compile_time_format(spec)` turns a
format name or a strftime-like string into a `TimeFormat` whose `regex` (portable subset, one
numbered group per directive, no named groups) matches exactly the texts the format accepts and
whose `parse(text, received_ns, zone)` returns the instant in ns since the epoch (UTC), or
None when the text does not fit or names an impossible date. The rules, written once here and
copied by the query-time compilation of raw mappings:

- Directives: `%Y` 4-digit year, `%y` 2-digit year (69–99 → 19xx, else 20xx), `%m` month
  01–12 (`%-m` 1–2 digits), `%d` day 01–31, `%e` day padded with a space or not, `%H` 00–23,
  `%I` 01–12 with `%p` AM/PM, `%M`, `%S`, `%f` a fraction of a second of 1–9 digits, `%b`/`%B`
  month name (abbreviated / full, any case), `%a`/`%A` weekday name (checked for shape, not
  against the date), `%j` day of the year, `%z` zone offset (`Z`, `+hh`, `+hhmm`, `+hh:mm`),
  `%Z` zone abbreviation (`UTC`, `GMT`, `Z` only), `%s` epoch seconds, `%%` a percent sign;
  any other character stands for itself.
- Named formats (`NAMED`): `iso8601`/`rfc3339` (date, `T` or space, time, optional `.` or `,`
  fraction, optional zone), `epoch_s` (optional fraction), `epoch_ms`, `epoch_us`, `epoch_ns`,
  `syslog` (`Mmm dd HH:MM:SS`, no year), `apache` (`dd/Mmm/YYYY:HH:MM:SS +zzzz`, as in CLF
  without the brackets), `ctime` (`Www Mmm dd HH:MM:SS YYYY`).
- No year in the format: the year that puts the instant nearest before the time received
  (`received_ns`), with `YEARLESS_SKEW_NS` of allowance for clocks ahead of the receiver.
- No zone in the text: the `zone` given (`UTC`, a fixed offset `+hh:mm`, or an IANA name).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

NS = 1_000_000_000
YEARLESS_SKEW_NS = 3600 * NS  # a year-less time up to an hour after receipt is this year's
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTHS_FULL = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTH_ABBR = "[A-Za-z]{3}"
_MONTH_FULL = "[A-Za-z]{3,9}"

NAMED: dict[str, str] = {
    "syslog": "%b %e %H:%M:%S",
    "apache": "%d/%b/%Y:%H:%M:%S %z",
    "ctime": "%a %b %e %H:%M:%S %Y",
}
EPOCH_UNITS = {"epoch_s": NS, "epoch_ms": 1_000_000, "epoch_us": 1_000, "epoch_ns": 1}
ISO_NAMES = ("iso8601", "rfc3339")
_ISO_REGEX = (
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?"
)
_EPOCH_REGEX = {
    "epoch_s": r"(\d{9,10})(?:\.(\d{1,9}))?",
    "epoch_ms": r"(\d{12,13})",
    "epoch_us": r"(\d{15,16})",
    "epoch_ns": r"(\d{18,19})",
}
# directive -> (regex of its one group, component it sets)
_DIRECTIVES: dict[str, tuple[str, str]] = {
    "Y": (r"\d{4}", "year"),
    "y": (r"\d{2}", "year2"),
    "m": (r"\d{2}", "month"),
    "-m": (r"\d{1,2}", "month"),
    "d": (r"\d{2}", "day"),
    "-d": (r"\d{1,2}", "day"),
    "e": (r" ?\d{1,2}", "day"),
    "H": (r"\d{2}", "hour"),
    "-H": (r"\d{1,2}", "hour"),
    "I": (r"\d{2}", "hour12"),
    "p": (r"[AaPp][Mm]", "ampm"),
    "M": (r"\d{2}", "minute"),
    "S": (r"\d{2}", "second"),
    "f": (r"\d{1,9}", "fraction"),
    "b": (_MONTH_ABBR, "month_name"),
    "B": (_MONTH_FULL, "month_name"),
    "a": (r"[A-Za-z]{3}", "weekday"),
    "A": (r"[A-Za-z]{6,9}", "weekday"),
    "j": (r"\d{3}", "yday"),
    "z": (r"Z|[+-]\d{2}(?::?\d{2})?", "offset"),
    "Z": (r"UTC|GMT|Z", "zone_name"),
    "s": (r"\d{1,10}", "epoch"),
}


class TimeFormatError(ValueError):
    """A format string that cannot be used (unknown directive, nothing to date by)."""


@dataclass(frozen=True, slots=True)
class TimeFormat:
    """A compiled timestamp format: see the module docstring."""

    spec: str
    regex: str  # portable, unanchored; one group per component
    components: tuple[str, ...]
    has_year: bool
    has_zone: bool
    _pattern: re.Pattern[str]
    _convert: Callable[[re.Match[str], int, tzinfo], int | None]

    def parse(self, text: str, received_ns: int = 0, zone: str | tzinfo = "UTC") -> int | None:
        """The instant `text` (whole, surrounding spaces ignored) names, in ns UTC; None when
        it does not fit the format."""
        match = self._pattern.fullmatch(text.strip())
        if match is None:
            return None
        tz = zone if isinstance(zone, tzinfo) else resolve_zone(zone)
        try:
            return self._convert(match, received_ns, tz)
        except (ValueError, OverflowError):
            return None

    def search(self, text: str) -> re.Match[str] | None:
        """The first place in `text` where this format matches (for detection)."""
        return self._pattern.search(text)


@cache
def resolve_zone(name: str) -> tzinfo:
    """`UTC`, a fixed offset (`+02:00`, `-0530`), or an IANA zone name."""
    if name.upper() in ("UTC", "Z", "GMT", ""):
        return UTC
    offset = _offset_seconds(name)
    if offset is not None:
        return timezone(timedelta(seconds=offset))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimeFormatError(f"unknown time zone '{name}' (UTC, +hh:mm or an IANA name)") from None


def _offset_seconds(text: str) -> int | None:
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})?", text)
    if match is None:
        return None
    sign = -1 if match.group(1) == "-" else 1
    return sign * (int(match.group(2)) * 3600 + int(match.group(3) or 0) * 60)


def is_known_spec(spec: str) -> bool:
    try:
        compile_time_format(spec)
    except TimeFormatError:
        return False
    return True


@cache
def compile_time_format(spec: str) -> TimeFormat:
    """The `TimeFormat` of a named format or a strftime-like string (`TimeFormatError`)."""
    if spec in ISO_NAMES:
        return _make(spec, _ISO_REGEX, ("iso",), True, True, _iso)
    if spec in EPOCH_UNITS:
        unit = EPOCH_UNITS[spec]
        return _make(spec, _EPOCH_REGEX[spec], ("epoch",), True, True, _epoch(unit))
    text = NAMED.get(spec, spec)
    parts: list[str] = []
    components: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "%":
            parts.append(" +" if ch == " " else re.escape(ch))
            i += 1
            continue
        key = text[i + 1 : i + 3] if text[i + 1 : i + 2] == "-" else text[i + 1 : i + 2]
        if key == "%":
            parts.append("%")
        elif key in _DIRECTIVES:
            regex, component = _DIRECTIVES[key]
            parts.append(f"({regex})")
            components.append(component)
        else:
            raise TimeFormatError(f"unknown directive '%{key}' in time format '{spec}'")
        i += 1 + len(key)
    names = set(components)
    if "epoch" not in names and not ({"hour", "hour12"} & names and names & {"day", "yday"}):
        raise TimeFormatError(
            f"time format '{spec}' needs a day and an hour (or %s), or a known name: "
            f"{', '.join([*ISO_NAMES, *EPOCH_UNITS, *NAMED])}"
        )
    has_year = bool({"year", "year2", "epoch"} & names)
    has_zone = bool({"offset", "zone_name", "epoch"} & names)
    converter = _components_convert(tuple(components))
    return _make(spec, "".join(parts), tuple(components), has_year, has_zone, converter)


def _make(
    spec: str,
    regex: str,
    components: tuple[str, ...],
    has_year: bool,
    has_zone: bool,
    convert: Callable[[re.Match[str], int, tzinfo], int | None],
) -> TimeFormat:
    return TimeFormat(spec, regex, components, has_year, has_zone, re.compile(regex), convert)


def _fraction_ns(digits: str | None) -> int:
    return int((digits or "0")[:9].ljust(9, "0"))


def _iso(match: re.Match[str], _received: int, tz: tzinfo) -> int | None:
    y, mo, d, h, mi, s, frac, off = match.groups()
    zone = tz if off is None else (UTC if off == "Z" else _fixed(off))
    return _instant(int(y), int(mo), int(d), int(h), int(mi), int(s), _fraction_ns(frac), zone)


def _epoch(unit: int) -> Callable[[re.Match[str], int, tzinfo], int | None]:
    def convert(match: re.Match[str], _received: int, _tz: tzinfo) -> int | None:
        whole = int(match.group(1)) * unit
        if unit == NS and match.lastindex and match.lastindex > 1:
            whole += _fraction_ns(match.group(2))
        return whole

    return convert


def _fixed(offset: str) -> tzinfo:
    seconds = _offset_seconds(offset)
    return UTC if seconds is None else timezone(timedelta(seconds=seconds))


def _month_number(name: str) -> int:
    key = name.lower()
    if key in MONTHS_FULL:
        return MONTHS_FULL.index(key) + 1
    if key[:3] in MONTHS and len(key) == 3:
        return MONTHS.index(key) + 1
    raise ValueError(f"not a month: {name}")


def _components_convert(
    components: tuple[str, ...],
) -> Callable[[re.Match[str], int, tzinfo], int | None]:
    def convert(match: re.Match[str], received: int, tz: tzinfo) -> int | None:
        values: dict[str, str] = {}
        for component, text in zip(components, match.groups(), strict=True):
            values[component] = text.strip()
        if "epoch" in values:
            return int(values["epoch"]) * NS + _fraction_ns(values.get("fraction"))
        if "month_name" in values:
            month = _month_number(values["month_name"])
        else:
            month = int(values.get("month", "1"))
        hour = int(values.get("hour", "0"))
        if "hour12" in values:
            hour = int(values["hour12"]) % 12 + (
                12 if values.get("ampm", "").lower() == "pm" else 0
            )
        if "offset" in values:
            zone: tzinfo = _fixed(values["offset"]) if values["offset"] != "Z" else UTC
        elif "zone_name" in values:
            zone = UTC
        else:
            zone = tz
        minute, second = int(values.get("minute", "0")), int(values.get("second", "0"))
        fraction = _fraction_ns(values.get("fraction"))

        def at(year: int) -> int | None:
            if "yday" in values:
                day0 = datetime(year, 1, 1) + timedelta(days=int(values["yday"]) - 1)
                return _instant(year, day0.month, day0.day, hour, minute, second, fraction, zone)
            return _instant(year, month, int(values["day"]), hour, minute, second, fraction, zone)

        if "year" in values:
            return at(int(values["year"]))
        if "year2" in values:
            short = int(values["year2"])
            return at(short + (1900 if short >= 69 else 2000))
        year = datetime.fromtimestamp(received / NS, UTC).year if received else 1970
        candidate = at(year)
        if candidate is not None and candidate > received + YEARLESS_SKEW_NS:
            return at(year - 1)
        if candidate is None:  # 29 February of a year that has none: the last leap year
            return at(year - 1) or at(year - 2) or at(year - 3)
        return candidate

    return convert


def _instant(
    year: int, month: int, day: int, hour: int, minute: int, second: int, ns: int, zone: tzinfo
) -> int | None:
    try:
        moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=zone)
    except ValueError:
        return None
    if second == 60:  # a leap second reads as the next second
        moment += timedelta(seconds=1)
    seconds = int(moment.timestamp())
    return seconds * NS + ns
