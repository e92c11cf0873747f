"""Stored OTel logs read from S3: a real moto server over HTTP on 127.0.0.1, objects uploaded
with boto3, sources configured the way a `starbase.toml` configures them. No mocks.

The same tree is written to a local folder and uploaded under a prefix, and every query must
give the same answer from both.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest
from conftest import free_port

from starbase import compile
from starbase.backends.datafusion.engine import QueryFailed
from starbase.cli import main
from starbase.compiler.timestamps import parse_iso
from starbase.config import Config, config_from_dict
from starbase.storage import write_batch
from starbase.storage.store import S3Location
from starbase.storage.table import open_table

S = 1_000_000_000
MINUTE = 60 * S
T0 = parse_iso("2026-11-20T10:00:00Z")
BUCKET = "team-logs"
PREFIX = "archive/otel-v1"
REGION = "us-east-1"
CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}
MAP = pa.map_(pa.string(), pa.string())
SERVICES = ("checkout", "payments", "search")


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["access_key_id"],
        aws_secret_access_key=CREDENTIALS["secret_access_key"],
    )


def s3_append(endpoint: str, prefix: str, batch: pa.Table) -> None:
    """Append `batch` to the OTel table under s3://BUCKET/prefix: real PUTs through the index."""
    location = S3Location(BUCKET, prefix, endpoint, REGION, **CREDENTIALS)
    open_table(f"s3://{BUCKET}/{prefix}", "otel", s3=location).append(batch)


def s3_source(endpoint: str, location: str) -> dict[str, Any]:
    """A `[sources.otel]` table as a starbase.toml would hold it."""
    return {"format": "otel", "location": location, "endpoint": endpoint, "region": REGION}


def s3_config(endpoint: str, location: str = f"s3://{BUCKET}/{PREFIX}") -> Config:
    return config_from_dict({"sources": {"otel": {**s3_source(endpoint, location), **CREDENTIALS}}})


def local_config(root: Path) -> Config:
    return config_from_dict({"sources": {"otel": {"format": "otel", "location": str(root)}}})


def records(n: int, seed: int, start: int = T0, span: int = 3 * 60 * MINUTE) -> pa.Table:
    """`n` deterministic records over `span` from `start`, at arbitrary nanoseconds."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        service = rng.choice(SERVICES)
        severity = rng.choice([5, 9, 9, 9, 13, 17])
        op = rng.choice(["charge", "lookup", "render"])
        ms = rng.randrange(1, 2_000)
        body = rng.choice([f"{op} took {ms}ms", "upstream timeout", "connection Refused", "ok"])
        attributes = [("duration_ms", str(ms))]
        if rng.random() < 0.5:
            attributes.append(("user", rng.choice(["ann", "bo", "cy", "di"])))
        rows.append((start + rng.randrange(span), service, severity, body, attributes))
    return pa.table(
        {
            "time_unix_nano": pa.array([r[0] for r in rows], pa.int64()),
            "observed_time_unix_nano": pa.array([r[0] + 1_001 for r in rows], pa.int64()),
            "severity_number": pa.array([r[2] for r in rows], pa.int32()),
            "body": [r[3] for r in rows],
            "log_attributes": pa.array([r[4] for r in rows], MAP),
            "resource_attributes": pa.array(
                [[("service.name", r[1]), ("host.name", f"{r[1]}-1")] for r in rows], MAP
            ),
        }
    )


@pytest.fixture(scope="module")
def trees(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Config]:
    """The same data as a local folder and under s3://BUCKET/PREFIX: (local, s3) configs."""
    root = tmp_path_factory.mktemp("s3-tree")
    first, second = records(300, seed=1), records(60, seed=2)
    write_batch(root, first)
    write_batch(root, second)
    s3_client(moto_endpoint).create_bucket(Bucket=BUCKET)
    s3_append(moto_endpoint, PREFIX, first)
    s3_append(moto_endpoint, PREFIX, second)
    return local_config(root), s3_config(moto_endpoint)


QUERIES = [
    "from otel | sort timestamp, message",
    "from otel | stats count() as n, avg(attributes.duration_ms) as mean,"
    " pct(attributes.duration_ms, 95) as p95, count_distinct(attributes.user) as users,"
    " earliest(message), latest(message) by service, bin(timestamp, 20m) as bucket"
    " | sort service, bucket",
    'from otel | where severity >= "warn" and message ~ /timeout|refused/i'
    " | sort timestamp desc | limit 10 | fields timestamp, service, severity, message",
    'from otel | between "2026-11-20T10:00:00Z" and "2026-11-20T11:00:00Z"'
    ' | where service == "checkout" | parse message "* took *ms" as op, ms'
    " | where exists(op) | sort timestamp | fields timestamp, observed_timestamp, op, ms",
    "from otel | sort timestamp desc | dedup service | fields service, timestamp, message",
    "from otel | stats count() as n by service, host | where n > 10 | sort n desc, service",
]


@pytest.mark.parametrize("query", QUERIES)
def test_s3_and_the_local_folder_give_the_same_answer(
    trees: tuple[Config, Config], query: str
) -> None:
    local, s3 = trees
    expected = compile(query, local).run()
    got = compile(query, s3).run()
    assert expected.num_rows > 0
    assert got.schema == expected.schema
    assert got.equals(expected)


def test_s3_counts_match_the_records_written(trees: tuple[Config, Config]) -> None:
    _, s3 = trees
    table = compile("from otel | stats count() as n by service | sort service", s3).run()
    written = Counter[str]()
    for batch in (records(300, seed=1), records(60, seed=2)):
        written.update(
            m["service.name"] for m in map(dict, batch["resource_attributes"].to_pylist())
        )
    assert table.to_pydict() == {
        "service": sorted(written),
        "n": [written[s] for s in sorted(written)],
    }


def test_new_objects_uploaded_after_the_first_run_are_seen(
    moto_endpoint: str, trees: tuple[Config, Config]
) -> None:
    prefix = "fresh/objects"
    config = s3_config(moto_endpoint, f"s3://{BUCKET}/{prefix}")
    count = compile("from otel | stats count() as n", config)
    assert count.run().to_pydict() == {"n": [0]}  # nothing there yet: an empty table
    s3_append(moto_endpoint, prefix, records(20, seed=3, span=30 * MINUTE))
    assert count.run().to_pydict() == {"n": [20]}
    later = records(7, seed=4, start=T0 + 5 * 60 * MINUTE, span=MINUTE)  # a new append folder
    s3_append(moto_endpoint, prefix, later)
    s3_append(moto_endpoint, prefix, records(3, seed=5, span=MINUTE))
    assert count.run().to_pydict() == {"n": [30]}


def test_explain_on_s3_lists_only_the_matching_partition_objects(
    trees: tuple[Config, Config],
) -> None:
    _, s3 = trees
    compiled = compile(
        'from otel | between "2026-11-20T11:00:00Z" and "2026-11-20T12:00:00Z"'
        ' | where service == "search"',
        s3,
    )
    plans = compiled.explain().split("== DataFusion plan ==", 1)[1]
    table = "starbase_internal.otel__v2"  # backends.datafusion.tables.internal_table
    scan = next(line for line in plans.splitlines() if f"TableScan: {table}" in line)
    assert f'{table}.service = Utf8("search")' in scan
    assert f'{table}.day >= Utf8("2026-11-20")' in scan
    assert f'{table}.day <= Utf8("2026-11-20")' in scan
    groups = re.search(r"file_groups=\{(.*?)\]\]\}", plans)
    assert groups is not None, plans
    listed = re.findall(r"[^\[\], ]+\.parquet", groups.group(1))
    assert len(listed) == 2  # one object from each of the two committed batches
    for key in listed:
        assert key.startswith(f"{PREFIX}/otel/logs/v2/day=2026-11-20/by=append-"), key


def test_a_starbase_toml_s3_source_through_the_cli(
    moto_endpoint: str,
    trees: tuple[Config, Config],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    local, _ = trees
    toml = tmp_path / "starbase.toml"
    toml.write_text(
        "[sources.otel]\n"
        'format = "otel"\n'
        f'location = "s3://{BUCKET}/{PREFIX}"\n'
        f'endpoint = "{moto_endpoint}"\n'
        f'region = "{REGION}"\n'
        'access_key_id = "testing"\n'
        'secret_access_key = "testing"\n'
    )
    query = "from otel | sort timestamp desc | limit 5 | fields timestamp, service, message"
    assert main(["query", "--config", str(toml), "--output", "ndjson", query]) == 0
    from_s3 = capsys.readouterr().out
    location = local.sources[0].location
    assert location is not None
    assert main(["query", "--data", location, "--output", "ndjson", query]) == 0
    assert from_s3 == capsys.readouterr().out
    rows = [json.loads(line) for line in from_s3.splitlines()]
    assert len(rows) == 5 and all(re.fullmatch(r"[0-9T:.-]+Z", r["timestamp"]) for r in rows)


# ---------------------------------------------------------------- failures


def test_an_unreachable_endpoint_fails_fast_with_one_line(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # closed: nobody listens there
    started = time.monotonic()
    with pytest.raises(QueryFailed) as caught:
        compile("from otel | stats count()", s3_config(endpoint)).run()
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert endpoint in message and "\n" not in message


def test_an_unreachable_endpoint_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    toml = tmp_path / "starbase.toml"
    toml.write_text(
        f'[sources.otel]\nformat = "otel"\nlocation = "s3://{BUCKET}/x"\nendpoint = "{endpoint}"\n'
    )
    started = time.monotonic()
    code = main(["query", "--config", str(toml), "from otel | stats count()"])
    out, err = capsys.readouterr()
    assert time.monotonic() - started < 10
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("starbase: ") and endpoint in err


def test_a_missing_bucket_is_a_one_line_failure(moto_endpoint: str) -> None:
    with pytest.raises(QueryFailed) as caught:
        compile(
            "from otel | stats count()", s3_config(moto_endpoint, "s3://no-such-bucket/x")
        ).run()
    message = str(caught.value)
    assert "no-such-bucket" in message and "\n" not in message
