"""Alert instances of one alerting rule: pending → firing → resolved, as Prometheus does.

Requires: each evaluation's samples (`model.Sample`) and its time. Guarantees, per rule:

- a row whose labels have no active alert starts one, `pending` since that evaluation
  (`active_at`); it fires at the first evaluation at least `for` after `active_at` (at once
  when `for` is 0); a pending alert whose row disappears is dropped;
- a firing alert whose row disappears stays firing for `keep_firing_for` after it was last
  seen, then is resolved (`resolved_at`); resolved alerts are kept `RESOLVED_RETENTION_S`
  so their resolution is re-sent, then forgotten; a row coming back later starts a new alert;
- labels are the row's labels, then the group's and the rule's (templated) labels over them,
  then `alertname`; annotations are rendered with the row's labels and value each time;
- `due(now, resend_s)` gives the alerts to send: firing ones not sent for `resend_s`,
  resolved ones whose resolution was not sent yet or not for `resend_s`;
- `to_dict`/`from_dict` carry the whole state across a restart (`state.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from starbase.rules.model import Labels, Rule, Sample
from starbase.rules.templates import expand

State = Literal["pending", "firing", "inactive"]
RESOLVED_RETENTION_S = 15 * 60.0


@dataclass
class Alert:
    """One alert instance (one label set) of a rule."""

    labels: Labels
    annotations: dict[str, str]
    value: float
    state: State
    active_at: float
    fired_at: float | None = None
    resolved_at: float | None = None
    last_seen_at: float = 0.0
    last_sent_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": [list(pair) for pair in self.labels],
            "annotations": self.annotations,
            "value": self.value,
            "state": self.state,
            "active_at": self.active_at,
            "fired_at": self.fired_at,
            "resolved_at": self.resolved_at,
            "last_seen_at": self.last_seen_at,
            "last_sent_at": self.last_sent_at,
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Alert:
        return Alert(
            labels=tuple((str(k), str(v)) for k, v in data["labels"]),
            annotations={str(k): str(v) for k, v in data["annotations"].items()},
            value=float(data["value"]),
            state=data["state"],
            active_at=float(data["active_at"]),
            fired_at=_float(data.get("fired_at")),
            resolved_at=_float(data.get("resolved_at")),
            last_seen_at=float(data.get("last_seen_at") or 0.0),
            last_sent_at=_float(data.get("last_sent_at")),
        )


@dataclass
class AlertSet:
    """The alert instances of one alerting rule (see the module docstring)."""

    rule: Rule
    group_labels: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""
    alerts: dict[Labels, Alert] = field(default_factory=dict)

    def update(self, samples: Iterable[Sample], now: float) -> None:
        """Apply one evaluation's rows at time `now` (seconds since the epoch)."""
        seen: set[Labels] = set()
        for sample in samples:
            labels, annotations = self._render(sample)
            seen.add(labels)
            alert = self.alerts.get(labels)
            if alert is None or alert.state == "inactive":
                alert = Alert(labels, annotations, sample.value, "pending", active_at=now)
                self.alerts[labels] = alert
            alert.value = sample.value
            alert.annotations = annotations
            alert.last_seen_at = now
        for labels, alert in list(self.alerts.items()):
            if labels in seen:
                if alert.state == "pending" and now - alert.active_at >= self.rule.for_s:
                    alert.state = "firing"
                    alert.fired_at = now
                continue
            if alert.state == "pending":
                del self.alerts[labels]
            elif alert.state == "firing":
                if now - alert.last_seen_at < self.rule.keep_firing_for_s:
                    continue
                alert.state = "inactive"
                alert.resolved_at = now
            elif alert.resolved_at is not None and now - alert.resolved_at > RESOLVED_RETENTION_S:
                del self.alerts[labels]

    def due(self, now: float, resend_s: float) -> list[Alert]:
        """The alerts to (re)send to Alertmanager now; marks them sent."""
        out = []
        for alert in self.alerts.values():
            if alert.state == "pending":
                continue
            resolved_unsent = alert.resolved_at is not None and (
                alert.last_sent_at is None or alert.last_sent_at < alert.resolved_at
            )
            stale = alert.last_sent_at is None or now - alert.last_sent_at >= resend_s
            if resolved_unsent or stale:
                alert.last_sent_at = now
                out.append(alert)
        return out

    def active(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.state != "inactive"]

    def _render(self, sample: Sample) -> tuple[Labels, dict[str, str]]:
        labels = dict(sample.labels)
        labels.update(self.group_labels)
        row = dict(labels)
        for name, template in self.rule.labels.items():
            labels[name] = expand(template, row, sample.value, self.external_url)
        labels["alertname"] = self.rule.name
        annotations = {
            name: expand(template, labels, sample.value, self.external_url)
            for name, template in self.rule.annotations.items()
        }
        return tuple(sorted(labels.items())), annotations


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
