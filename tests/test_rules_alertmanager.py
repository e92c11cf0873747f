"""Alerting end to end through a real Alertmanager: the emitter's `incident` scenario goes
through a real router into the stored table; `starbase rules run` evaluates
`PaymentsErrorRate` every second; Alertmanager posts to the test's webhook. Also: a restart
does not re-fire a resolved alert, and an unreachable Alertmanager keeps the alerts queued
(with backoff, visible on /metrics) until it answers.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from monitoring_harness import Alertmanager, RulesProcess, Webhook, get_text, wait_until
from test_router_harness import Router

RULES = """\
groups:
  - name: payments
    interval: 1s
    rules:
      - alert: PaymentsErrorRate
        expr: |
          from otel
          | since 3s
          | where service == "payments"
          | stats sum(if(severity >= "error", 1, 0)) / count() as value by service
          | where value > 0.05
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.service }} fails {{ $value | humanizePercentage }} of its calls"
"""
# 20 s of simulated shop in real time: payments degrades during [8 s, 13 s)
EMIT_SECONDS = 20


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def _emit(router: Router) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "starbase", "emit", "--scenario", "incident",
        "--duration", f"{EMIT_SECONDS}s", "--rate", "400", "--batch-size", "40",
        "--encoder", "direct", "--endpoint", f"http://127.0.0.1:{router.port}", "--quiet",
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_incident_fires_and_resolves_through_alertmanager(tmp_path: Path, webhook: Webhook) -> None:
    data = tmp_path / "data"
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    manager = Alertmanager(tmp_path, webhook.url).start()
    router = Router(data).start()
    state = tmp_path / "state.json"
    arguments = (
        str(rules), "--data", str(data), "--alertmanager", manager.url,
        "--state", str(state), "--resend-delay", "1s",
        "--external-url", "http://ui.example:8080", "--workers", "0",
    )  # fmt: skip
    evaluator = RulesProcess(tmp_path, *arguments).start()
    emitter = _emit(router)
    started = time.monotonic()
    try:
        # the incident starts 8 s in: within one interval + `for` (+ the window filling up)
        firing = wait_until(lambda: webhook.alerts("firing"), 30, "a firing notification")
        fired_after = time.monotonic() - started
        alert = firing[0]
        assert alert["labels"] == {
            "alertname": "PaymentsErrorRate",
            "service": "payments",
            "severity": "page",
        }
        summary = alert["annotations"]["summary"]
        assert summary.startswith("payments fails ") and summary.endswith("% of its calls")
        assert alert["generatorURL"].startswith("http://ui.example:8080/#/explore?q=from+otel")
        assert "between" in alert["generatorURL"]
        assert fired_after >= 8, fired_after  # not before the incident
        listed = evaluator.api("/api/v1/alerts")["data"]["alerts"]
        assert [a["labels"]["alertname"] for a in listed] == ["PaymentsErrorRate"]
        # the incident ends 13 s in; the 3 s window drains and the alert resolves
        resolved = wait_until(lambda: webhook.alerts("resolved"), 30, "a resolution")
        assert resolved[0]["labels"]["alertname"] == "PaymentsErrorRate"
        assert resolved[0]["endsAt"] > resolved[0]["startsAt"]
        assert evaluator.api("/api/v1/alerts")["data"]["alerts"] == []
        emitter.kill()  # the incident is over; the rest of the run would change nothing
        emitter.wait()
        # a restart remembers the resolution: nothing fires again
        before = len(webhook.alerts("firing"))
        evaluator.stop()
        assert state.exists()
        evaluator = RulesProcess(tmp_path, *arguments, port=evaluator.port).start()
        time.sleep(3)
        assert len(webhook.alerts("firing")) == before
        rules_doc = evaluator.api("/api/v1/rules")["data"]["groups"][0]["rules"][0]
        assert rules_doc["health"] == "ok" and rules_doc["state"] == "inactive"
        metrics = get_text(evaluator.url + "/metrics")
        assert 'starbase_notifications_sent_total{alertmanager="' in metrics
    finally:
        if emitter.poll() is None:
            emitter.kill()
            emitter.wait()
        evaluator.stop()
        router.stop()
        manager.stop()
