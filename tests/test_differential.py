"""Differential tests: StarQL through Starbase (DataFusion) against independent answers.

1. `CASES`: StarQL queries over the shared `otel_data` fixture, each paired with hand-written
   DuckDB SQL asking the same question directly of the same Parquet files (the view `logs` is
   `read_parquet('<dir>/otel/logs/**/*.parquet', hive_partitioning=true)`, physical columns:
   `body` is `message`, `severity_number` is `severity`, `resource_attributes['host.name']`
   is `host`, `time_unix_nano` is `timestamp` as epoch ns…). Both results are normalized the
   same way — timestamps as int64 nanoseconds, maps as dicts, decimals as numbers — and
   compared in order when the query sorts (only on the sort key when ties can exist),
   as multisets otherwise; floats with a relative tolerance of 1e-9. DuckDB output columns
   are aliased to the names contract §5 gives Starbase's, so names are checked too.
2. `test_generated_where_matches_python`: hypothesis builds where-clauses (and/or/not over
   comparisons of severity, service, host, message, numeric attributes, trace_id and
   timestamp), and the set of rows Starbase keeps must be exactly the set a small Python
   evaluator with SQL three-valued logic keeps over the same rows read with pyarrow.

A failing comparison prints both results around the first differing row.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from starbase.compiler.timestamps import parse_iso
from starbase.config import Config, default_config
from starbase.runtime.session import Session
from starbase.storage import otel_layout
from starbase.storage.ids import to_hex

REL_TOL = 1e-9


# ---------------------------------------------------------------- shared engines


@dataclass(repr=False)
class Backends:
    """One Starbase config + DataFusion engine and one DuckDB connection for the module."""

    root: Path
    config: Config
    session: Session
    duck: duckdb.DuckDBPyConnection

    def __repr__(self) -> str:
        return f"Backends({self.root})"

    def starql(self, text: str, now_ns: int | None = None, **params: object) -> pa.Table:
        return self.session.run(self.session.compile(text), params, now_ns=now_ns)

    def duckdb(self, sql: str, params: dict[str, object] | None = None) -> pa.Table:
        return self.duck.sql(sql, params=params or None).to_arrow_table()


@pytest.fixture(scope="module")
def backends(otel_data: Path) -> Iterator[Backends]:
    config = default_config(otel_data)
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    glob = str(otel_data / otel_layout.TABLE_DIR / "**" / "*.parquet").replace("'", "''")
    duck.execute(  # ids are stored as bytes: lowercase hex, as StarQL shows them
        f"""CREATE VIEW logs AS SELECT * REPLACE (lower(hex(trace_id)) AS trace_id,
            lower(hex(span_id)) AS span_id) FROM read_parquet('{glob}', hive_partitioning = true,
            hive_types = {{'day': VARCHAR, 'by': VARCHAR}})"""
    )
    yield Backends(otel_data, config, Session(config), duck)
    duck.close()


# ---------------------------------------------------------------- normalization, comparison


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def normalize(table: pa.Table) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows: timestamps as int64 ns, maps as dicts, decimals as numbers."""
    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_timestamp(kind):
            column = column.cast(pa.timestamp("ns", tz=kind.tz)).cast(pa.int64())
        elif pa.types.is_duration(kind):
            column = column.cast(pa.duration("ns")).cast(pa.int64())
        values = column.to_pylist()
        if pa.types.is_map(kind):
            values = [None if v is None else dict(v) for v in values]
        columns.append([_plain(v) for v in values])
    return table.column_names, list(zip(*columns, strict=True)) if columns else []


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    def one(v: Any) -> tuple[Any, ...]:
        if v is None:
            return (0,)
        if isinstance(v, bool):
            return (1, int(v))
        if isinstance(v, int | float):
            return (1, float(f"{v:.10g}") if isinstance(v, float) and math.isfinite(v) else v)
        if isinstance(v, dict):
            return (3, sorted(v.items()))
        return (2, str(v))

    return tuple(one(v) for v in row)


def _same_value(a: Any, b: Any, rel_tol: float = REL_TOL) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) or isinstance(b, float):
        if not (isinstance(a, int | float) and isinstance(b, int | float)):
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-12)
    return type(a) is type(b) and bool(a == b)


def _same_row(a: tuple[Any, ...], b: tuple[Any, ...], rel_tol: float = REL_TOL) -> bool:
    return len(a) == len(b) and all(_same_value(x, y, rel_tol) for x, y in zip(a, b, strict=True))


def _excerpt(rows: list[tuple[Any, ...]], at: int) -> str:
    lo = max(0, at - 2)
    return "\n".join(f"  [{i}] {rows[i]!r}" for i in range(lo, min(len(rows), at + 3))) or "  —"


def assert_same_rows(
    got: pa.Table,
    want: pa.Table,
    *,
    ordered: bool,
    compare: tuple[str, ...] | None = None,
    rel_tol: float = REL_TOL,
) -> None:
    """`got` (Starbase) equals `want` (reference); on failure, show both around the first
    differing row. `compare` restricts an ordered comparison to these columns (ties)."""
    got_names, got_rows = normalize(got)
    want_names, want_rows = normalize(want)
    assert got_names == want_names, (
        f"columns differ:\n starbase {got_names}\n expected {want_names}"
    )
    if compare is not None:
        picks = [got_names.index(c) for c in compare]
        got_rows = [tuple(r[i] for i in picks) for r in got_rows]
        want_rows = [tuple(r[i] for i in picks) for r in want_rows]
    if not ordered:
        got_rows, want_rows = sorted(got_rows, key=_sort_key), sorted(want_rows, key=_sort_key)
    for i in range(max(len(got_rows), len(want_rows))):
        if (
            i >= len(got_rows)
            or i >= len(want_rows)
            or not _same_row(got_rows[i], want_rows[i], rel_tol)
        ):
            pytest.fail(
                f"results differ at row {i} ({'ordered' if ordered else 'as multisets'}; "
                f"starbase {len(got_rows)} rows, expected {len(want_rows)}), columns "
                f"{list(compare or got_names)}:\n"
                f"starbase:\n{_excerpt(got_rows, i)}\nexpected:\n{_excerpt(want_rows, i)}",
                pytrace=False,
            )


# ---------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Case:
    id: str
    starql: str
    sql: str  # DuckDB over the view `logs`; output aliased to Starbase's column names
    ordered: bool = False  # the query sorts: compare in order
    compare: tuple[str, ...] | None = None  # ordered comparison on these columns only (ties)
    # $name → value, bound on both sides (FROM_DATA: the value `data_params` picks)
    params: dict[str, object] = field(default_factory=dict)
    now: str | None = None  # run Starbase as if now() were this instant (since, now())
    rel_tol: float = REL_TOL  # float tolerance (pct: docs/reference.md gives its error bound)
    xfail: str | None = None


FROM_DATA = object()


HOST = "resource_attributes['host.name']"
STATUS = "TRY_CAST(log_attributes['http.status_code'] AS DOUBLE)"
DURATION = "TRY_CAST(log_attributes['duration_ms'] AS DOUBLE)"


def ns(iso: str) -> str:
    """DuckDB text for the epoch ns of an ISO instant (DuckDB parses it, not Starbase)."""
    return f"epoch_ns(TIMESTAMPTZ '{iso}')"


GLOB_ACCESS = "^(.*?) (.*?) (.*?) (.*?)ms$"  # the glob "* * * *ms", written by hand
GLOB_TIMEOUT = "^timeout after (.*?)ms waiting for (.*?)$"
GLOB_FRAUD = r"^fraud score (.*?) for order (.*?) \(threshold 80\)$"
ORDER_PLACED = r"order (o-\d+) placed by (u-\d+): (\d+) items"


def captures(pattern: str, names: list[str], where: str = "") -> str:
    """DuckDB rows of `logs` with `m`: a struct of named captures, null when no match."""
    listed = ", ".join(f"'{n}'" for n in names)
    return (
        f"(SELECT *, CASE WHEN regexp_matches(body, '(?s){pattern}') THEN "
        f"regexp_extract(body, '(?s){pattern}', [{listed}]) END AS m FROM logs {where})"
    )


CASES: tuple[Case, ...] = (
    # ---- filters: severity level names (docs/reference.md ranges) and numbers
    Case(
        "severity_ge_warn",
        'from otel | where severity >= "warn" | fields timestamp, severity, message',
        """SELECT time_unix_nano AS "timestamp", severity_number AS severity, body AS message
           FROM logs WHERE severity_number >= 13""",
    ),
    Case(
        "severity_eq_name_any_case",
        'from otel | where severity == "ERROR" | fields timestamp, service',
        """SELECT time_unix_nano AS "timestamp", service FROM logs
           WHERE severity_number BETWEEN 17 AND 20""",
    ),
    Case(
        "severity_gt_or_lt_name",
        'from otel | where severity > "warn" or severity < "Info" | fields timestamp, severity',
        """SELECT time_unix_nano AS "timestamp", severity_number AS severity FROM logs
           WHERE severity_number >= 17 OR severity_number <= 8""",
    ),
    Case(
        "severity_in_names",
        'from otel | where severity in ("error", "fatal") | stats count() as n by service',
        """SELECT service, count(*) AS n FROM logs
           WHERE severity_number BETWEEN 17 AND 24 GROUP BY service""",
    ),
    Case(
        "severity_not_in_names",
        'from otel | where severity not in ("info", "debug") | stats count() as n by severity',
        """SELECT severity_number AS severity, count(*) AS n FROM logs
           WHERE NOT (severity_number BETWEEN 5 AND 12) GROUP BY severity_number""",
    ),
    Case(
        "severity_ne_name_and_quoted_number",
        'from otel | where severity != "info" and severity != "17" '
        "| stats count() as n by severity",
        """SELECT severity_number AS severity, count(*) AS n FROM logs
           WHERE (severity_number < 9 OR severity_number > 12) AND severity_number <> 17
           GROUP BY severity_number""",
    ),
    Case(
        "severity_numbers",
        'from otel | where severity >= 9 and severity <= 13 and service != "gateway" '
        "| stats count() as n by service, severity",
        """SELECT service, severity_number AS severity, count(*) AS n FROM logs
           WHERE severity_number BETWEEN 9 AND 13 AND service <> 'gateway'
           GROUP BY ALL""",
    ),
    # ---- regexes, string tests, bare search
    Case(
        "regex_ignore_case",
        "from otel | where message ~ /TIMEOUT|Refused/i | fields timestamp, message",
        """SELECT time_unix_nano AS "timestamp", body AS message FROM logs
           WHERE regexp_matches(body, 'TIMEOUT|Refused', 'i')""",
    ),
    Case(
        "regex_negated_anchored",
        'from otel | where message !~ /^(GET|POST) / and service == "inventory" '
        "| fields timestamp, message",
        """SELECT time_unix_nano AS "timestamp", body AS message FROM logs
           WHERE NOT regexp_matches(body, '^(GET|POST) ') AND service = 'inventory'""",
    ),
    Case(
        "regex_as_string",
        'from otel | where message ~ "time(out|d out) after [0-9]+ms" | stats count() by service',
        """SELECT service, count(*) AS "count()" FROM logs
           WHERE regexp_matches(body, 'time(out|d out) after [0-9]+ms') GROUP BY service""",
    ),
    Case(
        "regex_flags_multiline_dotall",
        r'from otel | extend two = concat(service, "\n", message) '
        "| where two ~ /^GET /m and two ~ /gateway.GET/s and not (two ~ /gateway.GET/) "
        "| fields timestamp, two",
        """SELECT time_unix_nano AS "timestamp", concat(service, chr(10), body) AS two
           FROM logs WHERE regexp_matches(two, '(?m)^GET ')
           AND regexp_matches(two, '(?s)gateway.GET')
           AND NOT regexp_matches(two, 'gateway.GET')""",
    ),
    Case(
        "contains_startswith_endswith",
        'from otel | where message contains "refused" or message startswith "charge" '
        'or message endswith "USD" | fields timestamp, message',
        """SELECT time_unix_nano AS "timestamp", body AS message FROM logs
           WHERE contains(body, 'refused') OR starts_with(body, 'charge')
           OR ends_with(body, 'USD')""",
    ),
    Case(
        "bare_search_and_not_regex",
        'from otel | where "order" and not /charge|placed/ | stats count() as n by service',
        """SELECT service, count(*) AS n FROM logs
           WHERE contains(body, 'order') AND NOT regexp_matches(body, 'charge|placed')
           GROUP BY service""",
    ),
    Case(
        "service_in_host_not_in",
        'from otel | where service in ("checkout", "payments") and host not in '
        '("checkout-5f8c7b9d4-q7w2e", "payments-6c9f7d8b5-a1s2d") '
        "| stats count() as n by service, host",
        f"""SELECT service, {HOST} AS host, count(*) AS n FROM logs
           WHERE service IN ('checkout', 'payments') AND {HOST} NOT IN
           ('checkout-5f8c7b9d4-q7w2e', 'payments-6c9f7d8b5-a1s2d') GROUP BY ALL""",
    ),
    # ---- numbers in string attributes (cast; null when not numeric), nulls, exists()
    Case(
        "status_numeric_ge",
        "from otel | where attributes.http.status_code >= 500 "
        "| stats count() as n by service, attributes.http.status_code",
        f"""SELECT service, log_attributes['http.status_code'] AS "attributes.http.status_code",
           count(*) AS n FROM logs WHERE {STATUS} >= 500 GROUP BY ALL""",
    ),
    Case(
        "duration_numeric_range",
        "from otel | where attributes.duration_ms > 100 and attributes.duration_ms <= 1500.5 "
        "| fields timestamp, attributes.duration_ms",
        f"""SELECT time_unix_nano AS "timestamp",
           log_attributes['duration_ms'] AS "attributes.duration_ms"
           FROM logs WHERE {DURATION} > 100 AND {DURATION} <= 1500.5""",
    ),
    Case(
        "numeric_ne_drops_non_numeric",
        "from otel | where attributes.duration_ms != 3000 | stats count() as n",
        f"SELECT count(*) AS n FROM logs WHERE {DURATION} <> 3000",
    ),
    Case(
        "status_in_numbers",
        "from otel | where attributes.http.status_code in (404, 409, 429) "
        "| stats count() as n by service",
        f"SELECT service, count(*) AS n FROM logs WHERE {STATUS} IN (404, 409, 429) GROUP BY 1",
    ),
    Case(
        "status_string_equality",
        'from otel | where attributes.http.status_code == "404" | stats count() as n by service',
        """SELECT service, count(*) AS n FROM logs
           WHERE log_attributes['http.status_code'] = '404' GROUP BY service""",
    ),
    Case(
        "not_exists_trace",
        "from otel | where not exists(trace_id) "
        "| stats count() as n, count(span_id) as spans by service",
        """SELECT service, count(*) AS n, count(span_id) AS spans FROM logs
           WHERE trace_id IS NULL GROUP BY service""",
    ),
    Case(
        "exists_attributes",
        "from otel | where exists(attributes.duration_ms) and not exists(attributes.user.id) "
        "| stats count() as n by service",
        """SELECT service, count(*) AS n FROM logs
           WHERE log_attributes['duration_ms'] IS NOT NULL
           AND log_attributes['user.id'] IS NULL GROUP BY service""",
    ),
    Case(
        "null_never_compares",
        'from otel | where severity_text != "INFO" or not (severity_text == "DEBUG") '
        "| stats count() as n by severity_text",
        """SELECT severity_text, count(*) AS n FROM logs
           WHERE severity_text <> 'INFO' OR NOT (severity_text = 'DEBUG')
           GROUP BY severity_text""",
    ),
    Case(
        "null_in_lists_and_equality",
        'from otel | stats count() as n, count(if(severity_text in ("INFO", null), 1, null)) '
        'as in_info, count(if(severity_text not in ("INFO", null), 1, null)) as not_in, '
        "count(if(severity_text == null, 1, null)) as eq_null, "
        "count(if(not exists(severity_text), 1, null)) as missing by service",
        """SELECT service, count(*) AS n,
           count(CASE WHEN severity_text IN ('INFO', NULL) THEN 1 END) AS in_info,
           count(CASE WHEN severity_text NOT IN ('INFO', NULL) THEN 1 END) AS not_in,
           count(CASE WHEN severity_text = NULL THEN 1 END) AS eq_null,
           count(CASE WHEN severity_text IS NULL THEN 1 END) AS missing
           FROM logs GROUP BY service""",
    ),
    Case(
        "source_and_absent_fields",
        "from otel | where not exists(log_group) and exists(message) "
        "| stats count() as n by source, log_stream",
        """SELECT 'otel' AS source, CAST(NULL AS VARCHAR) AS log_stream, count(*) AS n
           FROM logs WHERE body IS NOT NULL""",
    ),
    # ---- time ranges
    Case(
        "between_iso_with_offset",
        'from otel | between "2026-11-20T03:00:00Z" and "2026-11-20T04:30:00.5+01:00" '
        "| fields timestamp, service",
        f"""SELECT time_unix_nano AS "timestamp", service FROM logs
           WHERE time_unix_nano >= {ns("2026-11-20 03:00:00+00")}
           AND time_unix_nano < {ns("2026-11-20 04:30:00.5+01:00")}""",
    ),
    Case(
        "between_date_only",
        'from otel | between "2026-11-21" and "2026-11-21T00:30" | stats count() as n by service',
        f"""SELECT service, count(*) AS n FROM logs
           WHERE time_unix_nano >= {ns("2026-11-21 00:00:00+00")}
           AND time_unix_nano < {ns("2026-11-21 00:30:00+00")} GROUP BY service""",
    ),
    Case(
        "one_hour_window",
        'from otel | where timestamp >= "2026-11-21T13:00:00Z" '
        'and timestamp < "2026-11-21T14:00:00Z" '
        "| stats count() as n, count_distinct(host) as hosts by service",
        f"""SELECT service, count(*) AS n, count(DISTINCT {HOST}) AS hosts FROM logs
           WHERE time_unix_nano >= {ns("2026-11-21 13:00:00+00")}
           AND time_unix_nano < {ns("2026-11-21 14:00:00+00")} GROUP BY service""",
    ),
    Case(
        "timestamp_nanoseconds_exact",
        'from otel | where timestamp > "2026-11-20T12:00:00.123456789Z" '
        'and timestamp <= "2026-11-20T12:30:00.000000001Z" | fields timestamp',
        """SELECT time_unix_nano AS "timestamp" FROM logs
           WHERE time_unix_nano > epoch_ns(TIMESTAMP_NS '2026-11-20 12:00:00.123456789')
           AND time_unix_nano <= epoch_ns(TIMESTAMP_NS '2026-11-20 12:30:00.000000001')""",
    ),
    # ---- counts and aggregates
    Case("from_star", "from * | stats count() as n", "SELECT count(*) AS n FROM logs"),
    Case(
        "count_by_service",
        "from otel | stats count() by service",
        'SELECT service, count(*) AS "count()" FROM logs GROUP BY service',
    ),
    Case(
        "count_by_host_severity",
        "from otel | stats count() as n by host, severity",
        f"""SELECT {HOST} AS host, severity_number AS severity, count(*) AS n FROM logs
           GROUP BY ALL""",
    ),
    Case(
        "count_non_null",
        "from otel | stats count() as rows, count(trace_id) as traced, "
        "count(attributes.duration_ms) as timed by service",
        """SELECT service, count(*) AS rows, count(trace_id) AS traced,
           count(log_attributes['duration_ms']) AS timed FROM logs GROUP BY service""",
    ),
    Case(
        "avg_sum_min_max",
        "from otel | stats avg(attributes.duration_ms), sum(attributes.duration_ms), "
        "min(attributes.duration_ms), max(attributes.duration_ms) by service",
        f"""SELECT service, avg({DURATION}) AS "avg(attributes.duration_ms)",
           sum({DURATION}) AS "sum(attributes.duration_ms)",
           min({DURATION}) AS "min(attributes.duration_ms)",
           max({DURATION}) AS "max(attributes.duration_ms)" FROM logs GROUP BY service""",
    ),
    Case(
        "percentiles_exact_quartiles",
        "from otel | stats pct(attributes.duration_ms, 25) as p25, "
        "pct(attributes.duration_ms, 50) as p50, pct(attributes.duration_ms, 75) by service",
        f"""SELECT service, quantile_cont({DURATION}, 0.25) AS p25,
           quantile_cont({DURATION}, 0.5) AS p50,
           quantile_cont({DURATION}, 0.75) AS "pct(attributes.duration_ms, 75)"
           FROM logs GROUP BY service""",
    ),
    Case(
        "percentiles_exact_any_p",
        "from otel | stats pct(attributes.duration_ms, 95) as p95, "
        "pct(attributes.duration_ms, 99.9) as p999 by service",
        f"""SELECT service, quantile_cont({DURATION}, 0.95) AS p95,
           quantile_cont({DURATION}, 0.999) AS p999 FROM logs GROUP BY service""",
        # DataFusion 55 rounds percentile_cont's interpolation weight to 6 decimals: the
        # reference bounds the error by 1e-6 x the gap between neighbouring values
        rel_tol=1e-6,
    ),
    Case(
        "stddev_sample",
        "from otel | stats stddev(attributes.duration_ms) as sd, stddev(severity) as sd_sev "
        "by host",
        f"""SELECT {HOST} AS host, stddev_samp({DURATION}) AS sd,
           stddev_samp(severity_number) AS sd_sev FROM logs GROUP BY 1""",
    ),
    Case(
        "count_distinct",
        "from otel | stats count_distinct(host) as hosts, count_distinct(trace_id) as traces, "
        "count_distinct(attributes.user.id) as users by service",
        f"""SELECT service, count(DISTINCT {HOST}) AS hosts, count(DISTINCT trace_id) AS traces,
           count(DISTINCT log_attributes['user.id']) AS users FROM logs GROUP BY service""",
    ),
    Case(
        "earliest_latest_skip_nulls",
        "from otel | stats earliest(message) as first, latest(message) as last, "
        "earliest(attributes.http.status_code) as first_status, "
        "latest(attributes.duration_ms) as last_duration, latest(trace_id) as last_trace "
        "by service",
        """SELECT service,
           arg_min(body, time_unix_nano) FILTER (WHERE body IS NOT NULL) AS first,
           arg_max(body, time_unix_nano) FILTER (WHERE body IS NOT NULL) AS last,
           arg_min(log_attributes['http.status_code'], time_unix_nano)
             FILTER (WHERE log_attributes['http.status_code'] IS NOT NULL) AS first_status,
           arg_max(log_attributes['duration_ms'], time_unix_nano)
             FILTER (WHERE log_attributes['duration_ms'] IS NOT NULL) AS last_duration,
           arg_max(trace_id, time_unix_nano) FILTER (WHERE trace_id IS NOT NULL) AS last_trace
           FROM logs GROUP BY service""",
    ),
    Case(
        "aggregate_arithmetic",
        "from otel | stats round(sum(attributes.duration_ms) / count(), 3) as mean, "
        "count() - count(attributes.duration_ms) as untimed by service",
        f"""SELECT service, round(sum({DURATION}) / count(*), 3) AS mean,
           count(*) - count(log_attributes['duration_ms']) AS untimed
           FROM logs GROUP BY service""",
    ),
    # ---- bin(): epoch-aligned buckets, compared as epoch ns
    Case(
        "bin_5m",
        'from otel | where service == "payments" | stats count() as n by bin(timestamp, 5m) '
        "as bucket",
        """SELECT time_unix_nano // 300000000000 * 300000000000 AS bucket, count(*) AS n
           FROM logs WHERE service = 'payments' GROUP BY 1""",
    ),
    Case(
        "bin_7m_not_dividing_a_day",
        'from otel | where severity >= "error" | stats count() as n '
        "by service, bin(timestamp, 7m) as b",
        """SELECT service, time_unix_nano // 420000000000 * 420000000000 AS b, count(*) AS n
           FROM logs WHERE severity_number >= 17 GROUP BY ALL""",
    ),
    Case(
        "bin_1h_avg_max",
        "from otel | stats avg(attributes.duration_ms) as avg_ms, "
        "max(attributes.duration_ms) as max_ms by bin(timestamp, 1h) as hour",
        f"""SELECT time_unix_nano // 3600000000000 * 3600000000000 AS hour,
           avg({DURATION}) AS avg_ms, max({DURATION}) AS max_ms FROM logs GROUP BY 1""",
    ),
    Case(
        "bin_then_where_on_bucket",
        "from otel | stats count() as n by bin(timestamp, 1h) as h "
        '| where h >= "2026-11-21T00:00:00Z" | sort h | limit 5',
        f"""SELECT time_unix_nano // 3600000000000 * 3600000000000 AS h, count(*) AS n
           FROM logs GROUP BY 1 HAVING h >= {ns("2026-11-21 00:00:00+00")}
           ORDER BY h LIMIT 5""",
        ordered=True,
    ),
    # ---- parse (glob and regex) and stats on the captures
    Case(
        "parse_glob_stats",
        'from otel | where service == "gateway" | parse message "* * * *ms" '
        "as method, path, status, took | stats count() as n, avg(tonumber(took)) as avg_took, "
        "max(tonumber(took)) as max_took by method, status",
        f"""SELECT m.method AS method, m.status AS status, count(*) AS n,
           avg(TRY_CAST(m.took AS DOUBLE)) AS avg_took,
           max(TRY_CAST(m.took AS DOUBLE)) AS max_took
           FROM {
            captures(GLOB_ACCESS, ["method", "path", "status", "took"], "WHERE service = 'gateway'")
        } GROUP BY ALL""",
    ),
    Case(
        "parse_glob_filter_sum",
        'from otel | parse message "timeout after *ms waiting for *" as ms, db '
        "| where exists(db) | stats count() as n, sum(tonumber(ms)) as total by db",
        f"""SELECT m.db AS db, count(*) AS n, sum(TRY_CAST(m.ms AS DOUBLE)) AS total
           FROM {captures(GLOB_TIMEOUT, ["ms", "db"])} WHERE m.db IS NOT NULL GROUP BY 1""",
    ),
    Case(
        "parse_regex_top_users",
        r"from otel | parse message /order (?<order>o-\d+) placed by (?<user>u-\d+): "
        r"(?<items>\d+) items/ | where exists(order) "
        "| stats count() as n, sum(tonumber(items)) as items by user "
        "| sort n desc, items desc, user | limit 10",
        f"""SELECT m.user AS user, count(*) AS n, sum(TRY_CAST(m.items AS DOUBLE)) AS items
           FROM {captures(ORDER_PLACED, ["order", "user", "items"])}
           WHERE m."order" IS NOT NULL GROUP BY 1 ORDER BY n DESC, items DESC, user LIMIT 10""",
        ordered=True,
    ),
    Case(
        "parse_regex_after_unnamed_group",
        r"from otel | parse message /^(GET|POST) (?<path>\S+) (?<status>\d{3}) / "
        "| stats count() as n by path, status",
        r"""SELECT CASE WHEN regexp_matches(body, '^(GET|POST) (\S+) (\d{3}) ')
             THEN regexp_extract(body, '^(GET|POST) (\S+) (\d{3}) ', 2) END AS path,
           CASE WHEN regexp_matches(body, '^(GET|POST) (\S+) (\d{3}) ')
             THEN regexp_extract(body, '^(GET|POST) (\S+) (\d{3}) ', 3) END AS status,
           count(*) AS n FROM logs GROUP BY ALL""",
    ),
    Case(
        "parse_glob_escapes_metacharacters",
        'from otel | parse message "fraud score * for order * (threshold 80)" as score, order '
        "| where exists(score) | stats count() as n, avg(tonumber(score)) as avg_score, "
        "count_distinct(order) as orders",
        f"""SELECT count(*) AS n, avg(TRY_CAST(m.score AS DOUBLE)) AS avg_score,
           count(DISTINCT m."order") AS orders FROM {captures(GLOB_FRAUD, ["score", "order"])}
           WHERE m.score IS NOT NULL""",
    ),
    Case(
        "parse_regex_json_body",
        'from otel | parse message /"amount":"(?<amount>[0-9.]+)","currency":"(?<cur>[A-Z]+)"/ '
        "| where exists(amount) | stats count() as n, sum(tonumber(amount)) as total by cur",
        f"""SELECT m.cur AS cur, count(*) AS n, sum(TRY_CAST(m.amount AS DOUBLE)) AS total
           FROM {captures('"amount":"([0-9.]+)","currency":"([A-Z]+)"', ["amount", "cur"])}
           WHERE m.amount IS NOT NULL GROUP BY 1""",
    ),
    # ---- extend, fields, functions
    Case(
        "extend_arithmetic",
        'from otel | where service == "inventory" | extend half = severity / 2, '
        "rem = severity % 4, twice = severity * 2 - 1, "
        "secs = tonumber(attributes.duration_ms) / 1000 | fields timestamp, half, rem, twice, secs",
        f"""SELECT time_unix_nano AS "timestamp", severity_number / 2 AS half,
           severity_number % 4 AS rem, severity_number * 2 - 1 AS twice,
           {DURATION} / 1000 AS secs FROM logs WHERE service = 'inventory'""",
    ),
    Case(
        "extend_division_by_zero_is_null",
        'from otel | where service == "payments" | extend z = severity / (severity - severity), '
        "m = severity % (severity - 9), ok = 7 / 2 | fields timestamp, severity, z, m, ok",
        """SELECT time_unix_nano AS "timestamp", severity_number AS severity,
           CAST(NULL AS DOUBLE) AS z,
           severity_number % NULLIF(severity_number - 9, 0) AS m, 3.5 AS ok
           FROM logs WHERE service = 'payments'""",
    ),
    Case(
        "extend_chain_bool_key",
        "from otel | extend ms = tonumber(attributes.duration_ms), slow = ms > 500 "
        "| stats count() as n by service, slow",
        f"""SELECT service, {DURATION} > 500 AS slow, count(*) AS n FROM logs GROUP BY ALL""",
    ),
    Case(
        "extend_uses_earlier_assignment",
        'from otel | where service == "auth" | extend a = severity + 1, b = a * 2, '
        "c = b / a | fields timestamp, a, b, c",
        """SELECT time_unix_nano AS "timestamp", severity_number + 1 AS a,
           (severity_number + 1) * 2 AS b, 2.0 AS c FROM logs WHERE service = 'auth'""",
    ),
    Case(
        "fields_functions",
        'from otel | where service == "auth" | fields timestamp, upper(service) as svc, '
        "length(message) as len, substr(message, 0, 5) as head, lower(severity_text) as lvl, "
        'coalesce(attributes.user.id, "anon") as who, '
        'if(severity >= "warn", "bad", "ok") as verdict',
        """SELECT time_unix_nano AS "timestamp", upper(service) AS svc, length(body) AS len,
           substring(body, 1, 5) AS head, lower(severity_text) AS lvl,
           coalesce(log_attributes['user.id'], 'anon') AS who,
           CASE WHEN severity_number >= 13 THEN 'bad' ELSE 'ok' END AS verdict
           FROM logs WHERE service = 'auth'""",
    ),
    Case(
        "replace_tostring",
        'from otel | where service == "checkout" | extend r = replace(message, "order", "ORDER"), '
        's = tostring(severity) | where r contains "ORDER o-" and s == "9" '
        "| stats count() as n",
        """SELECT count(*) AS n FROM logs WHERE service = 'checkout'
           AND contains(replace(body, 'order', 'ORDER'), 'ORDER o-')
           AND CAST(severity_number AS VARCHAR) = '9'""",
    ),
    # ---- sort, limit, dedup
    Case(
        "sort_limit_top_n",
        'from otel | where severity >= "error" | sort timestamp desc | limit 15 '
        "| fields timestamp, service, message",
        """SELECT time_unix_nano AS "timestamp", service, body AS message FROM logs
           WHERE severity_number >= 17 ORDER BY time_unix_nano DESC LIMIT 15""",
        ordered=True,
    ),
    Case(
        "sort_ties_compare_key_only",
        "from otel | stats count() as n by attributes.http.status_code | sort n desc | limit 6",
        """SELECT log_attributes['http.status_code'] AS "attributes.http.status_code",
           count(*) AS n FROM logs GROUP BY 1 ORDER BY n DESC LIMIT 6""",
        ordered=True,
        compare=("n",),
    ),
    Case(
        "top_n_with_tiebreak",
        "from otel | stats count() as n by host, service | sort n desc, host | limit 5",
        f"""SELECT {HOST} AS host, service, count(*) AS n FROM logs GROUP BY ALL
           ORDER BY n DESC, host LIMIT 5""",
        ordered=True,
    ),
    Case(
        "sort_nulls_last",
        'from otel | where service == "payments" '
        "| stats count() as n by attributes.payment.decline_code "
        "| sort attributes.payment.decline_code desc",
        """SELECT log_attributes['payment.decline_code'] AS "attributes.payment.decline_code",
           count(*) AS n FROM logs WHERE service = 'payments' GROUP BY 1
           ORDER BY 1 DESC NULLS LAST""",
        ordered=True,
    ),
    Case(
        "dedup_keys_only",
        "from otel | dedup service, severity | fields service, severity",
        "SELECT DISTINCT service, severity_number AS severity FROM logs",
    ),
    Case(
        "dedup_after_sort_keeps_first",
        "from otel | sort timestamp | dedup host | fields host, timestamp, message",
        f"""SELECT host, "timestamp", message FROM (
             SELECT {HOST} AS host, time_unix_nano AS "timestamp", body AS message,
             row_number() OVER (PARTITION BY {HOST} ORDER BY time_unix_nano) AS rn FROM logs)
           WHERE rn = 1 ORDER BY 2""",
        ordered=True,
    ),
    Case(
        "dedup_desc_by_attribute_then_limit",
        "from otel | where exists(attributes.user.id) | sort timestamp desc "
        "| dedup attributes.user.id | limit 20 | fields attributes.user.id, timestamp",
        """SELECT u AS "attributes.user.id", t AS "timestamp" FROM (
             SELECT log_attributes['user.id'] AS u, time_unix_nano AS t,
             row_number() OVER (PARTITION BY u ORDER BY t DESC) AS rn FROM logs
             WHERE u IS NOT NULL)
           WHERE rn = 1 ORDER BY t DESC LIMIT 20""",
        ordered=True,
    ),
    Case(
        "stats_then_where",
        "from otel | stats count() as n, avg(attributes.duration_ms) as avg_ms by host "
        "| where n > 1500 and avg_ms > 10 | sort host",
        f"""SELECT {HOST} AS host, count(*) AS n, avg({DURATION}) AS avg_ms FROM logs
           GROUP BY 1 HAVING n > 1500 AND avg_ms > 10 ORDER BY host""",
        ordered=True,
    ),
    Case(
        "sort_by_hidden_expression",
        'from otel | where service == "auth" | sort length(message) desc, timestamp | limit 7 '
        "| fields timestamp, message",
        """SELECT time_unix_nano AS "timestamp", body AS message FROM logs
           WHERE service = 'auth' ORDER BY length(body) DESC, time_unix_nano LIMIT 7""",
        ordered=True,
    ),
    Case(
        "sort_then_replace_sorted_field",
        'from otel | where service == "payments" | sort severity desc, timestamp '
        "| extend severity = severity * 10 | limit 8 | fields timestamp, severity",
        """SELECT time_unix_nano AS "timestamp", severity_number * 10 AS severity FROM logs
           WHERE service = 'payments' ORDER BY severity_number DESC, time_unix_nano LIMIT 8""",
        ordered=True,
    ),
    Case(
        "sort_numeric_attribute_top_n",
        'from otel | where service == "checkout" | sort tonumber(attributes.duration_ms) desc, '
        "timestamp | limit 10 | fields timestamp, attributes.duration_ms",
        f"""SELECT time_unix_nano AS "timestamp",
           log_attributes['duration_ms'] AS "attributes.duration_ms" FROM logs
           WHERE service = 'checkout'
           ORDER BY {DURATION} DESC NULLS LAST, time_unix_nano LIMIT 10""",
        ordered=True,
    ),
    Case(
        "sort_limit_then_stats",
        "from otel | sort timestamp | limit 500 | stats count() as n by service",
        """SELECT service, count(*) AS n FROM (SELECT * FROM logs ORDER BY time_unix_nano
           LIMIT 500) GROUP BY service""",
    ),
    Case(
        "limit_without_sort_counts",
        "from otel | limit 10 | stats count() as n",
        "SELECT 10 AS n",
    ),
    Case(
        "dedup_then_stats",
        "from otel | dedup host, service | stats count() as n",
        f"SELECT count(*) AS n FROM (SELECT DISTINCT {HOST}, service FROM logs)",
    ),
    Case(
        "stats_of_stats",
        "from otel | stats count() as n by service, host "
        "| stats sum(n) as total, max(n) as biggest, count() as hosts by service",
        f"""SELECT service, sum(n) AS total, max(n) AS biggest, count(*) AS hosts FROM (
             SELECT service, {HOST} AS host, count(*) AS n FROM logs GROUP BY ALL)
           GROUP BY service""",
    ),
    Case(
        "aggregates_over_no_rows",
        'from otel | where service == "billing" | stats count() as n, '
        "avg(attributes.duration_ms) as a, count_distinct(host) as h",
        """SELECT count(*) AS n, CAST(NULL AS DOUBLE) AS a, count(DISTINCT 1) AS h
           FROM logs WHERE service = 'billing'""",
    ),
    Case(
        "min_max_text_fields",
        "from otel | stats min(host) as first_host, max(message) as last_message, "
        "latest(severity) as last_sev, earliest(timestamp) as t0 by service",
        f"""SELECT service, min({HOST}) AS first_host, max(body) AS last_message,
           arg_max(severity_number, time_unix_nano) AS last_sev,
           min(time_unix_nano) AS t0 FROM logs GROUP BY service""",
    ),
    Case(
        "maps_as_dicts",
        'from otel | where service == "payments" and severity >= "error" '
        "| fields timestamp, attributes, resource",
        """SELECT time_unix_nano AS "timestamp", log_attributes AS attributes,
           resource_attributes AS resource FROM logs
           WHERE service = 'payments' AND severity_number >= 17""",
    ),
    Case(
        "duration_arithmetic",
        "from otel | extend lag = observed_timestamp - timestamp | where lag > 100ms "
        'and timestamp + 30m < "2026-11-20T06:00:00Z" | stats count() as n, max(lag) as m',
        f"""SELECT count(*) AS n, max(observed_time_unix_nano - time_unix_nano) AS m FROM logs
           WHERE observed_time_unix_nano - time_unix_nano > 100000000
           AND time_unix_nano + 1800000000000 < {ns("2026-11-20 06:00:00+00")}""",
    ),
    Case(
        "since_relative_to_now",
        "from otel | since 90m | stats count() as n by service",
        f"""SELECT service, count(*) AS n FROM logs
           WHERE time_unix_nano >= {ns("2026-11-21 10:30:00+00")} GROUP BY service""",
        now="2026-11-21T12:00:00Z",
    ),
    Case(
        "between_parameters",
        "from otel | between $t1 and $t2 | where service == $svc | fields timestamp, message",
        """SELECT time_unix_nano AS "timestamp", body AS message FROM logs
           WHERE time_unix_nano >= epoch_ns(CAST($t1 AS TIMESTAMPTZ))
           AND time_unix_nano < epoch_ns(CAST($t2 AS TIMESTAMPTZ)) AND service = $svc""",
        params={"t1": "2026-11-20T22:15:00Z", "t2": "2026-11-21T01:45:00+01:00", "svc": "auth"},
    ),
    Case(
        "numeric_parameters",
        "from otel | where attributes.duration_ms >= $min and severity >= $sev "
        "| stats count() as n by service",
        f"""SELECT service, count(*) AS n FROM logs
           WHERE {DURATION} >= $min AND severity_number >= $sev GROUP BY service""",
        params={"min": 150, "sev": 13},
    ),
    Case(
        "severity_level_parameter",
        "from otel | where severity >= $level | stats count() as n by service",
        "SELECT service, count(*) AS n FROM logs WHERE severity_number >= 13 GROUP BY service",
        params={"level": "warn"},
    ),
    Case(
        "bare_regex_and_string",
        r'from otel | where "GET" and /\s5\d\d\s/ | stats count() as n by service',
        r"""SELECT service, count(*) AS n FROM logs
           WHERE contains(body, 'GET') AND regexp_matches(body, '\s5\d\d\s') GROUP BY 1""",
    ),
    Case(
        "numeric_functions",
        'from otel | where service == "inventory" | extend d = tonumber(attributes.duration_ms) '
        "| fields timestamp, abs(severity - 12) as a, floor(d / 7) as f, ceil(d / 7) as c, "
        '(severity - 20) % 7 as m, trim(concat("  ", service, " ")) as t, '
        "substr(message, 4) as tail",
        f"""SELECT time_unix_nano AS "timestamp", abs(severity_number - 12) AS a,
           floor({DURATION} / 7) AS f, ceil({DURATION} / 7) AS c,
           (severity_number - 20) % 7 AS m, trim(concat('  ', service, ' ')) AS t,
           substring(body, 5) AS tail FROM logs WHERE service = 'inventory'""",
    ),
    Case(
        "bin_1d_and_90s",
        'from otel | where severity >= "warn" | stats count() as n '
        "by bin(timestamp, 1d) as day, bin(timestamp, 90s) as slot | sort n desc, slot | limit 5",
        """SELECT time_unix_nano // 86400000000000 * 86400000000000 AS day,
           time_unix_nano // 90000000000 * 90000000000 AS slot, count(*) AS n FROM logs
           WHERE severity_number >= 13 GROUP BY ALL ORDER BY n DESC, slot LIMIT 5""",
        ordered=True,
    ),
    # ---- trace lookup (the trace id is chosen from the data: three rows share it)
    Case(
        "trace_lookup",
        "from otel | where trace_id == $tid | sort timestamp "
        "| fields timestamp, service, span_id, message",
        """SELECT time_unix_nano AS "timestamp", service, span_id, body AS message FROM logs
           WHERE trace_id = $tid ORDER BY time_unix_nano""",
        ordered=True,
        params={"tid": FROM_DATA},
    ),
    Case(
        "trace_lookup_default_columns",
        "from otel | where trace_id == $tid",
        f"""SELECT time_unix_nano AS "timestamp",
           observed_time_unix_nano AS observed_timestamp, severity_number AS severity,
           severity_text, body AS message, service, {HOST} AS host, trace_id, span_id,
           'otel' AS source, CAST(NULL AS VARCHAR) AS log_group,
           CAST(NULL AS VARCHAR) AS log_stream, log_attributes AS attributes,
           resource_attributes AS resource FROM logs WHERE trace_id = $tid""",
        params={"tid": FROM_DATA},
    ),
    # ---- join (inner, left; docs/reference.md "Joins and lookups")
    Case(
        "join_inner_aggregate_subquery",
        'from otel | where severity >= "error" '
        "| join (from otel | stats count() as total by service) on service "
        "| stats count() as errors, max(total) as total by service",
        """SELECT l.service, count(*) AS errors, max(r.total) AS total FROM logs l
           JOIN (SELECT service, count(*) AS total FROM logs GROUP BY service) r
           ON l.service = r.service WHERE l.severity_number >= 17 GROUP BY l.service""",
    ),
    Case(
        "join_left_keeps_unmatched",
        'from otel | where severity >= "warn" '
        '| join kind=left (from otel | where service in ("checkout", "payments") '
        "| stats count() as n by service) on service | stats count() as rows by service, n",
        """SELECT l.service, r.n, count(*) AS "rows" FROM logs l
           LEFT JOIN (SELECT service, count(*) AS n FROM logs
           WHERE service IN ('checkout', 'payments') GROUP BY service) r
           ON l.service = r.service WHERE l.severity_number >= 13 GROUP BY ALL""",
    ),
    Case(
        "join_leftouter_on_trace_id_many_to_many",
        # gateway rows whose trace continues in other services (1,600 of 7,919 match)
        'from otel | where service == "gateway" | join kind=leftouter (from otel '
        '| where service != "gateway" | fields trace_id, span_id) on trace_id '
        "| fields timestamp, trace_id, span_id, span_id1",
        """SELECT l.time_unix_nano AS "timestamp", l.trace_id, l.span_id,
           r.span_id AS span_id1 FROM logs l LEFT JOIN
           (SELECT trace_id, span_id FROM logs WHERE service <> 'gateway') r
           ON l.trace_id = r.trace_id WHERE l.service = 'gateway'""",
    ),
    Case(
        "join_collisions_renamed",
        'from otel | where severity >= "error" '
        '| join (from otel | where severity < "warn" | stats max(message) as message, '
        "count() as n by service) on service | fields timestamp, service, message, message1, n",
        """SELECT l.time_unix_nano AS "timestamp", l.service, l.body AS message,
           r.message AS message1, r.n FROM logs l JOIN
           (SELECT service, max(body) AS message, count(*) AS n FROM logs
           WHERE severity_number < 13 GROUP BY service) r
           ON l.service = r.service WHERE l.severity_number >= 17""",
    ),
    Case(
        "join_keys_with_different_names_two_keys",
        "from otel | join (from otel | stats count() as n by service as svc, severity as sev) "
        "on service == svc, severity == sev | stats sum(n) as s, count() as rows by service",
        """SELECT l.service, sum(r.n) AS s, count(*) AS "rows" FROM logs l
           JOIN (SELECT service AS svc, severity_number AS sev, count(*) AS n FROM logs
           GROUP BY ALL) r ON l.service = r.svc AND l.severity_number = r.sev
           GROUP BY l.service""",
    ),
    Case(
        "join_then_default_order_and_limit",
        'from otel | where severity >= "error" '
        "| join (from otel | stats count() as n by service) on service "
        "| fields timestamp, service, n | limit 7",
        """SELECT l.time_unix_nano AS "timestamp", l.service, r.n FROM logs l
           JOIN (SELECT service, count(*) AS n FROM logs GROUP BY service) r
           ON l.service = r.service WHERE l.severity_number >= 17
           ORDER BY l.time_unix_nano DESC LIMIT 7""",
        ordered=True,
        compare=("timestamp",),
    ),
    Case(
        "join_right_side_with_its_own_limit",
        'from otel | where severity >= "warn" '
        "| join (from otel | stats count() as n by service | sort n desc | limit 2) "
        "on service | stats count() as rows by service",
        """SELECT l.service, count(*) AS "rows" FROM logs l
           JOIN (SELECT service, count(*) AS n FROM logs GROUP BY service
           ORDER BY n DESC LIMIT 2) r ON l.service = r.service
           WHERE l.severity_number >= 13 GROUP BY l.service""",
    ),
)


@pytest.fixture(scope="module")
def data_params(backends: Backends) -> dict[str, object]:
    """Parameter values taken from the data: `tid`, a trace id three rows share."""
    rows = backends.duck.sql(
        "SELECT trace_id FROM logs WHERE trace_id IS NOT NULL GROUP BY trace_id "
        "HAVING count(*) = 3 ORDER BY trace_id LIMIT 1"
    ).fetchall()
    assert rows, "the fixture data has no three-row trace"
    return {"tid": rows[0][0]}


def _case_param(case: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_case_param(c) for c in CASES])
def test_starql_matches_duckdb(
    case: Case, backends: Backends, data_params: dict[str, object]
) -> None:
    params = {k: data_params[k] if v is FROM_DATA else v for k, v in case.params.items()}
    now = None if case.now is None else parse_iso(case.now)
    got = backends.starql(case.starql, now_ns=now, **params)
    want = backends.duckdb(case.sql, {k: v for k, v in params.items() if f"${k}" in case.sql})
    assert_same_rows(got, want, ordered=case.ordered, compare=case.compare, rel_tol=case.rel_tol)


# ---------------------------------------------------------------- generated where-clauses
# A small predicate AST: leaves are tuples ("kind", …), compounds ("and"|"or", [children]) and
# ("not", child). `render` writes StarQL; `evaluate` runs it over the rows in Python with
# Kleene logic encoded as 0 = false, 1 = null, 2 = true (and = min, or = max, not = 2 - x).

LEVEL_RANGES = {
    "trace": (1, 4),
    "debug": (5, 8),
    "info": (9, 12),
    "warn": (13, 16),
    "warning": (13, 16),
    "error": (17, 20),
    "fatal": (21, 24),
    "critical": (21, 24),
}
SERVICES = ("gateway", "checkout", "payments", "auth", "inventory", "billing")
HOSTS = (
    "gateway-7d4b9c6f5-x2k9p",
    "checkout-canary-6b9d8f7c5-u4i9o",
    "payments-6c9f7d8b5-a1s2d",
    "auth-84d6f9c7b-v7b6n",
    "inventory-9b7c5d6f8-p0o9i",
    "no-such-host",
)
NEEDLES = (
    "GET", "POST /api/", "order", "timeout", "ms", "u-10", "/api/cart", "200", " 5",
    "USD", "refused", "é", "🙂", '"', "for user u-", "",
)  # fmt: skip
REGEXES = (
    (r"^GET /api/\w+", ""),
    (r"timeout|refused", ""),
    (r"TIMEOUT|Refused", "i"),
    (r"\d{3} \d+ms$", ""),
    (r"order o-\d+", ""),
    (r"^(login|token) \w+", "i"),
    (r"[A-Z]{3,} /", ""),
    (r"u-1\d{3}\b", ""),
    (r"\.", ""),
    (r"/healthz", ""),
)
COMPARE_OPS = ("==", "!=", "<", "<=", ">", ">=")
# the data holds severities 5, 9, 13, 17, 21: favour them and their neighbours
SEVERITY_NUMBERS = st.one_of(
    st.sampled_from((4, 5, 6, 9, 12, 13, 16, 17, 20, 21)), st.integers(1, 24)
)
SPAN_HOURS = 48  # the fixture data: two days from 2026-11-20T00:00:00Z
START_NS = 1_795_132_800 * 10**9
TS_PRECISION = {  # ISO-8601 forms the reference accepts → the ns they can express
    "date": 86_400 * 10**9,
    "minute": 60 * 10**9,
    "second": 10**9,
    "ms": 10**6,
    "us": 10**3,
    "ns": 1,
}
TS_FORMATS = tuple(TS_PRECISION)
OFFSETS = (0, 0, 330, -480, 60)  # minutes east of UTC; 0 is written Z or +00:00

Pred = tuple[Any, ...]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _instant(draw: st.DrawFn) -> tuple[int, str]:
    """A time inside (or just around) the data, and an ISO-8601 text of exactly it."""
    fmt = draw(st.sampled_from(TS_FORMATS))
    offset = 0 if fmt == "date" else draw(st.sampled_from(OFFSETS))  # a date alone is UTC
    nanos = START_NS + draw(st.integers(-3_600 * 10**9, (SPAN_HOURS + 1) * 3_600 * 10**9))
    nanos -= (nanos + offset * 60 * 10**9) % TS_PRECISION[fmt]  # local time, truncated
    local = datetime(1970, 1, 1) + timedelta(microseconds=(nanos // 1000) + offset * 60 * 10**6)
    text = {
        "date": local.strftime("%Y-%m-%d"),
        "minute": local.strftime("%Y-%m-%dT%H:%M"),
        "second": local.strftime("%Y-%m-%dT%H:%M:%S"),
        "ms": local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos // 10**6 % 1000:03d}",
        "us": local.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        "ns": local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos % 10**9:09d}",
    }[fmt]
    if fmt != "date" and offset == 0:
        text += draw(st.sampled_from(("Z", "+00:00", "")))
    elif fmt != "date":
        sign, minutes = ("+" if offset > 0 else "-"), abs(offset)
        text += f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return nanos, text


@st.composite
def _timestamp_leaf(draw: st.DrawFn) -> Pred:
    nanos, text = _instant(draw)
    return ("ts", draw(st.sampled_from(COMPARE_OPS)), nanos, text)


def _level_name(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(sorted(LEVEL_RANGES)))
    return draw(st.sampled_from((name, name.upper(), name.capitalize())))


@st.composite
def _severity_leaf(draw: st.DrawFn) -> Pred:
    op = draw(st.sampled_from(COMPARE_OPS))
    kind = draw(st.sampled_from(("name", "number", "quoted")))
    if kind == "name":
        return ("sev_name", op, _level_name(draw))
    return ("sev_num", op, draw(SEVERITY_NUMBERS), kind == "quoted")


def _leaves() -> st.SearchStrategy[Pred]:
    text_fields = st.sampled_from((("service", SERVICES), ("host", HOSTS)))
    return st.one_of(
        _severity_leaf(),
        st.builds(
            lambda negated, items: ("sev_in", negated, tuple(items)),
            st.booleans(),
            st.lists(
                st.one_of(SEVERITY_NUMBERS, st.sampled_from(sorted(LEVEL_RANGES))),
                min_size=1,
                max_size=3,
            ),
        ),
        text_fields.flatmap(
            lambda fv: st.tuples(
                st.just("text_cmp"),
                st.just(fv[0]),
                st.sampled_from(("==", "!=")),
                st.sampled_from(fv[1]),
            )
        ),
        text_fields.flatmap(
            lambda fv: st.tuples(
                st.just("text_in"),
                st.just(fv[0]),
                st.booleans(),
                st.lists(st.sampled_from(fv[1]), min_size=1, max_size=3).map(tuple),
            )
        ),
        st.tuples(
            st.just("str_test"),
            st.sampled_from(("contains", "startswith", "endswith", "bare")),
            st.sampled_from(NEEDLES),
        ),
        st.tuples(st.just("regex"), st.booleans(), st.sampled_from(REGEXES)),
        st.tuples(
            st.just("number"),
            st.sampled_from(("http.status_code", "duration_ms")),
            st.sampled_from(COMPARE_OPS),
            st.one_of(
                st.integers(-1, 12_000),
                st.sampled_from((200, 404, 500, 503, 3000, 10_000)),
                st.floats(0, 5_000, allow_nan=False).map(lambda f: round(f, 2)),
            ),
        ),
        st.tuples(st.just("trace_exists"), st.booleans()),
        st.tuples(st.just("trace_cmp"), st.sampled_from(("==", "!=")), st.integers(-1, 50)),
        _timestamp_leaf(),
    )


def predicates() -> st.SearchStrategy[Pred]:
    return st.recursive(
        _leaves(),
        lambda children: st.one_of(
            st.tuples(st.sampled_from(("and", "or")), st.lists(children, min_size=2, max_size=3)),
            st.tuples(st.just("not"), children),
        ),
        max_leaves=6,
    )


def render(pred: Pred, trace_ids: list[str]) -> str:
    """The StarQL text of `pred` (compounds fully parenthesized)."""
    kind = pred[0]
    if kind in ("and", "or"):
        return "(" + f" {kind} ".join(render(p, trace_ids) for p in pred[1]) + ")"
    if kind == "not":
        return f"not ({render(pred[1], trace_ids)})"
    if kind == "sev_name":
        return f"severity {pred[1]} {_quote(pred[2])}"
    if kind == "sev_num":
        _, op, number, quoted = pred
        return f"severity {op} " + (_quote(str(number)) if quoted else str(number))
    if kind == "sev_in":
        items = ", ".join(_quote(i) if isinstance(i, str) else str(i) for i in pred[2])
        return f"severity {'not in' if pred[1] else 'in'} ({items})"
    if kind == "text_cmp":
        return f"{pred[1]} {pred[2]} {_quote(pred[3])}"
    if kind == "text_in":
        items = ", ".join(_quote(i) for i in pred[3])
        return f"{pred[1]} {'not in' if pred[2] else 'in'} ({items})"
    if kind == "str_test":
        return _quote(pred[2]) if pred[1] == "bare" else f"message {pred[1]} {_quote(pred[2])}"
    if kind == "regex":
        negated, (pattern, flags) = pred[1], pred[2]
        return f"message {'!~' if negated else '~'} /{pattern.replace('/', chr(92) + '/')}/{flags}"
    if kind == "number":
        return f"attributes.{pred[1]} {pred[2]} {pred[3]!r}"
    if kind == "trace_exists":
        return "not exists(trace_id)" if pred[1] else "exists(trace_id)"
    if kind == "trace_cmp":
        return f"trace_id {pred[1]} {_quote(_trace_id(pred[2], trace_ids))}"
    if kind == "ts":
        return f"timestamp {pred[1]} {_quote(pred[3])}"
    raise AssertionError(pred)


def _trace_id(index: int, trace_ids: list[str]) -> str:
    return "0123456789abcdef0123456789abcdef" if index < 0 else trace_ids[index % len(trace_ids)]


@dataclass(repr=False)
class Rows:
    """The fixture rows, column-wise, as the Python evaluator reads them."""

    time: np.ndarray
    severity: np.ndarray  # float, NaN for null
    service: list[str | None]
    host: list[str | None]
    body: list[str | None]
    trace_id: list[str | None]
    span_id: list[str | None]
    numbers: dict[str, np.ndarray]  # attribute → float values, NaN when absent or not numeric
    trace_ids: list[str]  # distinct, sorted: what trace_cmp leaves index into

    def __repr__(self) -> str:
        return f"Rows({len(self.time)} rows)"

    def keys(self, mask: np.ndarray) -> Counter[tuple[Any, ...]]:
        return Counter(
            (int(self.time[i]), self.span_id[i], self.body[i]) for i in np.flatnonzero(mask)
        )


_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


def _to_number(text: str | None) -> float:
    """What a string attribute compares as: its number, or NaN (null) when it is not one."""
    return float(text) if text is not None and _NUMBER.fullmatch(text) else math.nan


def load_rows(root: Path) -> Rows:
    dataset = ds.dataset(
        root / otel_layout.TABLE_DIR / "v2",
        format="parquet",
        partitioning=ds.partitioning(otel_layout.PARTITION_SCHEMA, flavor="hive"),
    )
    table = dataset.to_table()
    attributes = [dict(m) if m is not None else {} for m in table["log_attributes"].to_pylist()]
    resources = [dict(m) if m is not None else {} for m in table["resource_attributes"].to_pylist()]
    traces = to_hex(table["trace_id"]).to_pylist()
    return Rows(
        time=table["time_unix_nano"].to_numpy(),
        severity=table["severity_number"].cast(pa.float64()).fill_null(math.nan).to_numpy(),
        service=table["service"].to_pylist(),
        host=[r.get("host.name") for r in resources],
        body=table["body"].to_pylist(),
        trace_id=traces,
        span_id=to_hex(table["span_id"]).to_pylist(),
        numbers={
            key: np.array([_to_number(a.get(key)) for a in attributes])
            for key in ("http.status_code", "duration_ms")
        },
        trace_ids=sorted({t for t in traces if t is not None}),
    )


_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _kleene(result: np.ndarray, null: np.ndarray) -> np.ndarray:
    return np.where(null, 1, np.where(result, 2, 0)).astype(np.int8)


def _strings(values: list[str | None], test: Callable[[str], bool]) -> np.ndarray:
    return np.array([1 if v is None else 2 if test(v) else 0 for v in values], dtype=np.int8)


def _level_range(op: str, name: str) -> tuple[float, float]:
    """`severity OP name` as the closed interval of severities it keeps (docs/reference.md)."""
    lo, hi = LEVEL_RANGES[name.lower()]
    return {
        "==": (lo, hi),
        ">=": (lo, math.inf),
        ">": (hi + 1, math.inf),
        "<=": (-math.inf, hi),
        "<": (-math.inf, lo - 1),
    }[op]


def evaluate(pred: Pred, rows: Rows) -> np.ndarray:
    """`pred` over every row, SQL three-valued: 0 false, 1 null, 2 true."""
    kind = pred[0]
    if kind == "and":
        return np.minimum.reduce([evaluate(p, rows) for p in pred[1]])
    if kind == "or":
        return np.maximum.reduce([evaluate(p, rows) for p in pred[1]])
    if kind == "not":
        return (2 - evaluate(pred[1], rows)).astype(np.int8)
    sev = rows.severity
    if kind == "sev_name":
        op, name = pred[1], pred[2]
        if op == "!=":
            lo, hi = LEVEL_RANGES[name.lower()]
            return _kleene((sev < lo) | (sev > hi), np.isnan(sev))
        lo, hi = _level_range(op, name)
        return _kleene((sev >= lo) & (sev <= hi), np.isnan(sev))
    if kind == "sev_num":
        with np.errstate(invalid="ignore"):
            return _kleene(_CMP[pred[1]](sev, pred[2]), np.isnan(sev))
    if kind == "sev_in":
        hit = np.zeros(sev.shape, dtype=bool)
        for item in pred[2]:
            lo, hi = LEVEL_RANGES[item.lower()] if isinstance(item, str) else (item, item)
            hit |= (sev >= lo) & (sev <= hi)
        return _kleene(~hit if pred[1] else hit, np.isnan(sev))
    if kind == "text_cmp":
        values = rows.service if pred[1] == "service" else rows.host
        op, value = pred[2], pred[3]
        return _strings(values, lambda v: (v == value) == (op == "=="))
    if kind == "text_in":
        values = rows.service if pred[1] == "service" else rows.host
        negated, items = pred[2], set(pred[3])
        return _strings(values, lambda v: (v in items) != negated)
    if kind == "str_test":
        op, needle = pred[1], pred[2]
        test: Callable[[str], bool] = {
            "contains": lambda v: needle in v,
            "bare": lambda v: needle in v,
            "startswith": lambda v: v.startswith(needle),
            "endswith": lambda v: v.endswith(needle),
        }[op]
        return _strings(rows.body, test)
    if kind == "regex":
        negated, (pattern, flags) = pred[1], pred[2]
        compiled = re.compile(pattern, re.IGNORECASE if "i" in flags else 0)
        return _strings(rows.body, lambda v: (compiled.search(v) is not None) != negated)
    if kind == "number":
        values = rows.numbers[pred[1]]
        with np.errstate(invalid="ignore"):
            return _kleene(_CMP[pred[2]](values, pred[3]), np.isnan(values))
    if kind == "trace_exists":
        present = np.array([t is not None for t in rows.trace_id])
        return _kleene(~present if pred[1] else present, np.zeros(present.shape, dtype=bool))
    if kind == "trace_cmp":
        op, wanted = pred[1], _trace_id(pred[2], rows.trace_ids)
        return _strings(rows.trace_id, lambda v: (v == wanted) == (op == "=="))
    if kind == "ts":
        return _kleene(_CMP[pred[1]](rows.time, pred[2]), np.zeros(rows.time.shape, dtype=bool))
    raise AssertionError(pred)


@pytest.fixture(scope="module")
def fixture_rows(otel_data: Path) -> Rows:
    return load_rows(otel_data)


def _describe(key: tuple[Any, ...], rows: Rows) -> str:
    i = int(np.flatnonzero(rows.time == key[0])[0])
    fields = {
        "severity": float(rows.severity[i]),
        "service": rows.service[i],
        "host": rows.host[i],
        "trace_id": rows.trace_id[i],
        **{f"attributes.{k}": float(v[i]) for k, v in rows.numbers.items()},
    }
    return f"  {key!r}\n    {fields}"


@settings(
    max_examples=max(1, 60 * settings.default.max_examples // 100),
    deadline=None,
)
@given(pred=predicates())
def test_generated_where_matches_python(pred: Pred, backends: Backends, fixture_rows: Rows) -> None:
    condition = render(pred, fixture_rows.trace_ids)
    query = f"from otel | where {condition} | fields timestamp, span_id, message"
    got_names, got_rows = normalize(backends.starql(query))
    assert got_names == ["timestamp", "span_id", "message"]
    got = Counter(got_rows)
    want = fixture_rows.keys(evaluate(pred, fixture_rows) == 2)
    if got != want:
        missing = sorted(want - got, key=_sort_key)[:3]
        extra = sorted(got - want, key=_sort_key)[:3]
        pytest.fail(
            f"{query}\nstarbase kept {sum(got.values())} rows, Python {sum(want.values())}\n"
            "kept by Python only:\n"
            + ("\n".join(_describe(k, fixture_rows) for k in missing) or "  —")
            + "\nkept by Starbase only:\n"
            + ("\n".join(_describe(k, fixture_rows) for k in extra) or "  —"),
            pytrace=False,
        )
