"""lower (Trino/Athena): the backend-neutral plan → Trino SQL, for Athena or a Trino cluster.

Requires: the tables of `ddl.py` (a table named like each source over the same Parquet
files, partitioned by `day` and `by`). Guarantees: the Spark lowering's structure and
semantics (`spark.lower.Dialect`: times as BIGINT nanoseconds, participation-aware regex
captures, DataFusion's nulls) with Trino's spellings: `element_at` for map members (a
missing key is null, not an error), `TRY_CAST`, `mod` floored by hand, `strpos`,
`to_hex`/`from_hex`, `format_datetime`, and regexes in Trino's Java syntax without the `d`
and `U` flags Trino refuses. Refused (`UnsupportedError`): `pct` (Trino has only
`approx_percentile`, which would give a different answer) and what Spark refuses. Starbase
does not run this SQL itself: the golden files pin its text, and docs/spark.md says what
was checked.
"""

from __future__ import annotations

from typing import ClassVar

from sqlglot import exp

from starbase.backends.spark import regex as java
from starbase.backends.spark.lower import Dialect
from starbase.compiler.types import Type


def _fn(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


class Trino(Dialect):
    target: ClassVar[str] = "trino"
    sqlglot_dialect: ClassVar[str] = "trino"
    types: ClassVar[dict[Type, str]] = {**Dialect.types, Type.STRING: "VARCHAR"}
    simple: ClassVar[dict[str, str]] = {**Dialect.simple, "length": "LENGTH"}

    def now(self) -> exp.Expr:
        seconds = _fn("TO_UNIXTIME", exp.CurrentTimestamp())
        nanos = exp.Mul(this=seconds, expression=exp.Literal.number(1_000_000_000))
        return exp.Cast(this=nanos, to=exp.DataType.build("BIGINT"))

    def floor_mod(self, value: exp.Expr, size: exp.Expr) -> exp.Expr:
        inner = exp.Add(this=_fn("MOD", value, size), expression=size)
        return _fn("MOD", inner, size)

    def int_div(self, value: exp.Expr, size: exp.Expr) -> exp.Expr:
        return exp.Div(this=value, expression=size, typed=True, safe=False)  # BIGINT / BIGINT

    def contains(self, subject: exp.Expr, needle: exp.Expr) -> exp.Expr:
        return exp.GT(this=_fn("STRPOS", subject, needle), expression=exp.Literal.number(0))

    def starts_with(self, subject: exp.Expr, needle: exp.Expr) -> exp.Expr:
        return _fn("STARTS_WITH", subject, needle)

    def ends_with(self, subject: exp.Expr, needle: exp.Expr) -> exp.Expr:
        reversed_at = _fn("STRPOS", _fn("REVERSE", subject), _fn("REVERSE", needle))
        return exp.EQ(this=reversed_at, expression=exp.Literal.number(1))

    def hex_text(self, value: exp.Expr) -> exp.Expr:
        return exp.Lower(this=_fn("TO_HEX", value))

    def from_hex(self, text: str) -> exp.Expr:
        return _fn("FROM_HEX", exp.Literal.string(text))

    def map_get(self, value: exp.Expr, key: str) -> exp.Expr:
        return _fn("ELEMENT_AT", value, exp.Literal.string(key))

    def soft_cast(self, value: exp.Expr, sql_type: str) -> exp.Expr:
        if sql_type == "VARCHAR":
            return exp.Cast(this=value, to=exp.DataType.build(sql_type))
        return exp.TryCast(this=value, to=exp.DataType.build(sql_type))

    def java_pattern(self, pattern: str, flags: str) -> str:
        return java.to_java(pattern, flags).replace("(?dU", "(?", 1).removeprefix("(?)")

    def percentile(self, value: exp.Expr, fraction: float) -> exp.Expr:
        raise self.unsupported("pct() exactly (Trino has only approx_percentile)")

    def format_seconds(self, seconds: exp.Expr, pattern: str) -> exp.Expr:
        instant = _fn("FROM_UNIXTIME", seconds, exp.Literal.string("UTC"))
        return _fn("FORMAT_DATETIME", instant, exp.Literal.string(pattern))


TRINO = Trino()
