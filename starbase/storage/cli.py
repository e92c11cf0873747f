"""`starbase compact`, `migrate`, `retention` and `tables`: maintenance of stored tables.

Requires: sources from `--config` or the embedded default (`--data`). Guarantees: each command
acts on every stored source (or the ones named with `--source`), prints one line per table,
and is safe while the router writes and queries read (see `table.py`): `compact` merges the
appended files (and migrates files of the legacy layout) and then vacuums what was superseded
longer than `--grace` ago; `migrate` rewrites a table's legacy files into the day layout
(compaction does it too; reading never needs it); `retention`
hides the hours older than `--older-than` (default: the source's `retention` setting) and
vacuums likewise; `tables` shows each table's committed state from its index.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starbase.backends.datafusion.tables import STORED, open_source_table
from starbase.compiler.grammar.parser import DURATION_NANOS
from starbase.config import Config, ConfigError, SourceConfig, default_config, load_config
from starbase.storage.table import (
    COMPACT_ZSTD_LEVEL,
    TARGET_FILE_BYTES,
    VACUUM_GRACE_S,
    Table,
)

_DURATION = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")
_SIZE = re.compile(r"^\s*(\d+)\s*(b|kib|mib|gib|kb|mb|gb)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9}
_SIZE_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_duration(text: str) -> int:
    """'30d', '12h', '90m', '45s' as nanoseconds (StarQL's duration units)."""
    match = _DURATION.match(text.lower())
    if not match or match.group(2) not in DURATION_NANOS:
        units = ", ".join(DURATION_NANOS)
        raise ConfigError(f"not a duration: {text!r} (a number and a unit: {units})")
    return int(match.group(1)) * DURATION_NANOS[match.group(2)]


def parse_size(text: str) -> int:
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"not a size: {text!r} (e.g. 128MiB)")
    return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    compact = commands.add_parser("compact", help="merge small files into large ones")
    _common(compact)
    compact.add_argument(
        "--target-size", default="128MiB", help="size of the merged files (default: 128MiB)"
    )
    compact.add_argument(
        "--level",
        type=int,
        default=COMPACT_ZSTD_LEVEL,
        help=f"zstd level of the merged files (default {COMPACT_ZSTD_LEVEL}; 19: ~10%% smaller, "
        "~10x the CPU)",
    )
    compact.set_defaults(handler=_compact)

    migrate = commands.add_parser(
        "migrate", help="rewrite files of the legacy hour x service layout into the day layout"
    )
    _common(migrate)
    migrate.set_defaults(handler=_migrate)

    retention = commands.add_parser("retention", help="expire data older than a duration")
    _common(retention)
    retention.add_argument(
        "--older-than", help="e.g. 30d (default: each source's `retention` setting)"
    )
    retention.set_defaults(handler=_retention)

    tables = commands.add_parser("tables", help="show stored tables from their index")
    _common(tables)
    tables.set_defaults(handler=_tables)


def _common(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", type=Path, help="a starbase.toml (default: embedded)")
    command.add_argument("--data", help="the data folder (default: $STARBASE_DATA)")
    command.add_argument(
        "--source", action="append", default=[], help="only this source (repeatable)"
    )
    command.add_argument(
        "--grace",
        default=f"{int(VACUUM_GRACE_S / 60)}m",
        help="keep superseded files this long for running queries (default: 10m)",
    )
    command.set_defaults(diagnostics="text")


def _compact(args: argparse.Namespace) -> int:
    target = parse_size(args.target_size)

    def act(source: SourceConfig, table: Table) -> str:
        started = time.perf_counter()
        report = table.compact(
            target_bytes=target if target else TARGET_FILE_BYTES, level=args.level
        )
        vacuum = table.vacuum(grace_s=parse_duration(args.grace) / 1e9)
        took = time.perf_counter() - started
        if report.commit is None:
            merged = f"nothing to merge ({report.inputs} appended files)"
        else:
            merged = (
                f"merged {report.inputs} files ({_mib(report.bytes_in)}) into "
                f"{report.outputs} ({_mib(report.bytes_out)})"
            )
            if report.migrated:
                merged += f", {report.migrated} of them from the legacy layout"
        return f"{merged}; deleted {vacuum.deleted_files} superseded files; {took:.1f}s"

    return _each(args, act)


def _migrate(args: argparse.Namespace) -> int:
    def act(source: SourceConfig, table: Table) -> str:
        legacy = table.snapshot().legacy
        if not legacy:
            return "already in the day layout"
        report = table.compact(min_files=1)
        vacuum = table.vacuum(grace_s=parse_duration(args.grace) / 1e9)
        return (
            f"migrated {report.migrated} legacy files ({report.inputs} files in all, "
            f"{_mib(report.bytes_in)}) into {report.outputs} ({_mib(report.bytes_out)}); "
            f"deleted {vacuum.deleted_files} superseded files"
        )

    return _each(args, act)


def _retention(args: argparse.Namespace) -> int:
    def act(source: SourceConfig, table: Table) -> str:
        setting = args.older_than or source.options.get("retention")
        if not setting:
            return 'no retention set (use --older-than or `retention = "30d"` in the source)'
        commit = table.expire(parse_duration(str(setting)))
        vacuum = table.vacuum(grace_s=parse_duration(args.grace) / 1e9)
        state = table.snapshot()
        expired = "nothing expired" if commit is None else f"expired {len(commit.remove)} files"
        return (
            f"{expired}; hours before {state.cutoff} hidden; deleted {vacuum.deleted_files} files"
        )

    return _each(args, act)


def _tables(args: argparse.Namespace) -> int:
    def act(source: SourceConfig, table: Table) -> str:
        state = table.snapshot()
        files = table.files(state)
        appended = sum(1 for f in files if not f.legacy and "/by=append-" in f.path)
        size = sum(f.bytes for f in files)
        span = ""
        if files:
            span = f"; days {min(f.day for f in files)} … {max(f.day for f in files)}"
        legacy = f", {state.legacy} legacy" if state.legacy else ""
        if source.format == "raw":
            return _raw_source_line(source, state.version, files)
        return (
            f"version {state.version}: {state.rows:,} rows in {state.files} files "
            f"({appended} appended, {state.files - appended - state.legacy} compacted{legacy}), "
            f"{_mib(size)}{span}"
        )

    return _each(args, act)


def _raw_source_line(source: SourceConfig, version: int, files: list[Any]) -> str:
    """A raw source's own lines in the shared raw table, and the mapping it reads them by."""
    from starbase.mappings.raw_sources import mapping_setting, raw_source_name

    name = raw_source_name(source)
    mine = [(f, k) for f in files for k in f.keys if k.key == name]
    rows = sum(k.rows for _, k in mine)
    span = ""
    if mine:
        span = f"; received {min(f.day for f, _ in mine)} … {max(f.day for f, _ in mine)}"
    where = "" if name == source.name else f" (posted as {name})"
    return (
        f"version {version}: {rows:,} lines{where} in {len(mine)} files{span}; "
        f"mapping {mapping_setting(source)}"
    )


def _each(args: argparse.Namespace, act: Callable[[SourceConfig, Table], str]) -> int:
    config = load_config(args.config) if args.config is not None else default_config(args.data)
    for source in _stored(config, args.source):
        print(f"{source.name} ({source.format}): {act(source, open_source_table(source))}")
    return 0


def _stored(config: Config, names: list[str]) -> list[SourceConfig]:
    chosen = [
        s
        for s in config.sources
        if s.format in STORED and s.location and (not names or s.name in names)
    ]  # a CloudWatch source without a location is log groups in AWS, not a table of ours
    unknown = sorted(set(names) - {s.name for s in chosen})
    if unknown:
        raise ConfigError(f"not a stored source: {', '.join(unknown)}")
    return chosen


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"
