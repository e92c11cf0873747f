"""Alerting and recording rules over StarQL: Prometheus rule-group files, an evaluator that
sends alerts to Alertmanager and records series, and Prometheus' rules/alerts API.

Requires: the compiler and the runtime; aiohttp for the evaluator's HTTP parts. Guarantees:
the modules are small and single-purpose — `model` (rules, durations, rows → samples),
`loader` (files → `RuleSet`, positioned errors), `templates`, `alerts` (pending → firing →
resolved), `execution` (a query with a deadline), `evaluator`, `notifier` (Alertmanager v2),
`recording`, `state` (restarts), `metrics`, `api` (HTTP), `cli`. See docs/alerting.md.
"""
