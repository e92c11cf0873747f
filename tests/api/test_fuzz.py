"""The API fuzzed from its own OpenAPI document (schemathesis): whatever the generated request,
no 5xx, and every error answer is a JSON body with a code and a message (or diagnostics)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error

from starbase.api.openapi import document
from tests.api.conftest import Served, served

EXAMPLES = 12


@pytest.fixture(scope="module")
def fuzzed_server(api_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    running = served(api_data, tmp_path_factory.mktemp("fuzz"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api_schema() -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_dict(document())


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_5xx_and_every_error_is_json(case: Case, fuzzed_server: Served) -> None:
    # no `Accept: text/event-stream`: a tail that started would stream until the client left
    response = case.call(base_url=fuzzed_server.url, timeout=30)
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        kind = {k.lower(): v for k, v in response.headers.items()}["content-type"]
        assert (kind[0] if isinstance(kind, list) else kind).startswith("application/json")
        body = json.loads(response.content)
        assert ("error" in body and body["error"]["code"] and body["error"]["message"]) or (
            body.get("diagnostics")
        )
