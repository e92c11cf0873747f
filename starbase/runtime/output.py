"""Result tables → text: aligned table, NDJSON, CSV, JSON.

Requires: a `pyarrow.Table` as the runtime returns it. Guarantees: timestamps are written as
RFC 3339 UTC strings (`2026-11-27T05:00:00.123456789Z`, nanoseconds kept); maps as JSON
objects; NDJSON is one object per row with the columns in order; the `table` format aligns
columns, shortens cells longer than `MAX_CELL` characters and rows beyond `MAX_ROWS`, and says
how many it left out.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.compiler.timestamps import format_iso

FORMATS = ("table", "ndjson", "csv", "json")
MAX_CELL = 80
MAX_ROWS = 1000


def render(table: pa.Table, output: str) -> str:
    if output == "ndjson":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows(table))
    if output == "json":
        return json.dumps(list(rows(table)), ensure_ascii=False, indent=2) + "\n"
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(table.column_names)
        for row in rows(table):
            writer.writerow([_text(v) for v in row.values()])
        return buffer.getvalue()
    return _aligned(table)


def rows(table: pa.Table) -> Iterator[dict[str, Any]]:
    """Rows as JSON-ready dicts (timestamps as RFC 3339 UTC, maps as dicts)."""
    columns = [_column_values(table.column(i)) for i in range(table.num_columns)]
    names = table.column_names
    for index in range(table.num_rows):
        yield {name: values[index] for name, values in zip(names, columns, strict=True)}


def _column_values(column: pa.ChunkedArray) -> list[Any]:
    kind = column.type
    if pa.types.is_timestamp(kind):
        nanos = column.cast(pa.timestamp("ns", tz=kind.tz)).cast(pa.int64()).to_pylist()
        return [None if n is None else format_iso(n) for n in nanos]
    if pa.types.is_map(kind):
        return [None if m is None else dict(m) for m in column.to_pylist()]
    if pa.types.is_string_view(kind):
        return list(column.cast(pa.string()).to_pylist())
    return list(column.to_pylist())


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _aligned(table: pa.Table) -> str:
    names = table.column_names
    shown = table.slice(0, MAX_ROWS)
    body = [[_short(_text(v)) for v in row.values()] for row in rows(shown)]
    widths = [max([len(n), *(len(r[i]) for r in body)]) for i, n in enumerate(names)]
    lines = [
        "  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in body]
    more = table.num_rows - shown.num_rows
    count = f"({table.num_rows} row{'s' if table.num_rows != 1 else ''}"
    lines.append(count + (f"; {more} not shown, use --output ndjson)" if more else ")"))
    return "\n".join(lines) + "\n"


def _short(text: str) -> str:
    text = text.replace("\n", "⏎")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"
