"""Scalar functions Starbase adds to every DataFusion session (`register_udfs`).

Requires: DataFusion's Python UDF API. Guarantees: `starbase_json_to_map(text)` — the IR's
`json_to_map`, the `attributes` of a source whose records are JSON text (CloudWatch) — is the
map of a JSON object's top-level members: string values as they are (unescaped), every other
value as its JSON text with numbers exactly as written (`1.50` stays `1.50`); the last of
duplicate keys; null for null, text that is not JSON, or JSON that is not an object.
`starbase_json_get(text, key)` — the IR's `json_get`, one member, as a pushed-down filter reads
it — is exactly `starbase_json_to_map(text)[key]`, without parsing texts that cannot hold
the key.
`starbase_join_rows(rows, limit)` is true while `rows` ≤ `limit`, else it fails the query
with `JoinTooLarge` (the guard of a join's right side, `lower.Join`).
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from datafusion import SessionContext, udf

from starbase.backends.datafusion.lower import JOIN_ROWS, JSON_GET, JSON_TO_MAP
from starbase.compiler.ir import JOIN_MAX_ROWS

_MAP = pa.map_(pa.string(), pa.string())


class _Number(str):
    """A JSON number kept as the text it was written with."""


def json_to_map(values: pa.Array) -> pa.Array:
    """The map of each JSON object in `values` (see the module docstring)."""
    return pa.array([_members(v) for v in values.to_pylist()], _MAP)


def json_get(values: pa.Array, keys: pa.Array | pa.Scalar) -> pa.Array:
    """Member `key` of each JSON object in `values` (see the module docstring)."""
    texts = values.to_pylist()
    wanted = [keys.as_py()] * len(texts) if isinstance(keys, pa.Scalar) else keys.to_pylist()
    return pa.array([_member(t, k) for t, k in zip(texts, wanted, strict=True)], pa.string())


def _member(text: str | None, key: str | None) -> str | None:
    if text is None or key is None:
        return None
    # A key is written as itself unless it holds `"`, `\` or a control character, or the
    # text uses escapes: otherwise a text without `"key"` cannot have that member.
    quoted = f'"{key}"'
    if "\\" not in text and quoted not in text and json.dumps(key, ensure_ascii=False) == quoted:
        return None
    members = _object(text)
    return None if members is None else _text(members.get(key))


def _members(text: str | None) -> list[tuple[str, str | None]] | None:
    members = None if text is None else _object(text)
    if members is None:
        return None
    return [(key, _text(member)) for key, member in members.items()]


def _object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text, parse_float=_Number, parse_int=_Number)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


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


class JoinTooLarge(Exception):
    """A join's right side has more rows than its limit (the message says so)."""


JOIN_TOO_LARGE = (
    "the right side of the join has more than {limit:,} rows (its limit): narrow it "
    "(where, since, stats, dedup) or set maxrows (at most {most:,})"
)


def join_rows(rows: pa.Array, limits: pa.Array | pa.Scalar) -> pa.Array:
    """True for every row while the right side's row count is within its limit; else fails
    the query with a message naming the limit."""
    limit = limits.as_py() if isinstance(limits, pa.Scalar) else limits[0].as_py()
    if len(rows) and pa.compute.max(rows).as_py() > limit:
        raise JoinTooLarge(JOIN_TOO_LARGE.format(limit=limit, most=JOIN_MAX_ROWS))
    return pa.array([True] * len(rows), pa.bool_())


def register_udfs(ctx: SessionContext) -> None:
    """Make Starbase's functions callable in `ctx`'s SQL."""
    ctx.register_udf(udf(json_to_map, [pa.string()], _MAP, "immutable", name=JSON_TO_MAP))
    ctx.register_udf(
        udf(json_get, [pa.string(), pa.string()], pa.string(), "immutable", name=JSON_GET)
    )
    ctx.register_udf(
        udf(join_rows, [pa.int64(), pa.int64()], pa.bool_(), "volatile", name=JOIN_ROWS)
    )
