"""Which raw-line mapping a configured raw source reads its lines through (contract §7).

Requires: a `SourceConfig` of format `raw` and the `Config` it came from. Guarantees:
`raw_mapping_for(config, source)` returns a validated `RawMapping`: the file named by the
source's `mapping` key (relative to the configuration file's folder; `~` expanded), or for
`mapping = "auto"` (the default) the analyzer's proposal for the stored lines
(`starbase.analyzer.auto`). A file with problems raises `MappingError` (file:line:col);
other problems raise `RawSourceError` with one line naming the source and the key. The lines
of a raw source are those posted as `raw_source` (default: the source's own name).
"""

from __future__ import annotations

from pathlib import Path

from starbase.config import Config, SourceConfig
from starbase.mappings.raw import RawMapping, load_raw_mapping_file, load_raw_mapping_text

AUTO = "auto"
WHOLE_LINE = """\
kind: raw
name: line
shapes:
  - name: line
    parse: {kind: regex, pattern: '^(?<message>.*)$'}
    message: message
"""


class RawSourceError(Exception):
    """A raw source that cannot be read through a mapping; the message is one line."""


def raw_source_name(source: SourceConfig) -> str:
    """The `?source=` name whose lines the configured source reads."""
    value = source.options.get("raw_source", source.name)
    if not isinstance(value, str) or not value:
        raise RawSourceError(f"sources.{source.name}.raw_source must be a non-empty string")
    return value


def mapping_setting(source: SourceConfig) -> str:
    value = source.options.get("mapping", AUTO)
    if not isinstance(value, str) or not value:
        raise RawSourceError(
            f'sources.{source.name}.mapping must be a file name or "auto" (got {value!r})'
        )
    return value


def mapping_path(config: Config, source: SourceConfig) -> Path | None:
    """The mapping file a source names, resolved against the config's folder (None: auto)."""
    setting = mapping_setting(source)
    if setting == AUTO:
        return None
    path = Path(setting).expanduser()
    if not path.is_absolute() and config.path is not None:
        path = config.path.parent / path
    return path


def whole_line_mapping() -> RawMapping:
    """A mapping with no structure: every line is its own message."""
    return load_raw_mapping_text(WHOLE_LINE, "<whole line>")


def raw_mapping_for(config: Config, source: SourceConfig) -> RawMapping:
    """See the module docstring."""
    path = mapping_path(config, source)
    if path is not None:
        if not path.is_file():
            where = f" (in {config.path})" if config.path else ""
            raise RawSourceError(f"sources.{source.name}.mapping: no mapping file {path}{where}")
        return load_raw_mapping_file(path)
    if not source.location:
        raise RawSourceError(f"sources.{source.name}: a raw source needs a location")
    from starbase.analyzer.auto import auto_mapping  # the analyzer loads only when needed

    return auto_mapping(source.location, raw_source_name(source), source.options)
