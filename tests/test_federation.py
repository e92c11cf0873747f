"""Differential: one set of events in CloudWatch (moto's server) and in the OTel table.

`cloudwatch_data.generate` makes 1,500 events whose meta-model fields agree however they are
read (see its docstring). They are put into moto's CloudWatch Logs (`/aws/lambda/<service>`;
a server and a region of this module's own; real HTTP and boto3) and written to an OTel
table, and every query of `QUERIES` runs as

- `from otel` and `from lambda` (CloudWatch, `emulator` profile): the same answer;
- `from otel, lambda`: the same answer as the same text where `lambda` is a second OTel copy
  of the events — so the union, the per-source partial aggregates merged by their final
  aggregate, and the per-branch limits are checked against DataFusion running it all.

Results are compared as multisets of rows (in order where the query's order is total), with
floats to 9 significant digits (a final `sum / count` is not bit-identical to `AVG`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest
from cloudwatch_data import (
    CREDENTIALS,
    HOUR_MS,
    SERVICES,
    Event,
    generate,
    load_cloudwatch,
    logs_client,
    moto_server,
    otel_table,
)

from starbase.backends.cloudwatch.lower import lower
from starbase.compiler.driver import compile
from starbase.compiler.timestamps import format_iso
from starbase.config import Config, config_from_dict
from starbase.runtime.session import Session
from starbase.storage import write_batch

REGION = "eu-west-3"  # moto keeps state per region: one of this module's own
EVENTS = 1_500


@dataclass(frozen=True)
class World:
    events: list[Event]
    t1: str  # ISO instants on whole hours inside the data
    t2: str
    cloudwatch: Session  # otel = the OTel table, lambda = CloudWatch (emulator profile)
    reference: Session  # otel = the OTel table, lambda = a second OTel copy


@dataclass(frozen=True)
class Case:
    text: str  # `{S}` is the source list
    ordered: bool = False  # the query's order is total: compare in order
    per_source: bool = True  # from otel == from lambda (False when `source` is output)
    params: tuple[tuple[str, object], ...] = ()


QUERIES: tuple[Case, ...] = (
    Case("from {S} | stats count() as n"),
    Case("from {S} | stats count() as n by service"),
    Case("from {S} | stats count() as n by service, severity"),
    Case("from {S} | stats count() as n by severity_text"),
    Case('from {S} | where severity >= "warn" | stats count() as n by service'),
    Case('from {S} | where severity == "error" | fields timestamp, service, message'),
    Case('from {S} | where severity in ("debug", "fatal") | fields timestamp, severity, message'),
    Case('from {S} | where message contains "timeout" | stats count() as n'),
    Case("from {S} | where message ~ /refused|TIMEOUT/i | stats count() as n by service"),
    Case('from {S} | where "declined" | stats count() as n'),
    Case('from {S} | where not (message contains "ok") and severity != "info" | stats count()'),
    Case(
        'from {S} | where service in ("checkout", "search") and severity < "warn" '
        "| stats count() as n by service"
    ),
    Case("from {S} | where exists(trace_id) | stats count() as n, count_distinct(trace_id) as t"),
    Case("from {S} | where exists(span_id) | fields timestamp, trace_id, span_id"),
    Case(
        "from {S} | stats avg(attributes.duration_ms) as a, sum(attributes.duration_ms) as s, "
        "min(attributes.duration_ms) as lo, max(attributes.duration_ms) as hi by service"
    ),
    Case("from {S} | stats pct(attributes.duration_ms, 95) as p95, stddev(attributes.cost) as sd"),
    Case(
        "from {S} | stats round(sum(attributes.duration_ms) / count(), 2) as per_event "
        "by service | sort service",
        ordered=True,
    ),
    Case("from {S} | stats count() as n by bin(timestamp, 1h) as hour | sort hour", ordered=True),
    Case(
        "from {S} | stats count() as n by service, bin(timestamp, 30m) as t "
        "| sort n desc, service, t | limit 5",
        ordered=True,
    ),
    Case('from {S} | between "{T1}" and "{T2}" | stats count() as n by service'),
    Case('from {S} | where timestamp >= "{T1}" | stats min(timestamp) as a, max(timestamp) as b'),
    Case("from {S} | since 7d | stats count() as n"),
    Case(
        "from {S} | sort timestamp desc | limit 10 | fields timestamp, service, message",
        ordered=True,
    ),
    Case(
        'from {S} | where service == "payments" | sort timestamp | limit 5 '
        "| fields timestamp, message",
        ordered=True,
    ),
    Case(
        'from {S} | parse message "* took *ms*" as head, ms, tail | where exists(ms) '
        "| stats count() as n, max(tonumber(ms)) as worst by service"
    ),
    Case("from {S} | parse message /user=(?<user>[a-z]+)/ | stats count() as n by user"),
    Case('from {S} | where attributes.user == "ann" | stats count() as n by service'),
    Case("from {S} | where attributes.cost > 5 | fields timestamp, attributes.cost as cost"),
    Case(
        "from {S} | extend slow = tonumber(attributes.duration_ms) > 500 "
        "| stats count() as n by slow"
    ),
    Case("from {S} | stats earliest(message) as first, latest(message) as last by service"),
    Case("from {S} | stats count_distinct(attributes.user) as users by service"),
    Case("from {S} | sort timestamp | dedup service | fields service, message"),
    Case("from {S} | dedup severity | fields severity"),
    Case("from {S} | stats count() as n by service | where n > 100 | sort n desc", ordered=True),
    Case("from {S} | where length(message) > 60 | stats count() as n"),
    Case("from {S} | limit 7 | stats count() as n"),
    Case(
        "from {S} | where service == $svc and severity >= $level | stats count() as n",
        params=(("svc", "payments"), ("level", "warn")),
    ),
    Case("from {S} | stats count() as n by source", per_source=False),
    Case(
        "from {S} | sort timestamp desc | limit 3 | fields source, timestamp, message",
        ordered=True,
        per_source=False,
    ),
)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    yield from moto_server()


@pytest.fixture(scope="module")
def world(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> World:
    end = (int(time.time() * 1000) // HOUR_MS - 1) * HOUR_MS
    start = end - 30 * HOUR_MS
    events = generate(EVENTS, seed=11, start_ms=start, end_ms=end)
    load_cloudwatch(logs_client(endpoint, REGION), events)
    table, twin = tmp_path_factory.mktemp("otel"), tmp_path_factory.mktemp("twin")
    write_batch(table, otel_table(events))
    write_batch(twin, otel_table(events))
    otel = {"format": "otel", "location": str(table)}
    cloudwatch = {
        "format": "cloudwatch",
        "log_groups": [f"/aws/lambda/{s}" for s in SERVICES],
        "region": REGION,
        "endpoint": endpoint,
        "profile": "emulator",
        **CREDENTIALS,
    }
    reference = {"format": "otel", "location": str(twin)}
    t1, t2 = (format_iso((start + h * HOUR_MS) * 1_000_000) for h in (5, 17))
    return World(
        events,
        t1,
        t2,
        Session(_config(otel, cloudwatch)),
        Session(_config(otel, reference)),
    )


def _config(otel: dict[str, Any], lam: dict[str, Any]) -> Config:
    return config_from_dict({"sources": {"otel": otel, "lambda": lam}})


def run(session: Session, case: Case, sources: str, world: World) -> list[tuple[Any, ...]]:
    text = case.text.replace("{T1}", world.t1).replace("{T2}", world.t2)
    compiled = session.compile(text.replace("{S}", sources))
    found = normalized(session.run(compiled, dict(case.params)))
    return found if case.ordered else sorted(found, key=repr)


def normalized(table: pa.Table) -> list[tuple[Any, ...]]:
    columns = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        columns.append([_value(v) for v in column.to_pylist()])
    return list(zip(*columns, strict=True))


def _value(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, list):  # a map
        return tuple(value)
    return value


def test_the_events_agree_field_by_field(world: World) -> None:
    """The premise: what the CloudWatch mapping derives is what the OTel rows state."""
    text = (
        "from {} | fields timestamp, severity, severity_text, service, message, trace_id, "
        "span_id, attributes"
    )
    tables = [
        normalized(world.cloudwatch.run(world.cloudwatch.compile(text.format(s))))
        for s in ("otel", "lambda")
    ]
    assert len(tables[0]) == EVENTS
    assert sorted(tables[0], key=repr) == sorted(tables[1], key=repr)


@pytest.mark.parametrize("case", QUERIES, ids=[f"q{i:02d}" for i in range(1, len(QUERIES) + 1)])
def test_same_answer_from_each_source_and_from_both(world: World, case: Case) -> None:
    otel = run(world.cloudwatch, case, "otel", world)
    assert otel, "the query should find something in the generated events"
    if case.per_source:
        assert run(world.cloudwatch, case, "lambda", world) == otel
    both = run(world.cloudwatch, case, "otel, lambda", world)
    assert both == run(world.reference, case, "otel, lambda", world)


JOINS: tuple[Case, ...] = (
    Case(
        'from otel | where severity >= "warn" '
        "| join (from lambda | stats count() as n by service) on service "
        "| stats count() as rows, max(n) as n by service"
    ),
    Case(
        'from lambda | where severity >= "error" | join kind=left (from otel '
        '| where severity < "error" | fields trace_id, message as other) on trace_id '
        "| fields timestamp, service, trace_id, other"
    ),
    Case(
        'from lambda | where service == "payments" | join (from otel | where severity >= "warn" '
        "| fields span_id, service as svc) on span_id | stats count() as n by svc"
    ),
)


@pytest.mark.parametrize("case", JOINS, ids=[f"join{i}" for i in range(1, len(JOINS) + 1)])
def test_a_join_with_a_cloudwatch_side_runs_it_natively_and_joins_locally(
    world: World, case: Case
) -> None:
    """Each side runs where it lives (Insights for `lambda`), the join on the engine: the
    same answer as with `lambda` an OTel copy of the events."""
    got = run(world.cloudwatch, case, "", world)
    assert got, "the join should find something in the generated events"
    assert got == run(world.reference, case, "", world)
    compiled = world.cloudwatch.compile(case.text)
    (query,) = lower(compiled.plan, compiled.config)
    assert query.source == "lambda" and query.remainder is not None


def test_enough_distinct_queries() -> None:
    assert len({c.text for c in QUERIES}) >= 30


def test_the_union_pushes_partial_aggregates_and_limits(world: World) -> None:
    """With the `aws` profile, each branch's partial stats and top-n are Insights text."""
    engine = world.cloudwatch
    aws = config_from_dict(
        {
            "sources": {
                "otel": {"format": "otel", "location": engine.config.sources[0].location},
                "lambda": {
                    "format": "cloudwatch",
                    "log_groups": list(engine.config.sources[1].log_groups),
                    "profile": "aws",
                },
            }
        }
    )
    stats = compile(
        "from otel, lambda | parse message /d=(?<d>\\S+)/"
        " | stats count() as n, avg(d) as a by service",
        aws,
    )
    (query,) = lower(stats.plan, stats.config)
    assert query.text.endswith(
        "| stats count(*) as partial_1, sum(starbaseCap1) as partial_2,"
        " count(starbaseCap1) as partial_3 by starbaseRx2"
    ), query.text
    top = compile("from otel, lambda | sort timestamp desc | limit 3 | fields message", aws)
    (query,) = lower(top.plan, top.config)
    assert query.text.endswith("| sort @timestamp desc\n| limit 3")
    assert "| limit 3" not in compile("from otel, lambda | sort service | limit 3", aws).sql(
        "cloudwatch"
    )  # service may be null: Insights' null order is undocumented, so the sort stays local
