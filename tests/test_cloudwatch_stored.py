"""One mapping, two storages: CloudWatch events in CloudWatch Logs and in Starbase's table.

The events `cloudwatch_data.generate` makes go to moto's CloudWatch Logs (read through the
`emulator` profile, real HTTP and boto3) and, as a Firehose subscription would deliver them,
into the stored CloudWatch table (`storage.formats.CLOUDWATCH`). A source with a `location`
and `format = "cloudwatch"` is read from that table by DataFusion with the same
`cloudwatch.yaml`; every per-source query of the federation differential must give the same
answer from both places, and from the two together.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
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
)
from test_federation import QUERIES, Case, normalized

from starbase.backends.cloudwatch.lower import lower
from starbase.compiler.driver import compile
from starbase.compiler.timestamps import format_iso
from starbase.config import config_from_dict
from starbase.runtime.session import Session
from starbase.storage.table import open_table

REGION = "ap-south-1"  # moto keeps state per region: one of this module's own
ACCOUNT = "123456789012"  # moto's account: what `@log` shows before the group
EVENTS = 1_200


def stored_events(events: list[Event]) -> pa.Table:
    """The events as the router stores a Firehose delivery of their subscription."""
    return pa.table(
        {
            "timestamp": pa.array([e.timestamp_ms for e in events], pa.int64()),
            "message": [e.message for e in events],
            "log_group": [f"/aws/lambda/{e.service}" for e in events],
            "log_stream": [e.stream for e in events],
            "event_id": [str(i) for i in range(len(events))],
            "owner": [ACCOUNT] * len(events),
            "subscription_filters": [["to-starbase"]] * len(events),
            "received_time_unix_nano": pa.array(
                [e.timestamp_ms * 1_000_000 + 5 for e in events], pa.int64()
            ),
        }
    )


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Session, str, str]]:
    end = (int(time.time() * 1000) // HOUR_MS - 1) * HOUR_MS
    start = end - 30 * HOUR_MS
    events = generate(EVENTS, seed=23, start_ms=start, end_ms=end)
    data = Path(tmp_path_factory.mktemp("firehose"))
    table = open_table(data, "cloudwatch")
    table.append(stored_events(events[: EVENTS // 2]))
    table.append(stored_events(events[EVENTS // 2 :]))
    table.compact()  # some compacted, then more incoming: both sides of the view
    for endpoint in moto_server():
        load_cloudwatch(logs_client(endpoint, REGION), events)
        config = config_from_dict(
            {
                "sources": {
                    "lambda": {
                        "format": "cloudwatch",
                        "log_groups": [f"/aws/lambda/{s}" for s in SERVICES],
                        "region": REGION,
                        "endpoint": endpoint,
                        "profile": "emulator",
                        **CREDENTIALS,
                    },
                    "stored": {"format": "cloudwatch", "location": str(data)},
                }
            }
        )
        t1, t2 = (format_iso((start + h * HOUR_MS) * 1_000_000) for h in (5, 17))
        yield Session(config), t1, t2


def run(setup: tuple[Session, str, str], case: Case, sources: str) -> list[object]:
    engine, t1, t2 = setup
    text = case.text.replace("{T1}", t1).replace("{T2}", t2).replace("{S}", sources)
    found = normalized(engine.run(engine.compile(text), dict(case.params)))
    return found if case.ordered else sorted(found, key=repr)


PER_SOURCE = [c for c in QUERIES if c.per_source]


def test_the_stored_source_runs_on_datafusion_with_the_cloudwatch_mapping(
    engine: tuple[Session, str, str],
) -> None:
    compiled = compile("from stored | stats count() by service", engine[0].config)
    assert (
        lower(compiled.plan, compiled.config) == ()
    )  # nothing for Logs Insights: the table is ours
    assert '"stored"' in compiled.sql("datafusion")
    text = "from {} | fields timestamp, severity, service, message, log_group, log_stream"
    rows = [
        sorted(
            normalized(engine[0].run(engine[0].compile(text.format(s)))),
            key=repr,
        )
        for s in ("stored", "lambda")
    ]
    assert len(rows[0]) == EVENTS and rows[0] == rows[1]
    assert {r[4] for r in rows[0]} == {f"{ACCOUNT}:/aws/lambda/{s}" for s in SERVICES}


@pytest.mark.parametrize(
    "case", PER_SOURCE, ids=[f"q{i:02d}" for i in range(1, len(PER_SOURCE) + 1)]
)
def test_same_answer_from_cloudwatch_and_from_the_stored_table(
    engine: tuple[Session, str, str], case: Case
) -> None:
    stored = run(engine, case, "stored")
    assert stored, "the query should find something in the generated events"
    assert run(engine, case, "lambda") == stored
