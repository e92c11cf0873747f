"""OTLP/JSON → the protobuf `ExportLogsServiceRequest` (the OTLP specification's JSON mapping).

Requires: protobuf's `json_format`. Guarantees: what the OTLP spec says differs from
protobuf's own JSON mapping is handled here — `traceId`/`spanId` are hex strings, not base64
(an empty string is "absent"); everything else follows the protobuf mapping, which already
accepts lowerCamelCase and original field names, int64 as strings or numbers, enums as integers
(or names) and base64 `bytesValue`; unknown fields are ignored, as OTLP/JSON receivers must.
Any malformed input is a 400 `Problem` naming the field, never an exception.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ExportLogsServiceRequest,
)

from starbase.router.problems import Problem, bad_request

_IDS = (("traceId", "trace_id"), ("spanId", "span_id"))


def parse_json(body: bytes) -> Any | Problem:
    """An ExportLogsServiceRequest message, or a Problem."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return bad_request(f"malformed JSON: {exc}")
    if not isinstance(document, dict):
        return bad_request("malformed OTLP/JSON: the body must be a JSON object")
    problem = _hex_ids_to_base64(document)
    if problem is not None:
        return problem
    request = ExportLogsServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        return bad_request(f"malformed OTLP/JSON: {exc}")
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        return bad_request(f"malformed OTLP/JSON: {type(exc).__name__}: {exc}")
    return request


def _hex_ids_to_base64(document: dict[str, Any]) -> Problem | None:
    for rindex, resource_logs in enumerate(_items(document, "resourceLogs", "resource_logs")):
        for sindex, scope_logs in enumerate(_items(resource_logs, "scopeLogs", "scope_logs")):
            for index, record in enumerate(_items(scope_logs, "logRecords", "log_records")):
                for names in _IDS:
                    for name in names:
                        value = record.get(name)
                        if not isinstance(value, str):
                            continue
                        try:
                            record[name] = base64.b64encode(bytes.fromhex(value)).decode()
                        except ValueError:
                            where = f"resourceLogs[{rindex}].scopeLogs[{sindex}]"
                            return bad_request(
                                f"{where}.logRecords[{index}].{names[0]}: not a hex string"
                            )
    return None


def _items(parent: object, camel: str, snake: str) -> list[dict[str, Any]]:
    """The objects in `parent[camel]` (or its original name); wrong shapes are left to
    `ParseDict`, which names them."""
    if not isinstance(parent, dict):
        return []
    value = parent.get(camel, parent.get(snake))
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]
