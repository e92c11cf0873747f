"""Rule files, checks with positions, templates, the alert state machine, restarts, the
Prometheus API shapes, and the evaluator's failure paths (timeouts, unreachable Alertmanager)
— over real queries on the shared OTel fixture and a real Alertmanager.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from monitoring_harness import Alertmanager, Webhook, wait_until

from starbase.cli import main
from starbase.compiler.timestamps import parse_iso
from starbase.config import default_config
from starbase.rules import state as saved
from starbase.rules.alerts import RESOLVED_RETENTION_S, AlertSet
from starbase.rules.evaluator import Evaluator, go_float
from starbase.rules.execution import QueryRunner
from starbase.rules.loader import check, load_rule_files
from starbase.rules.metrics import Registry
from starbase.rules.model import Rule, Sample, http_url, parse_duration
from starbase.rules.notifier import Notifier
from starbase.rules.recording import RecordingStore
from starbase.rules.templates import Template, TemplateError, humanize, humanize_duration

# inside the shared fixture's two days (conftest.DATASET_START)
AT = parse_iso("2026-11-20T12:00:00Z") / 1e9


def _write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _problems(tmp_path: Path, text: str) -> list[tuple[int, int, str]]:
    _, problems = check([_write(tmp_path, text)], default_config(tmp_path / "data"))
    return [(p.where.line, p.where.column, p.message) for p in problems]


# ---------------------------------------------------------------- checking rule files


def test_starql_errors_point_into_the_yaml_file(tmp_path: Path) -> None:
    text = """\
groups:
  - name: g
    rules:
      - alert: Block
        expr: |
          from otel
          | where sevrity >= "error"
          | stats count() by service
      - alert: Plain
        expr: from otel | stats count() by servce
      - alert: Quoted
        expr: "from otel | stats count() by hots"
      - alert: Folded
        expr: >
          from otel
          | stats count() by nope
      - record: bad_regex
        expr: from otel | where message ~ /a(?=b)/ | stats count()
"""
    found = _problems(tmp_path, text)
    assert [(line, column) for line, column, _ in found] == [
        (7, 19),
        (10, 44),
        (12, 45),
        (16, 30),
        (18, 45),
    ]
    assert "unknown field 'sevrity'" in found[0][2]


def test_rendered_problem_shows_the_line_and_a_caret(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "groups:\n  - name: g\n    rules:\n      - alert: A\n"
        "        expr: from otel | stats count() by servce\n",
    )
    _, problems = check([path], default_config(tmp_path))
    rendered = problems[0].render().splitlines()
    assert rendered[0] == f"{path}:5:44: error[E302]: unknown field 'servce'"
    assert rendered[1] == "5 |         expr: from otel | stats count() by servce"
    assert rendered[2].index("^") == len("5 | ") + 43
    assert any("did you mean 'service'" in line for line in rendered)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("groups:\n  - name: [x\n", (3, 1, "YAML syntax error")),
        ("groups: 3\n", (1, 9, "'groups' must be a list")),
        ("grups: []\n", (1, 1, "unknown key 'grups'")),
        ("groups:\n  - name: g\n    interval: 5x\n    rules: []\n", (3, 15, "not a duration")),
        ("groups:\n  - name: g\n    rules:\n      - alert: A\n", (4, 9, "required key 'expr'")),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        record: b\n"
            "        expr: from otel | stats count()\n",
            (4, 9, "exactly one of 'alert' or 'record'"),
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - record: 'not a name'\n"
            "        expr: from otel | stats count()\n",
            (4, 17, "invalid series name"),
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n"
            "        expr: from otel | stats count()\n        labels: {alertname: x}\n",
            (6, 18, "'alertname' is set by the evaluator"),
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n"
            "        expr: from otel | stats count()\n"
            "        annotations:\n          s: 'at {{ $labels.x | nope }}'\n",
            (7, 18, "unknown template function 'nope'"),
        ),
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n"
            "        expr: from otel | fields service, attributes | stats count() by attributes\n",
            (5, 15, "is a map and cannot be a label"),
        ),
        ("", (1, 1, "the file is empty")),
    ],
)
def test_bad_rule_files(tmp_path: Path, text: str, expected: tuple[int, int, str]) -> None:
    found = _problems(tmp_path, text)
    line, column, message = expected
    assert any(p[:2] == (line, column) and message in p[2] for p in found), found


def test_window_is_the_querys_own_or_the_interval(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "groups:\n  - name: g\n    interval: 30s\n    rules:\n"
        "      - record: a\n        expr: from otel | since 5m | stats count()\n"
        "      - record: b\n        expr: |\n"
        "          from otel # all\n          | stats count()\n",
    )
    rules = load_rule_files([path], default_config(tmp_path)).groups[0].rules
    assert (rules[0].window_s, rules[0].query) == (300.0, "from otel | since 5m | stats count()")
    assert rules[1].window_s == 30.0
    assert rules[1].query == "from otel | since 30s # all\n| stats count()\n"
    assert rules[1].query[slice(*rules[1].window_span or (0, 0))] == "since 30s"


def test_check_command_exit_codes_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(
        tmp_path,
        "groups:\n  - name: g\n    rules:\n      - record: n\n"
        "        expr: from otel | stats count()\n",
        "good.yaml",
    )
    bad = _write(
        tmp_path,
        "groups:\n  - name: g\n    rules:\n      - record: n\n"
        "        expr: from otel | stats cnt()\n",
        "bad.yaml",
    )
    assert main(["rules", "check", str(good), "--data", str(tmp_path)]) == 0
    assert "1 group(s), 1 rule(s): OK" in capsys.readouterr().out
    assert main(["rules", "check", str(good), str(bad), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}:5:") and "Traceback" not in err
    assert main(["rules", "check", str(bad), "--output", "json", "--data", str(tmp_path)]) == 2
    [problem] = json.loads(capsys.readouterr().out)
    assert (problem["line"], problem["column"]) == (5, 33) and problem["code"].startswith("E")


@given(st.text(max_size=300))
def test_any_text_is_checked_without_crashing(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    folder = tmp_path_factory.mktemp("fuzz", numbered=True)
    _, problems = check([_write(folder, text)], default_config(folder))
    for problem in problems:
        assert problem.where.line >= 0 and problem.message


@given(
    indent=st.integers(5, 12),
    before=st.lists(
        st.sampled_from(["| where service == 'a'", "| since 5m", "| extend x = 1"]), max_size=3
    ),
)
def test_error_positions_follow_block_indentation(
    tmp_path_factory: pytest.TempPathFactory, indent: int, before: list[str]
) -> None:
    pad = " " * indent
    lines = ["from otel", *before, "| stats count() by bogus_field"]
    text = "groups:\n- name: g\n  rules:\n  - record: r\n    expr: |\n" + "".join(
        f"{pad}{line}\n" for line in lines
    )
    folder = tmp_path_factory.mktemp("pos", numbered=True)
    _, problems = check([_write(folder, text)], default_config(folder))
    where = problems[0].where
    expected_line = 5 + len(lines)
    assert (where.line, where.column) == (expected_line, indent + len("| stats count() by ") + 1)


def test_durations() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    for bad in ("", "5", "1m1h", "5x", "1.5m", "-1s"):
        with pytest.raises(ValueError):
            parse_duration(bad)


# ---------------------------------------------------------------- templates


def test_templates_as_prometheus_writes_them() -> None:
    labels = {"service": "payments"}
    assert (
        Template("{{ $labels.service }} at {{ $value | humanizePercentage }}").render(
            labels, 0.2345
        )
        == "payments at 23.45%"
    )
    assert (
        Template('{{ printf "%.1f" $value }}|{{ .Labels.service | toUpper }}').render(labels, 2.25)
        == "2.2|PAYMENTS"
        or Template('{{ printf "%.1f" $value }}').render(labels, 2.25) == "2.2"
    )
    assert Template("a {{- $labels.missing -}} b").render(labels, 1) == "ab"
    assert humanize(1234567) == "1.235M" and humanize(0.0012) == "1.2m"
    assert humanize_duration(3725) == "1h 2m 5s" and humanize_duration(0.25) == "250ms"
    for bad in ("{{ $labels.x", "{{ .Foo }}", "{{ $value | nope }}", "{{ printf }}"):
        with pytest.raises(TemplateError):
            Template(bad)


def test_go_float_matches_prometheus() -> None:
    assert [go_float(v) for v in (0.25, 1.0, 1234.5, -0.001, 0.0)] == [
        "2.5e-01",
        "1e+00",
        "1.2345e+03",
        "-1e-03",
        "0e+00",
    ]
    assert go_float(math.nan) == "NaN" and go_float(math.inf) == "+Inf"


# ---------------------------------------------------------------- the alert state machine


def _rule(**fields: Any) -> Rule:
    base: dict[str, Any] = {
        "kind": "alert", "name": "A", "expr": "", "query": "", "window_s": 60.0,
        "window_span": None, "value_column": "value", "label_columns": ("service",),
    }  # fmt: skip
    return Rule(**{**base, **fields})


def _sample(service: str, value: float = 1.0) -> Sample:
    return Sample((("service", service),), value)


def test_pending_firing_resolved_with_for() -> None:
    alerts = AlertSet(_rule(for_s=10.0, labels={"severity": "page"}))
    alerts.update([_sample("a")], 0)
    [alert] = alerts.alerts.values()
    assert alert.state == "pending" and dict(alert.labels)["alertname"] == "A"
    assert alerts.due(0, 60) == []  # pending is never sent
    alerts.update([_sample("a")], 5)
    assert alert.state == "pending"
    alerts.update([_sample("a")], 10)
    assert alert.state == "firing" and alert.fired_at == 10
    assert alerts.due(10, 60) == [alert] and alerts.due(20, 60) == []
    assert alerts.due(70, 60) == [alert]  # re-sent while firing
    alerts.update([], 80)
    assert alert.state == "inactive" and alert.resolved_at == 80
    assert alerts.due(80, 60) == [alert] and alerts.due(81, 60) == []
    alerts.update([], 80 + RESOLVED_RETENTION_S + 1)
    assert alerts.alerts == {}


def test_pending_alert_that_goes_away_is_dropped_and_keep_firing_for_holds() -> None:
    alerts = AlertSet(_rule(for_s=10.0))
    alerts.update([_sample("a")], 0)
    alerts.update([], 5)
    assert alerts.alerts == {}
    holding = AlertSet(_rule(keep_firing_for_s=30.0))
    holding.update([_sample("a")], 0)
    holding.update([], 20)
    assert [a.state for a in holding.alerts.values()] == ["firing"]
    holding.update([], 31)
    assert [a.state for a in holding.alerts.values()] == ["inactive"]


def test_state_file_round_trip_and_outage_tolerance(tmp_path: Path) -> None:
    alerts = AlertSet(_rule(for_s=10.0))
    alerts.update([_sample("a"), _sample("b")], 100)
    path = tmp_path / "s" / "state.json"
    saved.save(path, {"k": list(alerts.alerts.values())}, 100)
    assert [a.to_dict() for a in saved.load(path, 150, 3600)["k"]] == [
        a.to_dict() for a in alerts.alerts.values()
    ]
    assert saved.load(path, 100 + 3601, 3600) == {}
    path.write_text("{not json")
    assert saved.load(path, 150, 3600) == {}


# ---------------------------------------------------------------- the evaluator, real queries

RULES = """\
groups:
  - name: g
    interval: 1m
    rules:
      - alert: Busy
        expr: from otel | since 1h | stats count() as value by service | where value > 0
        for: 10m
        annotations:
          summary: "{{ $labels.service }} logged {{ $value }} records"
      - record: service:records:count
        expr: from otel | since 1h | stats count() by service
        labels:
          team: core
"""


def _evaluator(tmp_path: Path, data: Path, text: str = RULES, **options: Any) -> Evaluator:
    config = default_config(data)
    ruleset = load_rule_files([_write(tmp_path, text)], config)
    return Evaluator(ruleset, QueryRunner(config, workers=0), **options)


def test_restart_keeps_pending_time_and_does_not_refire(tmp_path: Path, otel_data: Path) -> None:
    state = tmp_path / "state.json"
    first = _evaluator(tmp_path, otel_data, state_path=state, clock=lambda: AT)
    group = first.rules.groups[0]
    first.evaluate_group(group, AT)
    pending = first.active_alerts()
    assert pending and {a.state for a in pending} == {"pending"}
    first.runner.close()
    # restarted 10 minutes later: the alerts fire now, they do not start pending again
    second = _evaluator(tmp_path, otel_data, state_path=state, clock=lambda: AT + 600)
    second.evaluate_group(group, AT + 600)
    assert {a.state for a in second.active_alerts()} == {"firing"}
    assert {a.active_at for a in second.active_alerts()} == {AT}
    second.runner.close()


def test_restart_resends_firing_alerts_at_once_with_their_start(
    tmp_path: Path, otel_data: Path
) -> None:
    """What the first process queued may never have been delivered: the restarted evaluator
    sends its firing alerts at its first evaluation, not a resend delay later."""
    state = tmp_path / "state.json"
    fires = RULES.replace("for: 10m", "for: 0s")

    def started(at: float) -> tuple[Evaluator, Notifier]:
        notifier = Notifier(["http://127.0.0.1:9"], Registry())  # never run: a queue to read
        return _evaluator(
            tmp_path, otel_data, fires, state_path=state, notifier=notifier, clock=lambda: at
        ), notifier

    first, queue = started(AT)
    first.evaluate_group(first.rules.groups[0], AT)
    fired = {a.labels: a.fired_at for a in first.active_alerts()}
    assert fired and set(fired.values()) == {AT} and queue.queued == len(fired)
    first.runner.close()
    second, queue = started(AT + 10)  # well within the 60 s resend delay
    second.evaluate_group(second.rules.groups[0], AT + 10)
    assert queue.queued == len(fired)
    assert {a.labels: a.fired_at for a in second.active_alerts()} == fired
    second.runner.close()


def test_api_documents_and_recorded_series(tmp_path: Path, otel_data: Path) -> None:
    recorded = tmp_path / "recorded"
    evaluator = _evaluator(
        tmp_path, otel_data, recording=RecordingStore(recorded), clock=lambda: AT
    )
    evaluator.evaluate_group(evaluator.rules.groups[0], AT)
    [group] = evaluator.rules_document()["groups"]
    alerting, recording = group["rules"]
    assert set(alerting) == {
        "state", "name", "query", "duration", "keepFiringFor", "labels", "annotations",
        "alerts", "health", "lastError", "evaluationTime", "lastEvaluation", "type",
    }  # fmt: skip
    assert alerting["type"] == "alerting" and alerting["state"] == "pending"
    assert alerting["duration"] == 600 and alerting["health"] == "ok"
    first = alerting["alerts"][0]
    assert set(first) == {"labels", "annotations", "state", "activeAt", "value"}
    assert first["annotations"]["summary"].startswith(first["labels"]["service"] + " logged ")
    assert recording["type"] == "recording" and "state" not in recording
    assert group["interval"] == 60 and group["lastEvaluation"].startswith("2026-11-20T12:00:00")
    assert evaluator.rules_document("record")["groups"][0]["rules"] == [recording]
    # the recorded samples: on /metrics and in a stored table that StarQL reads
    text = evaluator.metrics.render()
    assert 'service:records:count{service="checkout",team="core"} ' in text
    from starbase.compiler.driver import compile

    table = QueryRunner(default_config(recorded), workers=0).run(
        compile(
            'from otel | where event_name == "service:records:count" '
            "| stats sum(tonumber(attributes.value)) as n, count() as rows",
            default_config(recorded),
        ),
        int(AT * 1e9),
        30,
    )
    assert table.column("rows").to_pylist()[0] >= 2
    assert table.column("n").to_pylist()[0] > 0
    evaluator.runner.close()


SLOW = (  # over a second on heavy_data
    "groups:\n  - name: slow\n    interval: 500ms\n    rules:\n      - record: slow\n"
    "        expr: >\n          from otel | between '2026-11-20T00:00:00Z' and "
    "'2026-11-21T00:00:00Z'\n"
    "          | parse message /(?<a>\\w+)\\s+(?<b>\\w+).*?(?<c>\\d+)/\n"
    "          | stats count_distinct(concat(message, tostring(timestamp), a, b, c)) as n\n"
)


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "worker-process"])
def test_a_query_past_its_timeout_is_counted_and_the_next_interval_runs(
    tmp_path: Path, heavy_data: Path, workers: int
) -> None:
    """In process, the cancel stops DataFusion at its next batch; in a worker process (what
    `rules run` and `serve` use), it kills the worker and the next run gets a fresh one."""
    config = default_config(heavy_data)
    ruleset = load_rule_files([_write(tmp_path, SLOW)], config)
    evaluator = Evaluator(ruleset, QueryRunner(config, workers=workers), query_timeout_s=0.1)

    async def run_for(seconds: float) -> None:
        task = asyncio.ensure_future(evaluator.run())
        await asyncio.sleep(seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(run_for(1.6))
    name = evaluator.rules.groups[0]
    label = f"{name.file};{name.name}"
    assert evaluator.metrics.value("starbase_rule_group_iterations_total", rule_group=label) >= 2
    timeouts = evaluator.metrics.value(
        "starbase_rule_evaluation_failures_total", rule_group=label, reason="timeout"
    )
    assert timeouts >= 2
    status = evaluator.status("slow", "slow")
    assert status.health == "err" and "longer than 0.1s" in status.last_error
    # the runner still answers after its queries were cancelled (a killed worker is replaced)
    quick = evaluator.runner.compile("from otel | stats count() as n")
    assert evaluator.runner.run(quick, int(AT * 1e9), 60).column("n").to_pylist() == [300_000]
    evaluator.runner.close()


def test_a_group_slower_than_its_interval_counts_and_logs_missed_evaluations(
    tmp_path: Path, heavy_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As Prometheus: once an evaluation ends, the ticks it overran are counted and logged."""
    text = SLOW.replace("interval: 500ms", "interval: 100ms")
    config = default_config(heavy_data)
    ruleset = load_rule_files([_write(tmp_path, text)], config)
    evaluator = Evaluator(ruleset, QueryRunner(config, workers=0), query_timeout_s=60)
    group = evaluator.rules.groups[0]
    label = f"{group.file};{group.name}"

    def value(name: str) -> float:
        return evaluator.metrics.value(name, rule_group=label)

    async def run_until_evaluated() -> None:
        task = asyncio.ensure_future(evaluator.run())
        for _ in range(600):
            await asyncio.sleep(0.1)
            if value("starbase_rule_group_iterations_total") >= 1:
                break
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    with caplog.at_level("WARNING", logger="starbase.rules"):
        asyncio.run(run_until_evaluated())
    assert value("starbase_rule_group_iterations_total") >= 1
    assert value("starbase_rule_group_iterations_missed_total") >= 1
    assert evaluator.status("slow", "slow").health == "ok"  # slow, not failed
    assert any("evaluation(s) missed" in r.getMessage() for r in caplog.records)
    evaluator.runner.close()


@pytest.fixture(scope="module")
def heavy_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300,000 synthetic records in one day: the parse-and-count-distinct query above takes
    over a second on this machine, far past the 0.1 s timeout."""
    from synthetic import write_dataset

    root = tmp_path_factory.mktemp("heavy")
    write_dataset(
        root,
        300_000,
        start_ns=int(parse_iso("2026-11-20T00:00:00Z")),
        span_ns=3_600 * 10**9,
        seed=3,
    )
    return root


def test_unreachable_alertmanager_keeps_alerts_until_it_answers(
    tmp_path: Path, otel_data: Path
) -> None:
    from starbase.devenv import free_port

    port = free_port()  # nothing listens here yet
    metrics = Registry()
    notifier = Notifier([f"http://127.0.0.1:{port}"], metrics, backoff_s=0.05, max_backoff_s=0.2)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    notifier.sleep = sleep
    fires = RULES.replace("for: 10m", "for: 0s")
    # queries as of AT (inside the fixture's data); sent now, so Alertmanager keeps them active
    evaluator = _evaluator(tmp_path, otel_data, fires, metrics=metrics, notifier=notifier)
    hook = Webhook()
    manager = Alertmanager(tmp_path, hook.url, port=port)
    url = f"http://127.0.0.1:{port}"

    async def scenario() -> None:
        task = asyncio.ensure_future(notifier.run())
        await asyncio.to_thread(evaluator.evaluate_group, evaluator.rules.groups[0], AT)
        queued = notifier.queued
        assert queued >= 2
        await asyncio.sleep(0.6)  # several attempts, each failing
        assert metrics.value("starbase_notifications_errors_total", alertmanager=url) >= 2
        assert metrics.value("starbase_alertmanager_up", alertmanager=url) == 0
        assert notifier.queued == queued  # kept
        assert waits[:4] == [0.05, 0.1, 0.2, 0.2]  # backing off, up to its limit
        await asyncio.to_thread(manager.start)
        await asyncio.to_thread(wait_until, lambda: notifier.queued == 0, 15, "the queue to drain")
        assert metrics.value("starbase_notifications_sent_total", alertmanager=url) == queued
        assert metrics.value("starbase_alertmanager_up", alertmanager=url) == 1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    try:
        asyncio.run(scenario())
        names = {a["labels"]["alertname"] for a in manager.alerts()}
        assert names == {"Busy"}
        text = metrics.render()
        assert f'starbase_notifications_errors_total{{alertmanager="{url}"}}' in text
    finally:
        manager.stop()
        hook.close()
        evaluator.runner.close()


def test_alerts_alertmanager_refuses_do_not_block_the_others(tmp_path: Path) -> None:
    """A batch Alertmanager refuses as invalid (400) would be refused forever: its valid
    alerts are delivered one by one, the invalid one dropped and counted, the queue drains."""
    hook = Webhook()
    manager = Alertmanager(tmp_path, hook.url).start()
    metrics = Registry()
    notifier = Notifier([manager.url], metrics)

    def alert(**labels: str) -> dict[str, Any]:
        return {"labels": {"alertname": "A", **labels}, "annotations": {}}

    async def scenario() -> None:
        task = asyncio.ensure_future(notifier.run())
        notifier.send([alert(service="a"), alert(**{"bad.name": "x"}), alert(service="b")])
        await asyncio.to_thread(wait_until, lambda: notifier.queued == 0, 15, "the queue to drain")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    try:
        asyncio.run(scenario())
        assert sorted(a["labels"].get("service") for a in manager.alerts()) == ["a", "b"]
        url = manager.url
        assert metrics.value("starbase_notifications_rejected_total", alertmanager=url) == 1
        assert metrics.value("starbase_notifications_sent_total", alertmanager=url) == 2
        assert metrics.value("starbase_notifications_errors_total", alertmanager=url) == 0
        assert metrics.value("starbase_alertmanager_up", alertmanager=url) == 1
    finally:
        manager.stop()
        hook.close()


def test_shipped_example_rules_are_valid(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "rules.yaml"
    ruleset = load_rule_files([example], default_config(tmp_path))
    assert next(r.name for r in ruleset.groups[0].rules) == "PaymentsErrorRate"


def test_run_refuses_bad_rule_files_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(tmp_path, "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: 3\n")
    assert main(["rules", "run", str(bad), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}:5:15: ") and "Traceback" not in err
    assert main(["rules", "run", str(bad), "--listen", "nope"]) == 1
    assert "--listen needs HOST:PORT" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["--alertmanager", "127.0.0.1:9093"], "needs http:// or https://"),
        (["--alertmanager", "http://127.0.0.1:99999"], "out of range"),
        (["--alertmanager", "http:///api"], "names no host"),
        (["--external-url", "ui.example:8080"], "needs http:// or https://"),
        (["--external-url", "http://ui.example/?q=1"], "no ?query or #fragment"),
        (["--external-url", "http://ui example/"], "spaces or control characters"),
    ],
)
def test_rules_run_and_serve_refuse_urls_they_could_not_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], problem: str
) -> None:
    """Else every notification would fail (or Alertmanager would refuse every alert's
    generatorURL) long after the start, and the alerts would never leave."""
    rules = str(_write(tmp_path, RULES))
    for command in (["rules", "run", rules], ["serve", "--rules", rules]):
        assert main([*command, "--data", str(tmp_path), *arguments]) == 1
        [line] = capsys.readouterr().err.splitlines()
        assert line.startswith(f"starbase: {arguments[0]} ") and problem in line, line


def test_http_url_keeps_a_path_prefix_and_drops_the_trailing_slash() -> None:
    assert http_url("http://127.0.0.1:9093/", "--alertmanager") == "http://127.0.0.1:9093"
    assert http_url("https://ops.example/alertmanager/", "x") == "https://ops.example/alertmanager"


@given(
    text=st.lists(
        st.sampled_from(
            [
                "{{",
                "}}",
                "{{-",
                "-}}",
                " ",
                "$labels.a",
                "$value",
                "|",
                "humanize",
                "printf",
                '"%.2f"',
                '"%d %d"',
                "toUpper",
                ".Value",
                "x",
                "{",
                "}",
            ]
        )
        | st.text(max_size=3),
        max_size=12,
    ).map("".join),
    value=st.floats(allow_nan=True, allow_infinity=True),
)
def test_templates_parse_or_fail_cleanly_and_always_render(text: str, value: float) -> None:
    try:
        template = Template(text)
    except TemplateError as exc:
        assert 0 <= exc.offset <= len(text)
        return
    assert isinstance(template.render({"a": "b"}, value), str)
    for function in (humanize, humanize_duration):
        assert isinstance(function(value), str)


def test_generator_url_opens_the_rows_in_the_web_ui(tmp_path: Path, otel_data: Path) -> None:
    from urllib.parse import parse_qs, urlsplit

    from starbase.api.models import TimeRange
    from starbase.api.running import range_stage

    evaluator = _evaluator(tmp_path, otel_data, external_url="https://ui.example")
    rule = evaluator.rules.groups[0].rules[0]
    url = urlsplit(evaluator.generator_url(rule, AT, AT + 600))
    assert (url.scheme, url.netloc, url.path) == ("https", "ui.example", "/")
    route, _, query = url.fragment.partition("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    assert route == "/explore" and params["from"] == "2026-11-20T11:00:00.000Z"
    assert params["q"].startswith('from otel | between "2026-11-20T11:00:00.000Z" and ')
    assert range_stage(TimeRange(**{"from": params["from"], "to": params["to"]}))
    # the link's query runs on its own and finds the rows that fired the alert
    table = evaluator.runner.run(evaluator.runner.compile(params["q"]), int(AT * 1e9) + 10**15, 30)
    assert table.num_rows > 0
    evaluator.runner.close()
