"""Spark against DataFusion: the same StarQL gives the same answer on the same files.

One Spark session (`local[2]`) serves the whole module (starting it takes ~10 s). Every golden
query DataFusion runs (`tests/golden/queries`, with the golden results' parameters and clock)
and every query of the DuckDB differential corpus (`test_differential.CASES`) is compiled for
Spark: either it is refused at compile time with an `UnsupportedError` naming Spark and the
operation (each such query is listed in `REFUSED`, so a new refusal — or a query that starts
to run — fails here), or Spark's answer equals DataFusion's (`assert_same_rows`: same column
names, timestamps compared as ns, floats to 1e-9; in order when the query orders its result,
as multisets otherwise). Also: Spark reads exactly the committed snapshot (a stray Parquet
file in the table's folder is not read), `compile --target spark` and `query --engine spark`
from the command line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import DATASET_ROWS, DATASET_SPAN, DATASET_START
from test_differential import CASES, FROM_DATA, assert_same_rows, backends, data_params
from test_golden import GOLDEN_SOURCES, QUERIES
from test_golden_results import PARAMS, _ordered

from starbase.backends.base import UnsupportedError
from starbase.compiler.timestamps import parse_iso
from starbase.config import Config, config_from_dict, default_config
from starbase.runtime.errors import QueryFailed
from starbase.runtime.session import Session
from starbase.storage import write_batch

__all__ = ["backends", "data_params"]  # the differential corpus' fixtures, shared

NOW = DATASET_START + DATASET_SPAN

# Queries Spark refuses at compile time, with the operation its error names (docs/spark.md).
JOIN = "the plan node Join"  # the join stage: not lowered for Spark yet (docs/spark.md)
REFUSED: dict[str, str] = {
    "golden:join_left_subquery": JOIN,
    **{
        f"differential:{name}": JOIN
        for name in (
            "join_inner_aggregate_subquery",
            "join_left_keeps_unmatched",
            "join_leftouter_on_trace_id_many_to_many",
            "join_collisions_renamed",
            "join_keys_with_different_names_two_keys",
            "join_then_default_order_and_limit",
            "join_right_side_with_its_own_limit",
        )
    },
}


class Pair:
    """One DataFusion and one Spark session over the same configuration."""

    def __init__(self, config: Config) -> None:
        self.datafusion = Session(config)
        self.spark = Session(config, engine="spark")

    def compare(
        self,
        text: str,
        params: dict[str, object],
        now_ns: int | None,
        *,
        ordered: bool,
        compare: tuple[str, ...] | None = None,
        rel_tol: float = 1e-9,
    ) -> str | None:
        """None when both agree (else the test fails); the refusal's text when Spark refuses."""
        compiled = self.spark.compile(text)
        try:
            compiled.sql("spark")
        except UnsupportedError as exc:
            assert exc.target == "spark" and str(exc).startswith("spark cannot run")
            return exc.operation
        want = self.datafusion.run(self.datafusion.compile(text), params, now_ns=now_ns)
        got = self.spark.run(compiled, params, now_ns=now_ns)
        assert got.schema == want.schema, f"result shapes differ:\n{got.schema}\n{want.schema}"
        assert_same_rows(got, want, ordered=ordered, compare=compare, rel_tol=rel_tol)
        return None


@pytest.fixture(scope="module")
def pair(otel_data: Path) -> Iterator[Pair]:
    sources = {name: dict(raw) for name, raw in GOLDEN_SOURCES.items()}
    sources["otel"]["location"] = str(otel_data)
    pair = Pair(config_from_dict({"sources": sources}))
    yield pair
    pair.spark.close()
    pair.datafusion.close()


@pytest.fixture(scope="module")
def default_pair(otel_data: Path) -> Iterator[Pair]:
    """Over the differential corpus' configuration (the default one, as `backends`)."""
    pair = Pair(default_config(otel_data))
    yield pair
    pair.spark.close()
    pair.datafusion.close()


def _golden() -> list[Path]:
    return [p for p in sorted(QUERIES.glob("*.starql")) if p.with_suffix(".result").exists()]


@pytest.mark.parametrize("path", _golden(), ids=lambda p: p.stem)
def test_golden_query_agrees(path: Path, pair: Pair) -> None:
    text = path.read_text()
    ordered = _ordered(pair.datafusion.compile(text).plan)
    refused = pair.compare(text, PARAMS.get(path.stem, {}), NOW, ordered=ordered)
    assert refused == REFUSED.get(f"golden:{path.stem}"), refused


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_differential_query_agrees(
    case: object, default_pair: Pair, data_params: dict[str, object]
) -> None:
    from test_differential import Case

    assert isinstance(case, Case)
    params = {k: data_params[k] if v is FROM_DATA else v for k, v in case.params.items()}
    now = None if case.now is None else parse_iso(case.now)
    refused = default_pair.compare(
        case.starql,
        params,
        now,
        ordered=case.ordered,
        compare=case.compare,
        rel_tol=case.rel_tol,
    )
    assert refused == REFUSED.get(f"differential:{case.id}"), refused


# ---------------------------------------------------------------- edge cases on small data

T0 = parse_iso("2026-11-20T10:00:00Z")
EDGE_MESSAGES = [
    "b",  # (?:(a)|(b)): group 1 takes no part, group 2 does
    "a",
    "xa-",
    "x-",  # x(a*)-: group 1 takes part with empty text
    r"opened C:\Windows\system32",
    "disk 100% full",
    "ends with a newline\n",
    "line one\nline two",
    "Ünïcödé wörd ÉCHEC",
    "",
    None,
    "2.675",
    " 12 ",
    "1e3",
    "-0.5",
    "2.5",
    "  pad  ",
]
EDGE_QUERIES = {
    "alternative_groups": "from otel | parse message /(?:(?<g1>a)|(?<g2>b))/ | fields g1, g2",
    "empty_capture": "from otel | parse message /x(?<run>a*)-/ | fields message, run",
    "backslash_match": r"from otel | where message ~ /\\/ | fields message",
    "backslash_capture": r"from otel | parse message /C:\\(?<dir>\w+)\\/ | fields dir",
    "percent_is_literal": "from otel | where message ~ /100%/ | fields message",
    "end_anchor_before_newline": "from otel | where message ~ /newline$/ | fields message",
    "end_anchor_multiline": "from otel | where message ~ /one$/m | fields message",
    "unicode_word": r"from otel | where message ~ /^\w+ w\w+d/ | fields message",
    "unicode_case": "from otel | where message ~ /échec/i | fields message",
    "dot_newline": "from otel | where message ~ /one.line/ | fields message",
    "null_and_empty": 'from otel | where message == "" or not exists(message) | fields message',
    "times_as_text": "from otel | extend t = tostring(timestamp) | fields t, message",
    "times_cast": 'from otel | extend t = concat("at ", timestamp) | fields t',
    "bins": "from otel | stats count() by bin(timestamp, 7s)",
    "hex_ids": 'from otel | where trace_id == "0102030405060708090a0b0c0d0e0f10" | fields span_id',
    "numbers": "from otel | extend x = tonumber(message) | extend r = round(x), r2 = round(x, 2), "
    "f = floor(x), c = ceil(x), a = abs(x) | fields x, r, r2, f, c, a",
    "integers": "from otel | extend i = severity - 3 | extend m = i % 5, d = i / 0, q = 7 / i, "
    "n = -i | fields i, m, d, q, n",
    "strings": "from otel | extend l = length(message), u = upper(message), lo = lower(message), "
    "t = trim(message), r = replace(message, 'a', 'A'), s = substr(message, 1, 3), "
    "s0 = substr(message, 0) | fields l, u, lo, t, r, s, s0",
    "nulls": "from otel | extend c = concat(message, 'x', message), k = coalesce(message, 'none'), "
    "i = if(message == 'b', 'yes', 'no'), e = exists(message) | fields c, k, i, e",
    "texts": "from otel | extend s = tostring(severity), b = tostring(message == 'b') "
    "| fields s, b",
    "earliest_latest": "from otel | stats earliest(message), latest(message), pct(severity, 50)",
}


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pair, Path]]:
    root = tmp_path_factory.mktemp("spark-edge")
    n = len(EDGE_MESSAGES)
    write_batch(
        root,
        pa.table(
            {
                "time_unix_nano": pa.array([T0 + i * 1_234_567_891 for i in range(n)], pa.int64()),
                "severity_number": pa.array([0, 9, 13, None, *range(1, n - 3)], pa.int32()),
                "body": EDGE_MESSAGES,
                "trace_id": ["0102030405060708090a0b0c0d0e0f10"] * 2 + [None] * (n - 2),
                "span_id": ["a1b2c3d4e5f60718", None] + [None] * (n - 2),
                "resource_attributes": pa.array(
                    [[("service.name", "auth")]] * n, pa.map_(pa.string(), pa.string())
                ),
            }
        ),
    )
    pair = Pair(default_config(root))
    yield pair, root
    pair.spark.close()
    pair.datafusion.close()


@pytest.mark.parametrize("name", EDGE_QUERIES)
def test_edge_query_agrees(name: str, edge: tuple[Pair, Path]) -> None:
    pair, _ = edge
    assert pair.compare(EDGE_QUERIES[name], {}, None, ordered=False) is None


def test_refused_at_compile_time(edge: tuple[Pair, Path]) -> None:
    """A capture Spark cannot take exactly is refused before anything runs, naming it."""
    pair, _ = edge
    compiled = pair.spark.compile("from otel | parse message /(?:x(?<run>a*)|b)/ | fields run")
    with pytest.raises(UnsupportedError, match="spark cannot run a capture of group 1"):
        compiled.sql("spark")
    with pytest.raises(QueryFailed, match="spark cannot run a capture of group 1"):
        pair.spark.run(compiled)


def test_reads_the_committed_snapshot_only(edge: tuple[Pair, Path]) -> None:
    """A Parquet file in the table's folders that no commit names is never read."""
    pair, root = edge
    query = "from otel | stats count() as n"
    before = pair.spark.run(pair.spark.compile(query)).column("n").to_pylist()
    committed = next((root / "otel" / "logs" / "v2").rglob("*.parquet"))
    stray = committed.parent.parent / "by=append-99999999" / "stray.parquet"
    stray.parent.mkdir()
    shutil.copy(committed, stray)
    try:
        after = pair.spark.run(pair.spark.compile(query)).column("n").to_pylist()
        assert after == before == [len(EDGE_MESSAGES)]
    finally:
        shutil.rmtree(stray.parent)
    assert pq.read_metadata(committed).num_rows == len(EDGE_MESSAGES)


def test_engines_keep_their_own_sources(pair: Pair, edge: tuple[Pair, Path]) -> None:
    """Two Spark engines in one process over different data folders, both naming their source
    `otel`, each read their own (their views live in sessions of their own)."""
    query = "from otel | stats count() as n"
    counts = []
    for session in (pair.spark, edge[0].spark, pair.spark, edge[0].spark):
        counts.append(session.run(session.compile(query)).column("n").to_pylist())
    assert counts == [[DATASET_ROWS], [len(EDGE_MESSAGES)]] * 2


def test_command_line(edge: tuple[Pair, Path]) -> None:
    """`compile --target spark` prints Spark SQL; `query --engine spark` runs it."""
    _, root = edge
    base = [sys.executable, "-m", "starbase"]
    shown = subprocess.run(
        [*base, "compile", "--target", "spark", "from otel | where message ~ /a$/"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "RLIKE '(?dU)a\\\\z'" in shown.stdout
    ran = subprocess.run(
        [*base, "query", "--data", str(root), "--engine", "spark", "--spark-master",
         "local[1]", "--output", "ndjson", "from otel | stats count() as n"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )  # fmt: skip
    assert json.loads(ran.stdout) == {"n": len(EDGE_MESSAGES)}


def test_a_bad_master_is_one_clear_error(tmp_path: Path) -> None:
    session = Session(default_config(tmp_path), engine="spark", engine_options={"master": "x:/"})
    with pytest.raises(QueryFailed, match="spark: master 'x:/' is not local"):
        session.run(session.compile("from otel | limit 1"))
