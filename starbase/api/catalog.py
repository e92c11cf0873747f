"""What the administration page shows: sources and their mappings, stored tables, the router's
health and ingest figures; and the server's own health and status.

Requires: the shared `ApiState`; the stored tables' indexes (`storage.table`, read through
`backends.datafusion.tables.open_source_table`); optionally the router's URL (`--router`).
Guarantees:

- `GET /api/v1/sources`: each source of the principal's tenant with format, location (never
  credentials) and its mapping (description, fields, the YAML text);
- `GET /api/v1/tables`: each stored source's table from its commit log (version, rows, files,
  bytes, time range, hours spanned, appended vs compacted files — the compaction backlog —, when the
  last commit was made), or the one-line reason it cannot be read;
- `GET /api/v1/router`: the router's `/healthz`, `/readyz` and `/metrics`, with ingest rates
  (records/s, bytes/s, requests by status) computed between this scrape and the previous
  one, errors (non-2xx answers, refused records, failed commits) and its queue; `configured:
  false` without `--router`; an unreachable router is `reachable: false`, never a 5xx;
- `GET /healthz` (liveness: the process answers) and `GET /readyz` (readiness: the sources
  are configured and the thread pool accepts work), `GET /api/v1/status` (auth mode,
  tenant, limits) for the web UI.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from importlib import resources
from typing import Any

import aiohttp
from aiohttp import web

from starbase.api.models import check_query_params
from starbase.api.state import ApiState, RouterScrapes, principal_of, state_of
from starbase.backends.datafusion.tables import STORED, SourceUnavailable, open_source_table
from starbase.config import SourceConfig
from starbase.mappings import MappingError, load_mapping
from starbase.storage.otel_layout import NS_PER_HOUR, hour_key

ROUTER_TIMEOUT_S = 2.0
SUMMED = frozenset(  # the router's series shown summed over workers and labels
    {
        "records_in_total",
        "bytes_in_total",
        "records_committed_total",
        "rejected_records_total",
        "flush_errors_total",
        "wal_fsyncs_total",
        "queue_records",
        "queue_bytes",
        "wal_bytes",
        "inflight_bytes",
    }
)


async def healthz(request: web.Request) -> web.Response:
    check_query_params(request, {})
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    check_query_params(request, {})
    state = state_of(request)
    try:
        await asyncio.wait_for(
            asyncio.get_running_loop().run_in_executor(state.executor, lambda: None), 5.0
        )
    except (TimeoutError, RuntimeError):
        return web.json_response({"status": "busy", "reason": "no worker thread free"}, status=503)
    return web.json_response({"status": "ready", "sources": list(state.settings.config.names)})


async def status(request: web.Request) -> web.Response:
    check_query_params(request, {})
    state, principal = state_of(request), principal_of(request)
    settings = state.settings
    limits = settings.limits
    return web.json_response(
        {
            "auth": not settings.open,
            "tenant": principal.tenant,
            "loopback_only": settings.open,
            "router": settings.router_url is not None,
            "limits": {
                "max_query_bytes": limits.max_query_bytes,
                "max_concurrent": limits.max_concurrent,
                "max_rows": limits.max_rows,
                "max_stream_rows": limits.max_stream_rows,
                "max_seconds": limits.max_seconds,
                "job_ttl_s": limits.job_ttl_s,
            },
        }
    )


async def sources(request: web.Request) -> web.Response:
    check_query_params(request, {})
    state, principal = state_of(request), principal_of(request)
    config = state.tenants.session(principal.tenant).config
    return web.json_response({"sources": [_source(s) for s in config.sources]})


def _source(source: SourceConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": source.name,
        "format": source.format,
        "location": source.location,
        "log_groups": list(source.log_groups),
        "region": source.region,
        "endpoint": source.endpoint,
        "stored": source.format in STORED and bool(source.location),
    }
    try:
        mapping = load_mapping(source.format)
    except MappingError as exc:
        out["mapping"] = {"error": str(exc)}
        return out
    fields = {}
    for name, spec in mapping.fields.items():
        fields[name] = spec.model_dump(mode="json", exclude_none=True, by_alias=True)
    text = ""
    with contextlib.suppress(OSError):
        text = (resources.files("starbase.mappings") / f"{source.format}.yaml").read_text()
    out["mapping"] = {
        "format": mapping.format,
        "description": mapping.description,
        "backend": mapping.backend,
        "fields": fields,
        "yaml": text,
    }
    return out


async def tables(request: web.Request) -> web.Response:
    check_query_params(request, {})
    state, principal = state_of(request), principal_of(request)
    config = state.tenants.session(principal.tenant).config
    stored = [s for s in config.sources if s.format in STORED and s.location]
    loop = asyncio.get_running_loop()
    found = [await loop.run_in_executor(state.executor, _table, s) for s in stored]
    return web.json_response({"tables": found})


def _rows(source: SourceConfig, files: list[Any]) -> int:
    """Rows of the source: for a raw source, only the lines posted under its name (raw
    sources share one table)."""
    if source.format != "raw":
        return sum(f.rows for f in files)
    from starbase.mappings.raw_sources import raw_source_name

    name = raw_source_name(source)
    return sum(k.rows for f in files for k in f.keys if k.key == name)


def _table(source: SourceConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"source": source.name, "format": source.format}
    try:
        table = open_source_table(source)
        head = table.snapshot()
        files = table.files(head)
    except (SourceUnavailable, OSError, ValueError) as exc:
        return out | {"error": str(exc)}
    except Exception as exc:  # the store's own errors (S3) differ per backend
        return out | {"error": f"{type(exc).__name__}: {exc}"}
    # appended files not yet compacted: `by=append-…` folders (and the legacy `incoming/`)
    incoming = [f for f in files if "/by=append-" in f.path or f.path.startswith("incoming/")]
    first = min((f.min_ns for f in files), default=None)
    last = max((f.max_ns for f in files), default=None)
    hours = [] if first is None or last is None else [hour_key(first), hour_key(last)]
    return out | {
        "location": table.store.url(""),
        "version": head.version,
        "rows": _rows(source, files),
        "files": len(files),
        "bytes": sum(f.bytes for f in files),
        "min_time_ns": min((f.min_ns for f in files), default=None),
        "max_time_ns": max((f.max_ns for f in files), default=None),
        "hours": 0
        if first is None or last is None
        else (last // NS_PER_HOUR - first // NS_PER_HOUR + 1),
        "first_hour": hours[0] if hours else None,
        "last_hour": hours[-1] if hours else None,
        "retention_cutoff": head.cutoff,
        "last_commit_ns": head.committed_ns or None,
        "compaction": {
            "incoming_files": len(incoming),
            "incoming_bytes": sum(f.bytes for f in incoming),
            "compacted_files": len(files) - len(incoming),
            "generation": head.gen,
        },
    }


# ---------------------------------------------------------------- the router


async def router(request: web.Request) -> web.Response:
    check_query_params(request, {})
    state = state_of(request)
    url = state.settings.router_url
    if url is None:
        return web.json_response({"configured": False})
    return web.json_response(await scrape_router(state, url.rstrip("/"), state.router_scrapes))


async def scrape_router(state: ApiState, url: str, scrapes: RouterScrapes) -> dict[str, Any]:
    out: dict[str, Any] = {"configured": True, "url": url}
    timeout = aiohttp.ClientTimeout(total=ROUTER_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as client:
            async with client.get(f"{url}/healthz") as reply:
                out["healthy"] = reply.status == 200
            async with client.get(f"{url}/readyz") as reply:
                out["ready"] = reply.status == 200
                if reply.status != 200:
                    out["not_ready_reason"] = (await reply.text())[:500]
            async with client.get(f"{url}/metrics") as reply:
                text = await reply.text()
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return out | {"reachable": False, "reason": str(exc) or type(exc).__name__}
    now = time.monotonic()
    values = parse_prometheus(text)
    totals = summarize(values)
    rates: dict[str, float] = {}
    if scrapes.previous is not None:
        then, before = scrapes.previous
        elapsed = now - then
        if elapsed > 0:
            earlier = summarize(before)
            for name, value in totals.items():
                if name.endswith("_total") and name in earlier:
                    rates[name.removesuffix("_total") + "_per_s"] = max(
                        0.0, (value - earlier[name]) / elapsed
                    )
            out["rate_window_s"] = round(elapsed, 3)
    scrapes.previous = (now, values)
    return out | {"reachable": True, "totals": totals, "rates": rates}


def parse_prometheus(text: str) -> dict[str, float]:
    """`name{labels}` → value for every sample line of the text exposition format."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, number = line.rpartition(" ")
        try:
            values[key] = float(number)
        except ValueError:
            continue
    return values


def summarize(values: dict[str, float]) -> dict[str, float]:
    """The router's figures the admin page shows, summed over workers."""
    prefix = "starbase_router_"
    out: dict[str, float] = {}

    def add(name: str, value: float) -> None:
        out[name] = out.get(name, 0.0) + value

    for key, value in values.items():
        if not key.startswith(prefix):
            continue
        name, _, labels = key[len(prefix) :].partition("{")
        if name in SUMMED:
            add(name, value)
        elif name == "store_up":
            out["store_up"] = min(out.get("store_up", 1.0), value)
        elif name == "requests_total":
            add("requests_total", value)
            status = labels.split('status="', 1)[-1].split('"', 1)[0]
            if not status.startswith("2"):
                add("error_responses_total", value)
                add(f"responses_{status}_total", value)
    return out
