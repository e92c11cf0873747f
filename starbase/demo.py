"""`make demo`: compile and explain a few typical StarQL queries.

Requires: nothing but the package (no data, no network). Guarantees: prints, for each example,
the query, every compiler stage's output and the final backend-neutral plan, then shows what a
user sees for a malformed query. Later the demo grows into the end-to-end run (router →
storage → query).
"""

from __future__ import annotations

from starbase.compiler.driver import compile
from starbase.compiler.errors import CompileError
from starbase.config import config_from_dict

EXAMPLES = (
    (
        "Errors and warnings per service in the last hour, in 5-minute buckets",
        """from otel
| since 1h
| where severity >= "warn" and message ~ /timeout|refused/i
| stats count() as n, pct(attributes.duration_ms, 95) as p95
    by service, bin(timestamp, 5m) as bucket
| sort n desc
| limit 20""",
    ),
    (
        "Slow checkout requests, parsed out of access lines",
        """from otel
| where service == "checkout" and "GET"
| parse message "* * * *" as method, path, status, took
| extend ms = tonumber(took)
| where ms > 250
| fields timestamp, path, status, ms""",
    ),
    (
        "One query over stored OpenTelemetry logs and CloudWatch Lambda logs",
        """from otel, lambda
| between "2026-11-27T00:00:00Z" and "2026-11-27T06:00:00Z"
| where severity >= "error"
| stats count() as errors by source, service""",
    ),
)
MALFORMED = 'from otel\n| where severity >= "warn" and\n| stats count() by service'


def main() -> None:
    config = config_from_dict(
        {
            "sources": {
                "otel": {"format": "otel", "location": "./data"},
                "lambda": {
                    "format": "cloudwatch",
                    "log_groups": ["/aws/lambda/checkout", "/aws/lambda/payments"],
                    "region": "us-east-1",
                },
            }
        }
    )
    for title, text in EXAMPLES:
        print(f"\n{'=' * 100}\n# {title}\n{text}\n")
        print(compile(text, config).explain())
    print(f"\n{'=' * 100}\n# A malformed query gets a positioned diagnostic\n{MALFORMED}\n")
    try:
        compile(MALFORMED, config)
    except CompileError as exc:
        print(exc.render())


if __name__ == "__main__":
    main()
