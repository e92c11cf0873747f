"""The session: cursors that stream Arrow batches, metrics, limits, explain, sample — the same in
this process and in worker processes — and cancel that frees the CPU at once.

Uses the suite's 20,000-record dataset (`otel_data`) and, for cancelling, `heavy_data`
(an aggregation of several seconds). CPU is read from /proc (Linux), as the CI runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from heavy_data import HEAVY_QUERY, ROWS, cpu_seconds

from starbase.cli import main
from starbase.compiler.errors import CompileError
from starbase.config import default_config
from starbase.runtime.errors import QueryCancelled, QueryFailed
from starbase.runtime.session import Session


@pytest.fixture(scope="module")
def inline(otel_data: Path) -> Iterator[Session]:
    with Session(default_config(otel_data)) as session:
        yield session


@pytest.fixture(scope="module")
def workers(otel_data: Path) -> Iterator[Session]:
    with Session(default_config(otel_data), workers=1) as session:
        yield session


def test_a_cursor_streams_typed_batches_with_metrics(inline: Session) -> None:
    compiled = inline.compile("from otel | where severity >= 'warn' | fields service, message")
    cursor = inline.execute(compiled)
    schema = cursor.schema  # known before any row is read
    assert schema.names == ["service", "message"]
    assert all(field.type == pa.string() for field in schema)  # never string_view
    batches = list(cursor)
    assert batches and all(batch.schema == schema for batch in batches)
    assert cursor.state == "done"
    metrics = cursor.metrics
    assert metrics.rows == sum(b.num_rows for b in batches) > 0
    assert metrics.sources == ("otel",) and not metrics.truncated
    assert metrics.bytes_scanned and metrics.bytes_scanned > 0
    assert metrics.first_batch is not None and 0 < metrics.first_batch <= metrics.elapsed
    assert metrics.to_dict()["rows"] == metrics.rows


def test_limit_says_whether_rows_were_left(inline: Session) -> None:
    compiled = inline.compile("from otel | fields message")
    cut = inline.execute(compiled, limit=150)
    assert cut.fetch_all().num_rows == 150 and cut.metrics.truncated
    whole = inline.execute(inline.compile("from otel | limit 7"), limit=7)
    assert whole.fetch_all().num_rows == 7 and not whole.metrics.truncated
    none = inline.execute(compiled, limit=0).fetch_all()
    assert none.num_rows == 0 and none.schema.names == ["message"]


def test_an_empty_result_keeps_its_schema(inline: Session) -> None:
    table = inline.run(
        inline.compile("from otel | where service == 'nope' | stats count() by host")
    )
    assert table.num_rows == 0 and table.schema.names == ["host", "count()"]
    assert table.schema.field("count()").type == pa.int64()


def test_bad_parameters_fail_at_once_and_run_time_failures_are_one_line(
    inline: Session, tmp_path: Path
) -> None:
    compiled = inline.compile("from otel | where severity >= $level")
    with pytest.raises(CompileError, match="parameter"):
        inline.execute(compiled, {"level": "loud"})
    with pytest.raises(CompileError, match=r"no value for parameter \$level"):
        inline.execute(compiled)
    with Session(default_config(tmp_path / "missing")) as session:
        cursor = session.execute(session.compile("from otel | limit 1"))
        with pytest.raises(QueryFailed, match="does not exist") as failure:
            cursor.fetch_all()
        assert cursor.state == "failed" and cursor.error is failure.value
        assert "\n" not in str(failure.value)
    with pytest.raises(ValueError, match="other sources"):
        inline.execute(Session(default_config(tmp_path)).compile("from otel"))


def test_workers_give_the_same_results_and_keep_their_sources_warm(
    inline: Session, workers: Session
) -> None:
    for text in (
        "from otel | stats count() as n, avg(attributes.duration_ms) as d by service | sort n",
        "from otel | sort timestamp desc | limit 25 | fields timestamp, severity, attributes",
        "from otel | where message ~ /timeout/i | stats count() as n by bin(timestamp, 1h) as t"
        " | sort t",
    ):
        assert workers.run(workers.compile(text)).equals(inline.run(inline.compile(text)))
    (pid,) = workers.worker_pids
    workers.run(workers.compile("from otel | limit 1"))
    assert workers.worker_pids == (pid,)  # the same process, its tables still registered
    cursor = workers.execute(workers.compile("from otel | fields message"), limit=10)
    assert cursor.fetch_all().num_rows == 10 and cursor.metrics.truncated


def test_cancel_frees_the_cpu_within_a_second(heavy_data: Path) -> None:
    with Session(default_config(heavy_data), workers=1) as session:
        session.run(session.compile("from otel | limit 1"))  # the worker is up, tables known
        (pid,) = session.worker_pids
        idle = cpu_seconds(pid)
        assert idle is not None
        cursor = session.execute(session.compile(HEAVY_QUERY))
        deadline = time.monotonic() + 30
        while (cpu_seconds(pid) or 0) < idle + 1.0:  # one second of aggregating so far
            assert time.monotonic() < deadline and cursor.state == "running"
            time.sleep(0.02)
        assert cursor.state == "running" and cursor.metrics.rows == 0  # far from done
        cursor.cancel()
        cancelled = time.monotonic()
        while cpu_seconds(pid) is not None and time.monotonic() - cancelled < 1.0:
            time.sleep(0.01)
        assert cpu_seconds(pid) is None  # the worker is gone: nothing computes it any more
        with pytest.raises(QueryCancelled):
            cursor.fetch_all()
        assert cursor.state == "cancelled" and cursor.wait_stopped(5)
        count = session.run(session.compile("from otel | stats count() as n"))
        assert count.to_pylist() == [{"n": ROWS}]  # a new worker took over
        assert pid not in session.worker_pids
    assert session.worker_pids == ()


def test_closing_the_session_stops_its_workers(otel_data: Path) -> None:
    session = Session(default_config(otel_data), workers=2)
    session.warm()
    session.run(session.compile("from otel | limit 1"))
    pids = session.worker_pids
    assert pids
    session.close()
    assert all(cpu_seconds(pid) is None for pid in pids)
    with pytest.raises(QueryFailed, match="closed"):
        session.run(session.compile("from otel | limit 1"))


def test_explain_is_one_value_for_text_and_json(inline: Session) -> None:
    compiled = inline.compile("from otel | where service == $svc | stats count() as n")
    explain = inline.explain(compiled, {"svc": "checkout"})
    kinds = [part.kind for part in explain.parts]
    assert kinds[0] == "summary" and kinds.count("stage") == len(compiled.stages)
    data = explain.to_dict()
    titles = [section["title"] for section in data["sections"]]
    assert titles[-2:] == ["DataFusion SQL", "DataFusion plan"]
    assert "-- physical plan --" in data["sections"][-1]["body"]
    text = explain.render_text()
    assert all(f"== {title} ==" in text for title in titles)
    unbound = inline.explain(compiled)  # no value for $svc: the plan says why it is missing
    assert unbound.parts[-1].body.startswith("(not available: ")
    static = inline.explain(compiled, plans=False)
    assert [p.title for p in static.parts][-1] == "DataFusion SQL"


def test_sample_gives_keys_and_frequent_values(inline: Session) -> None:
    sample = inline.sample("otel")
    assert sample.rows > 0 and "http.status_code" in sample.attribute_keys
    assert set(sample.values["service"]) >= {"checkout", "payments"}
    assert inline.sample("nope").rows == 0


def test_engine_options_reach_the_engine_in_process_and_in_workers(
    otel_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "from otel | stats count() as n by host"
    for workers in (0, 1):
        with Session(
            default_config(otel_data), workers=workers, engine_options={"partitions": "1"}
        ) as session:
            plan = session.explain(session.compile(text)).part("DataFusion plan")
            assert plan is not None and "-- physical plan --" in plan.body
            assert "RepartitionExec" not in plan.body  # one thread: nothing to repartition
    args = ["explain", "--data", str(otel_data), "--datafusion-partitions", "2", text]
    assert main(args) == 0 and "RepartitionExec" in capsys.readouterr().out
    assert main(["query", "--data", str(otel_data), "--datafusion-partitions", "x", text]) == 1
    assert capsys.readouterr().err.startswith("starbase: datafusion: partitions must be")


def test_a_failure_while_running_reaches_the_cursor_and_the_worker_lives_on(
    inline: Session, workers: Session
) -> None:
    text = "from otel | extend x = substr(message, 0, -1) | fields x"  # fails as it runs
    failures = []
    for session in (inline, workers):
        cursor = session.execute(session.compile(text))
        with pytest.raises(QueryFailed) as failure:
            cursor.fetch_all()
        assert cursor.state == "failed" and "\n" not in str(failure.value)
        failures.append(str(failure.value))
    assert failures[0] == failures[1]  # the same message from either place
    (pid,) = workers.worker_pids
    assert workers.run(workers.compile("from otel | stats count() as n")).num_rows == 1
    assert workers.worker_pids == (pid,)
