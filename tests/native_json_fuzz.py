"""Drives the compiled OTLP/JSON walk (starbase/router/native/json.c) with many documents, for
`make fuzz-native`, which runs it on an AddressSanitizer + UBSan build of the extension.

Run: `python tests/native_json_fuzz.py [EXAMPLES]`. Feeds `native.json_payload` hypothesis
documents (`otlp_strategies.json_documents`, arbitrary JSON values, `resourceLogs` holding
anything), large realistic documents (lengths of one to three bytes) and a 10,000-level
nesting; checks every payload it writes parses to the request the document describes where
json_format accepts it. Prints how many documents it walked; a sanitizer report aborts.
"""

from __future__ import annotations

import copy
import sys
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (  # type: ignore[import-untyped, unused-ignore]
    ExportLogsServiceRequest,
)
from otlp_strategies import NOW_NS, json_document, json_documents, json_values

from starbase.router import native, otlp_json
from starbase.router.limits import Budget
from starbase.router.problems import Problem


def main() -> int:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    warnings.simplefilter("ignore")
    assert native.available(), native._why_not
    counts = {"documents": 0, "written": 0}
    anything = st.one_of(
        json_documents(), json_values, st.dictionaries(st.just("resourceLogs"), json_values)
    )

    @settings(
        max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(anything)
    def walk(document: object) -> None:
        payload = native.json_payload(copy.deepcopy(document))
        counts["documents"] += 1
        if payload is None:
            return
        counts["written"] += 1
        reference = otlp_json._request(document, Budget(10**6, 60.0))  # type: ignore[arg-type]
        assert not isinstance(reference, Problem), reference
        assert ExportLogsServiceRequest.FromString(payload) == reference

    walk()
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for i in range(5000):
        record = scope.log_records.add(time_unix_nano=NOW_NS + i)
        record.body.string_value = "b" * (i % 500)
    for integer_enums in (False, True):
        payload = native.json_payload(
            json_document(bytes(request.SerializeToString()), integer_enums, integer_enums)
        )
        assert payload is not None and ExportLogsServiceRequest.FromString(payload) == request
    body: object = {"stringValue": "deep"}
    for _ in range(10_000):
        body = {"kvlistValue": {"values": [{"key": "k", "value": body}]}}
    deep = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": body}]}]}]}
    assert native.json_payload(deep) is None  # past the walk's depth: json_format decides
    print(f"{counts['documents']} documents walked, {counts['written']} written as protobuf")
    print("extension:", native._native.__file__)  # type: ignore[union-attr]
    return 0


if __name__ == "__main__":
    sys.exit(main())
