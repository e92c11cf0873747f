"""Stored tables: commits, visibility, compaction, retention, vacuum, recovery, concurrency.

Everything runs the real parts: Parquet files on disk (or on moto's S3 server over HTTP), the
commit log, DataFusion through `compile(...).run()`, and DuckDB reading the same files.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from starbase import compile
from starbase.backends.base import Job
from starbase.backends.datafusion.engine import DataFusionEngine
from starbase.cli import main
from starbase.compiler import ir
from starbase.compiler.timestamps import parse_iso
from starbase.config import config_from_dict, default_config
from starbase.storage.engines import duckdb_select
from starbase.storage.formats import CLOUDWATCH, RAW
from starbase.storage.index import Commit
from starbase.storage.store import S3Location
from starbase.storage.table import Table, open_table

S = 1_000_000_000
H = 3_600 * S
T0 = parse_iso("2026-11-20T10:00:00Z")
MAP = pa.map_(pa.string(), pa.string())
SERVICES = ("checkout", "payments", "search")


def records(n: int, seed: int, start: int = T0, span: int = 3 * H) -> pa.Table:
    rng = random.Random(seed)
    times = [start + rng.randrange(span) for _ in range(n)]
    services = [rng.choice(SERVICES) for _ in range(n)]
    return pa.table(
        {
            "time_unix_nano": pa.array(times, pa.int64()),
            "severity_number": pa.array([rng.choice([9, 13, 17]) for _ in range(n)], pa.int32()),
            "body": [f"event {seed}-{i}" for i in range(n)],
            "resource_attributes": pa.array([[("service.name", s)] for s in services], MAP),
        }
    )


def count(data: Path) -> int:
    table = compile("from otel | stats count() as n", default_config(data)).run()
    return int(table["n"][0].as_py())


def bodies(data: Path) -> Counter[str]:
    table = compile("from otel | fields message", default_config(data)).run()
    return Counter(table["message"].to_pylist())


# ---------------------------------------------------------------- commits and visibility


def test_appends_commit_whole_and_are_idempotent_per_writer_sequence(tmp_path: Path) -> None:
    table = open_table(tmp_path, "otel")
    first = table.append(records(100, 1), writer="router-0", seq=10)
    assert first is not None and first.version == 1
    assert {e.day for e in first.add} == {"2026-11-20"}
    assert {k.key for k in first.add[0].keys} == set(SERVICES)
    assert sum(e.rows for e in first.add) == 100
    assert table.append(records(100, 1), writer="router-0", seq=10) is None  # replayed
    assert table.append(records(100, 1), writer="router-0", seq=3) is None
    second = table.append(records(5, 2), writer="router-0", seq=11)
    assert second is not None and second.version == 2
    state = table.snapshot()
    assert (state.rows, state.writers["router-0"]) == (105, 11)
    assert count(tmp_path) == 105
    # An empty batch with a sequence number still records it (a WAL segment with no records).
    assert table.append(records(0, 3), writer="router-1", seq=1) is not None
    assert table.snapshot().writers["router-1"] == 1
    assert count(tmp_path) == 105


def test_files_not_yet_committed_are_invisible(tmp_path: Path) -> None:
    table = open_table(tmp_path, "otel")
    table.append(records(10, 1))
    # A file written under the next version's folder, as an append does before committing.
    version = table.snapshot().version + 1
    stray = tmp_path / "otel/logs/v2/day=2026-11-20"
    early = stray / f"by=append-{version:012d}" / "partial.parquet"
    early.parent.mkdir(parents=True)
    early.write_bytes((next(iter(stray.glob("by=append-*/*.parquet")))).read_bytes())
    assert count(tmp_path) == 10


def test_an_interrupted_append_is_cleaned_up_by_the_next(tmp_path: Path) -> None:
    class Crashing(Table):
        def _publish(self, commit: Commit) -> None:
            raise KeyboardInterrupt("killed before the commit")

    table = open_table(tmp_path, "otel")
    table.append(records(10, 1))
    crashing = Crashing(table.store, table.format, tmp_path / "otel/logs/_log")
    with pytest.raises(KeyboardInterrupt):
        crashing.append(records(50, 2))
    orphans = list((tmp_path / "otel/logs/v2").rglob("by=append-000000000002/*.parquet"))
    assert orphans  # written, never committed
    assert count(tmp_path) == 10
    table.append(records(7, 3))  # reuses version 2 after deleting the orphans
    assert count(tmp_path) == 17
    assert not any(p.exists() for p in orphans)
    assert not (tmp_path / "otel/logs/_log/_append.intent").exists()


# ---------------------------------------------------------------- compaction


def test_compaction_keeps_every_row_once_and_merges_files(tmp_path: Path) -> None:
    table = open_table(tmp_path, "otel")
    for seed in range(12):
        table.append(records(200, seed))
    before = bodies(tmp_path)
    files_before = len(table.files())
    report = table.compact()
    assert report.commit is not None and report.inputs == files_before == 12  # one day each
    assert report.outputs == 1  # one day
    assert bodies(tmp_path) == before and sum(before.values()) == 2_400
    state = table.snapshot()
    assert (state.floor, state.gen, state.files, state.rows) == (12, 1, 1, 2_400)
    # Superseded files stay for running queries until vacuumed after the grace period.
    appended = list((tmp_path / "otel/logs/v2").rglob("by=append-*/*.parquet"))
    assert len(appended) == 12
    assert table.vacuum(grace_s=3_600).deleted_files == 0
    assert table.vacuum(grace_s=0).deleted_files == 12
    assert not list((tmp_path / "otel/logs/v2").rglob("by=append-*/*.parquet"))
    assert bodies(tmp_path) == before
    # Appends after compaction are seen with the compacted rows.
    table.append(records(30, 99))
    assert count(tmp_path) == 2_430
    second = table.compact(target_bytes=1, min_files=1)  # one row per file: splits exact
    assert second.outputs == 30
    assert count(tmp_path) == 2_430
    # The day is over and has two small compacted folders: they are merged into one.
    now = T0 + 2 * 24 * H
    third = table.compact(now_ns=now)
    assert third.commit is not None and third.inputs == 31 and third.outputs == 1
    assert [d for d, _ in third.commit.state.dead] == [
        "day=2026-11-20/by=compact-000000000001",
        "day=2026-11-20/by=compact-000000000002",
    ]
    assert count(tmp_path) == 2_430 and bodies(tmp_path)["event 99-0"] == 1
    assert table.compact(now_ns=now).commit is None  # nothing left to merge
    table.vacuum(grace_s=0)
    assert len(list((tmp_path / "otel/logs/v2").rglob("*.parquet"))) == 1
    table.append(records(5, 100))
    fourth = table.compact(now_ns=now)  # the late rows and the day's folder, merged again
    assert fourth.commit is not None and fourth.inputs == 2
    # the folders vacuum deleted no longer need excluding; the one just superseded does
    dead = [d for d, _ in table.snapshot().dead]
    assert dead == ["day=2026-11-20/by=compact-000000000003"]
    assert count(tmp_path) == 2_435


def test_compacted_files_are_sorted_and_sized_to_the_target(tmp_path: Path) -> None:
    table = open_table(tmp_path, "otel")
    for seed in range(4):
        table.append(records(3_000, seed, span=H))
    report = table.compact(target_bytes=20_000)
    sizes = [f.bytes for f in table.files()]
    assert report.outputs == len(sizes) > 3
    assert max(sizes) < 2 * 20_000
    for entry in table.files():
        data = table.read_file(entry).select(["service", "time_unix_nano"]).to_pylist()
        keys = [(r["service"], r["time_unix_nano"]) for r in data]
        assert keys == sorted(keys)  # clustered by service, then time
        times = [t for _, t in keys]
        assert (min(times), max(times)) == (entry.min_ns, entry.max_ns)
        assert sum(k.rows for k in entry.keys) == entry.rows


def test_an_interrupted_compaction_is_cleaned_up_by_the_next(tmp_path: Path) -> None:
    class Crashing(Table):
        def _publish(self, commit: Commit) -> None:
            if commit.operation == "compact":
                raise KeyboardInterrupt("killed before the swap")
            super()._publish(commit)

    table = open_table(tmp_path, "otel")
    for seed in range(3):
        table.append(records(100, seed))
    crashing = Crashing(table.store, table.format, tmp_path / "otel/logs/_log")
    with pytest.raises(KeyboardInterrupt):
        crashing.compact()
    assert list((tmp_path / "otel/logs/v2").rglob("by=compact-*/*.parquet"))  # orphans
    assert count(tmp_path) == 300
    report = table.compact()
    assert report.commit is not None
    compacted = list((tmp_path / "otel/logs/v2").rglob("by=compact-*/*.parquet"))
    assert len(compacted) == report.outputs
    assert count(tmp_path) == 300


# ---------------------------------------------------------------- retention


def test_retention_hides_old_hours_at_once_and_vacuum_deletes_them(tmp_path: Path) -> None:
    table = open_table(tmp_path, "otel")
    table.append(records(100, 2, start=T0 - 24 * H))  # the day before
    table.append(records(300, 1))  # hours 10, 11, 12 of 2026-11-20
    now = T0 + 3 * H + 30 * 60 * S  # 13:30
    commit = table.expire(2 * H, now_ns=now)  # older than 11:30 -> hours before 11 expire
    assert commit is not None and table.snapshot().cutoff == "2026-11-20T11"
    assert len(commit.remove) == 1  # the day before; 2026-11-20's file straddles the cutoff
    hours = compile(
        "from otel | stats count() as n by bin(timestamp, 1h)", default_config(tmp_path)
    )
    left = compile("from otel | stats min(timestamp) as first", default_config(tmp_path))
    assert left.run()["first"][0].value >= T0 + H
    assert table.expire(2 * H, now_ns=now) is None  # same cutoff: nothing to do
    visible = count(tmp_path)
    assert table.snapshot().rows == 300 > visible  # hidden at once, stored until compaction
    assert hours.run().num_rows == 2  # 11:00 and 12:00
    assert table.vacuum(grace_s=0).deleted_files == 1
    assert not (tmp_path / "otel/logs/v2/day=2026-11-19").exists()
    duck = duckdb.sql(f"SELECT count(*) FROM ({duckdb_select(table)})").fetchall()
    assert duck == [(visible,)]
    table.append(records(10, 3, start=T0 + 2 * H, span=H))
    table.compact()  # rewrites the straddling file without its expired rows
    assert table.snapshot().rows == count(tmp_path) == visible + 10
    assert hours.run().num_rows == 2


def test_retention_from_the_source_setting_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    open_table(tmp_path, "otel").append(records(30, 1, start=time.time_ns() - 40 * 24 * H))
    open_table(tmp_path, "otel").append(records(12, 2, start=time.time_ns() - 2 * H, span=H))
    open_table(tmp_path, "otel").append(records(8, 3, start=time.time_ns() - 2 * H, span=H))
    toml = tmp_path / "starbase.toml"
    toml.write_text(
        f'[sources.otel]\nformat = "otel"\nlocation = "{tmp_path}"\nretention = "30d"\n'
        '[sources.lambda]\nformat = "cloudwatch"\nlog_groups = ["/aws/lambda/a"]\n'
    )  # the log-group source is not a table Starbase stores: the commands leave it alone
    assert main(["retention", "--config", str(toml), "--grace", "0s"]) == 0
    assert main(["compact", "--config", str(toml), "--grace", "0s"]) == 0
    assert main(["tables", "--config", str(toml)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("otel (otel): expired ")
    assert re.match(r"otel \(otel\): merged \d+ files .* deleted \d+ superseded files", out[1])
    assert out[2].startswith("otel (otel): version 5: 20 rows in ")
    assert count(tmp_path) == 20
    assert main(["retention", "--data", str(tmp_path), "--older-than", "30 parsecs"]) == 1


# ---------------------------------------------------------------- concurrency


def test_readers_see_exactly_the_rows_committed_before_they_planned(tmp_path: Path) -> None:
    """A writer commits continuously, a compactor merges and vacuums, readers count rows.

    Each reader's count must equal the rows committed at the version its query was planned
    at: no duplicates while compaction swaps files, no gaps, nothing uncommitted.
    """
    table = open_table(tmp_path, "otel")
    committed: dict[int, int] = {0: 0}
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        rows, seed = 0, 0
        while not stop.is_set():
            seed += 1
            n = 50 + seed % 50
            commit = table.append(records(n, seed, span=2 * H))
            assert commit is not None
            rows += n
            committed[commit.version] = rows
        stop.set()

    def compactor() -> None:
        compacting = open_table(tmp_path, "otel")
        while not stop.is_set():
            compacting.compact(min_files=2)
            compacting.vacuum(grace_s=2.0)
            time.sleep(0.05)

    checks: list[tuple[int, int]] = []

    def reader() -> None:
        engine = DataFusionEngine(default_config(tmp_path))
        plan = compile("from otel | stats count() as n", default_config(tmp_path)).plan
        while not stop.is_set():
            n = engine_count(engine, plan)
            checks.append((engine.registered["otel"].shown.version, n))  # type: ignore[union-attr]

    def guarded(target: object) -> threading.Thread:
        def run() -> None:
            try:
                target()  # type: ignore[operator]
            except BaseException as exc:
                errors.append(exc)
                stop.set()

        return threading.Thread(target=run)

    threads = [guarded(writer), guarded(compactor), guarded(reader), guarded(reader)]
    for thread in threads:
        thread.start()
    time.sleep(6)
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors, errors
    state = table.snapshot()
    assert state.gen >= 2, "the compactor should have swapped files several times"
    assert len(checks) >= 10
    versions = {v for v, _ in checks}
    compactions = {c.version for c in table.log.commits(0, state.version)}
    for version, n in checks:
        # compaction commits carry the rows of the append before them
        expected = committed.get(version)
        if expected is None:
            expected = max(rows for v, rows in committed.items() if v < version)
        assert n == expected, f"at version {version}: counted {n}, committed {expected}"
    assert len(versions) > 3 and compactions
    assert count(tmp_path) == max(committed.values()) == state.rows


# ---------------------------------------------------------------- other engines and stores


def test_duckdb_reads_the_same_rows(tmp_path: Path) -> None:
    table = open_table(tmp_path, "otel")
    for seed in range(4):
        table.append(records(250, seed))
    table.compact()
    table.append(records(40, 9))  # some incoming, some compacted
    sql = duckdb_select(table)
    ours = compile(
        "from otel | stats count() as n, max(severity) as worst by service | sort service",
        default_config(tmp_path),
    ).run()
    theirs = duckdb.sql(
        f"SELECT service, count(*) AS n, max(severity_number) AS worst FROM ({sql}) "
        "GROUP BY service ORDER BY service"
    ).to_arrow_table()
    assert theirs["service"].to_pylist() == ours["service"].to_pylist()
    assert theirs["n"].to_pylist() == ours["n"].to_pylist()
    assert sum(theirs["n"].to_pylist()) == 1_040
    assert theirs["worst"].to_pylist() == ours["worst"].to_pylist()
    days = duckdb.sql(f"SELECT count(DISTINCT day) FROM ({sql})").fetchall()
    assert days == [(1,)]
    ids = duckdb.sql(
        f"SELECT count(*) FROM ({sql}) WHERE octet_length(trace_id) = 16 OR trace_id IS NULL"
    ).fetchall()
    assert ids == [(1_040,)]


def test_a_table_on_s3_commits_compacts_and_vacuums(moto_endpoint: str) -> None:
    import boto3

    bucket = "storage-tests"
    boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    s3 = S3Location(bucket, "team/a", moto_endpoint, "us-east-1", "testing", "testing")
    table = open_table(f"s3://{bucket}/team/a", "otel", s3=s3)
    for seed in range(3):
        table.append(records(100, seed), writer="w", seq=seed)
    assert table.append(records(100, 0), writer="w", seq=0) is None
    config = config_from_dict(
        {
            "sources": {
                "otel": {
                    "format": "otel",
                    "location": f"s3://{bucket}/team/a",
                    "endpoint": moto_endpoint,
                    "access_key_id": "testing",
                    "secret_access_key": "testing",
                }
            }
        }
    )
    query = compile("from otel | stats count() as n by service | sort service", config)
    before = query.run()
    assert sum(before["n"].to_pylist()) == 300
    report = table.compact()
    assert report.commit is not None and report.outputs == 1
    assert query.run().equals(before)
    assert table.vacuum(grace_s=0).deleted_files == 3  # 3 appends x 1 day
    assert query.run().equals(before)
    log = [json.loads(c.to_json()) for c in table.log.commits(0, 99)]
    assert [c["operation"] for c in log] == ["compact"]  # older commits pruned, checkpointed
    assert len(table.files()) == 1


def test_cloudwatch_and_raw_tables_cluster_by_their_own_keys(tmp_path: Path) -> None:
    events = pa.table(
        {
            "timestamp": pa.array([T0 // 10**6, T0 // 10**6 + 1, T0 // 10**6 + H // 10**6]),
            "message": ["START RequestId: 1", "ERROR boom", "END RequestId: 1"],
            "log_group": ["/aws/lambda/checkout", "/aws/lambda/checkout", "/aws/lambda/auth"],
            "log_stream": ["2026/11/20/[$LATEST]abc"] * 3,
            "event_id": ["1", "2", "3"],
        }
    )
    commit = open_table(tmp_path, "cloudwatch").append(events)
    assert commit is not None
    paths = sorted(e.path.rsplit("/", 2)[0] for e in commit.add)
    assert paths == ["v2/day=2026-11-20"]
    assert [(k.key, k.rows, k.min_ns) for k in commit.add[0].keys] == [
        ("/aws/lambda/auth", 1, T0 + H),
        ("/aws/lambda/checkout", 2, T0),
    ]
    lines = pa.table(
        {
            "received_time_unix_nano": pa.array([T0, T0 + 5], pa.int64()),
            "source": ["nginx", "nginx"],
            "line": ['127.0.0.1 - - "GET / HTTP/1.1" 200', "  untouched \t line  "],
        }
    )
    raw = open_table(tmp_path, "raw")
    raw.append(lines)
    back = duckdb.sql(duckdb_select(raw) + " ORDER BY received_time_unix_nano").to_arrow_table()
    assert back["line"].to_pylist() == lines["line"].to_pylist()
    assert back["source"].to_pylist() == ["nginx", "nginx"]
    with pytest.raises(ValueError, match="log_group must not be null"):
        open_table(tmp_path, "cloudwatch").append(
            pa.table({"timestamp": pa.array([1]), "log_group": pa.array([None], pa.string())})
        )
    assert CLOUDWATCH.partitions == RAW.partitions == ("day",)
    assert (CLOUDWATCH.cluster, RAW.cluster) == ("log_group", "source")


# ---------------------------------------------------------------- metadata answers

BY_SERVICE = (
    "stats count() as n, min(timestamp) as first, max(timestamp) as last by service | sort service"
)


def test_counts_and_time_ranges_by_service_come_from_the_index(tmp_path: Path) -> None:
    config = default_config(tmp_path)
    empty = compile("from otel | stats count() as n, min(timestamp) as first", config)
    assert empty.run().to_pylist() == [{"n": 0, "first": None}]
    table = open_table(tmp_path, "otel")
    for seed in range(3):
        table.append(records(100, seed))
    table.append(records(50, 7, start=T0 - 24 * H))
    table.compact()
    table.append(records(20, 8))
    answered = compile(f"from otel | {BY_SERVICE}", config)
    assert "starbase_stats_" in answered.explain()
    # the same question with a filter that keeps every row is answered by a scan
    scanned = compile(f"from otel | where severity >= 1 | {BY_SERVICE}", config)
    assert "starbase_stats_" not in scanned.explain()
    assert answered.run().equals(scanned.run())
    total = compile("from otel | stats count() as n", config)
    assert "starbase_stats_" in total.explain() and total.run()["n"].to_pylist() == [370]
    # retention hides part of a file: only a scan can count what is left
    table.expire(2 * H, now_ns=T0 + 3 * H + 30 * 60 * S)
    visible = compile(f"from otel | {BY_SERVICE}", config)
    assert "starbase_stats_" not in visible.explain()
    assert visible.run().equals(
        compile(f"from otel | where severity >= 1 | {BY_SERVICE}", config).run()
    )


# ---------------------------------------------------------------- any sequence of operations

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 40), st.integers(0, 5)),
        st.tuples(st.just("compact"), st.integers(1, 3), st.integers(200, 50_000)),
        st.tuples(st.just("expire"), st.integers(0, 6), st.just(0)),
        st.tuples(st.just("vacuum"), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=25, deadline=None)
@given(OPERATIONS)
def test_any_sequence_of_operations_keeps_the_rows_a_model_expects(
    operations: list[tuple[str, int, int]],
) -> None:
    """Rows live per hour in a model; the table, its state and DataFusion must all agree."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        table = open_table(root, "otel")
        engine = DataFusionEngine(default_config(root))
        plan = compile("from otel | stats count() as n", default_config(root)).plan
        model: Counter[int] = Counter()  # hour index -> rows
        cutoff = -1
        for seed, (operation, a, b) in enumerate(operations):
            if operation == "append":
                batch = records(a, seed, start=T0 + b * H, span=2 * H)
                table.append(batch)
                for ns in batch["time_unix_nano"].to_pylist():
                    if (ns - T0) // H > cutoff:
                        model[(ns - T0) // H] += 1
            elif operation == "compact":
                table.compact(min_files=a, target_bytes=b)
            elif operation == "expire":
                now = T0 + a * H + H // 2
                table.expire(H, now_ns=now)  # hours before the one holding now - 1h
                cutoff = max(cutoff, a - 2)
                model = Counter({h: n for h, n in model.items() if h > cutoff})
            else:
                table.vacuum(grace_s=0)
            expected = sum(model.values())
            # stored rows: expired rows of a file that straddles the cutoff stay until
            # compaction rewrites it, hidden from every reader
            assert table.snapshot().rows == sum(f.rows for f in table.files()) >= expected
            assert engine_count(engine, plan) == expected
            duck = duckdb.sql(f"SELECT count(*) FROM ({duckdb_select(table)})").fetchall()
            assert duck == [(expected,)]


def engine_count(engine: DataFusionEngine, plan: ir.Plan) -> int:
    """`n` of a `stats count() as n` plan, run on `engine` directly (its registered snapshot
    can then be inspected)."""
    (n,) = [row["n"] for batch in engine.execute(Job(plan)).batches() for row in batch.to_pylist()]
    return int(n)
