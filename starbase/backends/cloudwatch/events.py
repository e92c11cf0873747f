"""Fetching raw log events with FilterLogEvents (the `emulator` profile) as Insights rows.

Requires: a `logs` client, the source's log groups, an exact `Window`, and a `Caller`.
Guarantees: every event of every log group in the window (FilterLogEvents' `startTime` and
`endTime` are inclusive milliseconds, so the window is exact), page after page until no
`nextToken` is left, or until `limit` rows when one is given; each event becomes a row with
the Insights system fields `@timestamp`, `@ingestionTime`, `@message`, `@logStream` and
`@log`, which real Insights writes `account-id:log-group-name` — the account is read from
the log group's ARN (DescribeLogGroups), which also reports a missing log group by name.
No filter pattern is sent: emulators match patterns loosely, so conditions run locally.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from starbase.backends.cloudwatch.aws_calls import Caller
from starbase.backends.cloudwatch.insights_rows import Value
from starbase.backends.cloudwatch.insights_window import Window
from starbase.runtime.errors import QueryFailed

PAGE = 10_000  # FilterLogEvents' largest page


@dataclass
class EventsReport:
    pages: int = 0
    events: int = 0


def fetch_events(
    client: Any,
    log_groups: tuple[str, ...],
    window: Window,
    caller: Caller,
    *,
    limit: int | None = None,
    report: EventsReport | None = None,
) -> list[dict[str, Value]]:
    """The events of `log_groups` in `window` as Insights rows (see the module docstring)."""
    report = report if report is not None else EventsReport()
    rows: list[dict[str, Value]] = []
    if window.empty:
        return rows
    for group in log_groups:
        log = f"{account_of(client, group, caller)}:{group}"
        token: str | None = None
        while limit is None or len(rows) < limit:
            request: dict[str, Any] = {"logGroupName": group, "limit": PAGE}
            if window.lower is not None:
                request["startTime"] = max(0, window.lower)
            if window.upper is not None:
                request["endTime"] = window.upper
            if limit is not None:
                request["limit"] = min(PAGE, limit - len(rows))
            if token:
                request["nextToken"] = token
            page = caller("FilterLogEvents", partial(client.filter_log_events, **request))
            report.pages += 1
            for event in page.get("events", []):
                rows.append(
                    {
                        "@timestamp": int(event["timestamp"]),
                        "@ingestionTime": _int(event.get("ingestionTime")),
                        "@message": event.get("message"),
                        "@logStream": event.get("logStreamName"),
                        "@log": log,
                    }
                )
            next_token = page.get("nextToken")
            if not next_token or next_token == token:
                break
            token = str(next_token)
    report.events += len(rows)
    return rows if limit is None else rows[:limit]


def account_of(client: Any, group: str, caller: Caller) -> str:
    """The account that owns `group` (from its ARN)."""
    arn = describe_group(client, group, caller).get("arn", "")
    parts = str(arn).split(":")
    return parts[4] if len(parts) > 4 and parts[4] else "unknown"


def describe_group(client: Any, group: str, caller: Caller) -> dict[str, Any]:
    """DescribeLogGroups' entry for `group`; `QueryFailed` when there is none."""
    token: str | None = None
    while True:
        request: dict[str, Any] = {"logGroupNamePrefix": group}
        if token:
            request["nextToken"] = token
        page = caller("DescribeLogGroups", partial(client.describe_log_groups, **request))
        for entry in page.get("logGroups", []):
            if entry.get("logGroupName") == group:
                return dict(entry)
        token = page.get("nextToken")
        if not token:
            raise QueryFailed(f"source '{caller.source}': log group {group} does not exist")


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | float | str) and str(value) else None
