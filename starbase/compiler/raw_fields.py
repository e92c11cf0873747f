"""Raw-line mappings compiled into IR expressions over a stored line (contract §7).

Requires: a validated `RawMapping` (`starbase.mappings.raw`). Guarantees:
`raw_field_expressions(mapping)` gives, for every universal field, one IR expression over the
raw table's physical columns `line` and `received_time_unix_nano` that reproduces
`RawMapping.evaluate` (the reference semantics): the first shape whose `when` and parse both
match gives the record; a line no shape matches keeps `message` = the line and `timestamp` =
the time received, every other field null. Nothing is rewritten: the expressions read the
stored line at query time, so the lowering turns them into the engine's own regex, JSON and
CASE expressions (`regex_extract` reuses the per-group capture of `parse`, so a group that took
no part is null). One difference from the reference, kept on purpose: the whole
`attributes` map of a `json`/`logfmt` line (or body) holds all its members, those that became
universal fields too (reading `attributes.KEY` one key at a time agrees).

    shape access: `^(?<client>\\S+) … (?<status>\\d+)` + timestamp {field: time, format: apache}
    → timestamp := coalesce(if(line ~ /…/, parse_time(regex_extract(line, /…/, 3), "apache",
                   "UTC", received_time_unix_nano), null), epoch_to_timestamp(received, "ns"))
"""

from __future__ import annotations

import json
import re

from starbase.compiler import ir
from starbase.compiler.regex import to_python
from starbase.compiler.types import Type
from starbase.mappings.raw import (
    DelimitedParse,
    JsonParse,
    LogfmtParse,
    RawMapping,
    Shape,
    ValueSpec,
)

LINE = ir.Col("line", Type.STRING)
RECEIVED = ir.Col("received_time_unix_nano", Type.INT)
RECEIVED_TIME = ir.Call("epoch_to_timestamp", (RECEIVED, ir.Lit("ns", Type.STRING)), Type.TIMESTAMP)
JSON_START = r"^\s*\{"
LOGFMT_START = r'^\s*[^\s="]+='


def _text(value: str) -> ir.Lit:
    return ir.Lit(value, Type.STRING)


class _ShapeFields:
    """How one shape's named fields are read out of the line, and when the shape applies."""

    def __init__(self, shape: Shape, keys: frozenset[str] | None = None) -> None:
        self.shape = shape
        self.keys = keys
        parse = shape.parse
        self.regex: ir.Regex | None = None
        self.groups: dict[str, int] = {}
        conditions: list[ir.Expr] = []
        if shape.when:
            conditions.append(ir.Match(LINE, ir.Regex(shape.when)))
        if isinstance(parse, JsonParse):
            conditions.append(ir.Match(LINE, ir.Regex(JSON_START)))
            conditions.append(ir.IsNull(ir.Call("json_flatten", (LINE,), Type.MAP), negated=True))
        elif isinstance(parse, LogfmtParse):
            conditions.append(ir.Match(LINE, ir.Regex(LOGFMT_START)))
        else:
            pattern = parse.regex()
            self.regex = ir.Regex(pattern)
            self.groups = dict(re.compile(to_python(pattern)).groupindex)
            conditions.append(ir.Match(LINE, self.regex))
        self.matches: ir.Expr = conditions[0] if len(conditions) == 1 else ir.And(tuple(conditions))
        # the shape applies exactly where its regex matches (no `when`, no body)
        self.plain_regex = self.regex is not None and not shape.when and shape.body is None

    def static(self) -> list[str]:
        names = self.shape.static_fields()
        if names is not None:
            return list(names)
        if self.regex is not None:  # a regex shape with a body: its own captures
            parse = self.shape.parse
            if isinstance(parse, DelimitedParse):
                return list(parse.columns)
            return [n for n in self.groups]
        return []

    def own(self, name: str) -> ir.Expr | None:
        """The field as the parse gives it (None when the parse cannot give it)."""
        parse = self.shape.parse
        if isinstance(parse, JsonParse):
            return ir.MapGet(ir.Call("json_flatten", (LINE,), Type.MAP), name)
        if isinstance(parse, LogfmtParse):
            return ir.Call("logfmt_get", (LINE, _text(name)), Type.STRING)
        group = self.groups.get(re.sub(r"[^A-Za-z0-9_]", "_", name))
        if group is None or self.regex is None:
            return None
        capture: ir.Expr = ir.Call(
            "regex_extract", (LINE, self.regex, ir.Lit(group, Type.INT)), Type.STRING
        )
        if isinstance(parse, DelimitedParse) and parse.quote:
            capture = ir.Call("unquote", (capture, _text(parse.quote)), Type.STRING)
        return capture

    def body_text(self) -> ir.Expr | None:
        body = self.shape.body
        return None if body is None else self.own(body.field)

    def field(self, name: str) -> ir.Expr:
        """The field, from the parse or else from the body (existing fields win)."""
        own = self.own(name)
        body = self.shape.body
        text = self.body_text()
        if body is None or text is None or not name.startswith(body.prefix):
            return own if own is not None else ir.Lit(None, Type.STRING)
        key = name[len(body.prefix) :]
        inner: ir.Expr = (
            ir.MapGet(ir.Call("json_flatten", (text,), Type.MAP), key)
            if body.kind == "json"
            else ir.Call("logfmt_get", (text, _text(key)), Type.STRING)
        )
        return inner if own is None else ir.Call("coalesce", (own, inner), Type.STRING)

    def attributes(self) -> ir.Expr:
        shape = self.shape
        parse = shape.parse
        consumed = shape.consumed()
        attrs = shape.attributes
        dynamic = isinstance(parse, JsonParse | LogfmtParse)
        if dynamic and self.keys is None:
            whole = "json_flatten" if isinstance(parse, JsonParse) else "logfmt_to_map"
            return ir.Call(whole, (LINE,), Type.MAP)
        renamed = {attrs.rename.get(n, n): n for n in self.static()}
        pairs: list[ir.Expr] = []
        for key, name in renamed.items():
            if name in consumed or name in attrs.exclude:
                continue
            if attrs.include != "all" and name not in attrs.include:
                continue
            if self.keys is None or key in self.keys:
                pairs += [_text(key), self.field(name)]
        if self.keys is not None and (dynamic or shape.body is not None):
            for key in sorted(self.keys - set(renamed)):  # keys the line itself names
                pairs += [_text(key), self.field(key)]  # (all members, as the whole map)
            return ir.Call("make_map", tuple(pairs), Type.MAP)
        own: ir.Expr = ir.Call("make_map", tuple(pairs), Type.MAP)
        text = self.body_text()
        if shape.body is not None and text is not None:
            whole = "json_flatten" if shape.body.kind == "json" else "logfmt_to_map"
            inner = ir.Call(whole, (text,), Type.MAP)
            return ir.Call("map_merge", (own, inner, _text(shape.body.prefix)), Type.MAP)
        return own


def _first(
    shapes: list[_ShapeFields],
    value: dict[int, ir.Expr],
    otherwise: ir.Expr,
    kind: Type,
    *,
    strict: bool = False,
) -> ir.Expr:
    """`if(shape 1 matches, its value, if(shape 2 matches, …, otherwise))`: the first shape that
    matches decides, even when its value is null. With `strict` (each value is `otherwise`
    wherever its shape's regex does not match: captures through null-keeping functions), the
    last test before `otherwise` is left out for a regex shape without `when`: one regex
    evaluation less per line."""
    out = otherwise
    for i in reversed(range(len(shapes))):
        if i in value and strict and out == otherwise and shapes[i].plain_regex:
            out = value[i]
        elif i in value:
            out = ir.Call("if", (shapes[i].matches, value[i], out), kind)
        elif out != otherwise:
            out = ir.Call("if", (shapes[i].matches, otherwise, out), kind)
    return out


def raw_field_expressions(
    mapping: RawMapping, attribute_keys: frozenset[str] | None = None
) -> dict[str, ir.Expr]:
    """Every universal field of `mapping`'s lines (see the module docstring); with
    `attribute_keys`, `attributes` holds only those keys (the query reads no others)."""
    shapes = [_ShapeFields(s, attribute_keys) for s in mapping.shapes]
    null_text = ir.Lit(None, Type.STRING)
    out: dict[str, ir.Expr] = {}

    times: dict[int, ir.Expr] = {}
    levels: dict[int, ir.Expr] = {}
    level_texts: dict[int, ir.Expr] = {}
    messages: dict[int, ir.Expr] = {}
    for i, sf in enumerate(shapes):
        shape = sf.shape
        if shape.timestamp is not None:
            zone = shape.timestamp.zone or mapping.zone
            times[i] = ir.Call(
                "parse_time",
                (
                    sf.field(shape.timestamp.field),
                    _text(shape.timestamp.format),
                    _text(zone),
                    RECEIVED,
                ),
                Type.TIMESTAMP,
            )
        if shape.severity is not None:
            spec = shape.severity
            text = sf.field(spec.field)
            table = json.dumps(spec.table, sort_keys=True) if spec.vocabulary == "words" else ""
            levels[i] = ir.Call(
                "level_number", (text, _text(spec.vocabulary), _text(table)), Type.INT
            )
            level_texts[i] = (
                text
                if spec.vocabulary == "words"
                else ir.Call("level_keyword", (text, _text(spec.vocabulary)), Type.STRING)
            )
        if shape.message is not None:
            messages[i] = ir.Call("coalesce", (sf.field(shape.message), LINE), Type.STRING)

    parsed_time = _first(shapes, times, ir.Lit(None, Type.TIMESTAMP), Type.TIMESTAMP, strict=True)
    out["timestamp"] = (
        RECEIVED_TIME
        if not times
        else ir.Call("coalesce", (parsed_time, RECEIVED_TIME), Type.TIMESTAMP)
    )
    out["observed_timestamp"] = RECEIVED_TIME
    out["severity"] = _first(shapes, levels, ir.Lit(None, Type.INT), Type.INT, strict=True)
    out["severity_text"] = _first(shapes, level_texts, null_text, Type.STRING, strict=True)
    out["message"] = _first(shapes, messages, LINE, Type.STRING, strict=True)
    for key in ("service", "host", "trace_id", "span_id"):
        values: dict[int, ir.Expr] = {}
        for i, sf in enumerate(shapes):
            spec = getattr(sf.shape, key)
            if isinstance(spec, ValueSpec):
                values[i] = _text(spec.value)
            elif isinstance(spec, str):
                values[i] = sf.field(spec)
        out[key] = _first(shapes, values, null_text, Type.STRING)
    attributes = {i: sf.attributes() for i, sf in enumerate(shapes)}
    # with known keys the map is only ever read one key at a time (a key of a map of nulls is
    # null, as of no map), so the last plain shape needs no test of its own either
    out["attributes"] = _first(
        shapes, attributes, ir.Lit(None, Type.MAP), Type.MAP, strict=attribute_keys is not None
    )
    return out
