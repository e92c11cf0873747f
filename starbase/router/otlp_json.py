"""OTLP/JSON → the protobuf `ExportLogsServiceRequest` (the OTLP specification's JSON mapping).

Requires: protobuf's `json_format`. Guarantees: what the OTLP spec says differs from
protobuf's own JSON mapping is handled here — `traceId`/`spanId` are hex strings, not base64
(an empty string is "absent"); everything else follows the protobuf mapping, which already
accepts lowerCamelCase and original field names, int64 as strings or numbers, enums as integers
(or names) and base64 `bytesValue`; unknown fields are ignored, as OTLP/JSON receivers must.
Bounded: a document whose parse could take more than `limits.JSON_PARSE_BYTES` is refused
before parsing, the records are counted into the request's `Budget` before any is converted,
and the conversion goes record by record, checking the CPU budget as it goes. Any malformed
input is a 400 `Problem` naming the field, never an exception. `json_payload` gives the
protobuf payload: from the compiled walk of the parsed document (`native.json_payload`, no
Python object per record) when it handles the document, else from `parse_json` — the
reference, which also answers every error (tests/test_native_otlp.py checks both give the
same request).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ExportLogsServiceRequest,
)

from starbase.router import native
from starbase.router.limits import Budget, check_json
from starbase.router.problems import Problem, bad_request

_IDS = (("traceId", "trace_id"), ("spanId", "span_id"))
_LEVELS = (("resourceLogs", "resource_logs"), ("scopeLogs", "scope_logs"))
_RECORDS = ("logRecords", "log_records")
_TICK_EVERY = 64


def json_payload(body: bytes, budget: Budget) -> bytes | Problem:
    """The protobuf ExportLogsServiceRequest of an OTLP/JSON body, or a Problem (Overrun past
    a limit)."""
    document = _document(body, budget)
    if isinstance(document, Problem):
        return document
    payload = native.json_payload(document)
    if payload is not None:
        return payload
    parsed = _request(document, budget)
    return parsed if isinstance(parsed, Problem) else bytes(parsed.SerializeToString())


def parse_json(body: bytes, budget: Budget) -> Any | Problem:
    """An ExportLogsServiceRequest message, or a Problem (Overrun past a limit): the
    reference, field by field through protobuf's json_format."""
    document = _document(body, budget)
    return document if isinstance(document, Problem) else _request(document, budget)


def _document(body: bytes, budget: Budget) -> dict[str, Any] | Problem:
    """The parsed body, its records counted into `budget`."""
    check_json(body, "the OTLP/JSON body")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return bad_request(f"malformed JSON: {exc}")
    if not isinstance(document, dict):
        return bad_request("malformed OTLP/JSON: the body must be a JSON object")
    resources = _list(document, _LEVELS[0], "")
    if isinstance(resources, Problem):
        return resources
    total = 0
    for rindex, resource_logs in enumerate(resources):
        for scope_logs in _scopes(resource_logs, rindex):
            records = _list(scope_logs, _RECORDS, "")
            total += len(records) if isinstance(records, list) else 0
    budget.check_records(total)
    return document


def _request(document: dict[str, Any], budget: Budget) -> Any | Problem:
    resources = _list(document, _LEVELS[0], "")
    if isinstance(resources, Problem):
        return resources
    request = ExportLogsServiceRequest()
    for rindex, resource_logs in enumerate(resources):
        where = f"resourceLogs[{rindex}]"
        problem = _merge(_without(resource_logs, _LEVELS[1]), request.resource_logs.add(), where)
        if problem is not None:
            return problem
        target = request.resource_logs[-1]
        scopes = _list(resource_logs, _LEVELS[1], where + ".")
        if isinstance(scopes, Problem):
            return scopes
        for sindex, scope_logs in enumerate(scopes):
            scope_where = f"{where}.scopeLogs[{sindex}]"
            scope_target = target.scope_logs.add()
            problem = _merge(_without(scope_logs, _RECORDS), scope_target, scope_where)
            if problem is not None:
                return problem
            records = _list(scope_logs, _RECORDS, scope_where + ".")
            if isinstance(records, Problem):
                return records
            for index, record in enumerate(records):
                if index % _TICK_EVERY == 0:
                    budget.tick()
                record_where = f"{scope_where}.logRecords[{index}]"
                problem = _hex_ids_to_base64(record, record_where)
                if problem is None:
                    problem = _merge(record, scope_target.log_records.add(), record_where)
                if problem is not None:
                    return problem
    return request


def _merge(value: object, message: Any, where: str) -> Problem | None:
    """Parse one JSON object into `message` (ParseDict), naming `where` on failure."""
    if not isinstance(value, dict):
        return bad_request(f"malformed OTLP/JSON: {where}: must be a JSON object")
    try:
        json_format.ParseDict(value, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        return bad_request(f"malformed OTLP/JSON: {where}: {exc}")
    except (ValueError, TypeError, AttributeError, RecursionError, OverflowError) as exc:
        # OverflowError: an integer past a double's range as a double (float() overflows)
        return bad_request(f"malformed OTLP/JSON: {where}: {type(exc).__name__}: {exc}")
    return None


def _list(parent: object, names: tuple[str, str], where: str) -> list[Any] | Problem:
    """`parent[camel]` (or its original name): a list, [] when absent or null."""
    if not isinstance(parent, dict):
        return []
    value = parent.get(names[0], parent.get(names[1]))
    if value is None:
        return []
    if not isinstance(value, list):
        return bad_request(f"malformed OTLP/JSON: {where}{names[0]}: must be a list")
    return value


def _scopes(resource_logs: object, rindex: int) -> list[Any]:
    scopes = _list(resource_logs, _LEVELS[1], f"resourceLogs[{rindex}].")
    return scopes if isinstance(scopes, list) else []


def _without(parent: object, names: tuple[str, str]) -> object:
    """`parent` without its child list (merged separately), or `parent` if not an object."""
    if not isinstance(parent, dict):
        return parent
    return {key: value for key, value in parent.items() if key not in names}


def _hex_ids_to_base64(record: object, where: str) -> Problem | None:
    if not isinstance(record, dict):
        return None  # _merge names it
    for names in _IDS:
        for name in names:
            value = record.get(name)
            if not isinstance(value, str):
                continue
            try:
                record[name] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                return bad_request(f"{where}.{names[0]}: not a hex string")
    return None
