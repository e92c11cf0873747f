"""The rule evaluator: every group on its interval, alerts to Alertmanager, recorded series.

Requires: a loaded `RuleSet`, a `QueryRunner`, and a running asyncio loop for `run()`.
Guarantees:

- each group runs on its own schedule, ticks `interval` apart from the evaluator's start;
  its rules run one after another, each query evaluated as of the tick's time minus the
  group's `query_offset` (so `since 5m` means the 5 minutes before the tick);
- a tick that comes while the group's previous evaluation still runs is skipped, counted in
  `starbase_rule_group_iterations_missed_total` and logged — evaluation never falls behind
  silently; the next evaluation runs at the next tick in the future;
- a query that fails or runs past `query_timeout_s` (default: the group's interval) makes
  that rule's health `err` (counted by reason, logged on change), leaves its alerts as they
  were (still re-sent) and does not stop the group: the next rule and the next tick run;
- alerting rules go pending → firing → resolved (`alerts.AlertSet`); after each group
  evaluation, alerts due are queued to Alertmanager (`notifier.Notifier`): firing ones every
  `resend_s` with `endsAt` four resends ahead (Alertmanager resolves them itself if the
  evaluator dies), resolved ones with `endsAt` = the resolution time; `generatorURL` opens
  the query in the web UI over the alert's time range;
- recording rules' samples go to `recording.RecordingStore` (stored table and /metrics);
- the alert state is saved after every group evaluation and loaded at start (`state.py`);
  restored firing and resolved alerts are sent again at their first evaluation (same
  `startsAt`), since alerts queued but not yet delivered do not survive a restart;
- `rules_document()` / `alerts_document()` are Prometheus' `/api/v1/rules` and
  `/api/v1/alerts` answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starbase.compiler.errors import CompileError
from starbase.rules import notifier as notifier_metrics
from starbase.rules import state as saved
from starbase.rules.alerts import Alert, AlertSet
from starbase.rules.execution import QueryRunner, QueryTimeout
from starbase.rules.loader import RuleSet
from starbase.rules.metrics import Registry
from starbase.rules.model import Group, Rule, Sample, samples
from starbase.rules.notifier import Notifier
from starbase.rules.recording import RecordingStore
from starbase.runtime.errors import QueryFailed

log = logging.getLogger("starbase.rules")
RESEND_S = 60.0
OUTAGE_TOLERANCE_S = 3600.0


@dataclass
class RuleStatus:
    """How a rule's last evaluation went."""

    health: str = "unknown"  # ok | err | unknown (not evaluated yet)
    last_error: str = ""
    last_evaluation: float | None = None
    evaluation_s: float = 0.0


@dataclass
class GroupStatus:
    last_evaluation: float | None = None
    evaluation_s: float = 0.0


@dataclass
class _Rule:
    group: Group
    index: int
    rule: Rule
    key: str
    status: RuleStatus = field(default_factory=RuleStatus)
    alerts: AlertSet | None = None


class Evaluator:
    """See the module docstring."""

    def __init__(
        self,
        rules: RuleSet,
        runner: QueryRunner,
        *,
        metrics: Registry | None = None,
        notifier: Notifier | None = None,
        recording: RecordingStore | None = None,
        state_path: Path | None = None,
        external_url: str = "http://127.0.0.1:8080",
        resend_s: float = RESEND_S,
        query_timeout_s: float | None = None,
        outage_tolerance_s: float = OUTAGE_TOLERANCE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = rules
        self.runner = runner
        self.metrics = metrics or Registry()
        self.notifier = notifier
        self.recording = recording or RecordingStore(None)
        self.state_path = state_path
        self.external_url = external_url.rstrip("/")
        self.resend_s = resend_s
        self.query_timeout_s = query_timeout_s
        self.clock = clock
        self._lock = threading.Lock()  # the alert sets and statuses, read by the API
        self._groups: dict[tuple[str, str], GroupStatus] = {}
        self._rules: dict[tuple[str, str], list[_Rule]] = {}
        restored = saved.load(state_path, clock(), outage_tolerance_s) if state_path else {}
        for group in rules.groups:
            self._groups[(group.file, group.name)] = GroupStatus()
            entries = []
            for index, rule in enumerate(group.rules):
                entry = _Rule(group, index, rule, saved.rule_key(group, index, rule))
                if rule.kind == "alert":
                    entry.alerts = AlertSet(rule, group.labels, self.external_url)
                    for alert in restored.get(entry.key, []):
                        # the notifier's queue died with the last process: what it held
                        # may never have reached Alertmanager, so send again at once
                        alert.last_sent_at = None
                        entry.alerts.alerts[alert.labels] = alert
                entries.append(entry)
            self._rules[(group.file, group.name)] = entries
        self._declare()
        self._update_alert_gauges()

    # ------------------------------------------------------------ metrics

    def _declare(self) -> None:
        m = self.metrics
        group = ("rule_group",)
        m.counter("starbase_rule_evaluations_total", "Rule evaluations.", group)
        m.counter(
            "starbase_rule_evaluation_failures_total",
            "Rule evaluations that failed (reason: timeout or error).",
            ("rule_group", "reason"),
        )
        m.counter("starbase_rule_group_iterations_total", "Group evaluations run.", group)
        m.counter(
            "starbase_rule_group_iterations_missed_total",
            "Group evaluations skipped because the previous one was still running.",
            group,
        )
        m.gauge("starbase_rule_group_interval_seconds", "The group's interval.", group)
        m.gauge("starbase_rule_group_rules", "Rules in the group.", group)
        m.gauge(
            "starbase_rule_group_last_duration_seconds",
            "How long the group's last evaluation took.",
            group,
        )
        m.gauge(
            "starbase_rule_group_last_evaluation_timestamp_seconds",
            "When the group was last evaluated (Unix time).",
            group,
        )
        m.histogram(
            "starbase_rule_evaluation_duration_seconds",
            "Time to evaluate one rule (its query included).",
            group,
        )
        m.gauge("starbase_alerts", "Active alerts by name and state.", ("alertname", "state"))
        # the query families that `starbase serve` shares (origin="api"): one dashboard panel
        m.histogram(
            "starbase_query_duration_seconds", "Time to run one query to its end.", ("origin",)
        )
        m.counter("starbase_queries_total", "Queries run, by outcome.", ("origin", "outcome"))
        m.gauge("starbase_rule_samples", "Rows of the rule's last evaluation.", ("rule",))
        for group_value in self.rules.groups:
            name = _group_label(group_value)
            m.set("starbase_rule_group_interval_seconds", group_value.interval_s, rule_group=name)
            m.set("starbase_rule_group_rules", len(group_value.rules), rule_group=name)
            for counter in (
                "starbase_rule_evaluations_total",
                "starbase_rule_group_iterations_total",
                "starbase_rule_group_iterations_missed_total",
            ):
                m.inc(counter, 0, rule_group=name)
            for reason in ("timeout", "error"):
                m.inc("starbase_rule_evaluation_failures_total", 0, rule_group=name, reason=reason)
        notifier_metrics.declare(m)  # also without Alertmanager: dashboards show zeros
        self.metrics.extra.append(self.recording.render)

    def _update_alert_gauges(self) -> None:
        counts: dict[tuple[str, str], int] = {}
        with self._lock:
            for entries in self._rules.values():
                for entry in entries:
                    if entry.alerts is None:
                        continue
                    for state in ("pending", "firing"):
                        counts.setdefault((entry.rule.name, state), 0)
                    for alert in entry.alerts.active():
                        counts[(entry.rule.name, alert.state)] += 1
        for (name, state), count in counts.items():
            self.metrics.set("starbase_alerts", count, alertname=name, state=state)

    # ------------------------------------------------------------ running

    async def run(self) -> None:
        """Evaluate every group on its interval (and send alerts) until cancelled."""
        # a thread per group: groups never wait for each other (nor for the loop's default pool)
        executor = ThreadPoolExecutor(
            max_workers=max(1, len(self.rules.groups)), thread_name_prefix="starbase-rules"
        )
        tasks = [asyncio.ensure_future(self._group_loop(g, executor)) for g in self.rules.groups]
        if self.notifier is not None:
            tasks.append(asyncio.ensure_future(self.notifier.run()))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            executor.shutdown(wait=False, cancel_futures=True)

    async def _group_loop(self, group: Group, executor: ThreadPoolExecutor) -> None:
        interval = group.interval_s
        tick = self.clock()
        name = _group_label(group)
        while True:
            delay = tick - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(executor, self.evaluate_group, group, tick)
            now = self.clock()
            behind = math.floor((now - tick) / interval)
            missed = max(0, behind)
            if missed:
                self.metrics.inc(
                    "starbase_rule_group_iterations_missed_total", missed, rule_group=name
                )
                log.warning(
                    "rule group %s: evaluation took %.2fs, longer than its interval %gs: "
                    "%d evaluation(s) missed",
                    name,
                    now - tick,
                    interval,
                    missed,
                )
            tick += (missed + 1) * interval

    def evaluate_group(self, group: Group, at: float) -> None:
        """Evaluate every rule of `group` as of `at` (Unix seconds), send, save."""
        name = _group_label(group)
        started = time.monotonic()
        entries = self._rules[(group.file, group.name)]
        for entry in entries:
            self._evaluate(entry, at)
        duration = time.monotonic() - started
        with self._lock:
            status = self._groups[(group.file, group.name)]
            status.last_evaluation, status.evaluation_s = at, duration
        self.metrics.inc("starbase_rule_group_iterations_total", rule_group=name)
        self.metrics.set("starbase_rule_group_last_duration_seconds", duration, rule_group=name)
        self.metrics.set(
            "starbase_rule_group_last_evaluation_timestamp_seconds", at, rule_group=name
        )
        self._update_alert_gauges()
        self._send(entries, group)
        self._save()

    def _evaluate(self, entry: _Rule, at: float) -> None:
        group, rule = entry.group, entry.rule
        name = _group_label(group)
        timeout = self.query_timeout_s or group.interval_s
        now_ns = int((at - group.query_offset_s) * 1e9)
        started = time.monotonic()
        error, reason = "", ""
        found: list[Sample] = []
        try:
            compiled = self.rules.query(group, entry.index)
            table = self.runner.run(compiled, now_ns, timeout)
            found = samples(table, rule.value_column, rule.label_columns)
            found = self._labelled(rule, group, found)
            if group.limit and len(found) > group.limit:
                raise QueryFailed(f"{len(found)} rows exceed the group's limit of {group.limit}")
        except QueryTimeout as exc:
            error, reason = str(exc), "timeout"
        except (QueryFailed, CompileError) as exc:
            error, reason = str(exc), "error"
        except Exception as exc:  # a bug: the rule fails, the evaluator lives on
            log.exception("rule %s in group %s: internal error", rule.name, name)
            error, reason = f"internal error: {type(exc).__name__}: {exc}", "error"
        duration = time.monotonic() - started
        outcome = {"": "ok", "timeout": "timeout"}.get(reason, "failed")
        self.metrics.inc("starbase_queries_total", origin="rules", outcome=outcome)
        self.metrics.observe("starbase_query_duration_seconds", duration, origin="rules")
        self.metrics.inc("starbase_rule_evaluations_total", rule_group=name)
        self.metrics.observe("starbase_rule_evaluation_duration_seconds", duration, rule_group=name)
        if reason:
            self.metrics.inc(
                "starbase_rule_evaluation_failures_total", rule_group=name, reason=reason
            )
            if entry.status.last_error != error:
                log.warning("rule %s in group %s failed: %s", rule.name, name, error)
        with self._lock:
            entry.status = RuleStatus("err" if reason else "ok", error, at, duration)
            if not reason and entry.alerts is not None:
                entry.alerts.update(found, at)
        if reason:
            return
        self.metrics.set("starbase_rule_samples", len(found), rule=rule.name)
        if rule.kind == "record":
            try:
                self.recording.write(group.name, rule.name, found, int(at * 1e9))
            except Exception as exc:  # the store is down: the rule's health says so
                message = f"cannot store the recorded samples: {type(exc).__name__}: {exc}"
                log.warning("rule %s in group %s: %s", rule.name, name, message)
                self.metrics.inc(
                    "starbase_rule_evaluation_failures_total", rule_group=name, reason="error"
                )
                with self._lock:
                    entry.status = RuleStatus("err", message, at, duration)

    def _labelled(self, rule: Rule, group: Group, found: list[Sample]) -> list[Sample]:
        """Recording rules: the group's and rule's labels added; both kinds: one row per
        label set (two rows with the same labels would be the same series)."""
        out = []
        seen: set[tuple[tuple[str, str], ...]] = set()
        for sample in found:
            labels = sample.labels
            if rule.kind == "record":
                merged = dict(labels)
                merged.update(group.labels)
                merged.update(rule.labels)
                labels = tuple(sorted(merged.items()))
            if labels in seen:
                shown = ", ".join(f'{k}="{v}"' for k, v in labels)
                raise QueryFailed(f"two rows have the same labels {{{shown}}}: aggregate them")
            seen.add(labels)
            out.append(Sample(labels, sample.value))
        return out

    def _send(self, entries: list[_Rule], group: Group) -> None:
        if self.notifier is None:
            return
        now = self.clock()
        payloads = []
        with self._lock:
            for entry in entries:
                if entry.alerts is None:
                    continue
                for alert in entry.alerts.due(now, self.resend_s):
                    payloads.append(self._payload(entry.rule, alert, group, now))
        self.notifier.send(payloads)

    def _payload(self, rule: Rule, alert: Alert, group: Group, now: float) -> dict[str, Any]:
        if alert.resolved_at is not None:
            ends = alert.resolved_at
        else:
            ends = now + 4 * max(self.resend_s, group.interval_s)
        return {
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "startsAt": rfc3339(alert.fired_at or alert.active_at),
            "endsAt": rfc3339(ends),
            "generatorURL": self.generator_url(rule, alert.active_at, alert.resolved_at or now),
        }

    def generator_url(self, rule: Rule, start: float, end: float) -> str:
        """The web UI's explore view of the rule's query over [start - window, end]."""
        begin = start - rule.window_s
        query = rule.query
        if rule.window_span is not None:
            a, b = rule.window_span
            between = f'between "{rfc3339(begin)}" and "{rfc3339(end + 1)}"'
            query = query[:a] + between + query[b:]
        params = {"q": query, "from": rfc3339(begin), "to": rfc3339(end + 1)}
        return f"{self.external_url}/#/explore?{urlencode(params)}"

    def _save(self) -> None:
        if self.state_path is None:
            return
        with self._lock:
            alerts = {
                entry.key: [Alert(**vars(a)) for a in entry.alerts.alerts.values()]
                for entries in self._rules.values()
                for entry in entries
                if entry.alerts is not None
            }
        try:
            saved.save(self.state_path, alerts, self.clock())
        except OSError as exc:
            log.warning("cannot save the alert state to %s: %s", self.state_path, exc)

    # ------------------------------------------------------------ the Prometheus API

    def rules_document(self, kind: str | None = None) -> dict[str, Any]:
        """`/api/v1/rules`'s `data` (`kind`: `alert`, `record` or None for both)."""
        groups = []
        with self._lock:
            for group in self.rules.groups:
                status = self._groups[(group.file, group.name)]
                rules = [
                    self._rule_document(entry)
                    for entry in self._rules[(group.file, group.name)]
                    if kind is None or entry.rule.kind == kind
                ]
                groups.append(
                    {
                        "name": group.name,
                        "file": group.file,
                        "rules": rules,
                        "interval": group.interval_s,
                        "limit": group.limit,
                        "evaluationTime": status.evaluation_s,
                        "lastEvaluation": _maybe_time(status.last_evaluation),
                    }
                )
        return {"groups": groups}

    def _rule_document(self, entry: _Rule) -> dict[str, Any]:
        rule, status = entry.rule, entry.status
        common = {
            "name": rule.name,
            "query": rule.expr,
            "labels": dict(rule.labels),
            "health": status.health,
            "lastError": status.last_error,
            "evaluationTime": status.evaluation_s,
            "lastEvaluation": _maybe_time(status.last_evaluation),
        }
        if entry.alerts is None:
            return {**common, "type": "recording"}
        active = entry.alerts.active()
        states = {a.state for a in active}
        state = "firing" if "firing" in states else "pending" if states else "inactive"
        return {
            "state": state,
            **common,
            "duration": rule.for_s,
            "keepFiringFor": rule.keep_firing_for_s,
            "annotations": dict(rule.annotations),
            "alerts": [_alert_document(a) for a in active],
            "type": "alerting",
        }

    def alerts_document(self) -> dict[str, Any]:
        """`/api/v1/alerts`'s `data`: every pending and firing alert."""
        with self._lock:
            alerts = [
                _alert_document(alert)
                for entries in self._rules.values()
                for entry in entries
                if entry.alerts is not None
                for alert in entry.alerts.active()
            ]
        return {"alerts": alerts}

    def active_alerts(self) -> list[Alert]:
        with self._lock:
            return [
                alert
                for entries in self._rules.values()
                for entry in entries
                if entry.alerts is not None
                for alert in entry.alerts.active()
            ]

    def status(self, group: str, rule: str) -> RuleStatus:
        with self._lock:
            for (_, name), entries in self._rules.items():
                for entry in entries:
                    if name == group and entry.rule.name == rule:
                        return entry.status
        raise KeyError(f"{group}/{rule}")


def _group_label(group: Group) -> str:
    return f"{group.file};{group.name}"


def _alert_document(alert: Alert) -> dict[str, Any]:
    out: dict[str, Any] = {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "state": alert.state,
        "activeAt": rfc3339(alert.active_at),
        "value": go_float(alert.value),
    }
    return out


def _maybe_time(seconds: float | None) -> str:
    return rfc3339(seconds) if seconds is not None else "0001-01-01T00:00:00Z"


def rfc3339(seconds: float) -> str:
    """Unix seconds as RFC 3339 UTC with milliseconds (`2026-12-01T10:00:00.250Z`)."""
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def go_float(value: float) -> str:
    """A float as Go's `strconv.FormatFloat(v, 'e', -1, 64)`, which Prometheus' API uses:
    `2.5e-01`, `1e+00`, `NaN`, `+Inf`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0e+00"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    power = exponent + len(text) - 1
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'+' if power >= 0 else '-'}{abs(power):02d}"
