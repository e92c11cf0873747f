"""Result batches → the API's wire formats: JSON rows, NDJSON, CSV and Arrow IPC.

Requires: pyarrow record batches as the execution API streams them. Guarantees: values are
written as `starbase query` writes them (timestamps as RFC 3339 UTC text with nanoseconds,
`format_iso`; maps as JSON objects; nulls as null / empty CSV cells), so the CLI, the API and
the web UI's downloads agree; every function works one batch at a time, so a stream of any
length is encoded in memory bounded by its largest batch.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

NDJSON = "application/x-ndjson"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
CSV = "text/csv"
JSON = "application/json"


def columns(schema: pa.Schema) -> list[dict[str, str]]:
    """The `columns` of a JSON answer: each column's name and its type in StarQL's words."""
    return [{"name": f.name, "type": type_name(f.type)} for f in schema]


def type_name(kind: pa.DataType) -> str:
    if pa.types.is_timestamp(kind):
        return "timestamp"
    if pa.types.is_integer(kind):
        return "int"
    if pa.types.is_floating(kind):
        return "float"
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_map(kind):
        return "map"
    return "string"


def column_values(array: pa.Array | pa.ChunkedArray) -> list[Any]:
    """One column as JSON-ready Python values."""
    kind = array.type
    if pa.types.is_timestamp(kind):
        return list(iso_texts(array).to_pylist())
    if pa.types.is_map(kind):
        return [None if m is None else dict(m) for m in array.to_pylist()]
    if pa.types.is_floating(kind):
        return [None if v is None or v != v or v in (_INF, -_INF) else v for v in array.to_pylist()]
    return list(array.to_pylist())


_INF = float("inf")


def iso_texts(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Timestamps as `format_iso` writes them (RFC 3339 UTC, the fraction without trailing
    zeros), computed by Arrow for the whole column."""
    nanos = array.cast(pa.timestamp("ns", tz="UTC"))
    text = pc.strftime(nanos, format="%Y-%m-%dT%H:%M:%SZ")
    return pc.replace_substring_regex(text, pattern=r"\.?0+Z$", replacement="Z")


def rows(batch: pa.RecordBatch | pa.Table) -> list[list[Any]]:
    """The rows of a batch as lists of JSON-ready values, in column order."""
    values = [column_values(batch.column(i)) for i in range(batch.num_columns)]
    return [list(row) for row in zip(*values, strict=True)] if values else []


def ndjson(batch: pa.RecordBatch) -> bytes:
    """One JSON object per row, newline-terminated."""
    names = batch.schema.names
    out = []
    for row in rows(batch):
        out.append(json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False))
    return ("\n".join(out) + "\n").encode() if out else b""


def csv_header(schema: pa.Schema) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(schema.names)
    return buffer.getvalue().encode()


def csv_rows(batch: pa.RecordBatch) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows(batch):
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue().encode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    return str(value)


class ArrowStream:
    """Arrow IPC stream framing, batch by batch: `start()` the schema message, `batch()` each
    record batch, `end()` the end-of-stream marker."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self._sink = io.BytesIO()
        self._writer = pa.ipc.new_stream(self._sink, schema)

    def _take(self) -> bytes:
        data = self._sink.getvalue()
        self._sink.seek(0)
        self._sink.truncate()
        return bytes(data)

    def start(self) -> bytes:
        return self._take()

    def batch(self, batch: pa.RecordBatch) -> bytes:
        self._writer.write_batch(batch)
        return self._take()

    def end(self) -> bytes:
        self._writer.close()
        return self._take()


def chunks(
    batch: pa.RecordBatch, rows_per_chunk: int = 8192, first: int | None = None
) -> Iterator[pa.RecordBatch]:
    """A batch cut into slices of at most `rows_per_chunk` rows (zero-copy); the first slice
    has at most `first` rows (a small first write gets the first row to the client sooner)."""
    offset = 0
    if first is not None and batch.num_rows > first:
        yield batch.slice(0, first)
        offset = first
    for start in range(offset, batch.num_rows, rows_per_chunk):
        yield batch.slice(start, rows_per_chunk)
