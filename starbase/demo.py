"""`make demo`: StarQL end to end on the embedded default, with nothing to set up.

Requires: nothing but the package (no network). Guarantees: writes a realistic synthetic
OpenTelemetry dataset (one day, 200k records, the stored layout) into a temporary data
folder, then for a few typical questions prints the query, its result and, for the first,
every compiler stage, the DataFusion SQL and DataFusion's plans with partition pruning; it
ends with what a user sees for a malformed query. Later the demo grows into the full run
(emitter → router → storage → query).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import starbase
from starbase.compiler.errors import CompileError
from starbase.compiler.timestamps import format_iso
from starbase.config import default_config
from starbase.runtime.output import render
from starbase.storage.synthetic import write_dataset

HOUR = 3_600 * 1_000_000_000
ROWS = 200_000


def examples(end: int) -> list[tuple[str, str]]:
    window = f'between "{format_iso(end - 2 * HOUR)}" and "{format_iso(end - HOUR)}"'
    return [
        (
            "Errors and warnings per service in one hour, in 15-minute buckets",
            f"""from otel
| {window}
| where severity >= "warn"
| stats count() as n, pct(attributes.duration_ms, 95) as p95
    by service, bin(timestamp, 15m) as bucket
| sort n desc
| limit 8""",
        ),
        (
            "Slow gateway requests, parsed out of access lines",
            """from otel
| where service == "gateway" and message ~ /^(GET|POST) /
| parse message "* * * *" as method, path, status, took
| extend ms = tonumber(replace(took, "ms", ""))
| where ms > 900
| stats count() as slow, max(ms) as worst by path
| sort slow desc
| limit 5""",
        ),
        (
            "Which services time out, and on what",
            """from otel
| where "timeout" or message ~ /connection refused/i
| stats count() as n, latest(message) as last_seen by service
| sort n desc""",
        ),
    ]


MALFORMED = 'from otel\n| where severity >= "warn" and\n| stats count() by service'


def main() -> None:
    end = (time.time_ns() // HOUR) * HOUR
    with tempfile.TemporaryDirectory(prefix="starbase-demo-") as folder:
        data = Path(folder)
        started = time.perf_counter()
        write_dataset(data, ROWS, start_ns=end - 24 * HOUR, span_ns=24 * HOUR, seed=42)
        print(
            f"wrote {ROWS:,} synthetic OTel records (last 24 h) to {data} "
            f"in {time.perf_counter() - started:.1f} s"
        )
        config = default_config(data)
        for number, (title, text) in enumerate(examples(end)):
            print(f"\n{'=' * 100}\n# {title}\n{text}\n")
            compiled = starbase.compile(text, config)
            started = time.perf_counter()
            table = compiled.run()
            elapsed = (time.perf_counter() - started) * 1000
            print(render(table, "table") + f"({elapsed:.0f} ms)")
            if number == 0:
                print(f"\n--- how it ran ---\n{compiled.explain()}")
    print(f"\n{'=' * 100}\n# A malformed query gets a positioned diagnostic\n{MALFORMED}\n")
    try:
        starbase.compile(MALFORMED)
    except CompileError as exc:
        print(exc.render())


if __name__ == "__main__":
    main()
