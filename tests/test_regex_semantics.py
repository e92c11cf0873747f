"""Regexes mean on DataFusion what they mean in Python's `re` (the oracle), in every form.

Two DataFusion traps are covered: `regexp_match` leaves out the groups that did not take part
in a match (so a later capture moved left), and the optimizer rewrites simple regexes into
`LIKE` patterns where a literal backslash turned into LIKE's escape character. Captures are
checked through `parse` (regex and glob), the `regex_extract` mapping kind, and the lowering of
`regex_extract` itself over random patterns with optional and alternative groups; matches
through `~`, `!~`, bare searches and `--param` regexes over random literal text full of
backslashes, `%` and `_`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest
from cloudwatch_data import CREDENTIALS, HOUR_MS, Event, load_cloudwatch, logs_client, moto_server
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from starbase import compile
from starbase.backends.cloudwatch.lower import lower
from starbase.backends.datafusion.dialect import DataFusion
from starbase.backends.datafusion.engine import new_session
from starbase.backends.datafusion.lower import _expr
from starbase.cli import main
from starbase.compiler import ir
from starbase.compiler import regex as portable
from starbase.compiler.passes.resolve import escape_regex
from starbase.compiler.timestamps import parse_iso
from starbase.compiler.types import Type
from starbase.config import Config, config_from_dict, default_config
from starbase.storage import write_batch

T0 = parse_iso("2026-11-20T10:00:00Z")


def examples(n: int) -> settings:
    """`n` examples under the default profile, scaled by the loaded one (conftest.py)."""
    return settings(max_examples=max(1, n * settings.default.max_examples // 100))


MESSAGES = [
    "user=alice logged in",
    "processed order o-17 in 3ms",
    '"GET /cart HTTP/1.1" 200',
    '"POST /pay HTTP/1.1" 201',
    "Failed password for invalid user admin from 10.0.0.1 port 22",
    "Failed password for root from 10.0.0.2 port 22",
    r"opened C:\Windows\system32\drivers",
    "opened C:Windows",
    "disk 100% full",
    "a_b and a\\b",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("regex-data")
    n = len(MESSAGES)
    write_batch(
        root,
        pa.table(
            {
                "time_unix_nano": pa.array([T0 + i for i in range(n)], pa.int64()),
                "body": MESSAGES,
                "resource_attributes": pa.array(
                    [[("service.name", "auth")]] * n, pa.map_(pa.string(), pa.string())
                ),
            }
        ),
    )
    return root


def rows(root: Path, text: str, **params: object) -> list[dict[str, object]]:
    return list(compile(text, default_config(root)).run(**params).to_pylist())


def expected_captures(pattern: str, names: tuple[str, ...]) -> list[dict[str, object]]:
    python = re.compile(portable.to_python(pattern))
    out = []
    for message in MESSAGES:
        m = python.search(message)
        out.append({n: (m.group(n) if m else None) for n in names} | {"message": message})
    return out


# ---------------------------------------------------------------- captures, end to end


@pytest.mark.parametrize(
    "pattern",
    [
        r"^(?:user=(?<user>\S+)|processed order (?<order>\S+)) ",
        r'"(?:(?<get>GET)|(?<post>POST)) ',
        r"(?:invalid user )?\S+ from (?<ip>\S+)",
        r"(?<pre>invalid user )?(?<who>\S+) from (?<ip>\S+)",
        r"(?<a>x)?(?<b>\w+)|(?<c>%)",
    ],
)
def test_a_group_that_did_not_take_part_is_null_and_the_others_keep_their_place(
    data: Path, pattern: str
) -> None:
    names = portable.group_names(pattern)
    text = f"from otel | sort timestamp | parse message /{pattern}/ | fields {', '.join(names)}"
    got = rows(data, text + ", message")
    assert got == expected_captures(pattern, names)


def test_glob_captures_keep_their_place(data: Path) -> None:
    got = rows(
        data,
        'from otel | sort timestamp | parse message "Failed password for * from * port *"'
        " as who, ip, port | where exists(ip) | fields who, ip, port",
    )
    assert got == [
        {"who": "invalid user admin", "ip": "10.0.0.1", "port": "22"},
        {"who": "root", "ip": "10.0.0.2", "port": "22"},
    ]


# ---------------------------------------------------------------- captures, the lowering


def _groups(max_depth: int) -> st.SearchStrategy[str]:
    """Random regexes over a tiny alphabet with optional, alternative and nested groups."""
    atoms = st.sampled_from(["a", "b", " ", "[ab]", ".", r"\w", "a*", "b+", "x?"])

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        sequence = st.lists(inner, min_size=1, max_size=3).map("".join)
        group = st.tuples(st.sampled_from(["(", "(?:", "(?<g>"]), sequence).map(
            lambda t: t[0] + t[1] + ")"
        )
        # no `+`/`*` on groups: Python and Rust report different captures when a repeated
        # group's last iteration matches the empty string (`a(x?)+` on "ax": "" vs "x")
        quantified = st.tuples(group, st.sampled_from(["", "", "?", "{0,1}"])).map("".join)
        alternation = st.lists(sequence, min_size=2, max_size=3).map("|".join)
        grouped_alternation = alternation.map(lambda a: f"(?:{a})")
        return st.one_of(quantified, grouped_alternation, sequence)

    body = st.recursive(atoms, extend, max_leaves=max_depth)
    top = st.lists(body, min_size=1, max_size=3).map("".join)
    return st.one_of(top, st.lists(top, min_size=2, max_size=3).map("|".join))


def _unique_names(pattern: str) -> str:
    counter = iter(range(1000))
    return re.sub(r"\(\?<g>", lambda _: f"(?<g{next(counter)}>", pattern)


def _run_expressions(subjects: list[str | None], exprs: list[ir.Expr]) -> list[list[object]]:
    ctx = new_session()
    ctx.from_arrow(pa.table({"s": pa.array(subjects, pa.string())}), name="t")
    select = exp.select(*(exp.alias_(_expr(e), f"c{i}") for i, e in enumerate(exprs))).from_("t")
    table = ctx.sql(select.sql(dialect=DataFusion)).to_arrow_table()
    return [table.column(i).to_pylist() for i in range(len(exprs))]


SUBJECTS = st.lists(st.text(alphabet="ab x%\\", max_size=8), min_size=1, max_size=12)


@examples(60)
@given(_groups(6).map(_unique_names), SUBJECTS, st.sampled_from(["", "i", "s"]))
@example(r"(?:(a)|(b)) ", ["b ", "a ", "c"], "")
@example(r"(a)?(b)", ["b", "ab"], "")
def test_every_capture_agrees_with_python(pattern: str, subjects: list[str], flags: str) -> None:
    python = re.compile(
        portable.to_python(pattern),
        (re.IGNORECASE if "i" in flags else 0) | re.DOTALL * (flags == "s"),
    )
    count = python.groups
    if count == 0:
        return
    column = ir.Col("s", Type.STRING)
    exprs: list[ir.Expr] = [
        ir.Call(
            "regex_extract", (column, ir.Regex(pattern, flags), ir.Lit(g, Type.INT)), Type.STRING
        )
        for g in range(1, count + 1)
    ]
    got = _run_expressions([*subjects, None], exprs)
    for g in range(1, count + 1):
        want = [(m.group(g) if (m := python.search(s)) else None) for s in subjects] + [None]
        assert got[g - 1] == want, (pattern, g)


def test_the_first_group_that_took_part_is_one_regex_match() -> None:
    """`group: [1, 2]` of a mapping (and `level_from_text`) needs no second evaluation."""
    pattern = r'"level"\s*:\s*"(\w+)"|\b(ERROR|WARN)\b'
    column = ir.Col("s", Type.STRING)
    first = ir.Call(
        "coalesce",
        tuple(
            ir.Call("regex_extract", (column, ir.Regex(pattern), ir.Lit(g, Type.INT)), Type.STRING)
            for g in (1, 2)
        ),
        Type.STRING,
    )
    sql = _expr(first).sql(dialect=DataFusion)
    assert sql.count("REGEXP_MATCH") == 1, sql
    got = _run_expressions(['{"level": "info"} ERROR', "x WARN y", "none", ""], [first])
    assert got == [["info", "WARN", None, None]]


# ---------------------------------------------------------------- literal backslashes


def test_a_literal_backslash_matches_itself(data: Path) -> None:
    def messages(text: str, **params: object) -> list[object]:
        return [
            r["message"] for r in rows(data, text + " | sort timestamp | fields message", **params)
        ]

    windows = r"opened C:\Windows\system32\drivers"
    assert messages(r"from otel | where message ~ /C:\\Windows/") == [windows]
    assert messages(r"from otel | where message ~ /\\/") == [windows, "a_b and a\\b"]
    assert messages(r"from otel | where /^opened C:\\W/") == [windows]
    assert messages(r"from otel | where message ~ /a\\b$/") == ["a_b and a\\b"]
    assert "disk 100% full" in messages(r"from otel | where message !~ /\\/")
    assert messages("from otel | where message ~ $re", re=r"C:\\Windows") == [windows]
    assert messages("from otel | where message ~ /100%/") == ["disk 100% full"]
    assert messages("from otel | where message ~ /a_b/") == ["a_b and a\\b"]


def test_a_literal_backslash_parameter_on_the_command_line(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "query",
            "--data",
            str(data),
            "-o",
            "ndjson",
            "-p",
            r"re=C:\\Windows",
            "from otel | where message ~ $re | fields message",
        ]
    )
    assert code == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {"message": r"opened C:\Windows\system32\drivers"}


LITERALS = st.text(alphabet="ab\\%_.", min_size=1, max_size=5)


@examples(60)
@given(LITERALS, st.sampled_from(["", "^", "$", "^$"]), st.booleans(), SUBJECTS)
@example("\\", "", False, ["100%", "a\\b"])
@example("a\\", "^", False, ["a\\b", "a%"])
def test_literal_text_as_a_regex_matches_like_python(
    literal: str, anchors: str, negated: bool, subjects: list[str]
) -> None:
    pattern = escape_regex(literal)
    pattern = ("^" if "^" in anchors else "") + pattern + ("$" if anchors.endswith("$") else "")
    python = re.compile(pattern)
    match = ir.Match(ir.Col("s", Type.STRING), ir.Regex(pattern), negated)
    (got,) = _run_expressions([*subjects, None], [match])
    want = [(python.search(s) is not None) != negated for s in subjects] + [None]
    assert got == want, pattern


# ---------------------------------------------------------------- CloudWatch


CW_REGION = "eu-west-3"  # moto keeps state per region: one of this module's own


@pytest.fixture(scope="module")
def lambda_events() -> Iterator[str]:
    end = (int(time.time() * 1000) // HOUR_MS - 1) * HOUR_MS
    events = [
        Event(end - HOUR_MS + 1_000 * (i + 2), "auth", "s", m, "INFO", None, None, None)
        for i, m in enumerate(MESSAGES)
    ]
    for endpoint in moto_server():
        load_cloudwatch(logs_client(endpoint, CW_REGION), events)
        yield endpoint


def _lambda(endpoint: str, profile: str) -> Config:
    source = {
        "format": "cloudwatch",
        "log_groups": ["/aws/lambda/auth"],
        "region": CW_REGION,
        "endpoint": endpoint,
        "profile": profile,
        **CREDENTIALS,
    }
    return config_from_dict({"sources": {"lambda": source}})


def test_captures_and_backslashes_through_the_cloudwatch_remainder(lambda_events: str) -> None:
    """The emulator's rows go through DataFusion locally: the same captures, the same matches."""
    config = _lambda(lambda_events, "emulator")
    for pattern in (
        r'"(?:(?<get>GET)|(?<post>POST)) ',
        r"^(?:user=(?<user>\S+)|processed order (?<order>\S+)) ",
    ):
        names = portable.group_names(pattern)
        text = f"from lambda | since 1d | parse message /{pattern}/ | sort timestamp"
        got = compile(text + f" | fields {', '.join(names)}, message", config).run().to_pylist()
        assert got == expected_captures(pattern, names)
    text = r"from lambda | since 1d | where message ~ /C:\\Windows/ | fields message"
    assert compile(text, config).run().column("message").to_pylist() == [MESSAGES[6]]


def test_insights_parses_each_named_group_under_a_name_of_its_own(lambda_events: str) -> None:
    """Logs Insights returns named groups by name: a group that takes no part is no field."""
    config = _lambda(lambda_events, "aws")
    text = 'from lambda | parse message /"(?:(?<get>GET)|(?<post>POST)) / | fields get, post'
    (query,) = lower(compile(text, config).plan, config)
    assert query.text.startswith(
        'parse @message /"(?:(?<starbaseCap1>GET)|(?<starbaseCap2>POST)) /'
    )
