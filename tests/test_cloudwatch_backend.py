"""The CloudWatch Logs Insights backend (starbase/backends/cloudwatch/).

- one test per construct: the exact Insights text it lowers to, or the reason it stays local;
- capability splitting for the `aws` and `emulator` profiles, log groups beyond 50, multi-source
  queries (`local_plan`), remainders that DataFusion runs;
- severity conditions agree with `level_from_text` (first match wins) on generated messages;
- no StarQL value changes a query's structure: arbitrary strings, regexes and field names are
  lowered, then `tokenize` (a small lexer for Insights text written here) must find exactly
  the intended commands and give back the original values.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from starbase.backends.cloudwatch import syntax
from starbase.backends.cloudwatch.lower import InsightsQuery, local_plan, lower, render
from starbase.backends.cloudwatch.syntax import NotExpressible
from starbase.backends.datafusion.lower import to_sql
from starbase.cli import main
from starbase.compiler import ir
from starbase.compiler.driver import CompiledQuery, compile
from starbase.compiler.errors import CompileError
from starbase.compiler.format import format_name, format_regex, format_string
from starbase.compiler.passes.resolve import escape_regex
from starbase.config import Config, config_from_dict
from starbase.mappings import LEVEL_TEXT_PATTERN, LEVELS

GROUPS = ["/aws/lambda/checkout", "/aws/lambda/payments"]


def _config(groups: list[str] | None = None, profile: str | None = None) -> Config:
    lam: dict[str, object] = {"format": "cloudwatch", "log_groups": groups or GROUPS}
    if profile:
        lam["profile"] = profile
    return config_from_dict(
        {"sources": {"otel": {"format": "otel", "location": "/tmp/none"}, "lambda": lam}}
    )


CONFIG = _config()


def insights(text: str, profile: str | None = None, config: Config = CONFIG) -> InsightsQuery:
    compiled = compile(text, config)
    (query,) = lower(compiled.plan, config, profile=profile)
    return query


FETCHED = "fields @timestamp, @message"  # a row query's rows are sorted newest first here


def commands(query: InsightsQuery) -> list[str]:
    return query.text.split("\n| ")


# ---------------------------------------------------------------- a lexer for Insights text

_SIMPLE = re.compile(
    r"""(?P<ws>[ \t\r\n]+)
      | (?P<string>"[^"\\\n]*"|'[^'\\\n]*')
      | (?P<backtick>@?`[^`\n]*`)
      | (?P<number>\d+(?:\.\d+)?)
      | (?P<name>@?[A-Za-z_][A-Za-z0-9_.]*(?:\(\*\))?)
      | (?P<op>=~|!=|<=|>=|[=<>+\-*%^,()\[\]|])""",
    re.X,
)
COMMANDS = {"fields", "filter", "parse", "stats", "sort", "limit", "dedup", "display"}
KEYWORDS = {"and", "or", "not", "in", "like", "as", "by", "asc", "desc"}


def tokenize(text: str) -> list[tuple[str, str]]:
    """(kind, value) tokens: strings, regexes and backticked names decoded. A `/` after an
    operand divides; elsewhere it opens a regex that ends at the next unescaped `/`
    (`\\/` is a slash, `\\x{…}` a character). Fails on anything else (a raw newline in a
    string or regex, an unterminated token)."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        operand = (
            bool(tokens)
            and tokens[-2:-1] != [("name", "parse")]
            and (
                tokens[-1][0] in ("string", "backtick", "number", "regex")
                or (tokens[-1][0] == "name" and tokens[-1][1] not in KEYWORDS | COMMANDS)
                or tokens[-1][1] in (")", "]")
            )
        )
        if text[i] == "/" and not operand:
            body, i = _regex(text, i + 1)
            tokens.append(("regex", body))
            continue
        if text[i] == "/":
            tokens.append(("op", "/"))
            i += 1
            continue
        match = _SIMPLE.match(text, i)
        assert match is not None, f"cannot tokenize at {i}: {text[i : i + 20]!r}"
        kind = match.lastgroup
        assert kind is not None
        value = match.group()
        i = match.end()
        if kind == "ws":
            continue
        if kind in ("string", "backtick"):
            value = ("@" if value.startswith("@") else "") + value.lstrip("@")[1:-1]
        tokens.append((kind, value))
    return tokens


def _regex(text: str, i: int) -> tuple[str, int]:
    out = []
    while True:
        assert i < len(text), "unterminated regex"
        ch = text[i]
        assert ch not in "\n\r\u2028\u2029", "raw line break in a regex"
        if ch == "/":
            return "".join(out), i + 1
        if ch == "\\":
            nxt = text[i + 1]
            hexa = re.match(r"x\{([0-9a-f]+)\}", text[i + 1 :])
            if nxt == "/":
                out.append("/")
                i += 2
            elif hexa:
                out.append(chr(int(hexa.group(1), 16)))
                i += 1 + hexa.end()
            else:
                out.append(text[i : i + 2])
                i += 2
            continue
        out.append(ch)
        i += 1


def split_commands(text: str) -> list[list[tuple[str, str]]]:
    """Tokens per command (split at `|` outside strings, regexes and backticks)."""
    parts: list[list[tuple[str, str]]] = [[]]
    for token in tokenize(text):
        if token == ("op", "|"):
            parts.append([])
        else:
            parts[-1].append(token)
    for part in parts:
        assert part and part[0][0] == "name" and part[0][1] in COMMANDS, part
    return parts


# ---------------------------------------------------------------- fields, filter, operators


def test_fields_of_the_system_fields() -> None:
    query = insights("from lambda | fields timestamp, message, log_stream")
    assert query.text == "fields @timestamp, @message, @logStream"
    assert [c.name for c in query.columns] == ["@timestamp", "@message", "@logStream"]
    assert query.remainder is not None  # epoch ms → timestamp, names → universal names
    assert query.unsupported == ()


@pytest.mark.parametrize(
    ("where", "condition"),
    [
        ('message == "boom"', '@message = "boom"'),
        ('message == "say \\"hi\\""', "@message = 'say \"hi\"'"),
        ('message != "x"', '@message != "x"'),
        ('message contains "a.b"', "@message like /a\\.b/"),
        ('message startswith "GET /"', "@message like /^GET \\//"),
        ('message endswith "ms"', "@message like /ms$/"),
        ("message ~ /time(out|d)/i", "@message =~ /(?i)time(out|d)/"),
        ('message ~ "a/b"', "@message =~ /a\\/b/"),
        ('log_stream in ("a", "b")', '@logStream in ["a", "b"]'),
        ('log_stream not in ("a")', 'not (@logStream in ["a"])'),
        ("message !~ /x/", "not (@message =~ /x/)"),
        ('log_stream == "a" or message contains "b"', '(@logStream = "a") or (@message like /b/)'),
        ("length(message) > 10", "strlen(@message) > 10"),
        ('lower(log_stream) == "x"', 'tolower(@logStream) = "x"'),
        ('upper(trim(log_stream)) == "X"', 'toupper(trim(@logStream)) = "X"'),
        ('substr(log_stream, 0, 4) == "2026"', 'substr(@logStream, 0, 4) = "2026"'),
        ('concat(log_stream, "/") == "a/"', 'concat(@logStream, "/") = "a/"'),
        ('replace(log_stream, "a", "b") == "b"', 'replace(@logStream, "a", "b") = "b"'),
    ],
)
def test_filter_lowering(where: str, condition: str) -> None:
    query = insights(f"from lambda | where {where} | fields message")
    assert commands(query) == [FETCHED, f"filter {condition}"]
    assert query.unsupported == ()


PARSED = "parse message /a=(?<a>\\S*) b=(?<b>\\S*)/"


@pytest.mark.parametrize(
    ("where", "condition"),
    [
        ("a >= 500", "starbaseCap1 >= 500"),
        ("a < 2.5", "starbaseCap1 < 2.5"),
        ("a > -1", "starbaseCap1 > -1"),
        ('a != "v"', 'ispresent(starbaseCap1) and starbaseCap1 != "v"'),
        ('not (a contains "v")', "ispresent(starbaseCap1) and not (starbaseCap1 like /v/)"),
        ("exists(a)", "ispresent(starbaseCap1)"),
        ("not exists(a)", "not ispresent(starbaseCap1)"),
        ('coalesce(a, b) == "x"', 'coalesce(starbaseCap1, starbaseCap2) = "x"'),
        ("abs(a) > 1", "abs(starbaseCap1) > 1"),
        ("floor(a) == ceil(b)", "floor(starbaseCap1) = ceil(starbaseCap2)"),
        ("a + b * 2 > 3", "(starbaseCap1) + ((starbaseCap2) * (2)) > 3"),
        ("a / 2 > 3", "(starbaseCap1) / (2) > 3"),
    ],
)
def test_filter_lowering_of_parsed_fields(where: str, condition: str) -> None:
    query = insights(f"from lambda | {PARSED} | where {where} | fields message")
    parse = "parse @message /a=(?<starbaseCap1>\\S*) b=(?<starbaseCap2>\\S*)/"
    display = "display @timestamp, @message, starbaseCap1, starbaseCap2"
    assert commands(query) == [parse, f"filter {condition}", display]
    assert query.unsupported == ()


@pytest.mark.parametrize(
    ("where", "prefilter"),
    [
        ('attributes.k == "v"', '"(?:k|\\\\u006[bB])"\\s*:\\s*(?:"(?:v|\\\\u0076)"|v)'),
        ("attributes.k >= 500", '"(?:k|\\\\u006[bB])"\\s*:'),
        ('attributes.k != "v"', '"(?:k|\\\\u006[bB])"\\s*:'),
        ("exists(attributes.k)", '"(?:k|\\\\u006[bB])"\\s*:'),
        ("attributes.k ~ /v/", '"(?:k|\\\\u006[bB])"\\s*:'),
    ],
)
def test_json_members_are_read_from_the_message_with_a_prefilter(
    where: str, prefilter: str
) -> None:
    """Insights' discovered fields flatten nested objects and read duplicate keys their own
    way: a member is read from @message locally; Insights only narrows the events."""
    query = insights(f"from lambda | where {where} | fields message")
    assert commands(query) == [FETCHED, f"filter @message =~ /{prefilter}/"]
    assert query.unsupported[0].startswith("attributes.KEY read by Insights")
    scan = _fetched_scan(query.remainder)
    assert scan.filter is not None  # the exact test runs on the fetched rows
    nothing = insights('from lambda | where not exists(attributes.k) or message == "x"')
    assert "filter" not in nothing.text


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ('if(attributes.a == "x", 1, 2) == 1', "function if"),
        ("round(tonumber(attributes.a)) > 1", "function round"),
        ('tostring(attributes.a) == "1"', "function tostring"),
        ("message ~ /a.b/s", "regex flag s"),
        ("message ~ /^a/m", "regex flag m"),
        ("attributes.a / attributes.b > 1", "operator / by a value that may be zero"),
        ("attributes.a % 0 > 1", "operator % by a value that may be zero"),
        ('message == "a\\\\b"', "a string with a backslash or a control character"),
        ('message == "a\\nb"', "a string with a backslash or a control character"),
        ('message == "both \' and \\""', "a string with both kinds of quotes"),
        ('lower(message) != "x"', "a negated test on an expression (missing-field semantics)"),
        ("observed_timestamp > now() - 1h", "a timestamp comparison outside the time range"),
        ("message ~ $re", "parameter $re (bind parameters first)"),
        ("attributes.`@x` == 1", "attributes.KEY read by Insights"),
    ],
)
def test_conditions_that_stay_local(where: str, reason: str) -> None:
    query = insights(f"from lambda | where {where} | fields message")
    only = commands(query)[0]  # the fields the remainder needs (and a JSON key's prefilter)
    assert only.startswith(FETCHED)
    assert any(u.startswith(reason) for u in query.unsupported), query.unsupported
    assert query.remainder is not None
    scan = _fetched_scan(query.remainder)
    assert scan.filter is not None  # the condition runs locally on the fetched rows


def test_conjuncts_are_split_between_insights_and_local() -> None:
    query = insights('from lambda | where message contains "a" and message ~ /b/s | fields message')
    assert commands(query) == [FETCHED, "filter @message like /a/"]
    scan = _fetched_scan(query.remainder)
    assert scan.filter == ir.Match(ir.Col("@message", ir.Type.STRING), ir.Regex("b", "s"))


def test_null_operands_from_absent_fields_fold_away() -> None:
    query = insights('from lambda | where host == "h" or log_stream == "s" | fields message')
    assert commands(query) == [FETCHED, 'filter @logStream = "s"']
    listed = insights('from lambda | where log_stream in ("a", null) | fields message')
    assert commands(listed) == [FETCHED, 'filter @logStream in ["a"]']
    never = insights('from lambda | where log_stream not in ("a", null) | fields message')
    assert never.unsupported == ("a condition that is never true",)


def _fetched_scan(plan: ir.Plan | None) -> ir.Scan:
    assert plan is not None
    scans = [n for n in ir.plan_walk(plan) if isinstance(n, ir.Scan)]
    assert len(scans) == 1 and scans[0].format == "insights" and scans[0].backend == "datafusion"
    return scans[0]


# ---------------------------------------------------------------- derived fields


def test_service_is_a_parse_of_the_log_group() -> None:
    query = insights('from lambda | where service == "checkout" | fields message')
    assert commands(query) == [
        FETCHED,
        "parse @log /(?<starbaseRx1>[^\\/:]+)$/",
        'filter starbaseRx1 = "checkout"',
    ]


def test_severity_condition_is_a_membership_of_the_level_word() -> None:
    query = insights('from lambda | where severity >= "error" | fields message')
    parse = "parse @message " + syntax.regex(
        syntax.name_groups(LEVEL_TEXT_PATTERN, {1: "starbaseLevel1", 2: "starbaseLevel2"})
    )
    assert commands(query) == [
        FETCHED,
        parse,
        "filter tolower(coalesce(starbaseLevel1, starbaseLevel2))"
        ' in ["error", "fatal", "critical"]',
    ]


def test_severity_conjuncts_merge_into_one_test() -> None:
    query = insights('from lambda | where severity >= 13 and severity != "error" and severity < 21')
    assert commands(query)[-1] == (
        'filter tolower(coalesce(starbaseLevel1, starbaseLevel2)) in ["warn", "warning"]'
    )


def test_severity_as_a_value_is_computed_locally() -> None:
    query = insights("from lambda | where severity + 1 > 3 | fields message")
    assert query.unsupported == ("severity as a value (Insights has no CASE or if)",)
    grouped = insights("from lambda | stats count() by severity")
    assert grouped.unsupported == ("stats by an expression",)


def test_a_severity_condition_true_without_a_level_stays_local() -> None:
    query = insights("from lambda | where not exists(severity) | fields message")
    assert "a severity condition that holds when there is no level" in query.unsupported


_FRAGMENTS = [
    "INFO",
    "ERROR",
    "WARNING",
    "Error",
    "FATALITY",
    " ",
    "x",
    '{"level": "error"}',
    '"severity":"Fatal"',
    '"level":"foo"',
    '"level": "Warn"',
    "DEBUG:",
    "TRACE",
    "critical",
]


def _first_level(message: str) -> int | None:
    """`level_from_text` as DataFusion evaluates it (first match; group 1, else group 2)."""
    match = re.search(LEVEL_TEXT_PATTERN, message)
    if match is None:
        return None
    return LEVELS.get((match.group(1) or match.group(2)).lower())


@given(
    st.lists(st.sampled_from(_FRAGMENTS), max_size=6).map("".join),
    st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
    st.sampled_from([*sorted(set(LEVELS.values())), 2, 24]),
)
def test_severity_lowering_agrees_with_level_from_text(message: str, op: str, level: int) -> None:
    query = insights(f"from lambda | where severity {op} {level} | fields message")
    if len(commands(query)) == 1:  # no level word satisfies the condition
        assert query.unsupported == ("a condition that is never true",)
        assert not _compare(_first_level(message), op, level)
        return
    parse, condition = commands(query)[1:]
    pattern = _python_regex(tokenize(parse)[2][1])
    words = [w for k, w in tokenize(condition) if k == "string"]
    found = re.search(pattern, message)
    word = found and (found.group("starbaseLevel1") or found.group("starbaseLevel2"))
    insights_keeps = word is not None and word.lower() in words
    assert insights_keeps == _compare(_first_level(message), op, level)


def _compare(actual: int | None, op: str, level: int) -> bool:
    """SQL's comparison in a filter: a null level never passes."""
    return (
        actual is not None
        and {
            "==": actual == level,
            "!=": actual != level,
            "<": actual < level,
            "<=": actual <= level,
            ">": actual > level,
            ">=": actual >= level,
        }[op]
    )


def _python_regex(body: str) -> str:
    return re.sub(r"\(\?<(\w+)>", r"(?P<\1>", body)


def test_an_odd_attribute_key_is_written_into_the_prefilter() -> None:
    query = insights('from lambda | where attributes.`user-agent` contains "curl" | fields message')
    assert commands(query)[-1].startswith('filter @message =~ /"(?:u|\\\\u0075)')
    assert "(?:-|\\\\u002[dD])" in commands(query)[-1]


# ---------------------------------------------------------------- parse, stats, sort, limit, dedup


def test_parse_glob_and_regex() -> None:
    glob = insights('from lambda | parse message "GET * HTTP/*" as path, v | where path == "/"')
    assert commands(glob) == [
        'parse @message "GET * HTTP/*" as starbaseCap1, starbaseCap2',
        'filter starbaseCap1 = "/"',
        "display @timestamp, @ingestionTime, @message, @log, @logStream, "
        "starbaseCap1, starbaseCap2",
    ]
    regex = insights("from lambda | parse message /u=(?<user>\\w+) (x)(?<id>\\d+)/i | fields user")
    assert commands(regex) == [
        "parse @message /(?i)u=(?<starbaseCap1>\\w+) (x)(?<starbaseCap2>\\d+)/",
        "display @timestamp, @message, starbaseCap1, starbaseCap2",
    ]
    project = regex.remainder  # newest first, sorted here, then the fields
    assert isinstance(project, ir.Project) and isinstance(project.input, ir.Sort)
    assert project.items == (ir.NamedExpr("user", ir.Col("user", ir.Type.STRING)),)


def test_stats_with_every_pushable_aggregate_and_bin() -> None:
    query = insights(
        f"from lambda | {PARSED} | stats count() as n, count(a) as c, sum(b) as s,"
        " avg(b) as av, min(b) as lo, max(b) as hi,"
        " pct(b, 99.5) as p, stddev(b) as sd, earliest(message) as e,"
        " latest(message) as l, count() * 2 as twice by log_stream, bin(timestamp, 90s) as t"
    )
    assert commands(query)[1] == (
        "stats count(*) as n, count(starbaseCap1) as c, sum(starbaseCap2) as s,"
        " avg(starbaseCap2) as av, min(starbaseCap2) as lo, max(starbaseCap2) as hi,"
        " pct(starbaseCap2, 99.5) as p, stddev(starbaseCap2) as sd, earliest(@message) as e,"
        " latest(@message) as l, (count(*)) * (2) as twice by @logStream, bin(90s) as t"
    )
    assert [c.name for c in query.columns][:2] == ["@logStream", "t"]


@pytest.mark.parametrize(
    ("stats", "reason"),
    [
        ("count_distinct(message)", "aggregate count_distinct (approximate in Insights)"),
        ("round(avg(attributes.a))", "function round in stats"),
        ("sum(length(message))", "aggregate sum of an expression"),
        ("count() by lower(message)", "stats by an expression"),
        ("count() by bin(timestamp, 1w)", None),
        ("count() by bin(timestamp, 250us)", "a bin width that is not a whole number of "),
    ],
)
def test_stats_limits(stats: str, reason: str | None) -> None:
    query = insights(f"from lambda | stats {stats}")
    if reason is None:
        assert query.text == "stats count(*) as starbaseCol1 by bin(7d) as starbaseCol2"
    else:
        assert any(u.startswith(reason) for u in query.unsupported), query.unsupported


def test_two_stats_at_most_and_adjacent() -> None:
    two = insights("from lambda | stats count() as n by log_stream | stats avg(n) as m")
    assert commands(two) == ["stats count(*) as n by @logStream", "stats avg(n) as m"]
    assert two.remainder is None
    three = insights(
        "from lambda | stats count() as n by log_stream, log_group"
        " | stats sum(n) as s by log_group | stats max(s) as m"
    )
    assert "more than two stats" in three.unsupported
    between = insights(
        "from lambda | stats count() as n by log_stream | where n > 1 | stats avg(n) as m"
    )
    assert commands(between)[-1] == "filter n > 1"
    assert "a stage between two stats" in between.unsupported


def test_sort_limit_dedup() -> None:
    query = insights(
        "from lambda | sort timestamp desc | dedup log_stream | limit 5 | fields message"
    )
    assert commands(query)[1:] == [
        "sort @timestamp desc",
        "dedup @logStream",
        "limit 5",
    ]
    assert insights("from lambda | dedup log_stream | sort timestamp | limit 2").unsupported == (
        "a stage after dedup (Insights allows only limit there)",
    )
    assert insights("from lambda | sort log_group | limit 1").unsupported == ()
    assert insights(f"from lambda | {PARSED} | sort a | limit 1").unsupported == (
        "sort on a value that may be null",
    )
    assert insights("from lambda | limit 10001").unsupported == (
        "limit above 10000 (Insights returns at most 10000)",
    )
    assert insights("from lambda | limit $n").unsupported == (
        "limit $n (bind parameters before lowering)",
    )


def test_stats_sort_limit_need_no_remainder() -> None:
    query = insights("from lambda | stats count() as n by log_stream | sort n desc | limit 3")
    assert commands(query) == ["stats count(*) as n by @logStream", "sort n desc", "limit 3"]
    assert isinstance(query.remainder, ir.Sort)  # only renames @logStream → log_stream
    exact = insights("from lambda | stats count() as n | limit 1")
    assert exact.remainder is None
    assert exact.columns == (ir.Column("n", ir.Type.INT),)


def test_extend_stops_the_pushdown() -> None:
    query = insights('from lambda | extend x = lower(message) | where x == "a"')
    assert query.unsupported == ("stage extend",)
    assert isinstance(query.remainder, ir.Sort)  # newest first, over the local filter
    assert isinstance(query.remainder.input, ir.Filter)


# ---------------------------------------------------------------- time range, log groups


def test_time_range_is_not_in_the_text() -> None:
    query = insights(
        'from lambda | between "2026-11-27T00:00:00Z" and "2026-11-27T06:00:00Z"'
        ' | where message contains "x" | fields message'
    )
    assert "2026" not in query.text and "@timestamp >" not in query.text
    assert query.time_range is not None
    assert query.time_range.lower is not None and query.time_range.lower.inclusive
    assert query.time_range.upper is not None and not query.time_range.upper.inclusive
    relative = insights("from lambda | since 15m | stats count() as n")
    assert relative.text == "stats count(*) as n"
    assert relative.time_range == ir.TimeRange(ir.TimeBound(offset=-15 * 60 * 10**9), None)


def test_a_time_bound_the_range_does_not_imply_stays_local() -> None:
    query = insights("from lambda | since 1h | where timestamp >= $start | stats count() as n")
    assert query.time_range == ir.TimeRange(ir.TimeBound(offset=-3600 * 10**9), None)
    assert query.unsupported == ("a timestamp comparison outside the time range",)


def test_log_groups_are_split_in_batches_of_fifty() -> None:
    groups = [f"/aws/lambda/fn{i}" for i in range(120)]
    query = insights(
        'from lambda | where message contains "x" | stats count() as n',
        config=_config(groups),
    )
    assert [len(b) for b in query.log_groups] == [50, 50, 20]
    assert [g for batch in query.log_groups for g in batch] == groups
    assert commands(query) == ["fields @timestamp", "filter @message like /x/"]
    assert query.unsupported == ("stats over more than 50 log groups (3 queries)",)
    fifty = insights("from lambda | stats count() as n", config=_config(groups[:50]))
    assert len(fifty.log_groups) == 1 and fifty.remainder is None


# ---------------------------------------------------------------- profiles


def test_emulator_pushes_only_fields_and_a_limit_on_the_scan() -> None:
    text = 'from lambda | since 1h | where message contains "x" | sort timestamp desc | limit 5'
    aws = insights(text, "aws")
    assert commands(aws)[1:] == ["filter @message like /x/", "sort @timestamp desc", "limit 5"]
    emulator = insights(text, "emulator")
    assert emulator.profile == "emulator"
    assert commands(emulator) == ["fields @timestamp, @ingestionTime, @message, @log, @logStream"]
    assert emulator.time_range == aws.time_range
    assert emulator.unsupported == ("stage where",)
    direct = insights("from lambda | since 1h | fields message | limit 5", "emulator")
    assert commands(direct) == [FETCHED]  # the newest 5: FilterLogEvents cannot sort
    assert direct.unsupported == ("stage sort",)
    stats = insights("from lambda | stats count() as n", "emulator")
    assert stats.unsupported == ("stage stats",)
    configured = insights(text, config=_config(profile="emulator"))
    assert configured.profile == "emulator" and configured.text == emulator.text


# ---------------------------------------------------------------- multi-source, remainders


def test_multi_source_pushes_the_branch_and_its_partial_aggregate() -> None:
    """`federate` splits the count into a partial per source (pushed to Insights) and a final
    sum over the union (local); the text is the branch's own pipeline."""
    compiled = compile(
        'from otel, lambda | where message contains "x" | stats count() as n by service', CONFIG
    )
    (query,) = lower(compiled.plan, compiled.config)
    assert commands(query) == [
        "filter @message like /x/",
        r"parse @log /(?<starbaseRx1>[^\/:]+)$/",
        "stats count(*) as partial_1 by starbaseRx1",
    ]
    assert query.unsupported == ("stages above the union of several sources",)
    assert isinstance(query.remainder, ir.Project)  # renames the fetched group key
    whole = local_plan(compiled.plan, (query,))
    assert all(n.backend == "datafusion" for n in ir.plan_walk(whole) if isinstance(n, ir.Scan))
    assert '"lambda"' in to_sql(whole) and '"otel"' in to_sql(whole)


def test_remainder_runs_on_datafusion_over_fetched_rows() -> None:
    from starbase.backends.datafusion.engine import new_session

    query = insights(
        'from lambda | where message contains "a" | fields timestamp, severity, service, '
        "attributes.k as k"
    )
    assert "@message" in [c.name for c in query.columns]  # attributes.k is read locally
    fetched = pa.table(
        {
            "@timestamp": pa.array([1_700_000_000_123], pa.int64()),
            "@message": ['{"level": "warn", "k": "v", "m": "a"}'],
            "@log": ["123:/aws/lambda/checkout"],
        }
    )
    assert [c.name for c in query.columns] == fetched.column_names
    context = new_session()
    context.register_record_batches("lambda", [fetched.to_batches()])
    assert query.remainder is not None
    result = context.sql(to_sql(query.remainder)).to_arrow_table().to_pylist()
    assert result == [
        {
            "timestamp": result[0]["timestamp"],
            "severity": 13,
            "service": "checkout",
            "k": "v",
        }
    ]


def test_no_cloudwatch_source() -> None:
    compiled = compile("from otel | limit 1", CONFIG)
    assert lower(compiled.plan, compiled.config) == ()
    assert compiled.sql("cloudwatch") == "(does not apply: the query reads no CloudWatch source)"


def test_render_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "starbase.toml"
    config.write_text('[sources.lambda]\nformat = "cloudwatch"\nlog_groups = ["/aws/lambda/a"]\n')
    text = "from lambda | since 1h | stats count() as n by log_stream"
    assert main(["compile", "--config", str(config), "--target", "cloudwatch", text]) == 0
    out = capsys.readouterr().out
    compiled: CompiledQuery = compile(
        text,
        config_from_dict(
            {"sources": {"lambda": {"format": "cloudwatch", "log_groups": ["/aws/lambda/a"]}}}
        ),
    )
    assert out == render(lower(compiled.plan, compiled.config)) + "\n"
    assert out.startswith('source: lambda (profile aws)\nlog groups: "/aws/lambda/a"\n')
    assert "time range: [now() - 1h, ∞)" in out


# ---------------------------------------------------------------- no value changes the structure

_NASTY = st.sampled_from(list("ab \"'`/\\|\n\t#*()[]{}^$.?+@:,=~\u2028\x00é"))
VALUES = st.text(_NASTY, max_size=12)


def _lower_or_skip(text: str) -> InsightsQuery:
    """The query for `text`, or the example is skipped when StarQL cannot write the value."""
    try:
        return insights(text)
    except CompileError:
        assume(False)
    raise AssertionError("unreachable")


@given(VALUES)
def test_string_values_cannot_change_the_structure(value: str) -> None:
    query = _lower_or_skip(
        f"from lambda | where log_stream == {format_string(value)} | fields message"
    )
    parts = split_commands(query.text)
    try:
        syntax.string(value)
    except NotExpressible:
        assert len(parts) == 1 and query.unsupported
        return
    assert len(parts) == 2
    assert parts[1] == [("name", "filter"), ("name", "@logStream"), ("op", "="), ("string", value)]


@given(VALUES, st.sampled_from(["contains", "startswith", "endswith"]))
def test_text_tests_cannot_change_the_structure(value: str, op: str) -> None:
    query = _lower_or_skip(
        f"from lambda | where message {op} {format_string(value)} | fields message"
    )
    parts = split_commands(query.text)
    assert len(parts) == 2 and query.unsupported == ()
    assert parts[1][:3] == [("name", "filter"), ("name", "@message"), ("name", "like")]
    (kind, body), *rest = parts[1][3:]
    assert kind == "regex" and rest == []
    assert re.fullmatch(body, value)
    assert body.startswith("^") == (op == "startswith")
    assert body.endswith("$") == (op == "endswith") or value.endswith("$")


@given(VALUES, st.booleans())
def test_regexes_cannot_change_the_structure(value: str, ignore_case: bool) -> None:
    pattern = escape_regex(value) + "|x/y"
    flags = "i" if ignore_case else ""
    query = _lower_or_skip(
        f"from lambda | where message ~ {format_regex(pattern, flags)} | fields message"
    )
    parts = split_commands(query.text)
    assert len(parts) == 2
    assert parts[1][:3] == [("name", "filter"), ("name", "@message"), ("op", "=~")]
    (kind, body), *rest = parts[1][3:]
    assert kind == "regex" and rest == []
    escaped = re.sub(r"\\.|#", lambda m: "\\#" if m.group() == "#" else m.group(), pattern)
    assert body == ("(?i)" if ignore_case else "") + escaped


@given(VALUES.filter(lambda v: v and "`" not in v and "\n" not in v))
def test_field_names_cannot_change_the_structure(key: str) -> None:
    query = _lower_or_skip(
        f"from lambda | where attributes.{format_name(key)} == 1 | fields message"
    )
    parts = split_commands(query.text)
    assert len(parts) == 2 and query.unsupported  # the member is read locally
    assert parts[1][:3] == [("name", "filter"), ("name", "@message"), ("op", "=~")]
    (kind, body), *rest = parts[1][3:]
    assert kind == "regex" and rest == []
    assert re.search(body, json.dumps({key: 1}))  # the prefilter passes the event


@given(VALUES.filter(lambda v: "*" not in v))
def test_glob_patterns_cannot_change_the_structure(value: str) -> None:
    text = f"from lambda | parse message {format_string(value + '*')} as x | fields x"
    query = _lower_or_skip(text)
    parts = split_commands(query.text)
    try:
        syntax.string(value + "*")
    except NotExpressible:
        assert len(parts) == 1 and query.unsupported
        return
    assert [p[0][1] for p in parts] == ["parse", "display"]
    assert parts[0][2] == ("string", value + "*")


@given(st.text(max_size=20))
def test_syntax_tokens_read_back_as_their_value(value: str) -> None:
    try:
        assert tokenize(syntax.string(value)) == [("string", value)]
    except NotExpressible:
        assert "\\" in value or not syntax.printable(value) or {'"', "'"} <= set(value)
    try:
        assert tokenize(syntax.field(value)) in ([("name", value)], [("backtick", value)])
    except NotExpressible:
        assert not value or "`" in value or not syntax.printable(value) or value == "@"
    plain = value.replace("\\", "")
    written = plain.replace("#", "\\#") or "(?:)"
    assert tokenize(syntax.regex(plain)) == [("regex", written)]
