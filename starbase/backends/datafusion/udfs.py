"""Scalar functions Starbase adds to every DataFusion session (`register_udfs`).

Requires: DataFusion's Python UDF API. Guarantees: `starbase_json_to_map(text)` — the IR's
`json_to_map`, the `attributes` of a source whose records are JSON text (CloudWatch) — is the
map of a JSON object's top-level members: string values as they are (unescaped), every other
value as its JSON text with numbers exactly as written (`1.50` stays `1.50`, as `json_get`
reads it); null for null, text that is not JSON, or JSON that is not an object.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from datafusion import SessionContext, udf

from starbase.backends.datafusion.lower import JSON_TO_MAP

_MAP = pa.map_(pa.string(), pa.string())


class _Number(str):
    """A JSON number kept as the text it was written with."""


def json_to_map(values: pa.Array) -> pa.Array:
    """The map of each JSON object in `values` (see the module docstring)."""
    return pa.array([_members(v) for v in values.to_pylist()], _MAP)


def _members(text: str | None) -> list[tuple[str, str | None]] | None:
    if text is None:
        return None
    try:
        value = json.loads(text, parse_float=_Number, parse_int=_Number)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return [(key, _text(member)) for key, member in value.items()]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, _Number):
        return str.__str__(value)
    if isinstance(value, str):
        return value
    return _json(value)


def _json(value: Any) -> str:
    if isinstance(value, _Number):
        return str.__str__(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json(v) for v in value) + "]"
    return json.dumps(value)


def register_udfs(ctx: SessionContext) -> None:
    """Make Starbase's functions callable in `ctx`'s SQL."""
    ctx.register_udf(udf(json_to_map, [pa.string()], _MAP, "immutable", name=JSON_TO_MAP))
