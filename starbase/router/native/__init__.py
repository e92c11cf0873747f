"""The compiled OTLP → Arrow decoder, and the choice between it and the Python reference.

Requires: the C extension `_otlp_arrow` (built from this folder's C sources by `pip install`,
see setup.py); without it, or with `STARBASE_NATIVE=0` in the environment, `otlp_table` is
`convert_otlp.otlp_table`, the pure-Python reference, and says so once in the log.

Guarantees: `otlp_table(entries)` returns the same table as the reference (same schema, same
values; tests/test_native_otlp.py checks it on arbitrary requests) and raises protobuf's
`DecodeError` for the payloads the reference cannot parse, with the payload, byte offset and
reason in the message. The protobuf wire format is decoded straight into Arrow buffers (no
Python object per record, the GIL released meanwhile); records, scopes and resources come
back as three tables that are joined here with `take`. The C sources say what they check
(decode.c) and how text is written (text.c).
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
from starbase.storage.otel_layout import OTEL_RECORDS_SCHEMA

log = logging.getLogger("starbase.router")
SCHEMA = pa.schema([*OTEL_RECORDS_SCHEMA, pa.field("service", pa.string())])


def _load() -> tuple[ModuleType | None, str]:
    if os.environ.get("STARBASE_NATIVE", "1") == "0":
        return None, "STARBASE_NATIVE=0"
    try:
        from starbase.router.native import _otlp_arrow
    except ImportError as exc:
        return None, f"the extension is not built ({exc})"
    return _otlp_arrow, ""


_native, _why_not = _load()
_warned = False


def available() -> bool:
    """Whether the compiled decoder is in use."""
    return _native is not None


def otlp_table(entries: Sequence[Entry]) -> pa.Table:
    """The stored-layout table of the OTLP WAL entries (see convert_otlp.otlp_table)."""
    global _warned
    if _native is None:
        if not _warned:
            log.warning("OTLP conversion in pure Python (slower): %s", _why_not)
            _warned = True
        return convert_otlp.otlp_table(entries)
    return decode([e.payload for e in entries], [e.received_ns for e in entries])


def decode(payloads: Sequence[bytes], received_ns: Sequence[int]) -> pa.Table:
    """Payloads (ExportLogsServiceRequest, protobuf) → one table; `received_ns` per payload
    fills the time of records that carry none."""
    assert _native is not None
    try:
        parts = _native.decode(payloads, received_ns)
    except _native.BatchTooLarge as exc:
        if len(payloads) < 2:  # data that cannot be stored (a dead letter), not an outage
            raise ValueError(f"one OTLP payload too large to convert: {exc}") from None
        half = len(payloads) // 2  # a column passed 2 GiB: decode in two halves
        return pa.concat_tables(
            [
                decode(payloads[:half], received_ns[:half]),
                decode(payloads[half:], received_ns[half:]),
            ]
        )
    except _native.DecodeError as exc:
        raise DecodeError(f"malformed ExportLogsServiceRequest: {exc}") from None
    records, groups, resources = (pa.RecordBatch._import_from_c_capsule(*p) for p in parts)
    group = records.column("group")
    resource = groups.column("resource").take(group)
    columns = [records.column(name) for name in OTEL_RECORDS_SCHEMA.names[:6]]
    columns += [
        resources.column("resource_attributes").take(resource),
        resources.column("resource_schema_url").take(resource),
        groups.column("scope_name").take(group),
        groups.column("scope_version").take(group),
        groups.column("scope_attributes").take(group),
    ]
    columns += [records.column(name) for name in OTEL_RECORDS_SCHEMA.names[11:]]
    columns.append(resources.column("service").take(resource))
    return pa.Table.from_arrays(columns, schema=SCHEMA)
