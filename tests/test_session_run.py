"""`Session.run` runs on the caller's thread and still returns every row of a long result.

The cursor a run fills is unbounded (the caller waits for the whole table anyway), so a result
of many more batches than a streaming cursor buffers neither blocks nor loses rows; a limit
still cuts it and says so; failures are the same one-line errors.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest

from starbase.compiler.timestamps import parse_iso
from starbase.config import default_config
from starbase.runtime.cursor import BUFFER
from starbase.runtime.errors import QueryFailed
from starbase.runtime.session import Session
from starbase.storage import write_batch

T0 = parse_iso("2026-11-20T10:00:00Z")
ROWS = 8192 * (BUFFER + 4)  # more batches than a streaming cursor holds


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("many-batches")
    write_batch(
        root,
        pa.table(
            {
                "time_unix_nano": pa.array([T0 + i * 1000 for i in range(ROWS)], pa.int64()),
                "body": pa.array([f"line {i}" for i in range(ROWS)]),
                "service": pa.array(["api"] * ROWS),
            }
        ),
    )
    return root


def test_run_returns_a_result_of_many_batches_on_the_callers_thread(many: Path) -> None:
    with Session(default_config(many)) as session:
        compiled = session.compile("from otel | sort timestamp asc | fields message")
        result: list[pa.Table] = []
        runner = threading.Thread(target=lambda: result.append(session.run(compiled)))
        runner.start()
        runner.join(timeout=60)
        assert not runner.is_alive(), "run() blocked"
        (table,) = result
        assert table.num_rows == ROWS
        assert table["message"][ROWS - 1].as_py() == f"line {ROWS - 1}"


def test_run_with_a_limit_cuts_the_result(many: Path) -> None:
    with Session(default_config(many)) as session:
        compiled = session.compile("from otel | sort timestamp asc | fields message")
        table = session.run(compiled, limit=10_000)
        assert table.num_rows == 10_000
        assert table["message"][9_999].as_py() == "line 9999"


def test_run_failures_are_one_line(tmp_path: Path) -> None:
    with Session(default_config(tmp_path / "missing")) as session:
        with pytest.raises(QueryFailed, match="does not exist") as failure:
            session.run(session.compile("from otel | limit 1"))
        assert "\n" not in str(failure.value)
