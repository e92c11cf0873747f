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
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
from datafusion import SessionContext, udf, udwf
from datafusion.user_defined import WindowEvaluator

from starbase.backends.datafusion.lower import (
    JOIN_ROWS,
    JSON_FLATTEN,
    JSON_GET,
    JSON_TO_MAP,
    LOGFMT_GET,
    LOGFMT_TO_MAP,
    MAP_MERGE,
    MINE_TEMPLATE,
    PARSE_TIME,
    UNQUOTE,
)
from starbase.compiler.ir import JOIN_MAX_ROWS
from starbase.mappings.raw import parse_json_object, parse_logfmt
from starbase.mappings.timeformats import TimeFormatError, compile_time_format, resolve_zone

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


def _values(value: Any, count: int) -> list[Any]:
    """An argument as one Python value per row (a literal arrives as a scalar or an array)."""
    if value is None:
        return [None] * count
    if isinstance(value, pa.Scalar):
        return [value.as_py()] * count
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if value.null_count == 0 and len(value) and pc.count_distinct(value).as_py() == 1:
        return [value[0].as_py()] * count  # the same for every row: read once
    return list(value.to_pylist())


def parse_time(
    texts: pa.Array, formats: pa.Array | pa.Scalar, zones: pa.Array | pa.Scalar, received: Any
) -> pa.Array:
    """`parse_time(text, format, zone, received ns)`: the instant each text names under the
    format (`mappings.timeformats`), null when it does not fit; a year-less format dates by
    the time received (now when null). Each distinct text is parsed once per process (up to
    `_TIME_MEMO_SIZE` of them): log lines repeat their seconds across batches and queries; a
    year-less one is keyed with its time received too (and not kept when dated by now)."""
    import time

    now = time.time_ns()
    memo = _TIME_MEMO
    if len(memo) > _TIME_MEMO_SIZE:
        memo.clear()
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    count = len(texts)
    specs, places, times = (_values(a, count) for a in (formats, zones, received))
    yearless = {spec: not _has_year(spec) for spec in set(specs)}

    def one(text: str, spec: str | None, zone: str | None, seen: int | None) -> int | None:
        if yearless[spec] and seen is None:
            return _parse_one(text, spec, zone, now)  # dated by now: not kept
        key = (text, spec, zone, seen if yearless[spec] else None)
        found = memo.get(key, _MISSING)
        if found is _MISSING:
            found = memo[key] = _parse_one(text, spec, zone, seen if seen is not None else now)
        return found  # type: ignore[return-value]

    if count and len(set(specs)) == 1 and len(set(places)) == 1 and len(set(times)) == 1:
        # one format, zone and time for the batch (a literal format, lines of one commit):
        # parse each distinct text once and spread the results
        encoded = pc.dictionary_encode(texts)
        spec, zone, seen = specs[0], places[0], times[0]
        distinct = [
            None if t is None else one(t, spec, zone, seen) for t in encoded.dictionary.to_pylist()
        ]
        return pa.array(distinct, pa.timestamp("ns")).take(encoded.indices)
    out: list[int | None] = []
    for text, spec, zone, seen in zip(texts.to_pylist(), specs, places, times, strict=True):
        out.append(None if text is None else one(text, spec, zone, seen))
    return pa.array(out, pa.timestamp("ns"))


_TIME_MEMO: dict[tuple[Any, ...], int | None] = {}
_TIME_MEMO_SIZE = 200_000
_MISSING = object()


def _has_year(spec: str | None) -> bool:
    try:
        return spec is None or compile_time_format(spec).has_year
    except TimeFormatError:
        return True  # never parses: no time needed in the key


def _parse_one(text: str, spec: str | None, zone: str | None, received: int) -> int | None:
    if spec is None:
        return None
    try:
        fmt = compile_time_format(spec)
        tz = resolve_zone(zone or "UTC")
    except TimeFormatError:
        return None
    return fmt.parse(text, received, tz)


def logfmt_get(values: pa.Array, keys: pa.Array | pa.Scalar) -> pa.Array:
    """Value of a logfmt key in each text (first occurrence; quotes and escapes removed)."""
    texts = values.to_pylist()
    out: list[str | None] = []
    for text, key in zip(texts, _values(keys, len(texts)), strict=True):
        if text is None or key is None or f"{key}=" not in text:
            out.append(None)
            continue
        out.append(parse_logfmt(text).get(key))
    return pa.array(out, pa.string())


def logfmt_to_map(values: pa.Array) -> pa.Array:
    """The logfmt pairs of each text as a map (null when the text has none)."""
    out = []
    for text in values.to_pylist():
        pairs = parse_logfmt(text) if text is not None else {}
        out.append(list(pairs.items()) if pairs else None)
    return pa.array(out, _MAP)


def map_merge(first: pa.Array, second: pa.Array, prefixes: pa.Array | pa.Scalar) -> pa.Array:
    """The first map's entries, then the second's (keys prefixed) that it lacks."""
    out: list[list[tuple[Any, Any]] | None] = []
    lefts, rights = first.to_pylist(), second.to_pylist()
    for left, right, prefix in zip(lefts, rights, _values(prefixes, len(lefts)), strict=True):
        if left is None and right is None:
            out.append(None)
            continue
        merged = dict(left or [])
        prefix = prefix or ""
        for key, value in right or []:
            merged.setdefault(prefix + key, value)
        out.append(list(merged.items()))
    return pa.array(out, _MAP)


def unquote(values: pa.Array, quotes: pa.Array | pa.Scalar) -> pa.Array:
    """A delimited cell without its quotes (a doubled quote inside is one)."""
    out = []
    texts = values.to_pylist()
    for text, q in zip(texts, _values(quotes, len(texts)), strict=True):
        if text is not None and q and len(text) >= 2 and text[0] == q and text[-1] == q:
            text = text[1:-1].replace(q + q, q)
        out.append(text)
    return pa.array(out, pa.string())


def json_flatten(values: pa.Array) -> pa.Array:
    """Members of each JSON object, nested keys joined by `.` (null: not a JSON object)."""
    out = []
    for text in values.to_pylist():
        found = parse_json_object(text) if text is not None else None
        out.append(None if found is None else list(found.items()))
    return pa.array(out, _MAP)


class _MineTemplates(WindowEvaluator):
    """Each row's template, mined over the whole window (`analyzer.templates.mine_array`)."""

    def evaluate_all(self, values: list[pa.Array], num_rows: int) -> pa.Array:
        from starbase.analyzer.templates import mine_array

        column = values[0]
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        ids, templates = mine_array(column.cast(pa.string()))
        return templates.take(ids)


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
    text, number = pa.string(), pa.int64()
    ctx.register_udf(
        udf(parse_time, [text, text, text, number], pa.timestamp("ns"), "stable", name=PARSE_TIME)
    )
    ctx.register_udf(udf(logfmt_get, [text, text], text, "immutable", name=LOGFMT_GET))
    ctx.register_udf(udf(logfmt_to_map, [text], _MAP, "immutable", name=LOGFMT_TO_MAP))
    ctx.register_udf(udf(map_merge, [_MAP, _MAP, text], _MAP, "immutable", name=MAP_MERGE))
    ctx.register_udf(udf(unquote, [text, text], text, "immutable", name=UNQUOTE))
    ctx.register_udf(udf(json_flatten, [text], _MAP, "immutable", name=JSON_FLATTEN))
    ctx.register_udwf(udwf(_MineTemplates, [text], text, "immutable", name=MINE_TEMPLATE))
    ctx.register_udf(udf(json_to_map, [pa.string()], _MAP, "immutable", name=JSON_TO_MAP))
    ctx.register_udf(
        udf(json_get, [pa.string(), pa.string()], pa.string(), "immutable", name=JSON_GET)
    )
    ctx.register_udf(
        udf(join_rows, [pa.int64(), pa.int64()], pa.bool_(), "volatile", name=JOIN_ROWS)
    )
