"""Export a result table to a file: CSV, JSON, NDJSON (as `starbase query -o` writes them) or
Parquet; the file's extension picks the format.

Requires: a `pyarrow.Table` as the runtime returns it. Guarantees: CSV, JSON (one document: an
array of row objects — what a `.json` file is expected to hold) and NDJSON (one object per line,
for `.ndjson`/`.jsonl`) are exactly what `starbase.runtime.output.render` produces
(timestamps RFC 3339 UTC with nanoseconds, maps as JSON objects), so a file exported here and
one from the CLI agree; Parquet keeps the Arrow
types (timestamps in ns, UTC). The file is written next to its final name and renamed into
place, so a failed export never leaves half a file under the name asked for.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from starbase.runtime.output import render

FORMATS = ("csv", "json", "ndjson", "parquet")


def format_for(path: Path, default: str = "csv") -> str:
    """The export format a file name asks for (by extension), else `default`."""
    suffix = path.suffix.lower().lstrip(".")
    aliases = {"jsonl": "ndjson", "pq": "parquet"}
    suffix = aliases.get(suffix, suffix)
    return suffix if suffix in FORMATS else default


def export(table: pa.Table, path: Path, fmt: str) -> int:
    """Write `table` to `path` as `fmt`; returns the number of rows written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")
    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        if fmt == "parquet":
            pq.write_table(table, partial, compression="zstd")
        else:
            partial.write_text(render(table, fmt), encoding="utf-8")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return int(table.num_rows)
