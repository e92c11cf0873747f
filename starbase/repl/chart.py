"""The bar chart above the results: matching records over time, or a `stats … by bin()` series.

Requires: a `Series` (bucket start, width, values). Guarantees: `bars(values, width, height)`
is pure: it spreads the buckets over exactly `width` columns (summing buckets when there are
more than columns) and draws each column bottom-up with the eighth blocks `▁▂▃▄▅▆▇█`, so a
non-zero bucket is never drawn empty and the tallest fills the height; the widget adds an
axis line (first and last bucket times, UTC, and the title) and draws nothing but a message
when there is no series. No dependency beyond Textual: Unicode blocks, styled from `chart.tcss`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from starbase.compiler.timestamps import format_duration, format_iso

BLOCKS = " ▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Series:
    start_ns: int  # start of the first bucket
    bucket_ns: int
    values: tuple[float, ...]
    title: str  # e.g. "records" or "n by bucket"

    @property
    def total(self) -> float:
        return sum(self.values)

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.bucket_ns * len(self.values)


def regroup(values: tuple[float, ...], width: int) -> list[float]:
    """`values` laid over at most `width` columns: summed when there are more buckets than
    columns, else each bucket repeated over the same number of columns (`width // n`), so
    every bucket is equally wide (the chart may end short of `width`)."""
    if width <= 0 or not values:
        return []
    n = len(values)
    if n > width:
        out = [0.0] * width
        for i, v in enumerate(values):
            out[i * width // n] += v
        return out
    k = width // n
    return [v for v in values for _ in range(k)]


def bars(values: list[float], height: int) -> list[str]:
    """Rows of block characters, top row first, one character per value."""
    peak = max(values, default=0.0)
    levels = height * 8
    heights = [0 if v <= 0 or peak <= 0 else max(1, math.ceil(v / peak * levels)) for v in values]
    rows = []
    for row in range(height - 1, -1, -1):
        base = row * 8
        rows.append("".join(BLOCKS[min(8, max(0, h - base))] for h in heights))
    return rows


def time_label(ns: int, span_ns: int) -> str:
    """An axis label in UTC: the time of day for a day or less, else the date too."""
    stamp = format_iso(ns - ns % 1_000_000_000)  # 2026-11-20T05:00:00Z
    clock = stamp[11:19] if span_ns < 600 * 1_000_000_000 else stamp[11:16]
    if span_ns <= 86_400 * 1_000_000_000:
        return clock + "Z"
    return stamp[5:10] + " " + clock + "Z"


def number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.3g}"


class Chart(Widget):
    """Bars over time with an axis line; `series` None shows `message` instead."""

    DEFAULT_CSS = """
    Chart { height: 4; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "chart--bar",
        "chart--axis",
        "chart--title",
        "chart--message",
    }

    series: reactive[Series | None] = reactive(None)
    message: reactive[str] = reactive("")

    def render(self) -> Text:
        width = self.size.width
        height = max(1, self.size.height - 1)
        series = self.series
        if series is None or not series.values:
            return Text(self.message, style=self.get_component_rich_style("chart--message"))
        columns = regroup(series.values, width)
        out = Text(no_wrap=True, overflow="crop", end="")
        bar_style = self.get_component_rich_style("chart--bar")
        for line in bars(columns, height):
            out.append(line, style=bar_style)
            out.append("\n")
        drawn = len(columns)
        span = series.end_ns - series.start_ns
        left = time_label(series.start_ns, span)
        right = time_label(series.end_ns, span)
        gap = drawn - len(left) - len(right)
        total, peak = number(series.total), number(max(series.values))
        per = format_duration(series.bucket_ns)
        titles = (
            f" {series.title}: {total} · peak {peak} per {per} ",
            f" {total} · peak {peak} per {per} ",
            f" {total} ",
            "",
        )
        title = next(t for t in titles if len(t) + 2 <= gap or not t)
        axis_style = self.get_component_rich_style("chart--axis")
        pad = max(0, gap - len(title))
        if gap < 0:  # too narrow for the labels: just the axis
            out.append("─" * drawn, style=axis_style)
            return out
        out.append(left, style=axis_style)
        out.append("─" * (pad // 2), style=axis_style)
        out.append(title, style=self.get_component_rich_style("chart--title"))
        out.append("─" * (pad - pad // 2), style=axis_style)
        out.append(right, style=axis_style)
        return out
