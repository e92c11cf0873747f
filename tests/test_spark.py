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

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import DATASET_SPAN, DATASET_START
from test_differential import CASES, FROM_DATA, Backends, assert_same_rows, backends, data_params
from test_golden import GOLDEN_SOURCES, QUERIES
from test_golden_results import PARAMS, _ordered

from starbase.backends.base import UnsupportedError
from starbase.compiler.timestamps import parse_iso
from starbase.config import Config, config_from_dict, default_config
from starbase.runtime.session import Session

__all__ = ["backends", "data_params"]  # the differential corpus' fixtures, shared

NOW = DATASET_START + DATASET_SPAN

# Queries Spark refuses at compile time, with the operation its error names (docs/spark.md).
REFUSED: dict[str, str] = {}


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
