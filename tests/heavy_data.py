"""A table whose aggregation keeps the CPU busy for seconds: for the tests of cancelling.

`write_heavy(root)` appends `ROWS` OTel records (one service, one hour, messages of ~250
characters from a set of 1,000) to the stored table under `root` in ~4 s; `HEAVY_QUERY`
parses each message with a regex of three captures and counts distinct composite keys —
several seconds of DataFusion on this machine (~6 s uncancelled, measured), long enough to
cancel it in the middle, short enough that a test never waits for it to end. `cpu_seconds`
reads a process's CPU time, to see a cancelled query's worker stop.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from starbase.storage.otel_layout import OTEL_RECORDS_SCHEMA
from starbase.storage.table import open_table

ROWS = 600_000
START_NS = 1_795_132_800 * 1_000_000_000  # 2026-11-20T00:00:00Z
HEAVY_QUERY = (
    r"from otel | parse message /(?<a>\w+)\s+(?<b>\w+).*?(?<c>\d+) ms/"
    " | stats count_distinct(concat(message, tostring(timestamp), a, b, c)) as n"
)


def write_heavy(root: Path, rows: int = ROWS) -> Path:
    index = pa.array(range(rows), pa.int64())
    filler = "x" * 200
    messages = pa.array(
        [f"request {i} {filler} took {i % 997} ms for user u-{i % 5003}" for i in range(1000)]
    )
    columns = {
        "time_unix_nano": pc.add(pc.multiply(index, 1_000_000), START_NS),
        "body": pc.take(messages, pc.remainder(index, 1000)),
        "severity_number": pa.array([9] * rows, pa.int32()),
    }
    arrays = [columns.get(f.name, pa.nulls(rows, f.type)) for f in OTEL_RECORDS_SCHEMA]
    names = [*OTEL_RECORDS_SCHEMA.names, "service"]
    open_table(root, "otel").append(pa.Table.from_arrays([*arrays, pa.array(["a"] * rows)], names))
    return root


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process `pid` (Linux /proc), None once it no longer exists."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    if fields[0] == "Z":  # dead, not yet reaped: it uses no CPU either
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
