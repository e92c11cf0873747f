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
class Config:
    sources: tuple[SourceConfig, ...]
    path: Path | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sources)

    def source(self, name: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.name == name), None)


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
    return Config(tuple(sources), path)


def _optional_str(entry: Mapping[str, Any], key: str, name: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: sources.{name}.{key} must be a string")
    return value
