"""How engines other than Starbase's read a stored table: from the index's file list.

Requires: a `Table` on a local folder (DuckDB reads S3 too with its httpfs extension, given the
`s3://` URLs this returns; not exercised here). Guarantees: `duckdb_select` is a DuckDB query
over exactly the files live in one committed state, with the table's columns and its two
partition columns decoded from the paths — the same rows Starbase sees at that state.
"""

from __future__ import annotations

from starbase.storage.index import State
from starbase.storage.table import Table


def file_urls(table: Table, state: State | None = None) -> list[str]:
    """Every live file of `table` at `state` (default: latest), as a path or `s3://` URL."""
    return [table.store.url(entry.path) for entry in table.files(state)]


def duckdb_select(table: Table, state: State | None = None) -> str:
    """A DuckDB SELECT over the live files (an empty result with the schema when none)."""
    fmt = table.format
    columns = ", ".join(f'"{name}"' for name in [*fmt.schema.names, *fmt.partitions])
    urls = file_urls(table, state)
    if not urls:
        casts = ", ".join(
            f'CAST(NULL AS {"BIGINT" if name == fmt.time_column else "VARCHAR"}) AS "{name}"'
            for name in [fmt.time_column, *fmt.partitions]
        )
        return f"SELECT {casts} WHERE false"
    keys = {"incoming": "c", "compacted": "g"}
    reads = []
    for part, version in keys.items():
        chosen = [u for u in urls if f"/{part}/" in u]
        if not chosen:
            continue
        listed = ", ".join("'" + url.replace("'", "''") + "'" for url in chosen)
        types = ", ".join(f"'{name}': 'VARCHAR'" for name in (*fmt.partitions, version))
        reads.append(
            f"SELECT {columns} FROM read_parquet([{listed}], hive_partitioning = true, "
            f"hive_types = {{{types}}})"
        )
    return " UNION ALL ".join(reads)
