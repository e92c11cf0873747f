"""`starbase serve`'s API over real HTTP: answers, formats, pagination, jobs, limits, auth and
tenants, and every kind of bad input getting a JSON 4xx while the server keeps serving."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from starbase.api.settings import Limits
from starbase.devenv import free_port
from tests.api.conftest import TENANT_ROWS, Served, request, served, wait_for

ERRORS_BY_SERVICE = (
    "from otel | where severity >= 'error' | stats count() as n by service | sort service"
)
SORTED = "from otel | sort timestamp, message | fields timestamp, service, message"


def test_query_answers_columns_rows_and_stats(server: Served) -> None:
    reply = request(f"{server.url}/api/v1/query", "POST", {"query": ERRORS_BY_SERVICE})
    assert reply.status == 200, reply.body
    assert reply.json["columns"] == [
        {"name": "service", "type": "string"},
        {"name": "n", "type": "int"},
    ]
    rows = reply.json["rows"]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert reply.json["stats"]["rows"] == len(rows) and not reply.json["stats"]["truncated"]
    assert "next_offset" not in reply.json


def test_pages_of_a_sorted_query_are_the_whole_result(server: Served) -> None:
    whole = request(f"{server.url}/api/v1/query", "POST", {"query": SORTED + " | limit 45"})
    pages: list[list[object]] = []
    offset: int | None = 0
    while offset is not None:
        body = {"query": SORTED + " | limit 45", "limit": 20, "offset": offset}
        reply = request(f"{server.url}/api/v1/query", "POST", body)
        assert reply.status == 200
        pages += reply.json["rows"]
        offset = reply.json.get("next_offset")
    assert pages == whole.json["rows"] and len(pages) == 45


def test_ndjson_csv_and_arrow_streams_hold_the_json_rows(server: Served) -> None:
    body = {"query": SORTED + " | limit 500", "limit": 1000}
    expected = request(f"{server.url}/api/v1/query", "POST", body).json["rows"]
    ndjson = request(
        f"{server.url}/api/v1/query", "POST", body, headers={"Accept": "application/x-ndjson"}
    )
    assert ndjson.headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in ndjson.body.decode().splitlines()]
    assert [list(line.values()) for line in lines] == expected
    arrow = request(
        f"{server.url}/api/v1/query",
        "POST",
        body,
        headers={"Accept": "application/vnd.apache.arrow.stream"},
    )
    table = ipc.open_stream(io.BytesIO(arrow.body)).read_all()
    assert table.num_rows == 500 and table.schema.field("timestamp").type == pa.timestamp(
        "ns", tz="UTC"
    )
    assert table.column("message").to_pylist() == [r[2] for r in expected]
    csv = request(f"{server.url}/api/v1/query", "POST", body, headers={"Accept": "text/csv"})
    assert csv.body.decode().splitlines()[0] == "timestamp,service,message"
    assert len(csv.body.decode().splitlines()) == 501


def test_compile_error_is_a_400_with_positioned_diagnostics(server: Served) -> None:
    query = 'from otel\n| where servce == "checkout"'
    reply = request(f"{server.url}/api/v1/query", "POST", {"query": query})
    assert reply.status == 400
    (diagnostic,) = reply.json["diagnostics"]
    assert diagnostic["code"] == "E302" and (diagnostic["line"], diagnostic["column"]) == (2, 9)
    assert any("service" in hint for hint in diagnostic["hints"])
    span = diagnostic["span"]
    assert query[span["start"] : span["end"]] == "servce"


def test_time_range_narrows_and_keeps_diagnostics_in_the_typed_text(server: Served) -> None:
    count = "from otel | stats count() as n"
    everything = request(f"{server.url}/api/v1/query", "POST", {"query": count}).json
    body = {
        "query": count,
        "range": {"from": "2026-11-20T00:00:00Z", "to": "2026-11-20T06:00:00Z"},
    }
    part = request(f"{server.url}/api/v1/query", "POST", body).json
    assert 0 < part["rows"][0][0] < everything["rows"][0][0]
    bad = request(
        f"{server.url}/api/v1/query",
        "POST",
        {"query": "from otel | where nope", "range": {"last": "1h"}},
    )
    assert bad.status == 400 and bad.json["diagnostics"][0]["column"] == 19


def test_parameters_are_bound_and_a_missing_one_is_a_400(server: Served) -> None:
    query = "from otel | where service == $svc | stats count() as n"
    reply = request(
        f"{server.url}/api/v1/query", "POST", {"query": query, "params": {"svc": "auth"}}
    )
    assert reply.status == 200 and reply.json["rows"][0][0] > 0
    missing = request(f"{server.url}/api/v1/query", "POST", {"query": query})
    assert missing.status == 400 and missing.json["diagnostics"][0]["message"]


@pytest.mark.parametrize(
    ("raw", "headers", "status", "code"),
    [
        (b'{"query":', {"Content-Type": "application/json"}, 400, "malformed_json"),
        (b"\xff\xfe", {"Content-Type": "application/json"}, 400, "malformed_json"),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400, "invalid_body"),
        (
            b'{"query": "from otel", "bogus": 1}',
            {"Content-Type": "application/json"},
            400,
            "invalid_body",
        ),
        (b'{"query": 5}', {"Content-Type": "application/json"}, 400, "invalid_body"),
        (
            b'{"query": "from otel", "limit": -1}',
            {"Content-Type": "application/json"},
            400,
            "invalid_body",
        ),
        (
            b'{"query": "from otel", "limit": 100000000}',
            {"Content-Type": "application/json"},
            400,
            "limit_too_large",
        ),
        (
            b'{"query": "from otel", "range": {"last": "soon"}}',
            {"Content-Type": "application/json"},
            400,
            "invalid_range",
        ),
        (b'{"query": "from otel"}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        (b"x" * (2 * 1024 * 1024), {"Content-Type": "application/json"}, 413, "body_too_large"),
    ],
)
def test_bad_bodies_get_a_json_4xx_naming_the_problem(
    server: Served, raw: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    reply = request(f"{server.url}/api/v1/query", "POST", raw=raw, headers=headers)
    assert reply.status == status, reply.body[:300]
    assert reply.json["error"]["code"] == code and reply.json["error"]["message"]


def test_huge_query_unknown_parameter_path_and_method_are_json_4xx(server: Served) -> None:
    huge = "from otel | where " + " or ".join(['message == "x"'] * 8000)
    reply = request(f"{server.url}/api/v1/query", "POST", {"query": huge})
    assert reply.status == 413 and reply.json["error"]["code"] == "query_too_large"
    reply = request(f"{server.url}/api/v1/query?format=csv", "POST", {"query": "from otel"})
    assert reply.status == 400 and reply.json["error"]["code"] == "unknown_parameter"
    reply = request(f"{server.url}/api/v1/nothing")
    assert reply.status == 404 and reply.json["error"]["code"] == "not_found"
    reply = request(f"{server.url}/api/v1/query", "PATCH", {"query": "from otel"})
    assert reply.status == 405 and reply.json["error"]["code"] == "method_not_allowed"
    reply = request(f"{server.url}/api/v1/jobs/x?offset=-3")
    assert reply.status == 400 and reply.json["error"]["code"] == "invalid_parameter"
    assert request(f"{server.url}/healthz").json == {"status": "ok"}


def test_jobs_keep_rows_in_pages_and_belong_to_their_principal(server: Served) -> None:
    started = request(
        f"{server.url}/api/v1/jobs", "POST", {"query": SORTED + " | limit 300", "limit": 250}
    )
    assert started.status == 202 and started.json["state"] in ("running", "done")
    job = started.json["id"]
    done = wait_for(
        lambda: (
            (r := request(f"{server.url}/api/v1/jobs/{job}?limit=100")).json["state"] != "running"
            and r
        )
    )
    assert done.json["state"] == "done" and done.json["truncated"]
    assert done.json["total_rows"] == 250 and len(done.json["rows"]) == 100
    second = request(f"{server.url}/api/v1/jobs/{job}?offset=200&limit=100").json
    assert len(second["rows"]) == 50
    whole = request(f"{server.url}/api/v1/query", "POST", {"query": SORTED + " | limit 250"})
    assert (
        done.json["rows"]
        + request(f"{server.url}/api/v1/jobs/{job}?offset=100&limit=150").json["rows"]
        == whole.json["rows"]
    )
    cancelled = request(f"{server.url}/api/v1/jobs/{job}", "DELETE")
    assert cancelled.json["state"] == "done"  # a finished job stays as it ended
    assert request(f"{server.url}/api/v1/jobs/unknown").status == 404


def test_jobs_expire(api_data: Path, tmp_path: Path) -> None:
    running = served(api_data, tmp_path, limits=Limits(job_ttl_s=0.0))
    try:
        job = request(f"{running.url}/api/v1/jobs", "POST", {"query": "from otel | limit 5"})
        wait_for(
            lambda: request(f"{running.url}/api/v1/jobs/{job.json['id']}").status == 404,
            timeout=30,
        )
    finally:
        running.stop()


def test_a_runaway_query_is_cancelled_and_reported(api_data: Path, tmp_path: Path) -> None:
    running = served(api_data, tmp_path, limits=Limits(max_seconds=0.001))
    heavy = "from otel | stats count_distinct(message) as n by service, host"
    try:
        reply = request(f"{running.url}/api/v1/query", "POST", {"query": heavy})
        assert reply.status == 422 and reply.json["error"]["code"] == "time_limit"
        job = request(f"{running.url}/api/v1/jobs", "POST", {"query": heavy}).json["id"]
        ended = wait_for(
            lambda: (
                (r := request(f"{running.url}/api/v1/jobs/{job}")).json["state"] != "running" and r
            )
        )
        assert ended.json["state"] == "failed" and ended.json["error"]["code"] == "time_limit"
    finally:
        running.stop()


def _stream_and_hang_up(url: str, query: str) -> None:
    """Start an NDJSON stream, read its first bytes, and drop the connection."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    body = json.dumps({"query": query})
    connection.request(
        "POST",
        "/api/v1/query",
        body,
        {"Content-Type": "application/json", "Accept": "application/x-ndjson"},
    )
    reply = connection.getresponse()
    assert reply.status == 200
    assert reply.read(100)
    connection.sock.shutdown(socket.SHUT_RDWR)
    connection.close()


def test_concurrency_limit_and_clients_that_hang_up_mid_stream(
    api_data: Path, tmp_path: Path
) -> None:
    running = served(api_data, tmp_path, limits=Limits(max_concurrent=1))
    try:
        for _ in range(3):  # each hang-up must give the principal's only slot back
            _stream_and_hang_up(running.url, "from otel")
            wait_for(
                lambda: (
                    request(
                        f"{running.url}/api/v1/query", "POST", {"query": "from otel | limit 1"}
                    ).status
                    == 200
                )
            )
        host, port = running.url.removeprefix("http://").split(":")
        holder = http.client.HTTPConnection(host, int(port), timeout=30)
        holder.request(
            "POST",
            "/api/v1/query",
            json.dumps({"query": "from otel"}),
            {"Content-Type": "application/json", "Accept": "application/x-ndjson"},
        )
        reply = holder.getresponse()
        assert reply.status == 200 and reply.read(10)
        refused = request(f"{running.url}/api/v1/query", "POST", {"query": "from otel | limit 1"})
        assert refused.status == 429 and refused.headers["Retry-After"] == "1"
        assert refused.json["error"]["code"] == "too_many_queries"
        holder.close()
    finally:
        running.stop()


def test_tokens_and_tenants(api_data: Path, tmp_path: Path) -> None:
    running = served(api_data, tmp_path, tokens={"ops-secret": None, "acme-secret": "acme"})
    count = {"query": "from otel | stats count() as n by service | sort service"}
    try:
        missing = request(f"{running.url}/api/v1/query", "POST", count)
        assert missing.status == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
        wrong = request(
            f"{running.url}/api/v1/query", "POST", count, headers={"Authorization": "Bearer no"}
        )
        assert wrong.status == 403 and wrong.json["error"]["code"] == "invalid_token"
        acme = request(
            f"{running.url}/api/v1/query",
            "POST",
            count,
            headers={"Authorization": "Bearer acme-secret"},
        )
        assert acme.json["rows"] == [["acme-only", TENANT_ROWS]]
        ops = request(
            f"{running.url}/api/v1/query",
            "POST",
            count,
            headers={"Authorization": "Bearer ops-secret"},
        )
        assert "acme-only" not in {r[0] for r in ops.json["rows"]}
        saved = request(
            f"{running.url}/api/v1/saved",
            "POST",
            {"name": "mine", "query": "from otel"},
            headers={"Authorization": "Bearer acme-secret"},
        )
        assert saved.status == 201
        others = request(
            f"{running.url}/api/v1/saved", headers={"Authorization": "Bearer ops-secret"}
        )
        assert others.json == {"saved": []}
        assert request(f"{running.url}/healthz").status == 200  # probes need no token
        assert request(f"{running.url}/openapi.json").status == 200
    finally:
        running.stop()


def test_saved_queries_round_trip(server: Served) -> None:
    body = {
        "name": "errors",
        "query": "from otel | where severity >= 'error'",
        "range": {"last": "1h"},
    }
    created = request(f"{server.url}/api/v1/saved", "POST", body)
    assert created.status == 201
    entry = request(f"{server.url}/api/v1/saved/{created.json['id']}").json
    assert entry["query"] == body["query"] and entry["range"] == {"last": "1h"}
    replaced = request(
        f"{server.url}/api/v1/saved/{entry['id']}", "PUT", {"name": "e", "query": "from otel"}
    )
    assert replaced.json["name"] == "e"
    assert request(f"{server.url}/api/v1/saved/{entry['id']}", "DELETE").status == 200
    assert request(f"{server.url}/api/v1/saved/{entry['id']}").status == 404


def test_assist_endpoints(server: Served) -> None:
    check = request(f"{server.url}/api/v1/compile", "POST", {"query": "from otel | where x"})
    assert check.json["ok"] is False and check.json["diagnostics"][0]["column"] == 19
    assert check.json["tokens"][0] == [0, 4, "keyword"]
    ok = request(f"{server.url}/api/v1/compile", "POST", {"query": "from otel | fields message"})
    assert ok.json["ok"] and ok.json["row_only"] and ok.json["columns"][0]["name"] == "message"
    text = "from otel | where service == "
    values = request(
        f"{server.url}/api/v1/complete", "POST", {"query": text, "offset": len(text)}
    ).json
    assert '"checkout"' in [c["insert"] for c in values["candidates"]]
    text = "from otel | where attributes.http.me"
    keys = request(f"{server.url}/api/v1/complete", "POST", {"query": text, "offset": len(text)})
    assert "attributes.http.method" in [c["insert"] for c in keys.json["candidates"]]
    vocabulary = request(f"{server.url}/api/v1/completions").json
    assert "http.route" in vocabulary["attribute_keys"]
    assert "checkout" in vocabulary["values"]["otel"]["service"]
    explain = request(
        f"{server.url}/api/v1/explain", "POST", {"query": "from otel | stats count() by service"}
    ).json
    titles = [s["title"] for s in explain["sections"]]
    assert "parse" in titles and any("plan" in t.lower() for t in titles)
    histogram = request(
        f"{server.url}/api/v1/histogram", "POST", {"query": "from otel", "buckets": 48}
    ).json
    assert histogram["total"] == 20_000 and len(histogram["counts"]) <= 49
    facets = request(
        f"{server.url}/api/v1/facets",
        "POST",
        {"query": "from otel | where service == 'auth'", "fields": ["service", "nope"]},
    ).json
    assert facets["facets"][0]["values"] == [{"value": "auth", "count": facets["total"]}]
    assert "unknown field" in facets["facets"][1]["error"]


def test_context_shows_the_lines_around_one(server: Served) -> None:
    rows = request(
        f"{server.url}/api/v1/query",
        "POST",
        {
            "query": "from otel | where service == 'auth' | sort timestamp | limit 10 | fields "
            "timestamp, host, message"
        },
    ).json["rows"]
    stamp, host, message = rows[5]
    context = request(
        f"{server.url}/api/v1/context",
        "POST",
        {
            "source": "otel",
            "timestamp": stamp,
            "service": "auth",
            "host": host,
            "before": 3,
            "after": 3,
        },
    ).json
    assert context["before"][-1][0] == stamp and context["before"][-1][5] == message
    assert all(r[4] == host and r[3] == "auth" for r in context["before"] + context["after"])
    assert len(context["after"]) == 3 and all(r[0] > stamp for r in context["after"])
    unknown = request(
        f"{server.url}/api/v1/context", "POST", {"source": "nope", "timestamp": stamp}
    )
    assert unknown.status == 404


def test_admin_endpoints(server: Served) -> None:
    tables = request(f"{server.url}/api/v1/tables").json["tables"]
    (otel,) = tables
    assert otel["rows"] == 20_000 and otel["files"] > 0 and otel["hours"] == 48
    assert otel["compaction"]["incoming_files"] == otel["files"]
    sources = request(f"{server.url}/api/v1/sources").json["sources"]
    assert (
        sources[0]["mapping"]["fields"]["service"]
        and "format: otel" in sources[0]["mapping"]["yaml"]
    )
    assert request(f"{server.url}/api/v1/router").json == {"configured": False}
    assert request(f"{server.url}/readyz").json["status"] == "ready"


def test_without_tokens_it_listens_on_loopback_only_and_says_so(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "starbase", "serve", "--data", str(tmp_path)]
    command += ["--host", "0.0.0.0", "--port", str(port)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ}
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert f"listening on http://127.0.0.1:{port}/" in line
        listening = Path("/proc/net/tcp").read_text().splitlines()
        hexport = f":{port:04X}"
        local = [r.split()[1] for r in listening[1:] if r.split()[1].endswith(hexport)]
        assert local == [f"0100007F{hexport}"]
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert "no token configured: listening on 127.0.0.1 only (not 0.0.0.0)" in err.decode()


def test_cors_is_off_unless_an_origin_is_configured(
    server: Served, api_data: Path, tmp_path: Path
) -> None:
    origin = {"Origin": "https://grafana.example"}
    plain = request(f"{server.url}/api/v1/status", headers=origin)
    assert "Access-Control-Allow-Origin" not in plain.headers
    running = served(api_data, tmp_path, cors_origins=("https://grafana.example",))
    try:
        allowed = request(f"{running.url}/api/v1/status", headers=origin)
        assert allowed.headers["Access-Control-Allow-Origin"] == "https://grafana.example"
        preflight = request(
            f"{running.url}/api/v1/query",
            "OPTIONS",
            headers={**origin, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status == 204
        other = request(
            f"{running.url}/api/v1/query",
            "OPTIONS",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert other.status == 403 and "Access-Control-Allow-Origin" not in other.headers
    finally:
        running.stop()
