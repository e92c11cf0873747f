"""Query benchmark: StarQL against hand-written DataFusion, DuckDB and ClickHouse, same rows.

Run: `python benchmarks/query.py [--rows 10000000] [--days 30] [--runs 5] [--data DIR]
[--engines starql,datafusion,duckdb,ch-parquet,ch-mergetree] [--variant NAME='SET …; SET …']`
(`make bench-query`). Each `--variant` adds hand-written DataFusion with Starbase's session
settings changed as given (how the settings were chosen: docs/storage.md).

The dataset (synthetic OTel logs, `benchmarks/synthetic.py`) is written once through the
storage layer into `benchmarks/.data/otel-<rows>/` and compacted, as the router's background
compaction leaves it; ClickHouse's MergeTree copy of the same rows is loaded once next to it.
Every engine answers the nine questions of `questions.py`: StarQL through a Starbase `Session`
(compiling on every run), the same SQL hand-written for DataFusion over the same files with
Starbase's session settings, DuckDB over the same files, ClickHouse (chDB) over the same
files and over its MergeTree copy (`peers.py`). Each question runs once per engine to warm
up, then `--runs` rounds in which every engine runs it once, so that load from other jobs on
a shared machine falls on all engines alike. Printed: per question the median wall time and
process CPU time per engine and the ratios StarQL/DataFusion and StarQL/MergeTree, the
medians over the questions, files and bytes on disk, and what the 1-hour window and the
trace lookup read (DataFusion's EXPLAIN ANALYZE metrics; ClickHouse's rows and bytes read).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from questions import Question, questions
from synthetic import write_dataset

from starbase.compiler.timestamps import parse_iso
from starbase.config import default_config
from starbase.runtime.session import Session
from starbase.storage.formats import OTEL
from starbase.storage.table import open_table

END = parse_iso("2026-11-01T00:00:00Z")
HOUR = 3_600 * 10**9
DEFAULT_DATA = Path(__file__).parent / ".data"
ENGINES = ("starql", "datafusion", "duckdb", "ch-parquet", "ch-mergetree")
LAYOUT = "v2"  # bump when the stored layout changes: the dataset is written again


def dataset(root: Path, rows: int, days: int) -> Path:
    marker = root / f"rows={rows},days={days},layout={LAYOUT}.done"
    if marker.exists():
        return root
    if root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True)
    started = time.perf_counter()
    write_dataset(root, rows, start_ns=END - days * 24 * HOUR, span_ns=days * 24 * HOUR, seed=1)
    # As the router's background compaction leaves it: every file merged into compacted ones.
    table = open_table(root, "otel")
    table.compact()
    table.vacuum(grace_s=0)
    print(f"generated {rows:,} rows in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    marker.touch()
    return root


def measure(action: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run; CPU is this process's, all threads."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def runners(
    chosen: list[str], root: Path, rows: int, variants: dict[str, tuple[str, ...]]
) -> tuple[dict[str, Callable[[Question], object]], dict[str, object]]:
    """One callable per engine that answers a question; and the peers, for their figures."""
    from peers import ClickHouseMergeTree, ClickHouseParquet, DataFusionFiles, DuckDBFiles

    compacted = root / OTEL.directory / "v2"
    config = default_config(root)
    session = Session(config)  # in this process, as the hand-written SQL runs
    session.run(session.compile("from otel | limit 1"))  # sources registered once

    def starql(question: Question) -> object:
        return session.run(session.compile(question.starql))  # compile and run, every time

    made: dict[str, Callable[[Question], object]] = {}
    peers: dict[str, object] = {"starql": session}
    for name in chosen:
        if name == "starql":
            made[name] = starql
        elif name == "datafusion":
            hand = DataFusionFiles(compacted, OTEL.schema)
            peers[name] = hand
            made[name] = lambda q, p=hand: p.run(q.datafusion)
        elif name == "duckdb":
            duck = DuckDBFiles(compacted)
            made[name] = lambda q, p=duck: p.run(q.duckdb)
        elif name == "ch-parquet":
            chp = ClickHouseParquet(compacted, root.parent / f"chdb-{rows}")
            made[name] = lambda q, p=chp: p.run(q.clickhouse)
        elif name == "ch-mergetree":
            started = time.perf_counter()
            chm = ClickHouseMergeTree(compacted, root.parent / f"chdb-{rows}", rows)
            if chm.load_seconds is not None:
                took = time.perf_counter() - started
                print(f"loaded the MergeTree copy in {took:.1f} s", file=sys.stderr)
            peers[name] = chm
            made[name] = lambda q, p=chm: p.run(q.clickhouse)
        else:
            raise SystemExit(f"unknown engine {name!r} (known: {', '.join(ENGINES)})")
    for name, settings in variants.items():
        variant = DataFusionFiles(compacted, OTEL.schema, settings)
        made[name] = lambda q, p=variant: p.run(q.datafusion)
        LABELS[name] = name[:12]
    return made, peers


LABELS = {
    "starql": "StarQL",
    "datafusion": "DataFusion",
    "duckdb": "DuckDB",
    "ch-parquet": "CH Parquet",
    "ch-mergetree": "CH MergeTree",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--only", default="", help="comma-separated question names")
    parser.add_argument("--variant", action="append", default=[], help="NAME='SET …; SET …'")
    args = parser.parse_args()
    variants = {}
    for text in args.variant:
        name, _, sql = text.partition("=")
        variants[name.strip()] = tuple(s.strip() for s in sql.split(";") if s.strip())
    root = dataset(args.data or DEFAULT_DATA / f"otel-{args.rows}", args.rows, args.days)
    table = open_table(root, "otel")
    files = table.files()
    size = sum(f.bytes for f in files)
    print(
        f"dataset: {args.rows:,} rows over {args.days} days, {len(files):,} files, "
        f"{size / 2**20:.1f} MiB ({size / args.rows:.1f} B/row)"
    )
    chosen = [e.strip() for e in args.engines.split(",") if e.strip()]
    made, peers = runners(chosen, root, args.rows, variants)
    trace_id = _a_trace_id(table)
    asked = questions(END, trace_id)
    if args.only:
        wanted = {n.strip() for n in args.only.split(",")}
        asked = [q for q in asked if q.name in wanted]

    walls: dict[str, dict[str, float]] = {}
    cpus: dict[str, dict[str, float]] = {}
    for question in asked:
        for run in made.values():  # warm-up
            run(question)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in made}
        for _ in range(args.runs):
            for name, run in made.items():
                samples[name].append(measure(lambda r=run, q=question: r(q)))
        walls[question.name] = {
            n: statistics.median(w for w, _ in s) * 1e3 for n, s in samples.items()
        }
        cpus[question.name] = {
            n: statistics.median(c for _, c in s) * 1e3 for n, s in samples.items()
        }
        print(
            f"  {question.name}: "
            + ", ".join(f"{n} {walls[question.name][n]:.0f} ms" for n in made),
            file=sys.stderr,
        )

    _table("wall time, median of the runs (ms)", walls, list(made))
    _table("process CPU time, median of the runs (ms)", cpus, list(made))
    _footprint(root, table, peers, asked)


def _a_trace_id(table: object) -> str:
    from starbase.storage.ids import to_hex

    entry = next(f for f in table.files() if f.rows)  # type: ignore[attr-defined]
    data = table.read_file(entry)  # type: ignore[attr-defined]
    ids = data["trace_id"].drop_null()
    return str(to_hex(ids.slice(len(ids) // 2, 1))[0].as_py())


def _table(title: str, figures: dict[str, dict[str, float]], engines: list[str]) -> None:
    ratios = [
        (a, b)
        for a, b in (
            ("starql", "datafusion"),
            ("starql", "ch-mergetree"),
            ("starql", "ch-parquet"),
            ("starql", "duckdb"),
        )
        if a in engines and b in engines
    ]
    print(f"\n## {title}")
    head = f"{'question':<18}" + "".join(f"{LABELS[e]:>13}" for e in engines)
    head += "".join(f"{'/' + LABELS[b]:>15}" for _, b in ratios)
    print(head)
    for name, row in figures.items():
        line = f"{name:<18}" + "".join(f"{row[e]:>13.1f}" for e in engines)
        line += "".join(f"{row[a] / row[b]:>14.2f}x" for a, b in ratios)
        print(line)
    medians = {e: statistics.median(r[e] for r in figures.values()) for e in engines}
    line = f"{'median':<18}" + "".join(f"{medians[e]:>13.1f}" for e in engines)
    line += "".join(
        f"{statistics.median(r[a] / r[b] for r in figures.values()):>14.2f}x" for a, b in ratios
    )
    print(line + "   (ratio columns: median of the per-question ratios)")


def _footprint(root: Path, table: object, peers: dict[str, object], asked: list[Question]) -> None:
    files = table.files()  # type: ignore[attr-defined]
    size = sum(f.bytes for f in files)
    print("\n## on disk")
    print(f"Starbase (Parquet, day layout): {len(files):,} files, {size / 2**20:.1f} MiB")
    chm = peers.get("ch-mergetree")
    if chm is not None:
        parts, chm_size = chm.bytes_on_disk()  # type: ignore[attr-defined]
        print(f"ClickHouse MergeTree: {parts:,} parts, {chm_size / 2**20:.1f} MiB")
    by_name = {q.name: q for q in asked}
    session: Session = peers["starql"]  # type: ignore[assignment]
    for name in ("1-hour window", "trace lookup"):
        question = by_name.get(name)
        if question is None:
            continue
        explained = session.explain(session.compile(question.starql), analyze=True)
        plan = explained.part("DataFusion plan")
        assert plan is not None
        analyzed = plan.body
        scanned = sum(
            _size(n, unit) for n, unit in re.findall(r"bytes_scanned=([\d.]+) ?([KMGT]?)", analyzed)
        )
        opened = sum(
            int(n)
            for n in re.findall(r"files_ranges_pruned_statistics=\d+ total → (\d+)", analyzed)
        )
        groups = re.findall(r"row_groups_pruned_statistics=(\d+) total → (\d+) matched", analyzed)
        blooms = re.findall(r"row_groups_pruned_bloom_filter=(\d+) total → (\d+) matched", analyzed)
        pages = [
            (str(_size(a, ua)), str(_size(b, ub)))
            for a, ua, b, ub in re.findall(
                r"page_index_rows_pruned=([\d.]+) ?([KMGT]?) total → ([\d.]+) ?([KMGT]?) matched",
                analyzed,
            )
        ]
        print(
            f"{name} (StarQL, EXPLAIN ANALYZE): bytes_scanned={scanned:,.0f} of {size:,} on disk"
            f" = 1/{size / max(scanned, 1):,.0f}; file ranges opened {opened} ({len(files)} files);"
            f" row groups {_pairs(groups)} after statistics, {_pairs(blooms)} after bloom"
            f" filters; rows {_pairs(pages)} after the page index"
        )
        if chm is not None:
            rows, read = chm.read_bytes(question.clickhouse)  # type: ignore[attr-defined]
            print(f"{name} (CH MergeTree): read {rows:,} rows, {read:,} bytes (uncompressed)")


def _pairs(found: list[tuple[str, str]]) -> str:
    total = sum(int(float(a)) for a, _ in found)
    kept = sum(int(float(b)) for _, b in found)
    return f"{kept:,}/{total:,}"


def _size(number: str, unit: str) -> float:
    return float(number) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[unit]


if __name__ == "__main__":
    main()
