"""`mapping = "auto"`: the analyzer's proposal for a stored raw source, kept beside the data.

Requires: a local data folder the router writes raw lines to. Guarantees: `auto_mapping(data,
source)` returns the mapping proposed for the newest `SAMPLE_LINES` lines of `source`, stored
as `<data>/raw/mappings/<source>.yaml` with `<source>.json` (what it was proposed from); later
calls reuse it until the router records (ingest-time detection, `detect.py`) a batch whose
format is not among those seen when it was proposed, when it is proposed again. A source with
no lines yet reads every line as its own message (nothing is stored, so the first lines that
arrive get a proposal). Within a process the answer is cached per commit of the raw table.
Lines no shape fits stay queryable as whole-line messages (the raw mapping's semantics).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from starbase.analyzer.detect import recorded_formats
from starbase.mappings.raw import RawMapping, dump_raw_mapping, load_raw_mapping_text

SAMPLE_LINES = 5000
FOLDER = Path("raw") / "mappings"
_memo: dict[tuple[str, str, int], RawMapping] = {}


class AutoMappingError(Exception):
    """The proposal cannot be made or stored; one line."""


def _seen(records: list[tuple[int, dict[str, Any]]]) -> set[str]:
    return {f"{r.get('format')}|{r.get('fingerprint')}" for _, r in records}


def proposal_files(data: Path, source: str) -> tuple[Path, Path]:
    folder = data / FOLDER
    return folder / f"{source}.yaml", folder / f"{source}.json"


def auto_mapping(
    location: str, source: str, options: Mapping[str, Any] | None = None
) -> RawMapping:
    """See the module docstring."""
    from starbase.mappings.raw_sources import RawSourceError, whole_line_mapping
    from starbase.storage.table import open_table

    if location.startswith("s3://"):
        raise RawSourceError(
            f'raw source {source!r} on S3: mapping = "auto" needs a local data folder; '
            "write one with `starbase analyze --source … --write FILE.yaml` and name it"
        )
    data = Path(location).expanduser()
    if not (data / "raw" / "lines").is_dir():
        return whole_line_mapping()
    table = open_table(data, "raw")
    head = table.snapshot().version
    key = (str(data.resolve()), source, head)
    if key in _memo:
        return _memo[key]
    records = recorded_formats(table, source)
    yaml_file, meta_file = proposal_files(data, source)
    mapping = _stored(yaml_file, meta_file, records)
    if mapping is None:
        mapping = _propose(data, source, records, yaml_file, meta_file)
    if mapping is None:
        return whole_line_mapping()
    _memo[key] = mapping
    return mapping


def _stored(
    yaml_file: Path, meta_file: Path, records: list[tuple[int, dict[str, Any]]]
) -> RawMapping | None:
    try:
        meta = json.loads(meta_file.read_text())
        mapping = load_raw_mapping_text(yaml_file.read_text(), str(yaml_file))
    except (OSError, ValueError, Exception):  # missing, unreadable or stale: propose again
        return None
    seen = set(meta.get("formats", []))
    newer = [(v, r) for v, r in records if v > int(meta.get("version", -1))]
    if _seen(newer) - seen:
        return None  # a format appeared that the proposal was not made from
    return mapping


def _propose(
    data: Path,
    source: str,
    records: list[tuple[int, dict[str, Any]]],
    yaml_file: Path,
    meta_file: Path,
) -> RawMapping | None:
    from starbase.analyzer.analyze import analyze_lines
    from starbase.analyzer.source import InputError, read_raw_source

    try:
        pairs = read_raw_source(data, source, SAMPLE_LINES)
    except InputError:
        return None
    if not pairs:
        return None
    received = pairs[-1][0]
    analysis = analyze_lines([line for _, line in pairs], name=source, received_ns=received)
    if analysis.mapping is None:
        return None
    text = dump_raw_mapping(analysis.mapping)
    mapping = load_raw_mapping_text(text, str(yaml_file))
    version = max((v for v, _ in records), default=0)
    meta = {
        "source": source,
        "version": version,
        "formats": sorted(_seen(records)),
        "lines": len(pairs),
        "coverage": analysis.coverage,
    }
    try:
        yaml_file.parent.mkdir(parents=True, exist_ok=True)
        for path, body in ((yaml_file, text), (meta_file, json.dumps(meta, indent=1))):
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_text(body)
            os.replace(temporary, path)
    except OSError:
        pass  # a read-only data folder: the proposal is used, not kept
    return mapping
