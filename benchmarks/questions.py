"""The query benchmark's nine questions, each spelled for every engine that answers it.

Requires: a table in the stored OTel layout (`starbase/storage/LAYOUT.md`): file columns
`time_unix_nano`, `service`, `severity_number`, `body`, the attribute maps, binary
`trace_id`, and the `day` partition in the path. Guarantees: per question the same answer is
asked of StarQL, hand-written DataFusion SQL (what an expert writes against the files: the
partition predicate spelled out, the id as bytes), DuckDB and ClickHouse (chDB; one SQL for
its Parquet reader and its MergeTree copy, partitioned by the same `day`; the table name
left as `{t}`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

HOUR = 3_600 * 10**9
DAY = "%Y-%m-%d"


@dataclass(frozen=True)
class Question:
    name: str
    starql: str
    datafusion: str
    duckdb: str
    clickhouse: str  # `{t}`: the table


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns // 10**9, UTC).strftime(DAY)


def questions(end: int, trace_id: str) -> list[Question]:
    """The nine questions over a dataset ending at `end` (ns); `trace_id` is lowercase hex."""
    lo, hi = end - 30 * HOUR, end - 29 * HOUR  # the 1-hour window, 30 hours before the end
    days_lo, days_hi = _day(lo), _day(hi - 1)
    day_lo, day_hi = _day(end - 24 * HOUR), _day(end - 1)
    window = f"time_unix_nano >= {lo} AND time_unix_nano < {hi}"
    last_day = f"time_unix_nano >= {end - 24 * HOUR} AND time_unix_nano < {end}"
    return [
        Question(
            "count by service",
            "from otel | stats count() as n by service",
            "SELECT service, count(*) AS n FROM otel GROUP BY service",
            "SELECT service, count(*) AS n FROM logs GROUP BY service",
            "SELECT service, count() AS n FROM {t} GROUP BY service",
        ),
        Question(
            "severity filter",
            'from otel | where severity >= "error" | stats count() as n by service, severity',
            "SELECT service, severity_number, count(*) AS n FROM otel "
            "WHERE severity_number >= 17 GROUP BY service, severity_number",
            "SELECT service, severity_number, count(*) AS n FROM logs "
            "WHERE severity_number >= 17 GROUP BY service, severity_number",
            "SELECT service, severity_number, count() AS n FROM {t} "
            "WHERE severity_number >= 17 GROUP BY service, severity_number",
        ),
        Question(
            "regex search",
            "from otel | where message ~ /timeout|refused/i | stats count() as n",
            "SELECT count(*) AS n FROM otel WHERE regexp_like(body, '(?i)timeout|refused')",
            "SELECT count(*) AS n FROM logs WHERE regexp_matches(body, '(?i)timeout|refused')",
            "SELECT count() AS n FROM {t} WHERE match(body, '(?i)timeout|refused')",
        ),
        Question(
            "parse + stats",
            'from otel | where service == "gateway"'
            ' | parse message "* * * *" as method, path, status, took'
            " | stats count() as n by status | sort n desc",
            "SELECT regexp_match(body, '^(.*?) (.*?) (.*?) (.*?)$')[3] AS status, count(*) AS n "
            "FROM otel WHERE service = 'gateway' GROUP BY 1 ORDER BY n DESC",
            "SELECT regexp_extract(body, '^(.*?) (.*?) (.*?) (.*?)$', 3) AS status, count(*) AS n "
            "FROM logs WHERE service = 'gateway' GROUP BY 1 ORDER BY n DESC",
            "SELECT regexpExtract(body, '^(.*?) (.*?) (.*?) (.*?)$', 3) AS status, count() AS n "
            "FROM {t} WHERE service = 'gateway' GROUP BY status ORDER BY n DESC",
        ),
        Question(
            "time buckets",
            'from otel | where severity >= "warn" | stats count() as n by bin(timestamp, 1h) as h'
            " | sort h",
            "SELECT date_bin(INTERVAL '1 hour', to_timestamp_nanos(time_unix_nano), "
            "to_timestamp_nanos(0)) AS h, count(*) AS n FROM otel WHERE severity_number >= 13 "
            "GROUP BY 1 ORDER BY h",
            "SELECT time_bucket(INTERVAL 1 HOUR, make_timestamp(time_unix_nano // 1000)) AS h, "
            "count(*) AS n FROM logs WHERE severity_number >= 13 GROUP BY 1 ORDER BY h",
            "SELECT toStartOfHour(fromUnixTimestamp64Nano(time_unix_nano)) AS h, count() AS n "
            "FROM {t} WHERE severity_number >= 13 GROUP BY h ORDER BY h",
        ),
        Question(
            "top-N",
            "from otel | stats avg(attributes.duration_ms) as avg_ms by service, host"
            " | sort avg_ms desc | limit 5",
            "SELECT service, resource_attributes['host.name'] AS host, "
            "avg(try_cast(log_attributes['duration_ms'] AS DOUBLE)) AS avg_ms FROM otel "
            "GROUP BY 1, 2 ORDER BY avg_ms DESC NULLS LAST LIMIT 5",
            "SELECT service, resource_attributes['host.name'] AS host, "
            "avg(try_cast(log_attributes['duration_ms'] AS DOUBLE)) AS avg_ms FROM logs "
            "GROUP BY 1, 2 ORDER BY avg_ms DESC NULLS LAST LIMIT 5",
            "SELECT service, resource_attributes['host.name'] AS host, "
            "avg(toFloat64OrNull(log_attributes['duration_ms'])) AS avg_ms FROM {t} "
            "GROUP BY service, host ORDER BY avg_ms DESC NULLS LAST LIMIT 5",
        ),
        Question(
            "trace lookup",
            f'from otel | where trace_id == "{trace_id}" | fields timestamp, service, message'
            " | sort timestamp",
            "SELECT to_timestamp_nanos(time_unix_nano) AS timestamp, service, body AS message "
            f"FROM otel WHERE trace_id = X'{trace_id}' ORDER BY timestamp",
            "SELECT time_unix_nano AS timestamp, service, body AS message FROM logs "
            f"WHERE trace_id = unhex('{trace_id}') ORDER BY timestamp",
            "SELECT fromUnixTimestamp64Nano(time_unix_nano) AS timestamp, service, "
            f"body AS message FROM {{t}} WHERE trace_id = unhex('{trace_id}') ORDER BY timestamp",
        ),
        Question(
            "1-hour window",
            f'from otel | between "{_iso(lo)}" and "{_iso(hi)}" | stats count() as n, '
            "pct(attributes.duration_ms, 95) as p95 by service",
            "SELECT service, count(*) AS n, percentile_cont(0.95) WITHIN GROUP "
            "(ORDER BY try_cast(log_attributes['duration_ms'] AS DOUBLE)) AS p95 FROM otel "
            f"WHERE {window} AND day >= '{days_lo}' AND day <= '{days_hi}' GROUP BY service",
            "SELECT service, count(*) AS n, quantile_cont(try_cast(log_attributes['duration_ms'] "
            f"AS DOUBLE), 0.95) AS p95 FROM logs WHERE {window} AND day >= '{days_lo}' "
            f"AND day <= '{days_hi}' GROUP BY service",
            "SELECT service, count() AS n, "
            "quantileExactInclusive(0.95)(toFloat64OrNull(log_attributes['duration_ms'])) AS p95 "
            f"FROM {{t}} WHERE {window} AND day >= '{days_lo}' AND day <= '{days_hi}' "
            "GROUP BY service",
        ),
        Question(
            "errors last day",
            f'from otel | between "{_iso(end - 24 * HOUR)}" and "{_iso(end)}"'
            ' | where severity >= "error" | stats count() as n by service | sort n desc',
            f"SELECT service, count(*) AS n FROM otel WHERE {last_day} AND severity_number >= 17 "
            f"AND day >= '{day_lo}' AND day <= '{day_hi}' GROUP BY service ORDER BY n DESC",
            f"SELECT service, count(*) AS n FROM logs WHERE {last_day} AND severity_number >= 17 "
            f"AND day >= '{day_lo}' AND day <= '{day_hi}' GROUP BY service ORDER BY n DESC",
            f"SELECT service, count() AS n FROM {{t}} WHERE {last_day} AND severity_number >= 17 "
            f"AND day >= '{day_lo}' AND day <= '{day_hi}' GROUP BY service ORDER BY n DESC",
        ),
    ]
