"""CloudWatch result rows → an Arrow table with the columns a compiled query expects.

Requires: rows as mappings from field name to value — Logs Insights' text values
(`GetQueryResults`: `[{field, value}, …]` per row, see `from_results`) or the typed values of
`FilterLogEvents` events — and the `ir.Column`s of an `InsightsQuery`. Guarantees: one Arrow
column per requested column, in order, typed by `ARROW_TYPES`; a field missing from a row is
null (Insights omits fields an event does not have); `@timestamp` and `@ingestionTime`
(epoch ms in the `cloudwatch` mapping) accept Insights' `2026-11-20 10:00:01.123` (UTC) and
plain epoch ms (what moto returns); timestamp columns (`bin(…)` keys) the same, to ns. A value
that cannot have its column's type raises `QueryFailed` naming the column and the value.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.compiler import ir
from starbase.compiler.types import Type
from starbase.runtime.errors import QueryFailed

ARROW_TYPES = {
    Type.INT: pa.int64(),
    Type.FLOAT: pa.float64(),
    Type.STRING: pa.string(),
    Type.BOOL: pa.bool_(),
    Type.TIMESTAMP: pa.timestamp("ns", tz="UTC"),
}
EPOCH_MS_FIELDS = frozenset({"@timestamp", "@ingestionTime"})
Value = str | int | float | bool | None
Row = Mapping[str, Value]


def schema(columns: Sequence[ir.Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, ARROW_TYPES.get(c.type, pa.string())) for c in columns])


def from_results(results: Iterable[Sequence[Mapping[str, str]]]) -> list[dict[str, Value]]:
    """GetQueryResults' `results` as one mapping per row (`@ptr` and the like dropped later)."""
    return [{cell["field"]: cell.get("value") for cell in row} for row in results]


def to_table(rows: Sequence[Row], columns: Sequence[ir.Column]) -> pa.Table:
    """The rows as a table of `columns` (see the module docstring)."""
    target = schema(columns)
    arrays = []
    for column, field in zip(columns, target, strict=True):
        convert = _converter(column)
        values = [convert(row.get(column.name)) for row in rows]
        arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=target)


def _converter(column: ir.Column) -> Callable[[Value], object]:
    def convert(value: Value) -> object:
        if value is None or (value == "" and column.type is not Type.STRING):
            return None
        try:
            return _convert(column, value)
        except (ValueError, InvalidOperation, OverflowError):
            raise QueryFailed(
                f"CloudWatch returned {value!r} for {column.name}, which should be "
                f"{column.type.value}"
            ) from None

    return convert


def _convert(column: ir.Column, value: str | int | float | bool) -> object:
    kind = column.type
    if kind is Type.STRING:
        return str(value)
    if column.name in EPOCH_MS_FIELDS and kind is Type.INT:
        return _epoch_ms(value)
    if kind is Type.INT:
        if isinstance(value, bool):
            raise ValueError(value)
        if isinstance(value, int):
            return value
        number = Decimal(str(value))
        if number != number.to_integral_value():
            raise ValueError(value)
        return int(number)
    if kind is Type.FLOAT:
        real = float(value)
        return None if math.isnan(real) else real
    if kind is Type.BOOL:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("true", "false", "1", "0"):
            raise ValueError(value)
        return text in ("true", "1")
    if kind is Type.TIMESTAMP:
        return _epoch_ms(value) * 1_000_000 if _is_number(value) else _epoch_ns(str(value))
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())


def _epoch_ms(value: str | int | float | bool) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    return _epoch_ns(text) // 1_000_000


def _epoch_ns(text: str) -> int:
    """Insights' `YYYY-MM-DD HH:MM:SS.mmm` (UTC unless an offset is given), as epoch ns."""
    stamp = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    whole = stamp.replace(microsecond=0)
    seconds = int((whole - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).total_seconds())
    return seconds * 1_000_000_000 + stamp.microsecond * 1_000
