"""How engines other than Starbase's read a stored table: from the index's file list.

Requires: a `Table` on a local folder (DuckDB reads S3 too with its httpfs extension, given the
`s3://` URLs this returns; not exercised here). Guarantees: `duckdb_select` is a DuckDB query
over exactly the files live in one committed state, with the table's file columns and its
`day` partition decoded from the paths — the same rows Starbase sees at that state: rows
before the retention cutoff are left out, and files of the legacy layout are read with their
hex ids turned into bytes and their key taken from the path. Ids come back as BLOBs
(`hex(trace_id)` shows them as text; `lower(hex(…))` as Starbase shows them); a column
stored as null where it equals another (`TableFormat.same_as`: the observed time) is read
back with `coalesce`.
"""

from __future__ import annotations

from starbase.storage.index import State
from starbase.storage.table import Table


def file_urls(table: Table, state: State | None = None) -> list[str]:
    """Every live file of `table` at `state` (default: latest), as a path or `s3://` URL."""
    return [table.store.url(entry.path) for entry in table.files(state)]


def _listed(urls: list[str]) -> str:
    return ", ".join("'" + url.replace("'", "''") + "'" for url in urls)


def duckdb_select(table: Table, state: State | None = None) -> str:
    """A DuckDB SELECT over the live files (an empty result with the schema when none)."""
    fmt = table.format
    state = state if state is not None else table.snapshot()
    entries = table.files(state)
    names = [*fmt.schema.names, "day"]
    columns = ", ".join(
        f'coalesce("{name}", "{fmt.same_as[name]}") AS "{name}"'
        if name in fmt.same_as
        else f'"{name}"'
        for name in names
    )
    if not entries:
        casts = ", ".join(
            f'CAST(NULL AS {"BIGINT" if name == fmt.time_column else "VARCHAR"}) AS "{name}"'
            for name in [fmt.time_column, fmt.cluster, "day"]
        )
        return f"SELECT {casts} WHERE false"
    reads = []
    current = [table.store.url(e.path) for e in entries if not e.legacy]
    if current:
        reads.append(
            f"SELECT {columns} FROM read_parquet([{_listed(current)}], hive_partitioning = true, "
            "hive_types = {'day': 'VARCHAR', 'by': 'VARCHAR'})"
        )
    converted = ", ".join(
        f'unhex("{n}") AS "{n}"'
        if n in fmt.ids
        else 'substr("hour", 1, 10) AS "day"'
        if n == "day"
        else f'"{n}"'
        for n in names
    )
    for part, version in (("incoming", "c"), ("compacted", "g")):
        legacy = [table.store.url(e.path) for e in entries if e.path.startswith(f"{part}/")]
        if not legacy:
            continue
        types = ", ".join(f"'{name}': 'VARCHAR'" for name in (*fmt.legacy_partitions, version))
        reads.append(
            f"SELECT {converted} FROM read_parquet([{_listed(legacy)}], hive_partitioning = true, "
            f"hive_types = {{{types}}})"
        )
    where = ""
    rows = table.visibility(state).rows
    if rows is not None:
        where = f" WHERE {rows}"
    return f"SELECT * FROM ({' UNION ALL '.join(reads)}){where}"
