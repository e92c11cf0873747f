"""Finding the timestamp of a line and its format.

Requires: `starbase.mappings.timeformats`. Guarantees: `find_timestamp(line)` returns the
earliest, then longest, match of any `CANDIDATES` format within the line's first `WINDOW`
characters that starts and ends at a token boundary and parses to a plausible instant (years
1990–2100 for formats with a year; epochs in that range), or None. `induce_format(texts)`
derives a strftime-like format from example timestamp texts (digit runs assigned to date parts
by width and value), for user-labelled spans no known format fits. Every search is bounded by
`WINDOW`, so the cost per line is constant whatever the line holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from starbase.mappings.timeformats import MONTHS, NS, TimeFormat, compile_time_format

WINDOW = 120
_LOW, _HIGH = 631_152_000 * NS, 4_102_444_800 * NS  # 1990-01-01 .. 2100-01-01

# Most specific first; ties on position and length go to the earlier one.
CANDIDATES: tuple[str, ...] = (
    "%Y-%m-%d %H:%M:%S.%f %Z",
    "%Y-%m-%d %H:%M:%S %Z",
    "iso8601",
    "apache",
    "%d/%b/%Y:%H:%M:%S",
    "ctime",
    "%a %b %e %H:%M:%S.%f %Y",
    "%Y/%m/%d %H:%M:%S.%f",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d-%H.%M.%S.%f",
    "%Y%m%d-%H:%M:%S:%f",
    "%Y%m%dT%H%M%S%z",
    "%Y%m%dT%H%M%S",
    "%d.%m.%Y %H:%M:%S.%f",
    "%d.%m.%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%b %e, %Y %I:%M:%S %p",
    "%d-%b-%Y %H:%M:%S.%f",
    "%d-%b-%Y %H:%M:%S",
    "%b %e %Y %H:%M:%S",
    "syslog",
    "%y/%m/%d %H:%M:%S",
    "%y%m%d %H%M%S",
    "%y%m%d %H:%M:%S",
    "%m-%d %H:%M:%S.%f",
    "%m%d %H:%M:%S.%f",
    "epoch_s",
    "epoch_ms",
    "epoch_us",
    "epoch_ns",
)


@dataclass(frozen=True, slots=True)
class Found:
    start: int
    end: int
    spec: str
    text: str
    instant: int


@cache
def _searcher(spec: str) -> tuple[TimeFormat, re.Pattern[str]]:
    fmt = compile_time_format(spec)
    before = r"(?<![\w.:/-])" if spec.startswith("epoch") else r"(?<![\d.:/-])"
    return fmt, re.compile(before + "(?:" + fmt.regex + r")(?!\d|:\d|\.\d)")


def _boundary_ok(line: str, end: int) -> bool:
    return end >= len(line) or not line[end].isalnum()


def find_timestamp(
    line: str, received_ns: int = 0, specs: tuple[str, ...] = CANDIDATES
) -> Found | None:
    """The line's timestamp (see the module docstring)."""
    window = line[:WINDOW]
    if not any(ch.isdigit() for ch in window):
        return None
    best: Found | None = None
    for spec in specs:
        fmt, pattern = _searcher(spec)
        match = pattern.search(window)
        if match is None:
            continue
        if best is not None and (
            match.start() > best.start or (match.start() == best.start and match.end() <= best.end)
        ):
            continue
        instant = fmt.parse(match.group(0), received_ns)
        if instant is None or not _LOW <= instant < _HIGH:
            continue
        best = Found(match.start(), match.end(), spec, match.group(0), instant)
    return best


def parses_as(text: str, received_ns: int = 0) -> str | None:
    """The first candidate format that reads all of `text` as a plausible instant."""
    for spec in CANDIDATES:
        fmt, _ = _searcher(spec)
        instant = fmt.parse(text, received_ns)
        if instant is not None and _LOW <= instant < _HIGH:
            return spec
    return None


_RUN = re.compile(r"\d+|[A-Za-z]+|[^\dA-Za-z]")


def induce_format(texts: list[str]) -> str | None:
    """A strftime-like format that parses every text in `texts`, or None.

    Digit runs are read in order as date then time: 8 digits = YYYYMMDD, 6 = YYMMDD or HHMMSS
    (by position), 4 = a year, 2 = the next of month/day/hour/minute/second, 1-9 digits after
    the seconds = a fraction; month names become `%b`/`%B`, weekday names `%a`.
    """
    if not texts:
        return None
    tokens = _RUN.findall(texts[0])
    parts: list[str] = []
    order = ["m", "d", "H", "M", "S"]
    have_year = False
    for token in tokens:
        if token.isdigit():
            width = len(token)
            if width == 8 and not have_year:
                parts.append("%Y%m%d")
                have_year = True
                order = ["H", "M", "S"]
            elif width == 14 and not have_year:
                parts.append("%Y%m%d%H%M%S")
                have_year, order = True, []
            elif width == 4 and not have_year and 1990 <= int(token) <= 2100:
                parts.append("%Y")
                have_year = True
            elif width == 6 and order and order[0] == "H":
                parts.append("%H%M%S")
                order = []
            elif width == 2 and order:
                parts.append("%" + order.pop(0))
            elif width in (1, 3, 6, 9) and not order:
                parts.append("%f")
            elif width == 1 and order:
                parts.append("%-" + order.pop(0) if order[0] in "mdH" else "%" + order.pop(0))
            else:
                return None
        elif token.isalpha() and token[:3].lower() in MONTHS:
            parts.append("%b" if len(token) == 3 else "%B")
            if "m" in order:
                order.remove("m")
        elif token.isalpha() and token[:3].lower() in ("mon", "tue", "wed", "thu", "fri", "sat"):
            parts.append("%a")
        elif token == "%":
            parts.append("%%")
        else:
            parts.append(token)
    spec = "".join(parts)
    try:
        fmt = compile_time_format(spec)
    except ValueError:
        return None
    if all(fmt.parse(t, 0) is not None for t in texts):
        return spec
    return None
