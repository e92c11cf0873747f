"""What a rule file says, once loaded: groups of alerting and recording rules over StarQL.

Requires: nothing beyond the standard library (and pyarrow for `samples`). Guarantees:

- `parse_duration` reads Prometheus durations (`90s`, `5m`, `1h30m`, `1d`, `1w`, `250ms`) as
  seconds and refuses anything else (so does a rule file check);
- `Group`/`Rule` are frozen values holding the rule's text and where it was written
  (`Where`: file, line, column), so the evaluator and the API can name a rule's origin;
- `samples(table, value_column)` turns a query result into one `Sample` per row: the value
  is the column chosen by `value_column` (a numeric column named `value`, else the last
  numeric column), every other column a label (`label_name` spells column names as
  Prometheus label names; nulls leave the label out; timestamps as RFC 3339 UTC text);
- `http_url` accepts only an absolute http(s) base URL (an Alertmanager, the web UI alerts
  link to) and says what is wrong with anything else, so a typo fails at start instead of
  every notification failing later.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    from starbase.compiler.ir import Column

Kind = Literal["alert", "record"]
Labels = tuple[tuple[str, str], ...]  # sorted by name

_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
RESERVED_LABELS = frozenset({"alertname", "__name__"})


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration (`1h30m`, `30s`, `250ms`, `0s`); ValueError otherwise."""
    stripped = text.strip()
    parts = list(_DURATION_PART.finditer(stripped))
    if not stripped or "".join(p.group(0) for p in parts) != stripped:
        raise ValueError(f"not a duration: {text!r} (e.g. 30s, 5m, 1h30m)")
    sizes = [_UNIT_S[p.group(2)] for p in parts]
    if any(a <= b for a, b in itertools.pairwise(sizes)):
        raise ValueError(f"not a duration: {text!r} (units largest first, each once)")
    return float(sum(int(p.group(1)) * _UNIT_S[p.group(2)] for p in parts))


def http_url(text: str, option: str) -> str:
    """`text` as a base URL without its trailing `/`; ValueError naming `option` otherwise."""
    problem = None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        problem = str(exc)
    else:
        if parts.scheme not in ("http", "https"):
            problem = "it needs http:// or https://"
        elif not parts.hostname:
            problem = "it names no host"
        elif parts.query or parts.fragment:
            problem = "a base URL has no ?query or #fragment"
        elif any(c.isspace() or not c.isprintable() for c in text):
            problem = "it contains spaces or control characters"
    if problem is not None:
        raise ValueError(f"{option} {text!r} is not a usable URL: {problem}")
    return text.rstrip("/")


def format_duration(seconds: float) -> str:
    """`seconds` as a Prometheus duration (`1m30s`, `500ms`, `0s`)."""
    if seconds <= 0:
        return "0s"
    ms = round(seconds * 1000)
    out = ""
    for unit in ("d", "h", "m", "s"):
        size = int(_UNIT_S[unit] * 1000)
        if ms >= size:
            out += f"{ms // size}{unit}"
            ms %= size
    if ms:
        out += f"{ms}ms"
    return out


def label_name(column: str) -> str:
    """A Prometheus label name for a result column: invalid characters become `_`
    (`attributes.http.route` → `attributes_http_route`, `count()` → `count__`)."""
    name = re.sub(r"[^a-zA-Z0-9_]", "_", column)
    return name if name and not name[0].isdigit() else "_" + name


@dataclass(frozen=True)
class Where:
    """Where something was written: 1-based line and column in `file` (0: unknown)."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}" if self.line else self.file


@dataclass(frozen=True)
class Rule:
    """One alerting (`kind == "alert"`) or recording rule."""

    kind: Kind
    name: str  # the alert name or the recorded series name
    expr: str  # the StarQL query as written
    query: str  # what runs: `expr`, with `since INTERVAL` added when it states no window
    window_s: float  # how far back each evaluation looks (see docs/alerting.md)
    window_span: tuple[int, int] | None  # where `query` states its window (`since …`)
    value_column: str  # the result column that is the sample value
    label_columns: tuple[str, ...]  # the result columns that become labels
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    where: Where = Where("")


@dataclass(frozen=True)
class Group:
    """A rule group: its rules run one after another every `interval_s`."""

    name: str
    file: str
    interval_s: float
    rules: tuple[Rule, ...]
    query_offset_s: float = 0.0  # evaluate as of this long ago (late data)
    limit: int = 0  # 0: no limit on alerts/series per rule
    labels: Mapping[str, str] = field(default_factory=dict)
    where: Where = Where("")


@dataclass(frozen=True)
class Sample:
    """One row of a rule's result: its labels (rule labels not yet added) and value."""

    labels: Labels
    value: float


def value_column(columns: Sequence[Column]) -> str | None:
    """The numeric column that holds the value: one named `value`, else the last numeric."""
    numeric = [c.name for c in columns if c.type.numeric]
    if "value" in numeric:
        return "value"
    return numeric[-1] if numeric else None


def samples(table: pa.Table, value: str, label_columns: Sequence[str]) -> list[Sample]:
    """One `Sample` per row of `table` (see the module docstring)."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    values = table.column(value).to_pylist()
    columns: list[tuple[str, list[object]]] = []
    for name in label_columns:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            ints = column.cast(pa.int64()).to_pylist()
            columns.append((label_name(name), [_rfc3339(v) for v in ints]))
        else:
            columns.append((label_name(name), column.to_pylist()))
    out = []
    for i, raw in enumerate(values):
        labels = tuple(sorted((n, _text(vals[i])) for n, vals in columns if vals[i] is not None))
        number = float("nan") if raw is None else float(raw)
        out.append(Sample(labels, number))
    return out


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and not math.isinf(value):
        return str(int(value))
    return str(value)


def _rfc3339(ns: object) -> str | None:
    if not isinstance(ns, int):
        return None
    moment = datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC)
    fraction = ns % 1_000_000_000
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{fraction:09d}".rstrip("0").rstrip(".") + "Z"
