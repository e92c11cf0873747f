"""What helps people write and read queries: compile-check, completion, explain, histogram,
facets and context around a line.

Requires: the shared `ApiState`, an authenticated principal, and the REPL's pure helpers for
the same jobs (`repl.lexer`, `repl.completion`, `repl.timerange`), so the terminal and the
browser agree. Guarantees:

- `POST /api/v1/compile` answers 200 with `ok`, positioned `diagnostics`, the query's
  `tokens` (start, end, kind: the highlighting), output `columns`, `parameters` and
  `row_only` (whether it can be tailed); it never runs anything.
- `POST /api/v1/complete` → the word range to replace and ranked candidates (stages,
  functions, fields, sources, attribute keys, level names, and the most frequent values of a
  field after `FIELD ==`); `GET /api/v1/completions` → the vocabulary itself (sources, fields,
  functions, keys and top values from a sample of each source's first rows).
- `POST /api/v1/explain` → the `Explain` value as JSON (sections in order).
- `POST /api/v1/histogram` → matching records per time bucket over the query's window (at most
  `buckets` buckets, empty ones as 0), counted by a query derived from the selecting stages.
- `POST /api/v1/facets` → for each field, its most frequent values with exact counts among
  the rows the query selects (one `stats count() by FIELD` per field).
- `POST /api/v1/context` → the lines just before and after an instant from the same source,
  service and host, within an hour either side.
Each query run here holds one of the principal's query slots and obeys the run-time limit.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from aiohttp import web

from starbase.api import encode
from starbase.api.errors import ApiError, diagnostic_dict
from starbase.api.execution import QueryCancelled, Session
from starbase.api.models import (
    CompileBody,
    CompleteBody,
    ContextBody,
    ExplainBody,
    FacetsBody,
    HistogramBody,
    check_query_params,
    read_body,
)
from starbase.api.running import Deadline, check_length, prepare
from starbase.api.state import ApiState, principal_of, state_of
from starbase.compiler import ast
from starbase.compiler.errors import CompileError
from starbase.compiler.format import STAGE_KEYWORDS
from starbase.compiler.functions import AGGREGATES, SCALARS
from starbase.compiler.timestamps import parse_iso
from starbase.mappings.metamodel import UNIVERSAL_FIELDS
from starbase.repl.completion import STAGE_HINTS, Candidate, Vocabulary, complete
from starbase.repl.lexer import Kind, previous_significant, tokenize
from starbase.repl.timerange import (
    MINUTE,
    choose_bucket,
    fill_buckets,
    histogram_query,
    query_window,
    span_query,
)

ROW_ONLY_STAGES = (ast.Where, ast.Since, ast.Between, ast.ParseGlob, ast.ParseRegex, ast.Extend)
FACET_FIELDS = ("service", "severity_text", "host", "source")
CONTEXT_WINDOW_NS = 3600 * 1_000_000_000
T = TypeVar("T")


def row_only(query: ast.Query) -> bool:
    """True when every stage keeps or reshapes single rows (what live tail can run)."""
    return all(isinstance(s, (*ROW_ONLY_STAGES, ast.Fields)) for s in query.stages)


async def _blocking(state: ApiState, call: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(state.executor, call, *args)


# ---------------------------------------------------------------- compile and complete


async def compile_check(request: web.Request) -> web.Response:
    state, principal = state_of(request), principal_of(request)
    check_query_params(request, {})
    body = await read_body(request, CompileBody, state.settings.limits.max_body_bytes)
    check_length(body.query, state.settings.limits)
    session = state.tenants.session(principal.tenant)
    return web.json_response(await _blocking(state, _check, session, body.query))


def _check(session: Session, text: str) -> dict[str, Any]:
    tokens = [[t.start, t.end, t.kind.value] for t in tokenize(text)]
    try:
        compiled = session.compile(text)
    except CompileError as exc:
        return {
            "ok": False,
            "diagnostics": [diagnostic_dict(d) for d in exc.diagnostics],
            "tokens": tokens,
        }
    return {
        "ok": True,
        "diagnostics": [diagnostic_dict(d) for d in compiled.warnings],
        "tokens": tokens,
        "columns": [{"name": c.name, "type": c.type.value} for c in compiled.columns],
        "parameters": compiled.parameters,
        "row_only": row_only(compiled.ast),
        "sources": list(dict.fromkeys(s.name for s in compiled.ast.source.sources)),
    }


async def complete_at(request: web.Request) -> web.Response:
    state, principal = state_of(request), principal_of(request)
    check_query_params(request, {})
    body = await read_body(request, CompleteBody, state.settings.limits.max_body_bytes)
    check_length(body.query, state.settings.limits)
    return web.json_response(
        await _blocking(state, _complete, state, principal.tenant, body.query, body.offset)
    )


def _complete(state: ApiState, tenant: str | None, text: str, offset: int) -> dict[str, Any]:
    session = state.tenants.session(tenant)
    samples = [state.tenants.sample(tenant, name) for name in _sources_named(text, session)]
    vocabulary = Vocabulary(
        sources=session.config.names,
        attribute_keys=_merged(s.attribute_keys for s in samples),
        resource_keys=_merged(s.resource_keys for s in samples),
        source_details={s.name: s.format for s in session.config.sources},
    )
    found = complete(text, offset, vocabulary)
    candidates = list(found.candidates)
    start, end, prefix = found.start, found.end, found.prefix
    values = _value_candidates(text, offset, samples)
    if values is not None:
        start, end, prefix, candidates = values
    return {
        "start": start,
        "end": end,
        "prefix": prefix,
        "candidates": [
            {
                "label": c.label,
                "insert": c.insert,
                "kind": c.kind,
                "detail": c.detail,
                "cursor_back": c.cursor_back,
            }
            for c in candidates[:100]
        ],
    }


def _sources_named(text: str, session: Session) -> list[str]:
    """The configured sources the text's `from` names (all of them for `*` or when unclear)."""
    tokens = [t for t in tokenize(text) if t.kind is not Kind.COMMENT]
    if len(tokens) < 2 or tokens[0].text != "from":
        return list(session.config.names)
    named: list[str] = []
    for token in tokens[1:]:
        if token.kind is Kind.PIPE:
            break
        name = token.text.strip("`")
        if token.text == "*":
            return list(session.config.names)
        if session.config.source(name) is not None:
            named.append(name)
    return named or list(session.config.names)


def _value_candidates(
    text: str, offset: int, samples: list[Any]
) -> tuple[int, int, str, list[Candidate]] | None:
    """After `FIELD ==` / `FIELD !=` (a quote may be open): the field's frequent values."""
    offset = max(0, min(offset, len(text)))
    tokens = tokenize(text)
    current = next((t for t in tokens if t.start < offset <= t.end), None)
    start = offset
    if current is not None and current.kind in (Kind.STRING, Kind.NAME, Kind.NUMBER):
        start = current.start
    operator = previous_significant(tokens, start)
    if operator is None or operator.text not in ("==", "!="):
        return None
    field = previous_significant(tokens, operator.start)
    if field is None or field.kind is not Kind.NAME:
        return None
    values: list[str] = []
    for sample in samples:
        values += [v for v in sample.values.get(field.text, ()) if v not in values]
    if not values:
        return None
    typed = text[start:offset].lstrip("\"'")
    end = offset
    if current is not None and current.kind is Kind.STRING:
        end = current.end
    ranked = [v for v in values if v.startswith(typed)] + [
        v for v in values if typed and typed in v and not v.startswith(typed)
    ]
    return (
        start,
        end,
        text[start:offset],
        [Candidate(v, json.dumps(v), "value", f"frequent {field.text}") for v in ranked],
    )


def _merged(groups: Any) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for group in groups:
        out.update(dict.fromkeys(group))
    return tuple(out)


async def vocabulary(request: web.Request) -> web.Response:
    state, principal = state_of(request), principal_of(request)
    check_query_params(request, {})
    return web.json_response(await _blocking(state, _vocabulary, state, principal.tenant))


def _vocabulary(state: ApiState, tenant: str | None) -> dict[str, Any]:
    session = state.tenants.session(tenant)
    samples = {s.name: state.tenants.sample(tenant, s.name) for s in session.config.sources}
    return {
        "stages": [{"name": k, "detail": STAGE_HINTS.get(k, "")} for k in STAGE_KEYWORDS],
        "functions": [{"name": n, "detail": f.doc} for n, f in sorted(SCALARS.items())],
        "aggregates": [{"name": n, "detail": f.doc} for n, f in sorted(AGGREGATES.items())],
        "fields": [f.name for f in UNIVERSAL_FIELDS],
        "sources": [{"name": s.name, "format": s.format} for s in session.config.sources],
        "attribute_keys": list(_merged(s.attribute_keys for s in samples.values())),
        "resource_keys": list(_merged(s.resource_keys for s in samples.values())),
        "values": {
            name: {field: list(values) for field, values in sample.values.items()}
            for name, sample in samples.items()
        },
        "sampled_rows": {name: sample.rows for name, sample in samples.items()},
    }


# ---------------------------------------------------------------- explain


async def explain(request: web.Request) -> web.Response:
    state, principal = state_of(request), principal_of(request)
    check_query_params(request, {})
    body = await read_body(request, ExplainBody, state.settings.limits.max_body_bytes)
    session = state.tenants.session(principal.tenant)
    limits = state.settings.limits
    prepared = await _blocking(state, prepare, session, body.query, body.range, limits)
    with state.queries.slot(principal):
        value = await _blocking(state, session.explain, prepared.compiled, body.params)
    return web.json_response(value.to_dict())


# ---------------------------------------------------------------- histogram, facets, context


async def _run_table(
    state: ApiState, session: Session, text: str, params: Mapping[str, object], now_ns: int
) -> pa.Table:
    compiled = await _blocking(state, session.compile, text)
    cursor = session.execute(compiled, params, now_ns=now_ns)
    deadline = Deadline(cursor, state.settings.limits.max_seconds)
    try:
        return await _blocking(state, cursor.fetch_all)
    except QueryCancelled:
        if deadline.expired:
            raise deadline.error() from None
        raise
    finally:
        deadline.stop()
        cursor.cancel()


async def histogram(request: web.Request) -> web.Response:
    state, principal = state_of(request), principal_of(request)
    check_query_params(request, {})
    body = await read_body(request, HistogramBody, state.settings.limits.max_body_bytes)
    session = state.tenants.session(principal.tenant)
    limits = state.settings.limits
    prepared = await _blocking(state, prepare, session, body.query, body.range, limits)
    compiled = prepared.compiled
    now = time.time_ns()
    with state.queries.slot(principal):
        window = query_window(compiled, now)
        lower, upper = window.lower, window.upper
        empty: dict[str, Any] = {
            "label": window.label,
            "bucket_ns": None,
            "start_ns": None,
            "counts": [],
        }
        if lower is None or upper is None:
            extent = await _run_table(state, session, span_query(compiled), body.params, now)
            if extent.num_rows == 0 or not extent.column("n")[0].as_py():
                return web.json_response(empty | {"total": 0})
            first = extent.column("lo").cast(pa.int64())[0].as_py()
            last = extent.column("hi").cast(pa.int64())[0].as_py()
            lower = lower if lower is not None else first
            upper = upper if upper is not None else last + 1
        bucket = choose_bucket(lower, upper, body.buckets)
        counts = await _run_table(
            state, session, histogram_query(compiled, bucket), body.params, now
        )
    stamps = counts.column("t").cast(pa.int64()).to_pylist()
    numbers = counts.column("n").to_pylist()
    pairs = [(t, float(n)) for t, n in zip(stamps, numbers, strict=True) if t is not None]
    start, values = fill_buckets(pairs, lower, upper, bucket)
    return web.json_response(
        {
            "label": window.label,
            "bucket_ns": bucket,
            "start_ns": start,
            "lower_ns": lower,
            "upper_ns": upper,
            "counts": [int(v) for v in values],
            "total": int(sum(values)),
        }
    )


async def facets(request: web.Request) -> web.Response:
    state, principal = state_of(request), principal_of(request)
    check_query_params(request, {})
    body = await read_body(request, FacetsBody, state.settings.limits.max_body_bytes)
    session = state.tenants.session(principal.tenant)
    limits = state.settings.limits
    prepared = await _blocking(state, prepare, session, body.query, body.range, limits)
    head = histogram_query(prepared.compiled, MINUTE).rsplit("\n| ", 1)[0]
    fields = body.fields if body.fields is not None else list(FACET_FIELDS)
    now = time.time_ns()
    out: list[dict[str, Any]] = []
    with state.queries.slot(principal):
        total_table = await _run_table(
            state, session, head + "\n| stats count() as n", body.params, now
        )
        total = int(total_table.column("n")[0].as_py() or 0) if total_table.num_rows else 0
        for field in fields:
            text = (
                f"{head}\n| stats count() as n by {field} as value\n| sort n desc"
                f"\n| limit {body.top}"
            )
            try:
                table = await _run_table(state, session, text, body.params, now)
            except CompileError as exc:  # a field unknown to these sources
                out.append({"field": field, "error": exc.diagnostics[0].message, "values": []})
                continue
            values = encode.column_values(table.column("value"))
            counts = table.column("n").to_pylist()
            out.append(
                {
                    "field": field,
                    "values": [
                        {"value": v if not isinstance(v, dict) else str(v), "count": int(n)}
                        for v, n in zip(values, counts, strict=True)
                    ],
                }
            )
    return web.json_response({"total": total, "facets": out})


async def context(request: web.Request) -> web.Response:
    state, principal = state_of(request), principal_of(request)
    check_query_params(request, {})
    body = await read_body(request, ContextBody, state.settings.limits.max_body_bytes)
    session = state.tenants.session(principal.tenant)
    if session.config.source(body.source) is None:
        raise ApiError(404, "no_such_source", f"no source {body.source!r}")
    try:
        at = parse_iso(body.timestamp)
    except ValueError:
        message = f"timestamp is not ISO-8601: {body.timestamp!r}"
        raise ApiError(400, "invalid_body", message) from None
    source = "`" + body.source.replace("`", "") + "`"
    same = ""
    params: dict[str, object] = {
        "at": body.timestamp,
        "lo": at - CONTEXT_WINDOW_NS,
        "hi": at + CONTEXT_WINDOW_NS,
    }
    for name in ("service", "host"):
        value = getattr(body, name)
        if value is None:
            same += f" and not exists({name})"
        else:
            same += f" and {name} == ${name}"
            params[name] = value
    shown = "fields timestamp, severity, severity_text, service, host, message"
    before = (
        f"from {source} | where timestamp <= $at and timestamp >= $lo{same}"
        f" | sort timestamp desc | limit {body.before + 1} | {shown}"
    )
    after = (
        f"from {source} | where timestamp > $at and timestamp <= $hi{same}"
        f" | sort timestamp asc | limit {body.after} | {shown}"
    )
    now = time.time_ns()
    with state.queries.slot(principal):
        earlier = await _run_table(state, session, before, params, now)
        later = await _run_table(state, session, after, params, now)
    earlier_rows = encode.rows(earlier)[::-1]
    return web.json_response(
        {
            "columns": encode.columns(earlier.schema),
            "before": earlier_rows,
            "after": encode.rows(later),
        }
    )
