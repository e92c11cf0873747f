"""Where the analyzer's lines come from: files, standard input, or a stored raw source.

Requires: for `--source`, a data folder the router writes (`raw/lines`, see
`starbase.storage.formats.RAW`). Guarantees: `decode_lines` turns bytes into lines or raises
`InputError` with one line saying why (binary data, not UTF-8); at most `MAX_BYTES` of each
input are read (the rest is named in a warning, not silently dropped); `read_raw_source` returns
the newest `limit` lines of one raw source with the time each was received, reading the table's
committed files through its index (never a half-written file).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from starbase.storage.table import open_table

MAX_BYTES = 64 * 1024 * 1024
_CONTROL_OK = {9, 10, 13, 27}


class InputError(Exception):
    """Input the analyzer cannot read; the message is one line."""


def decode_lines(data: bytes, name: str, warnings: list[str] | None = None) -> list[str]:
    """Lines of `data` (see the module docstring)."""
    if not data.strip():
        return []
    head = data[:65536]
    if b"\x00" in head:
        raise InputError(f"{name}: binary data (NUL bytes), not lines of text")
    controls = sum(1 for b in head if b < 32 and b not in _CONTROL_OK)
    if controls > 0.05 * len(head):
        raise InputError(f"{name}: binary data ({controls} control bytes), not lines of text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raw_lines = data.split(b"\n")
        bad = 0
        for raw in raw_lines:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                bad += 1
        if bad > 0.3 * len(raw_lines):
            raise InputError(
                f"{name}: not UTF-8 text ({bad} of {len(raw_lines)} lines fail to decode)"
            ) from None
        if warnings is not None:
            warnings.append(
                f"{name}: {bad} line(s) are not UTF-8; undecodable bytes shown as U+FFFD"
            )
        text = data.decode("utf-8", errors="replace")
    return text.splitlines()


def _read_capped(handle: BinaryIO, name: str, warnings: list[str]) -> bytes:
    data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        warnings.append(f"{name}: only the first {MAX_BYTES // (1024 * 1024)} MiB are analyzed")
        data = data[:MAX_BYTES]
        data = data[: data.rfind(b"\n") + 1] or data
    return data


def read_inputs(paths: Sequence[str], warnings: list[str]) -> list[str]:
    """Lines of every named file, `-` meaning standard input (no paths: standard input)."""
    lines: list[str] = []
    for path in paths or ["-"]:
        if path == "-":
            lines.extend(
                decode_lines(
                    _read_capped(sys.stdin.buffer, "<stdin>", warnings), "<stdin>", warnings
                )
            )
            continue
        file = Path(path)
        if file.is_dir():
            raise InputError(f"{path}: is a folder, not a file of lines")
        try:
            with file.open("rb") as handle:
                data = _read_capped(handle, path, warnings)
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
        lines.extend(decode_lines(data, path, warnings))
    return lines


def read_raw_source(data_dir: Path, source: str, limit: int = 100_000) -> list[tuple[int, str]]:
    """The newest `limit` (received ns, line) pairs of raw source `source`, oldest first."""
    root = data_dir / "raw" / "lines"
    if not root.is_dir():
        raise InputError(f"no raw sources stored under {data_dir} (nothing was POSTed to /v1/raw)")
    table = open_table(data_dir, "raw")
    entries = [e for e in table.files() if any(k.key == source for k in e.keys)]
    if not entries:
        known = sorted({k.key for e in table.files() for k in e.keys})
        hint = f" (stored: {', '.join(known)})" if known else ""
        raise InputError(f"raw source '{source}' has no lines under {data_dir}{hint}")
    out: list[tuple[int, str]] = []
    for entry in sorted(entries, key=lambda e: e.max_ns, reverse=True):
        try:
            data = table.read_file(entry)  # a day's file holds every source, clustered
        except FileNotFoundError:
            continue
        data = data.filter(pc.equal(data["source"], source))
        times = data["received_time_unix_nano"].to_pylist()
        texts = data["line"].to_pylist()
        out.extend((t, s) for t, s in zip(times, texts, strict=True) if s is not None)
        if len(out) >= limit:
            break
    out.sort(key=lambda pair: pair[0])
    return out[-limit:]
