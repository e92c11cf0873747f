"""Golden results: every golden query that DataFusion can run is executed on the shared
fixture dataset (`otel_data`, 20k deterministic synthetic records) and compared with the
committed `queries/NAME.result`.

A result file holds the row count, the columns with their Arrow types, a SHA-256 of every
row (as NDJSON, in the query's order when it sorts, else sorted) and the first rows for
review. `now()` is pinned to the end of the dataset and `$parameters` come from `PARAMS`.
`STARBASE_UPDATE_GOLDEN=1` (`make golden-update`) rewrites the files; review every diff.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from conftest import DATASET_SPAN, DATASET_START
from test_golden import GOLDEN_SOURCES, QUERIES, check

from starbase.backends.datafusion.lower import UnsupportedError
from starbase.compiler import ir
from starbase.config import config_from_dict
from starbase.runtime.output import rows
from starbase.runtime.session import Session

UPDATE = os.environ.get("STARBASE_UPDATE_GOLDEN") == "1"
NOW = DATASET_START + DATASET_SPAN
SHOWN_ROWS = 5
PARAMS: dict[str, dict[str, object]] = {
    "params": {
        "window": "6h",
        "a": "checkout",
        "b": "payments",
        "pattern": "(?i)order|payment",
        "min": 0,
        "needle": "o",
        "width": "15m",
        "n": 7,
    },
    "between_params": {
        "start": "2026-11-20T06:00:00Z",
        "end": "2026-11-20T07:30:00Z",
        "service": "gateway",
        "n": 4,
    },
}


def _runnable() -> list[Path]:
    return sorted(QUERIES.glob("*.starql"))


@pytest.fixture(scope="module")
def session(otel_data: Path) -> Session:
    sources = {name: dict(raw) for name, raw in GOLDEN_SOURCES.items()}
    sources["otel"]["location"] = str(otel_data)
    return Session(config_from_dict({"sources": sources}))


def render_result(text: str, name: str, session: Session) -> str | None:
    compiled = session.compile(text)
    try:
        compiled.sql("datafusion")
    except UnsupportedError:
        return None
    table = session.run(compiled, PARAMS.get(name, {}), now_ns=NOW)
    lines = [
        json.dumps(row, ensure_ascii=False, sort_keys=False, default=str) for row in rows(table)
    ]
    ordered = _ordered(compiled.plan)
    canonical = lines if ordered else sorted(lines)
    digest = hashlib.sha256("\n".join(canonical).encode()).hexdigest()
    header = [
        f"rows: {table.num_rows}",
        "columns: " + ", ".join(f"{f.name} {f.type}" for f in table.schema),
        f"sha256 ({'in query order' if ordered else 'sorted'}): {digest}",
        f"first rows ({'in query order' if ordered else 'sorted'}):",
    ]
    return "\n".join([*header, *canonical[:SHOWN_ROWS]]) + "\n"


def _ordered(plan: ir.Plan) -> bool:
    """Whether the result's row order is defined: a sort not undone by stats or a union."""
    node = plan
    while not isinstance(node, ir.Sort | ir.Aggregate | ir.Union | ir.Scan):
        node = ir.plan_inputs(node)[0]
    return isinstance(node, ir.Sort)


@pytest.mark.parametrize("path", _runnable(), ids=lambda p: p.stem)
def test_query_result(path: Path, session: Session) -> None:
    text = path.read_text()
    actual = render_result(text, path.stem, session)
    expected_path = path.with_suffix(".result")
    if actual is None:
        assert not expected_path.exists(), f"{expected_path} is stale: the query no longer runs"
        pytest.skip("not run by DataFusion (uses a source of another backend)")
    if UPDATE:
        expected_path.write_text(actual)
        return
    assert expected_path.exists(), f"missing {expected_path}; run make golden-update"
    check(expected_path.read_text(), actual, str(expected_path), text)
