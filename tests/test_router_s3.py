"""An S3 outage: the router writes its tables to a moto S3 server on 127.0.0.1, the server is
stopped mid-stream and started again, and no acknowledged record is lost or duplicated.

moto keeps its state in this process, so the same `ThreadedMotoServer` is stopped and started
on the same port: the bucket and the objects written before the outage survive it, as they
would on S3. During the outage the router keeps acknowledging into its WAL until its buffer
limit, then answers 503 with Retry-After and reports not-ready; afterwards it drains.
"""

from __future__ import annotations

import io
import logging
import time
from collections import Counter
from pathlib import Path

import boto3
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
from moto.server import ThreadedMotoServer
from test_router_crash import Sender
from test_router_harness import Router, free_port, wait_for

from starbase.storage.store import S3Location
from starbase.storage.table import open_table

BUCKET, PREFIX = "router-outage", "ingest/v1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def s3_bodies(endpoint: str, format_name: str, column: str) -> Counter[str]:
    location = S3Location(BUCKET, PREFIX, endpoint, "us-east-1", "testing", "testing")
    table = open_table(f"s3://{BUCKET}/{PREFIX}", format_name, s3=location)
    found: Counter[str] = Counter()
    for entry in table.files():
        data = table.store.get(entry.path)
        assert data is not None, entry.path
        found.update(pq.read_table(io.BytesIO(data)).column(column).to_pylist())
    return found


def test_store_outage_loses_nothing(tmp_path: Path) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    ).create_bucket(Bucket=BUCKET)  # fmt: skip
    router = Router(
        tmp_path / "data", "--s3", f"s3://{BUCKET}/{PREFIX}", "--s3-endpoint", endpoint,
        "--max-buffer", "512KiB", env=CREDENTIALS,
    ).start()  # fmt: skip
    senders = [Sender(router.port, f"c{n}", raw=n == 1) for n in range(2)]
    try:
        for sender in senders:
            sender.start()
        wait_for(lambda: router.metric("records_committed_total") > 200, what="first commits")
        moto.stop()
        acked_before = sum(len(s.acked) for s in senders)
        wait_for(lambda: router.metric("store_up") == 0, what="the outage to be noticed")
        wait_for(lambda: router.get("/readyz")[0] == 503, what="not ready")
        wait_for(lambda: router.metric("requests_total", status="503") > 0, what="503s")
        acked_during = sum(len(s.acked) for s in senders) - acked_before
        moto.start()
        wait_for(lambda: router.get("/readyz")[0] == 200, timeout=30, what="ready again")
        time.sleep(0.5)
    finally:
        for sender in senders:
            sender.stop.set()
        for sender in senders:
            sender.join(timeout=15)
    try:
        assert router.stop() == 0, router.output()
        assert acked_during > 0, "the WAL should absorb the start of an outage"
        stored = s3_bodies(endpoint, "otel", "body") + s3_bodies(endpoint, "raw", "line")
        acked = [i for s in senders for i in s.acked]
        sent = {i for s in senders for i in s.sent}
        assert len(acked) > 500
        missing = [i for i in acked if stored[i] == 0]
        assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:5]}"
        assert not [i for i, n in stored.items() if n > 1], "records stored twice"
        assert set(stored) <= sent
    finally:
        moto.stop()
