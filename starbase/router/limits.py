"""What one request may cost a worker besides its bytes: records, values, CPU, JSON memory.

Requires: nothing beyond the standard library. Guarantees: a `Budget` is made per request (in
the thread that decodes it) from `RouterConfig`'s limits; decoders and converters call
`records(n)` as they count records, `values(n)` as they count attribute values (resource and
scope attributes once per record: what the stored rows will hold) and `tick()` between bounded
steps of work, and each raises `Overrun` — a 413 `Problem` naming the limit — as soon as the
request goes past it, so no decoder ever materialises more than the limits allow or runs past
`max_decode_cpu_s` of CPU. `json_cost` is a conservative estimate (from the body's size and
its count of `{`, `[` and `,`) of the memory `json.loads` needs; `check_json` refuses a
document whose estimate is over `JSON_PARSE_BYTES`. One mechanism for every format, so a
compiled decoder can take the same `Budget` (docs/router.md, "Limits").
"""

from __future__ import annotations

import time

from starbase.router.problems import Problem

MiB = 1024 * 1024
# json.loads of hostile shapes takes up to ~25 bytes of memory per byte of JSON (`{},{},…`);
# realistic OTLP/JSON ~6 and CloudWatch subscription data ~4 (measured, docs/router.md).
JSON_PARSE_BYTES = 128 * MiB
_JSON_OBJECT, _JSON_ARRAY, _JSON_ELEMENT = 200, 64, 64  # bytes per '{', '[' and ','
# The largest single log record (or resource, or scope) accepted: as Loki, CloudWatch (1 MiB
# events since 2025) and most agents do. It also bounds what one protobuf parse can expand to.
MAX_RECORD_BYTES = 1 * MiB
# Attribute values a request (and a commit) may hold per record allowed by --max-records,
# counting a resource's and a scope's attributes once for each of their records (each is a
# map entry of every row in the stored table); realistic records carry 10 to 40.
VALUES_PER_RECORD = 32


class Overrun(Exception):
    """A request went past one of its limits; `problem` is the 413 to answer."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class Budget:
    """The limits of one request, spent as it is decoded (not thread-safe: one per request)."""

    def __init__(self, max_records: int, max_decode_cpu_s: float) -> None:
        self.max_records = max_records
        self.max_values = max_records * VALUES_PER_RECORD
        self.max_decode_cpu_s = max_decode_cpu_s
        self.counted = 0
        self.values_counted = 0
        self._started = time.thread_time()

    def records(self, count: int) -> None:
        """Count `count` more records of this request; Overrun past `max_records`."""
        self.counted += count
        self.check_records(self.counted)

    def check_records(self, total: int) -> None:
        """Overrun if a request of `total` records is over `max_records` (counts nothing)."""
        if total > self.max_records:
            raise Overrun(
                Problem(
                    413,
                    f"more than {self.max_records} records in one request "
                    "(--max-records): send smaller batches",
                )
            )

    def values(self, count: int) -> None:
        """Count `count` more attribute values (see VALUES_PER_RECORD); Overrun past the max."""
        self.values_counted += count
        if self.values_counted > self.max_values:
            raise Overrun(
                Problem(
                    413,
                    f"more than {self.max_values} attribute values in one request (resource "
                    f"and scope attributes count once per record; {VALUES_PER_RECORD} x "
                    "--max-records): send smaller batches",
                )
            )

    def tick(self) -> None:
        """Overrun once this thread has spent `max_decode_cpu_s` of CPU on the request."""
        if time.thread_time() - self._started > self.max_decode_cpu_s:
            raise Overrun(
                Problem(
                    413,
                    f"decoding this request took more than {self.max_decode_cpu_s:g} s of CPU "
                    "(--max-decode-cpu): send smaller batches",
                )
            )


def unlimited() -> Budget:
    """A budget that never overruns (converting entries already accepted into the WAL)."""
    return Budget(2**62, float("inf"))


def json_cost(text: bytes) -> int:
    """An upper estimate of the bytes `json.loads(text)` allocates (see JSON_PARSE_BYTES)."""
    # Strings: 1 byte a character for ASCII, up to 4 when an escape or a non-ASCII character
    # can make a string UCS-4 (then each ASCII character in it takes 4 bytes too).
    per_byte = 1 if text.isascii() and b"\\u" not in text else 4
    return (
        _JSON_OBJECT * text.count(b"{")
        + _JSON_ARRAY * text.count(b"[")
        + _JSON_ELEMENT * text.count(b",")
        + per_byte * len(text)
    )


def check_json(text: bytes, what: str) -> None:
    """Overrun if parsing `text` could take more than JSON_PARSE_BYTES of memory."""
    if len(text) <= JSON_PARSE_BYTES // (_JSON_OBJECT + 4):  # cannot be over: skip counting
        return
    cost = json_cost(text)
    if cost > JSON_PARSE_BYTES:
        raise Overrun(
            Problem(
                413,
                f"{what} is too large to parse as JSON ({len(text)} bytes, an estimated "
                f"{cost // MiB} MiB to parse; the limit is {JSON_PARSE_BYTES // MiB} MiB): "
                "send smaller batches",
            )
        )
