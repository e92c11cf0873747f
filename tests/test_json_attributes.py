"""`attributes.KEY` of a JSON-message source means one thing wherever the filter runs.

For the `cloudwatch` mapping `attributes` is `json_to_map(@message)`: the top-level members of
the message parsed as JSON (strings unescaped, other values as their JSON text, the last of
duplicate keys, null when the message is not a JSON object). A condition read after `extend`
is evaluated that way; the same condition pushed into the scan (DataFusion, on the stored
table or over fetched rows) or into Logs Insights must select exactly the same events. Log
text is hostile here: nested keys of the same name first, duplicate keys, escaped strings,
keys written with `\\u` escapes, JSON inside non-JSON lines.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest
from cloudwatch_data import CREDENTIALS, HOUR_MS, Event, load_cloudwatch, logs_client, moto_server
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from starbase import compile
from starbase.backends.cloudwatch.expr import ExprLowering
from starbase.backends.cloudwatch.lower import lower
from starbase.backends.datafusion.dialect import DataFusion
from starbase.backends.datafusion.engine import new_session
from starbase.backends.datafusion.lower import _expr
from starbase.backends.datafusion.udfs import json_to_map
from starbase.compiler import ir
from starbase.compiler import regex as portable
from starbase.compiler.types import Type
from starbase.config import config_from_dict
from starbase.mappings import load_mapping
from starbase.runtime.session import Session
from starbase.storage.table import open_table

REGION = "sa-east-1"  # moto keeps state per region: one of this module's own
ACCOUNT = "123456789012"

HOSTILE = [
    '{"ctx": {"user": "eve"}, "user": "bob"}',  # a nested key of the same name comes first
    '{"user": "bob", "user": "eve"}',  # duplicates: JSON parsers keep the last
    '{"user": "eve", "user": "bob"}',
    'not json "user": "bob"',  # JSON-looking text in a plain line
    'prefix {"user": "bob"}',
    '{"user": "b\\u006fb"}',  # an escaped value
    '{"us\\u0065r": "bob"}',  # an escaped key
    '{"user": "bob\\"s"}',
    '{"user" : "bob" , "n": 1}',
    '{"user": ["bob"]}',
    '{"user": {"name": "bob"}}',
    '{"user": null}',
    '{"user": "bob"',  # truncated
    '["user", "bob"]',
    '{"user": 200, "code": "200"}',
    '{"user": "bob"}',
]


def exact(messages: list[str], key: str, value: str) -> list[str]:
    """The messages whose top-level member `key` reads as `value` (the meaning of the query)."""
    maps = json_to_map(pa.array(messages, pa.string())).to_pylist()
    return [
        m
        for m, pairs in zip(messages, maps, strict=True)
        if pairs and dict(pairs).get(key) == value
    ]


# ---------------------------------------------------------------- DataFusion: stored events


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = Path(tmp_path_factory.mktemp("stored-json"))
    now_ms = int(time.time() * 1000)
    n = len(HOSTILE)
    open_table(data, "cloudwatch").append(
        pa.table(
            {
                "timestamp": pa.array([now_ms - 60_000 + i for i in range(n)], pa.int64()),
                "message": HOSTILE,
                "log_group": ["/aws/lambda/auth"] * n,
                "log_stream": ["s"] * n,
                "event_id": [str(i) for i in range(n)],
                "owner": [ACCOUNT] * n,
                "subscription_filters": [["to-starbase"]] * n,
                "received_time_unix_nano": pa.array([now_ms * 1_000_000] * n, pa.int64()),
            }
        )
    )
    return data


@pytest.mark.parametrize("value", ["bob", "eve", "200", 'bob"s'])
def test_a_pushed_member_filter_on_stored_events_is_json(stored: Path, value: str) -> None:
    config = config_from_dict(
        {"sources": {"cw": {"format": "cloudwatch", "location": str(stored)}}}
    )
    literal = json.dumps(value)
    pushed = f"from cw | where attributes.user == {literal} | fields message"
    kept = f"from cw | extend u = attributes.user | where u == {literal} | fields message"
    got = sorted(compile(pushed, config).run().column("message").to_pylist())
    unpushed = sorted(compile(kept, config).run().column("message").to_pylist())
    assert got == unpushed == sorted(exact(HOSTILE, "user", value))


# ---------------------------------------------------------------- DataFusion: the lowering


def _members() -> st.SearchStrategy[str]:
    """JSON object texts with nesting, duplicates and escapes, and some texts that are not."""
    keys = st.sampled_from(["user", "ctx", "u", "n"])
    leaf = st.one_of(
        st.sampled_from(["bob", "eve", 'b"ob', "bo\\b", ""]), st.integers(-3, 300), st.none()
    )
    value = st.recursive(leaf, lambda inner: st.dictionaries(keys, inner, max_size=2), max_leaves=4)

    def render(pairs: list[tuple[str, Any]], ascii_only: bool, spaced: bool) -> str:
        sep = " : " if spaced else ":"
        body = ", ".join(
            json.dumps(k, ensure_ascii=ascii_only) + sep + json.dumps(v, ensure_ascii=ascii_only)
            for k, v in pairs
        )
        return "{" + body + "}"

    objects = st.builds(
        render, st.lists(st.tuples(keys, value), max_size=4), st.booleans(), st.booleans()
    )
    escaped = objects.map(lambda t: t.replace("user", "\\u0075ser"))
    broken = objects.map(lambda t: t[:-1] if len(t) > 2 else "x " + t)
    return st.one_of(objects, escaped, broken, st.text(alphabet='{}"user:bo ,', max_size=20))


def _evaluate(messages: list[str | None], exprs: list[ir.Expr]) -> list[list[object]]:
    ctx = new_session()
    ctx.from_arrow(pa.table({"m": pa.array(messages, pa.string())}), name="t")
    select = exp.select(*(exp.alias_(_expr(e), f"c{i}") for i, e in enumerate(exprs))).from_("t")
    table = ctx.sql(select.sql(dialect=DataFusion)).to_arrow_table()
    return [table.column(i).to_pylist() for i in range(len(exprs))]


@settings(max_examples=max(1, 80 * settings.default.max_examples // 100))
@given(st.lists(_members(), min_size=1, max_size=10), st.sampled_from(["user", "ctx", "n"]))
@example(HOSTILE, "user")
def test_json_get_is_the_member_of_json_to_map(messages: list[str], key: str) -> None:
    column = ir.Col("m", Type.STRING)
    member = ir.Call("json_get", (column, ir.Lit(key, Type.STRING)), Type.STRING)
    mapped = ir.MapGet(ir.Call("json_to_map", (column,), Type.MAP), key)
    got, want = _evaluate([*messages, None], [member, mapped])
    assert got == want


# ---------------------------------------------------------------- Logs Insights


def _insights_condition(conjunct: ir.Expr) -> tuple[str | bool | None, str | None]:
    """(the exact condition, or None; a necessary condition on @message, or None)."""
    lowering = ExprLowering(load_mapping("cloudwatch").capabilities("aws"))
    try:
        text: str | bool | None = lowering.condition(conjunct)
    except Exception:
        text = None
    return text, lowering.prefilter(conjunct)


def _member(key: str) -> ir.Expr:
    message = ir.Col("@message", Type.STRING)
    return ir.Call("json_get", (message, ir.Lit(key, Type.STRING)), Type.STRING)


def test_insights_never_reads_a_member_from_its_discovered_fields() -> None:
    for conjunct in (
        ir.Compare("==", _member("user"), ir.Lit("bob", Type.STRING)),
        ir.Compare(">", ir.Cast(_member("n"), Type.FLOAT), ir.Lit(3, Type.INT)),
        ir.IsNull(_member("user"), negated=True),
    ):
        text, prefilter = _insights_condition(conjunct)
        assert text is None  # not pushed as is: Insights flattens and reads duplicates its way
        assert prefilter is not None and prefilter.startswith("@message =~ /")


def _python_prefilter(text: str) -> re.Pattern[str]:
    body = text.removeprefix("@message =~ /").removesuffix("/")
    return re.compile(portable.to_python(body.replace("\\/", "/").replace("\\#", "#")))


@settings(max_examples=max(1, 150 * settings.default.max_examples // 100))
@given(
    st.lists(_members(), min_size=1, max_size=10),
    st.sampled_from(["user", "n", 'u"s', "ü/x"]),
    st.sampled_from(["bob", 'b"ob', "bo\\b", "200", "", '{"a":1}']),
)
def test_the_insights_prefilter_keeps_every_event_the_condition_selects(
    messages: list[str], key: str, value: str
) -> None:
    equal = ir.Compare("==", _member(key), ir.Lit(value, Type.STRING))
    present = ir.IsNull(_member(key), negated=True)
    for conjunct, selected in (
        (equal, exact(messages, key, value)),
        (present, [m for m in messages if _present(m, key)]),
    ):
        _, prefilter = _insights_condition(conjunct)
        assert prefilter is not None
        python = _python_prefilter(prefilter)
        assert all(python.search(m) for m in selected), (prefilter, selected)


def _present(message: str, key: str) -> bool:
    (pairs,) = json_to_map(pa.array([message], pa.string())).to_pylist()
    return bool(pairs) and dict(pairs).get(key) is not None


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    end = (int(time.time() * 1000) // HOUR_MS - 1) * HOUR_MS
    events = [
        Event(end - HOUR_MS + 1_000 * (i + 2), "auth", "s", m, "INFO", None, None, None)
        for i, m in enumerate(HOSTILE)
    ]
    for endpoint in moto_server():
        load_cloudwatch(logs_client(endpoint, REGION), events)
        yield endpoint


@pytest.mark.parametrize("profile", ["aws", "emulator"])
def test_a_member_filter_on_cloudwatch_selects_exactly(moto: str, profile: str) -> None:
    """moto's Insights ignores `filter`: whatever is pushed, the exact test must run here."""
    source: dict[str, Any] = {
        "format": "cloudwatch",
        "log_groups": ["/aws/lambda/auth"],
        "region": REGION,
        "endpoint": moto,
        "profile": profile,
        **CREDENTIALS,
    }
    config = config_from_dict({"sources": {"lambda": source}})
    text = 'from lambda | since 1d | where attributes.user == "bob" | fields message'
    compiled = compile(text, config)
    (query,) = lower(compiled.plan, config)
    if profile == "aws":
        assert "@message =~ /" in query.text and "`user`" not in query.text
    got = sorted(Session(config).run(compiled.compiled).column("message").to_pylist())
    assert got == sorted(exact(HOSTILE, "user", "bob"))
