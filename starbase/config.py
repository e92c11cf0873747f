"""Sources and where they live: `starbase.toml` (contract §6) or the embedded default.

Requires: nothing beyond the standard library. Guarantees: `Config.sources` keeps the file's
order; every source has a name, a format (a mapping in `starbase/mappings/`) and its location
settings; with no file, `default_config` gives one source `otel` over the data folder chosen by
`--data`, else `$STARBASE_DATA`, else a per-user default. Problems are `ConfigError`s that
name the file and the key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

DEFAULT_SOURCE = "otel"
LOOKUP_FORMAT = "lookup"  # the format of a lookup table's scan in a plan
LOOKUP_TYPES = ("string", "int", "float", "bool")


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class SourceConfig:
    """One configured source: `format` names a mapping; the rest says where its data is."""

    name: str
    format: str
    location: str | None = None
    log_groups: tuple[str, ...] = ()
    region: str | None = None
    endpoint: str | None = None
    profile: str | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with `options` as a plain dict (worker processes receive the config)."""
        options = dict(self.options)
        values = (self.name, self.format, self.location, self.log_groups, self.region)
        return (_source_config, (*values, self.endpoint, self.profile, options))


def _source_config(
    name: str,
    format: str,
    location: str | None,
    log_groups: tuple[str, ...],
    region: str | None,
    endpoint: str | None,
    profile: str | None,
    options: dict[str, Any],
) -> SourceConfig:
    values = (name, format, location, log_groups, region, endpoint, profile)
    return SourceConfig(*values, options=MappingProxyType(options))


@dataclass(frozen=True)
class LookupConfig:
    """A small table for `lookup NAME on KEY`: a CSV (with a header row) or Parquet file and
    its columns (name, type), in order; `path` is absolute or relative to the config file."""

    name: str
    path: str
    columns: tuple[tuple[str, str], ...]

    @property
    def file_format(self) -> str:
        return "parquet" if self.path.lower().endswith(".parquet") else "csv"


@dataclass(frozen=True)
class Config:
    sources: tuple[SourceConfig, ...]
    path: Path | None = None
    lookups: tuple[LookupConfig, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sources)

    def source(self, name: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.name == name), None)

    def lookup(self, name: str) -> LookupConfig | None:
        return next((t for t in self.lookups if t.name == name), None)


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: `--data`, else `$STARBASE_DATA`, else `$XDG_DATA_HOME/starbase`."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("STARBASE_DATA"):
        return Path(os.environ["STARBASE_DATA"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "starbase"


def default_config(data: str | os.PathLike[str] | None = None) -> Config:
    """The embedded default: one source `otel` over the data folder."""
    return Config((SourceConfig(DEFAULT_SOURCE, "otel", str(data_dir(data))),))


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read a `starbase.toml`."""
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text())
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    return config_from_dict(raw, file)


def config_from_dict(raw: Mapping[str, Any], path: Path | None = None) -> Config:
    where = str(path) if path else "<config>"
    sources_raw = raw.get("sources", {})
    if not isinstance(sources_raw, Mapping) or not sources_raw:
        raise ConfigError(f"{where}: no [sources.NAME] tables")
    sources = []
    for name, entry in sources_raw.items():
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: sources.{name} must be a table")
        fmt = entry.get("format")
        if not isinstance(fmt, str):
            raise ConfigError(f'{where}: sources.{name}.format is required (e.g. "otel")')
        groups = entry.get("log_groups", ())
        if not isinstance(groups, list | tuple) or not all(isinstance(g, str) for g in groups):
            raise ConfigError(f"{where}: sources.{name}.log_groups must be a list of strings")
        known = {"format", "location", "log_groups", "region", "endpoint", "profile"}
        sources.append(
            SourceConfig(
                name=name,
                format=fmt,
                location=_optional_str(entry, "location", name, where),
                log_groups=tuple(groups),
                region=_optional_str(entry, "region", name, where),
                endpoint=_optional_str(entry, "endpoint", name, where),
                profile=_optional_str(entry, "profile", name, where),
                options=MappingProxyType({k: v for k, v in entry.items() if k not in known}),
            )
        )
    lookups = _lookups(raw.get("lookups", {}), path, where, {s.name for s in sources})
    return Config(tuple(sources), path, lookups)


def _lookups(
    raw: Any, path: Path | None, where: str, sources: set[str]
) -> tuple[LookupConfig, ...]:
    """`[lookups.NAME]` tables: `path` (CSV or Parquet) and `columns` (name = type); a CSV's
    columns default to its header row, every one a string."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: lookups must be a table of [lookups.NAME] tables")
    out = []
    for name, entry in raw.items():
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: lookups.{name} must be a table")
        if name in sources:
            raise ConfigError(f"{where}: lookups.{name}: a source has that name already")
        unknown = sorted(set(entry) - {"path", "columns"})
        if unknown:
            raise ConfigError(f"{where}: lookups.{name}: unknown key {unknown[0]!r}")
        file = entry.get("path")
        if not isinstance(file, str) or not file:
            raise ConfigError(f'{where}: lookups.{name}.path is required (e.g. "owners.csv")')
        located = Path(file).expanduser()
        if not located.is_absolute() and path is not None:
            located = path.parent / located
        columns = entry.get("columns")
        if columns is None:
            columns = _csv_header(located, f"{where}: lookups.{name}")
        if not isinstance(columns, Mapping) or not columns:
            raise ConfigError(f"{where}: lookups.{name}.columns must name at least one column")
        for column, kind in columns.items():
            if kind not in LOOKUP_TYPES:
                raise ConfigError(
                    f"{where}: lookups.{name}.columns.{column} must be one of "
                    f"{', '.join(LOOKUP_TYPES)}"
                )
        out.append(LookupConfig(name, str(located), tuple(columns.items())))
    return tuple(out)


def _csv_header(file: Path, where: str) -> dict[str, str]:
    import csv

    if file.suffix.lower() == ".parquet":
        raise ConfigError(f"{where}.columns is required for a Parquet table (name = type)")
    try:
        with file.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {file}: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{where}: {file} is not a CSV file: {exc}") from None
    if len(set(header)) != len(header) or not all(header):
        raise ConfigError(f"{where}: {file}: the header row needs distinct, non-empty names")
    return dict.fromkeys(header, "string")


def _optional_str(entry: Mapping[str, Any], key: str, name: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: sources.{name}.{key} must be a string")
    return value
