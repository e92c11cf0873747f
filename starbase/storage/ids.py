"""Trace and span ids: lowercase hex text (what users and OTLP/JSON see) ⇄ raw bytes (stored).

Requires: numpy and pyarrow. Guarantees: vectorised, no per-row Python; `from_hex` turns a
string column of exactly `2 * width` hex digits (either case) per value into
`fixed_size_binary(width)`, nulls staying null, and refuses anything else with a ValueError
naming the first bad value (a wrong id is never stored silently); `to_hex` is its inverse and
always gives lowercase; binary input of the right width passes through unchanged.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

_NIBBLE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _NIBBLE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _NIBBLE[_c] = 10 + _i
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def from_hex(values: pa.Array | pa.ChunkedArray, width: int, name: str = "id") -> pa.Array:
    """`values` (hex strings, or binary of `width` bytes) as `fixed_size_binary(width)`."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], values.type)
    kind = pa.binary(width)
    if values.type == kind:
        return values
    if pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type):
        lengths = pc.binary_length(values)
        if pc.any(pc.not_equal(lengths, width)).as_py():
            raise ValueError(f"{name} must be {width} bytes")
        return values.cast(kind)
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), kind)
    text = values.cast(pa.string())
    valid = text.is_valid()
    filled = pc.fill_null(text, "0" * (2 * width))
    lengths = pc.binary_length(filled)
    if pc.any(pc.not_equal(lengths, 2 * width)).as_py():
        bad = filled.filter(pc.not_equal(lengths, 2 * width))[0].as_py()
        raise ValueError(f"{name} must be {2 * width} hex digits, not {bad[:80]!r}")
    offsets = np.frombuffer(filled.buffers()[1], dtype=np.int32)
    start = int(offsets[filled.offset])
    data = np.frombuffer(filled.buffers()[2], dtype=np.uint8)
    chars = data[start : start + len(filled) * 2 * width].reshape(len(filled), 2 * width)
    nibbles = _NIBBLE[chars]
    if (nibbles == 255).any():
        row = int(np.nonzero((nibbles == 255).any(axis=1))[0][0])
        raise ValueError(f"{name} must be hex digits, not {filled[row].as_py()[:80]!r}")
    raw = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    mask = None
    nulls = len(text) - int(pc.sum(valid.cast(pa.int64())).as_py() or 0)
    if nulls:
        mask = pa.array(valid.to_numpy(zero_copy_only=False)).buffers()[1]
    return pa.FixedSizeBinaryArray.from_buffers(
        kind, len(filled), [mask, pa.py_buffer(raw.tobytes())], null_count=nulls
    )


def to_hex(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Binary ids as lowercase hex strings (nulls stay null)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], values.type)
    if not pa.types.is_fixed_size_binary(values.type):
        raise ValueError(f"not fixed-size binary ids: {values.type}")
    width = values.type.byte_width
    raw = np.frombuffer(values.buffers()[1], dtype=np.uint8)
    raw = raw[values.offset * width : (values.offset + len(values)) * width]
    chars = np.empty((len(values), 2 * width), dtype=np.uint8)
    grid = raw.reshape(len(values), width)
    chars[:, 0::2] = _HEX[grid >> 4]
    chars[:, 1::2] = _HEX[grid & 15]
    offsets = np.arange(0, (len(values) + 1) * 2 * width, 2 * width, dtype=np.int32)
    strings = pa.StringArray.from_buffers(
        len(values), pa.py_buffer(offsets.tobytes()), pa.py_buffer(chars.tobytes())
    )
    return pc.if_else(values.is_valid(), strings, pa.scalar(None, pa.string()))
