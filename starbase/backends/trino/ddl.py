"""The tables Athena or Trino (Hive connector) read a stored OTel source through: DDL text.

Requires: a stored table (`storage.table.Table`) and where the engine will find its files
(`s3://…`, the location the router writes). Guarantees: `ddl(name, table, location)` is an
external table named like the source over `<location>/otel/logs/v2/` with the format's file
columns (ids as `binary`, maps as `map<string,string>`), partitioned by `day` and `by`, and
one `ADD PARTITION` per folder the table's latest committed state makes visible (from its
index: folders of commits in flight or superseded by compaction are never added, so the
table shows exactly the snapshot — `MSCK REPAIR TABLE` would add them all); rows a
retention cutoff hides inside a day are left out by a view named like the source over the
table `<name>__files`. Rerun it after commits (`python -m starbase.backends.trino.ddl`);
the partitions it adds are the only ones the table has.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from starbase.storage.index import LAYOUT_DIR
from starbase.storage.otel_layout import hour_start_ns
from starbase.storage.table import Table, open_table


def _type(kind: pa.DataType) -> str:
    if pa.types.is_map(kind):
        return f"map<{_type(kind.key_type)},{_type(kind.item_type)}>"
    if pa.types.is_int64(kind):
        return "bigint"
    if pa.types.is_int32(kind):
        return "int"
    if pa.types.is_string(kind):
        return "string"
    if pa.types.is_binary(kind) or pa.types.is_fixed_size_binary(kind):
        return "binary"
    if pa.types.is_list(kind):
        return f"array<{_type(kind.value_type)}>"
    raise ValueError(f"no Hive type for {kind}")


def _name(text: str) -> str:
    return "`" + text.replace("`", "``") + "`"


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def ddl(name: str, table: Table, location: str) -> str:
    """The statements that make `table`'s committed snapshot readable as `name`."""
    fmt = table.format
    state = table.snapshot()
    files = table.files(state)
    if any(f.legacy for f in files):
        raise ValueError("the table still holds legacy-layout files: run `starbase compact`")
    root = f"{location.rstrip('/')}/{fmt.directory}/{LAYOUT_DIR}"
    stored = f"{name}__files"
    columns = ",\n".join(f"  {_name(f.name)} {_type(f.type)}" for f in fmt.schema)
    out = [
        f"-- {name}: commit {state.version}, {state.rows} rows in {len(files)} files",
        f"DROP TABLE IF EXISTS {_name(stored)};",
        f"CREATE EXTERNAL TABLE {_name(stored)} (\n{columns}\n)\n"
        "PARTITIONED BY (`day` string, `by` string)\nSTORED AS PARQUET\n"
        f"LOCATION {_text(root + '/')};",
    ]
    folders = sorted({f.folder for f in files})
    if folders:
        parts = []
        for folder in folders:
            day, by = (segment.split("=", 1)[1] for segment in folder.split("/"))
            parts.append(
                f"  PARTITION (`day` = {_text(day)}, `by` = {_text(by)}) "
                f"LOCATION {_text(f'{root}/{folder}/')}"
            )
        out.append(f"ALTER TABLE {_name(stored)} ADD\n" + "\n".join(parts) + ";")
    where = ""
    if state.cutoff:
        first = -(-hour_start_ns(state.cutoff) // fmt.ns_per_unit)
        where = f" WHERE {_quoted(fmt.time_column)} >= {first}"
    # views are Trino SQL (double-quoted names); the DDL above is Hive's (backquotes)
    listed = ", ".join(_quoted(c) for c in (*fmt.schema.names, "day"))
    out.append(
        f"CREATE OR REPLACE VIEW {_quoted(name)} AS SELECT {listed} FROM {_quoted(stored)}{where};"
    )
    return "\n\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m starbase.backends.trino.ddl",
        description="Athena/Trino DDL for a stored OTel table's committed snapshot",
    )
    parser.add_argument("--data", required=True, help="the data folder Starbase writes")
    parser.add_argument("--location", help="where Athena reads the same folder (s3://…)")
    parser.add_argument("--name", default="otel", help="the table's name (default: otel)")
    args = parser.parse_args(argv)
    root = Path(args.data).expanduser()
    try:
        text = ddl(args.name, open_table(root, "otel"), args.location or str(root.resolve()))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
