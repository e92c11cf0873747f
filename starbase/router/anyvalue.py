"""OTLP AnyValue → the text the stored layout keeps (storage/LAYOUT.md: body and attributes).

Requires: upb protobuf messages of `opentelemetry.proto.common.v1`. Guarantees: a string
value is kept as is; every other value becomes its JSON text (ints as digits, doubles as
`repr` — JSON's own spelling — with `NaN`/`Infinity`/`-Infinity` for the non-finite ones,
bools `true`/`false`, bytes as base64 like the OTLP JSON mapping, arrays and key-value lists
as JSON arrays and objects); an empty AnyValue is None. `service_name` is the partition key the
router and the table agree on: the first `service.name` resource attribute's text, else
`unknown_service`.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from starbase.storage.otel_layout import UNKNOWN_SERVICE

JsonValue = Any


def text(value: Any) -> str | None:
    """The stored text of an AnyValue (see the module docstring)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return str(value.string_value)
    if kind is None:
        return None
    if kind == "int_value":
        return str(value.int_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "double_value":
        return _double(value.double_value)
    return json.dumps(plain(value), separators=(",", ":"), ensure_ascii=False, allow_nan=True)


def plain(value: Any) -> JsonValue:
    """An AnyValue as a plain Python value that `json.dumps` writes as its JSON text."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else _double(number)
    if kind == "bool_value":
        return value.bool_value
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    if kind == "array_value":
        return [plain(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: plain(kv.value) for kv in value.kvlist_value.values}
    return None


def _double(number: float) -> str:
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return repr(number)


def service_name(resource: Any) -> str:
    """The resource's `service.name` as stored text, else `unknown_service`."""
    for kv in resource.attributes:
        if kv.key == "service.name":
            return text(kv.value) or UNKNOWN_SERVICE
    return UNKNOWN_SERVICE
