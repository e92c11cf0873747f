"""`join` and `lookup` beyond the differential corpus: the right side's row limit (a clear
error, before the right side is read past it), lookup tables against DuckDB, and the
option and key checks (hypothesis).

The differential cases (inner, left, collisions, keys, order) are in test_differential.py;
a CloudWatch side is in test_federation.py; positioned errors are in golden/errors.txt.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import strategies
from hypothesis import given, settings
from hypothesis import strategies as st
from test_differential import assert_same_rows

from starbase.compiler.driver import compile
from starbase.compiler.errors import Code, CompileError
from starbase.compiler.ir import JOIN_MAX_ROWS
from starbase.config import Config, LookupConfig, SourceConfig, config_from_dict
from starbase.runtime.errors import QueryFailed
from starbase.runtime.session import Session
from starbase.storage import otel_layout

SERVICES = 5  # distinct services in the shared fixture data


@pytest.fixture(scope="module")
def session(otel_data: Path) -> Session:
    return Session(Config((SourceConfig("otel", "otel", str(otel_data)),)))


@settings(max_examples=12)
@given(limit=st.integers(1, 8))
def test_the_right_side_limit_fails_the_run_exactly_when_exceeded(
    session: Session, limit: int
) -> None:
    text = (
        f"from otel | join maxrows={limit} (from otel | stats count() as n by service) "
        "on service | stats count() as rows"
    )
    compiled = session.compile(text)
    if limit >= SERVICES:
        assert session.run(compiled).column("rows").to_pylist() == [20_000]
        return
    with pytest.raises(QueryFailed) as failed:
        session.run(compiled)
    message = str(failed.value)
    assert message == (
        f"the right side of the join has more than {limit:,} rows (its limit): narrow it "
        f"(where, since, stats, dedup) or set maxrows (at most {JOIN_MAX_ROWS:,})"
    )


def test_the_right_side_is_read_no_further_than_its_limit(session: Session) -> None:
    """The engine's plan caps the right side at limit + 1 rows below the hash join."""
    compiled = session.compile(
        "from otel | join maxrows=100 (from otel | fields trace_id, span_id) on trace_id"
    )
    assert "LIMIT 101" in compiled.sql()
    explained = session.explain(compiled).render_text()
    assert "fetch=101" in explained, explained
    # the capped right side is the hash join's build side (its first input) also when the
    # cap is too high for DataFusion to choose it by itself: the left side streams through
    for kind in ("inner", "left"):
        compiled = session.compile(
            f"from otel | join kind={kind} (from otel | fields trace_id, span_id) on trace_id"
        )
        explained = session.explain(compiled).render_text()
        after = explained[explained.index("HashJoinExec") :]
        assert after.index("starbase_join_rows") < after.index("DataSourceExec"), explained


@settings(max_examples=60)
@given(
    kind=st.sampled_from(["inner", "left", "leftouter", "fullouter", "anti", "Left", "1"]),
    rows=st.integers(-3, JOIN_MAX_ROWS + 3),
)
def test_options_compile_or_fail_with_a_position(kind: str, rows: int) -> None:
    text = f"from otel | join kind={kind} maxrows={rows} (from otel | fields trace_id) on trace_id"
    valid = kind in ("inner", "left", "leftouter") and 1 <= rows <= JOIN_MAX_ROWS
    try:
        compiled = compile(text)
    except CompileError as exc:
        assert not valid
        span = exc.first.span
        assert span is not None and 0 < span.start < len(text)
        return
    assert valid
    names = [c.name for c in compiled.columns]
    assert names.count("trace_id") == 1 and names[-1] == "resource"  # the key once, the left's


@pytest.fixture(scope="module")
def owners(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lookups")
    (folder / "owners.csv").write_text(
        "service,owner,tier\ncheckout,team-a,1\npayments,team-b,1\ngateway,team-c,2\n"
        "gateway,team-d,3\nnobody,team-z,\n"
    )
    table = pa.table({"service": ["auth", "checkout"], "pager": [True, False]})
    pq.write_table(table, folder / "pagers.parquet")
    return folder


def _lookup_session(otel_data: Path, owners: Path) -> Session:
    config = config_from_dict(
        {
            "sources": {"otel": {"format": "otel", "location": str(otel_data)}},
            "lookups": {
                "owners": {
                    "path": "owners.csv",
                    "columns": {"service": "string", "owner": "string", "tier": "int"},
                },
                "names": {"path": "owners.csv"},
                "pagers": {
                    "path": "pagers.parquet",
                    "columns": {"service": "string", "pager": "bool"},
                },
            },
        },
        owners / "starbase.toml",
    )
    return Session(config)


def test_lookup_matches_duckdb(otel_data: Path, owners: Path) -> None:
    session = _lookup_session(otel_data, owners)
    duck = duckdb.connect()
    glob = str(otel_data / otel_layout.TABLE_DIR / "**" / "*.parquet")
    csv, parquet = owners / "owners.csv", owners / "pagers.parquet"
    cases = [
        (
            'from otel | where severity >= "warn" | lookup owners on service '
            "| stats count() as n by service, owner, tier",
            f"""SELECT l.service, o.owner, o.tier, count(*) AS n
                FROM read_parquet('{glob}', hive_partitioning = true) l
                LEFT JOIN read_csv('{csv}', header = true, columns = {{'service': 'VARCHAR',
                'owner': 'VARCHAR', 'tier': 'BIGINT'}}) o ON l.service = o.service
                WHERE l.severity_number >= 13 GROUP BY ALL""",
        ),
        (
            "from otel | lookup names on service | lookup pagers on service "
            "| stats count() as n by service, tier, pager",
            f"""SELECT l.service, o.tier, p.pager, count(*) AS n
                FROM read_parquet('{glob}', hive_partitioning = true) l
                LEFT JOIN read_csv('{csv}', header = true, all_varchar = true) o
                ON l.service = o.service LEFT JOIN read_parquet('{parquet}') p
                ON l.service = p.service GROUP BY ALL""",
        ),
    ]
    for starql, sql in cases:
        got = session.run(session.compile(starql))
        assert_same_rows(got, duck.sql(sql).to_arrow_table(), ordered=False)


def test_a_lookup_file_that_cannot_be_read_is_one_line(otel_data: Path, owners: Path) -> None:
    config = config_from_dict(
        {
            "sources": {"otel": {"format": "otel", "location": str(otel_data)}},
            "lookups": {"gone": {"path": str(owners / "gone.csv"), "columns": {"a": "string"}}},
        }
    )
    session = Session(config)
    with pytest.raises(QueryFailed, match="lookup table 'gone': cannot read"):
        session.run(session.compile("from otel | lookup gone on service == a"))


def test_lookup_names_collide_like_join(owners: Path) -> None:
    config = Config(
        (SourceConfig("otel", "otel", "/nowhere"),),
        lookups=(
            LookupConfig(
                "t", str(owners / "owners.csv"), (("service", "string"), ("message", "string"))
            ),
        ),
    )
    compiled = compile(
        "from otel | lookup t on service | fields service, message, message1", config
    )
    assert [c.name for c in compiled.columns] == ["service", "message", "message1"]
    with pytest.raises(CompileError) as failed:
        compile("from otel | lookup t on host", config)
    assert failed.value.first.code is Code.UNKNOWN_FIELD


@settings(max_examples=15)
@given(
    st.lists(st.tuples(st.none() | st.integers(0, 25), st.none() | st.integers(-5, 5)), max_size=12)
)
def test_a_lookup_with_nulls_and_duplicate_keys_matches_python(
    otel_data: Path,
    tmp_path_factory: pytest.TempPathFactory,
    pairs: list[tuple[int | None, int | None]],
) -> None:
    """Every left row once per matching table row (duplicates multiply), null keys never
    match, an unmatched row kept once with a null value."""
    folder = tmp_path_factory.mktemp("table")
    keys = pa.array([k for k, _ in pairs], pa.int64())
    values = pa.array([v for _, v in pairs], pa.int64())
    pq.write_table(pa.table({"k": keys, "v": values}), folder / "t.parquet")
    config = config_from_dict(
        {
            "sources": {"otel": {"format": "otel", "location": str(otel_data)}},
            "lookups": {
                "t": {"path": str(folder / "t.parquet"), "columns": {"k": "int", "v": "int"}}
            },
        }
    )
    session = Session(config)
    got = session.run(
        session.compile("from otel | lookup t on severity == k | stats count() as n by severity, v")
    )
    per_severity = session.run(session.compile("from otel | stats count() as n by severity"))
    want: dict[tuple[int | None, int | None], int] = {}
    for row in per_severity.to_pylist():
        severity, n = row["severity"], row["n"]
        matches = [v for k, v in pairs if k is not None and k == severity]
        for v in matches or [None]:
            want[(severity, v)] = want.get((severity, v), 0) + n
    found = {(r["severity"], r["v"]): r["n"] for r in got.to_pylist()}
    assert found == want


def test_renaming_the_right_side_warns_of_no_field_the_query_does_not_name() -> None:
    """The right side's fields renamed apart (log_group → log_group1) are not fields the user
    named; naming one in the subquery still warns that the source lacks it."""
    assert compile("from otel | join (from otel) on trace_id").warnings == ()
    named = compile("from otel | join (from otel | fields trace_id, log_group) on trace_id")
    assert [w.code for w in named.warnings] == [Code.FIELD_ABSENT_IN_SOURCE]


@pytest.mark.parametrize(
    "text",
    [
        "from lambda | join (from lambda | fields trace_id) on trace_id",
        "from otel, lambda | join (from lambda | stats count() by trace_id) on trace_id",
    ],
)
def test_a_native_source_on_both_sides_is_a_positioned_compile_error(text: str) -> None:
    """A CloudWatch source is fetched once per query by its own store's query: on both sides
    of a join it compiled, then explain and run failed with an internal error (found by the
    damaged-query property test)."""
    with pytest.raises(CompileError) as caught:
        compile(text, strategies.CONFIG)
    diagnostic = caught.value.diagnostics[0]
    assert diagnostic.code is Code.UNSUPPORTED_OPERATION
    assert "'lambda'" in diagnostic.message and "one side of a join" in diagnostic.message
    assert diagnostic.span is not None
    assert text[diagnostic.span.start :].startswith("from lambda |")
    assert diagnostic.span.start > text.index("join")


def test_a_native_source_on_one_side_still_compiles_and_explains() -> None:
    compiled = compile(
        "from otel | join (from lambda | fields trace_id) on trace_id", strategies.CONFIG
    )
    assert Session(strategies.CONFIG).explain(compiled, plans=False).render_text()
