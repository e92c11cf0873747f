"""The bar chart above the results: matching records over time, or a `stats … by bin()` series.

Requires: a `Series` (bucket start, width, values). Guarantees: `regroup` and `bars` are pure:
the buckets are spread over exactly the widget's width (`regroup`: the mean of the buckets a
column covers when there are more buckets than columns, the bucket under the column's middle
when fewer), so the chart always fills the width and the same data at the same width draws
the same bars however often the terminal was resized; `bars` draws each column bottom-up
with the eighth blocks `▁▂▃▄▅▆▇█`, so a non-zero column is never drawn empty and the
tallest fills the height; the widget adds an axis line (first and last bucket times, UTC,
and the title) and draws nothing but a message when there is no series. No dependency beyond
Textual: Unicode blocks, styled from `chart.tcss`.
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
    """`values` laid over exactly `width` columns, every column the same share of the time
    axis, so the drawing depends only on the data and the width (never on earlier widths):
    with more buckets than columns, a column is the mean of the buckets it covers (a bucket
    cut by a column edge counts in proportion), so equal buckets draw equal bars at any
    width; with fewer, a column shows the bucket under its middle, so every height is a
    bucket's own and the buckets' widths differ by one column at most."""
    if width <= 0 or not values:
        return []
    n = len(values)
    if n <= width:
        return [values[(2 * j + 1) * n // (2 * width)] for j in range(width)]
    # in units of 1/width of a bucket: column j covers [j*n, (j+1)*n), bucket i [i*w, (i+1)*w)
    out = []
    for j in range(width):
        low, high = j * n, (j + 1) * n
        total = 0.0
        for i in range(low // width, -(-high // width)):
            covered = min(high, (i + 1) * width) - max(low, i * width)
            total += values[i] * covered
        out.append(total / n)
    return out


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
