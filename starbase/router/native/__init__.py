"""The compiled OTLP → Arrow decoder, and the choice between it and the Python reference.

Requires: the C extension `_otlp_arrow` (built from this folder's C sources by `pip install`,
see setup.py); without it, with `STARBASE_NATIVE=0` in the environment, or after
`use("python")` (the router's `--otlp-converter python`), `otlp_table` is
`convert_otlp.otlp_table`, the pure-Python reference, `check` answers None (the request path
then checks record by record in Python), and the log says so once.

Guarantees: `otlp_table(entries)` and `otlp_prefix_table(entries, max_values)` return the
same table as the reference (same schema — the stored files' `OTEL_LOGS_SCHEMA`, ids as
bytes — same values, same prefix; tests/test_native_otlp.py checks it on arbitrary requests)
and raise protobuf's `DecodeError` for the payloads the reference cannot parse, with the
payload, byte offset and reason in the message; with `ordered`, rows come in the stored
files' order instead of entry order. The protobuf wire format is decoded straight into Arrow
buffers (no Python object per record, the GIL released meanwhile), resource and scope
columns joined onto the rows and the rows ordered in C (rows.c). `check(payload, received)`
is the request path's one-walk summary of a payload (`otlp.decode` uses it). The C sources
say what they check (decode.c) and how text is written (text.c).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from types import ModuleType

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]

from starbase.router import convert_otlp
from starbase.router.wal import Entry
from starbase.storage.otel_layout import OTEL_LOGS_SCHEMA

log = logging.getLogger("starbase.router")
SCHEMA = OTEL_LOGS_SCHEMA  # the stored files' columns: ids as bytes, the service beside


CONVERTERS = ("auto", "compiled", "python")  # the router's --otlp-converter choices


def _load(*, honour_env: bool = True) -> tuple[ModuleType | None, str]:
    if honour_env and os.environ.get("STARBASE_NATIVE", "1") == "0":
        return None, "STARBASE_NATIVE=0"
    try:
        from starbase.router.native import _otlp_arrow
    except ImportError as exc:
        return None, f"the extension is not built ({exc})"
    return _otlp_arrow, ""


_native, _why_not = _load()
_warned = False


def use(converter: str) -> None:
    """Choose the OTLP converter of this process: "auto" (the compiled one when it is built and
    `STARBASE_NATIVE` is not 0), "compiled" (ImportError saying why when it is not built) or
    "python" (the reference)."""
    global _native, _why_not, _warned
    if converter not in CONVERTERS:
        raise ValueError(f"unknown OTLP converter {converter!r}: one of {', '.join(CONVERTERS)}")
    if converter == "python":
        _native, _why_not = None, "--otlp-converter python"
    else:
        _native, _why_not = _load(honour_env=converter == "auto")
        if converter == "compiled" and _native is None:
            raise ImportError(f"the compiled OTLP converter is not available: {_why_not}")
    _warned = False


def built() -> bool:
    """Whether the extension can be imported (whatever `use` chose)."""
    return _load(honour_env=False)[0] is not None


Summary = tuple[int, int, int, int, int, int, bool, frozenset[int] | None]


def check(payload: bytes, received_ns: int) -> Summary | None:
    """What the request path checks of a protobuf payload, from one walk in C: (records,
    their own attribute values, resource and scope values counted per record, the largest
    time or observed time, the smallest stored time, the longest service.name, whether a
    service.name is anything but one string value, the distinct days of the stored times —
    None past 64). None without the compiled decoder; DecodeError when malformed."""
    if _native is None:
        return None
    try:
        return _native.check(payload, received_ns)  # type: ignore[no-any-return]
    except _native.DecodeError as exc:
        raise DecodeError(f"malformed ExportLogsServiceRequest: {exc}") from None


def json_payload(document: object) -> bytes | None:
    """The protobuf payload of a parsed OTLP/JSON document from the compiled walk (json.c),
    or None: not handled there (the reference, `otlp_json.parse_json`, decides, errors
    included), or no compiled decoder."""
    if _native is None:
        return None
    return _native.json_payload(document)  # type: ignore[no-any-return]


def available() -> bool:
    """Whether the compiled decoder is in use."""
    return _native is not None


def otlp_table(entries: Sequence[Entry], *, ordered: bool = False) -> pa.Table:
    """The stored-layout table of the OTLP WAL entries (see `otlp_prefix_table`)."""
    return otlp_prefix_table(entries, None, ordered=ordered)[0]


def otlp_prefix_table(
    entries: Sequence[Entry], max_values: int | None, *, ordered: bool = False
) -> tuple[pa.Table, int]:
    """The rows of the first entries, stopping after the one that brings the attribute values
    (resource and scope ones counted per row) to `max_values`, and how many entries were
    used: `convert_otlp.otlp_prefix_table`'s answer. With `ordered`, the compiled decoder gives
    the rows in the order of the stored files (`TableFormat.split`'s: day, service, time,
    ties in entry order), so storage need not sort them; the reference keeps entry order."""
    global _warned
    if _native is None:
        if not _warned:
            log.warning("OTLP conversion in pure Python (slower): %s", _why_not)
            _warned = True
        return convert_otlp.otlp_prefix_table(entries, max_values)
    payloads = [e.payload for e in entries]
    received = [e.received_ns for e in entries]
    if max_values is None:
        return decode(payloads, received, ordered=ordered), len(entries)
    return _prefix(payloads, received, max_values, ordered)


def _prefix(
    payloads: Sequence[bytes], received: Sequence[int], max_values: int, ordered: bool
) -> tuple[pa.Table, int]:
    assert _native is not None
    try:
        capsules, used = _native.decode(payloads, received, max_values, ordered)
    except _native.BatchTooLarge as exc:
        if len(payloads) < 2:  # data that cannot be stored (a dead letter), not an outage
            raise ValueError(f"one OTLP payload too large to convert: {exc}") from None
        half = len(payloads) // 2  # a column passed 2 GiB: a shorter prefix
        return _prefix(payloads[:half], received[:half], max_values, ordered)
    except _native.DecodeError as exc:
        raise DecodeError(f"malformed ExportLogsServiceRequest: {exc}") from None
    return _table(capsules), used


def decode(payloads: Sequence[bytes], received_ns: Sequence[int], *, ordered: bool) -> pa.Table:
    """Payloads (ExportLogsServiceRequest, protobuf) → one table; `received_ns` per payload
    fills the time of records that carry none."""
    assert _native is not None
    try:
        capsules, _ = _native.decode(payloads, received_ns, -1, ordered)
    except _native.BatchTooLarge as exc:
        if len(payloads) < 2:  # data that cannot be stored (a dead letter), not an outage
            raise ValueError(f"one OTLP payload too large to convert: {exc}") from None
        half = len(payloads) // 2  # a column passed 2 GiB: decode in two halves
        parts = [
            decode(payloads[:half], received_ns[:half], ordered=ordered),
            decode(payloads[half:], received_ns[half:], ordered=ordered),
        ]
        return pa.concat_tables(parts)  # each half ordered: `split` sorts the whole
    except _native.DecodeError as exc:
        raise DecodeError(f"malformed ExportLogsServiceRequest: {exc}") from None
    return _table(capsules)


def _table(capsules: tuple[object, object]) -> pa.Table:
    batch = pa.RecordBatch._import_from_c_capsule(*capsules)
    return pa.Table.from_batches([batch], schema=SCHEMA)
