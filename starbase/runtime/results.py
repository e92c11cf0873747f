"""One result shape for every backend: names and Arrow types of the output columns.

Requires: an engine's result schema and batches, and the compiled query's output columns
(`CompiledQuery.columns`, names per contract §5). Guarantees: `result_schema` is decided
before the first row (from the engine's planned schema): the query's column names in order,
strings as `string` (not `string_view`/`large_string`), timestamps as `timestamp[ns, UTC]`,
integers as `int64`, maps as `map<string, string>`; `conform` casts a batch to it.
"""

from __future__ import annotations

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.compiler import ir
from starbase.compiler.types import Type

_STRING_MAP = pa.map_(pa.string(), pa.string())


def result_schema(engine_schema: pa.Schema, columns: tuple[ir.Column, ...]) -> pa.Schema:
    """The schema every batch of the result has (see the module docstring)."""
    fields = []
    for column, found in zip(columns, engine_schema, strict=True):
        fields.append(pa.field(column.name, _arrow_type(found.type, column.type)))
    return pa.schema(fields)


def _arrow_type(kind: pa.DataType, declared: Type) -> pa.DataType:
    if pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
        return pa.string()
    if pa.types.is_timestamp(kind) or declared is Type.TIMESTAMP:
        return pa.timestamp("ns", tz="UTC")
    if declared is Type.INT and pa.types.is_integer(kind):
        return pa.int64()
    if pa.types.is_map(kind) and (
        pa.types.is_string_view(kind.item_type) or pa.types.is_string_view(kind.key_type)
    ):
        return _STRING_MAP
    return kind


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """`batch` with the names and types of `schema` (same columns, in order)."""
    arrays = [
        array if array.type == field.type else array.cast(field.type)
        for array, field in zip(batch.columns, schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
