"""Self-monitoring: a real Prometheus scrapes the router (behind a token) and the rule
evaluator; the shipped Grafana dashboard only uses series that our /metrics expose; the
shipped alert rules for Starbase itself pass `promtool check rules` and their unit tests.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from monitoring_harness import (
    PROMTOOL,
    Prometheus,
    RulesProcess,
    ServeProcess,
    get_json,
    get_text,
    require,
    wait_until,
)
from test_router_harness import Router, otlp_request

MONITORING = Path(__file__).resolve().parent.parent / "deploy" / "monitoring"
TOKEN = "scrape-token-1"
RULES = """\
groups:
  - name: self
    interval: 1s
    rules:
      - record: service:records:count
        expr: from otel | since 1h | stats count() by service
"""


def _families(text: str) -> set[str]:
    """Metric family names in a Prometheus text exposition (from its TYPE lines)."""
    return {m.group(1) for m in re.finditer(r"^# TYPE (\S+) \S+$", text, re.M)}


def _dashboard_metrics() -> set[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    names: set[str] = set()
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            found = set(re.findall(r"\b(starbase_[a-z0-9_]+)", target["expr"]))
            assert found, target["expr"]
            names |= found
    return names


def test_prometheus_scrapes_router_serve_and_evaluator(tmp_path: Path) -> None:
    require("prometheus")
    data = tmp_path / "data"
    router = Router(data, "--token", TOKEN).start()
    rules = str(_rules(tmp_path))
    evaluator = RulesProcess(tmp_path, rules, "--data", str(data), "--workers", "0").start()
    # serve with the same rules inside it, behind a token
    serve = ServeProcess(
        tmp_path, "--data", str(data), "--token", TOKEN, "--token", "t2=acme", "--rules", rules
    ).start()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    prometheus = Prometheus(
        tmp_path,
        [
            {
                "job_name": "starbase-router",
                "authorization": {"credentials": TOKEN},
                "static_configs": [{"targets": [f"127.0.0.1:{router.port}"]}],
            },
            {
                "job_name": "starbase-rules",
                "static_configs": [{"targets": [f"127.0.0.1:{evaluator.port}"]}],
            },
            {
                "job_name": "starbase-serve",
                "authorization": {"credentials": TOKEN},
                "static_configs": [{"targets": [f"127.0.0.1:{serve.port}"]}],
            },
        ],
    )
    try:
        status, _, _ = router.post(
            "/v1/logs",
            otlp_request(["one", "two", "three"], "payments"),
            {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {TOKEN}"},
        )
        assert status == 200
        prometheus.start()
        wait_until(lambda: len(prometheus.query("up == 1")) == 3, 30, "all three targets up")
        records = wait_until(
            lambda: prometheus.query('sum(starbase_router_records_in_total{format="otel"}) >= 3'),
            30,
            "the router's ingest counter",
        )
        assert float(records[0]["value"][1]) == 3
        wait_until(
            lambda: len(prometheus.query("starbase_rule_evaluations_total > 0")) == 2,
            30,
            "rule evaluations in serve and in the standalone evaluator",
        )
        # a query through serve's API shows in its query figures
        answer = _post_query(serve.url, "from otel | stats count() as n", auth)
        assert answer["rows"] == [[3]], answer
        wait_until(
            lambda: prometheus.query(
                'starbase_queries_total{job="starbase-serve",origin="api",outcome="ok"} >= 1'
            ),
            30,
            "serve's query counter",
        )
        # serve answers Prometheus' rules API for the rules it runs (operators only)
        groups = get_json(serve.url + "/api/v1/rules", auth)["data"]["groups"]
        assert [r["name"] for r in groups[0]["rules"]] == ["service:records:count"]
        assert _status(serve.url + "/api/v1/alerts", {"Authorization": "Bearer t2"}) == 403
        assert _status(serve.url + "/metrics", {}) == 401
        recorded = wait_until(
            lambda: prometheus.query('service:records:count{service="payments"}'),
            30,
            "the recorded series",
        )
        assert float(recorded[0]["value"][1]) == 3
        # the dashboard's series all exist in what we expose
        exposed = (
            _families(
                router.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})[
                    2
                ].decode()
            )
            | _families(get_text(evaluator.url + "/metrics"))
            | _families(get_text(serve.url + "/metrics", auth))
        )
        histograms = {
            f"{name}_{suffix}" for name in exposed for suffix in ("bucket", "sum", "count")
        }
        missing = _dashboard_metrics() - exposed - histograms
        assert not missing, f"the dashboard uses series nobody exposes: {sorted(missing)}"
    finally:
        prometheus.stop()
        serve.stop()
        evaluator.stop()
        router.stop()


def _status(url: str, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10):
            return 200
    except urllib.error.HTTPError as exc:
        return exc.code


def _post_query(url: str, query: str, headers: dict[str, str]) -> Any:
    request = urllib.request.Request(
        url + "/api/v1/query",
        data=json.dumps({"query": query}).encode(),
        headers={**headers, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def _rules(tmp_path: Path) -> Path:
    path = tmp_path / "self.yaml"
    path.write_text(RULES)
    return path


def test_shipped_alert_rules_pass_promtool() -> None:
    promtool = require(PROMTOOL)
    checked = subprocess.run(
        [promtool, "check", "rules", str(MONITORING / "starbase-alerts.yaml")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", "starbase-alerts.test.yaml"],
        capture_output=True,
        text=True,
        cwd=MONITORING,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_dashboard_is_a_grafana_dashboard() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["schemaVersion"] >= 30
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = {p["title"] for p in dashboard["panels"]}
    for wanted in (
        "Ingest rate",
        "Commit latency",
        "WAL and backlog bytes",
        "Query latency",
        "Rule evaluation time",
    ):
        assert wanted in titles
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
            assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
