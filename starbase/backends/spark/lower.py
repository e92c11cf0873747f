"""lower (Spark): the backend-neutral plan → one Spark SQL query, with DataFusion's semantics.

Requires: a plan whose scans all read the target's backend (`spark`); each scan's source
registered as a view named like the source with its physical columns and `day` (the
engine's `tables.py`). Guarantees: the relational lowering is DataFusion's
(`datafusion.lower.lower` with this module's `Spelling`: stages as subqueries, hidden sort
columns, `dedup`, unions, partition predicates); expressions are lowered here with exactly
the IR's meaning as DataFusion runs it:

- times are integers: a `timestamp` or duration value is a BIGINT of nanoseconds everywhere
  in the query (Spark's TIMESTAMP holds microseconds); the session's result shape makes the
  output columns `timestamp[ns, UTC]` again. `bin` floors on integers, `tostring` of a time
  prints DataFusion's text (`…T…Z`, fractions of 3, 6 or 9 digits, none when whole).
- regexes are `java.util.regex` patterns with Rust's meaning (`regex.to_java`); a capture is
  null when nothing matches or its group took no part (`regexp_extract` gives `''` for both,
  so the match is tested apart, and an optional group whose text can be empty — where `''`
  is ambiguous — is refused); `coalesce` over every group of one regex is the first group
  that took part, as DataFusion's `regexp_match(…)[1]`.
- SQL nulls as in DataFusion: `concat` skips nulls, `/` and `%` by zero are null, casts that
  fail are null (the session runs with `spark.sql.ansi.enabled=false`), a missing map key is
  null; `pct` is the exact `percentile` (linear interpolation, as `percentile_cont`);
  `earliest`/`latest` are `min_by`/`max_by` over the non-null values.
- ids stored as bytes are shown as lowercase hex; `hex(c) == 'ab12'` compares bytes
  (`c = UNHEX('ab12')`), so Parquet statistics still prune.

What Spark cannot run exactly raises `UnsupportedError` at compile time (docs/spark.md lists
it): `json_to_map`/`json_get` (JSON text read as a map), casts of text to a time, captures of
an optional group that can match empty text, POSIX classes in a regex.
`Dialect` gathers the spellings Trino shares with Spark (`backends/trino` overrides a few).
"""

from __future__ import annotations

from typing import ClassVar

from sqlglot import exp

from starbase.backends.base import UnsupportedError
from starbase.backends.datafusion import lower as shared
from starbase.backends.spark import regex as java
from starbase.compiler import ir
from starbase.compiler import regex as portable
from starbase.compiler.types import Type
from starbase.mappings import LEVEL_TEXT_GROUPS, LEVEL_TEXT_PATTERN, LEVELS

_NANOS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_COMPARE = {"==": exp.EQ, "!=": exp.NEQ, "<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}
_hex_column, _hex_literal = shared._hex_column, shared._hex_literal
# The plan nodes this lowering was checked against DataFusion for (tests/test_spark.py).
_STAGES = (
    ir.Scan,
    ir.Project,
    ir.Filter,
    ir.Extend,
    ir.Parse,
    ir.Aggregate,
    ir.Sort,
    ir.Limit,
    ir.Dedup,
    ir.Union,
)


def _num(value: int) -> exp.Expr:
    literal = exp.Literal.number(abs(value))
    return exp.Neg(this=literal) if value < 0 else literal


def _fn(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


class Dialect:
    """Spark SQL's spellings of the IR (see the module docstring); one instance per target."""

    target: ClassVar[str] = "spark"
    sqlglot_dialect: ClassVar[str] = "spark"
    types: ClassVar[dict[Type, str]] = {
        Type.INT: "BIGINT",
        Type.FLOAT: "DOUBLE",
        Type.STRING: "STRING",
        Type.BOOL: "BOOLEAN",
        Type.TIMESTAMP: "BIGINT",
        Type.DURATION: "BIGINT",
    }
    simple: ClassVar[dict[str, str]] = {
        "lower": "LOWER",
        "upper": "UPPER",
        "length": "CHAR_LENGTH",
        "trim": "TRIM",
        "replace": "REPLACE",
        "coalesce": "COALESCE",
        "abs": "ABS",
    }
    aggregates: ClassVar[dict[str, str]] = {
        "sum": "SUM",
        "avg": "AVG",
        "min": "MIN",
        "max": "MAX",
        "stddev": "STDDEV_SAMP",
    }

    def __init__(self) -> None:
        self.spelling = shared.Spelling(self.target, self.expr, self.partition_key)

    def to_sql(self, plan: ir.Plan, *, pretty: bool = False) -> str:
        for node in ir.plan_walk(plan):  # a stage added later is refused until spelled here
            if not isinstance(node, _STAGES):
                raise self.unsupported(f"the plan node {type(node).__name__}")
        return shared.lower(plan, self.spelling).sql(dialect=self.sqlglot_dialect, pretty=pretty)

    def unsupported(self, operation: str) -> UnsupportedError:
        return UnsupportedError(operation, self.target)

    # ------------------------------------------------------------ spellings a dialect changes

    def now(self) -> exp.Expr:
        micros = _fn("UNIX_MICROS", exp.CurrentTimestamp())
        return exp.Mul(this=micros, expression=exp.Literal.number(1000))

    def floor_mod(self, value: exp.Expr, size: exp.Expr) -> exp.Expr:
        return _fn("PMOD", value, size)

    def contains(self, subject: exp.Expr, needle: exp.Expr) -> exp.Expr:
        return exp.GT(this=_fn("LOCATE", needle, subject), expression=exp.Literal.number(0))

    def starts_with(self, subject: exp.Expr, needle: exp.Expr) -> exp.Expr:
        return _fn("STARTSWITH", subject, needle)

    def ends_with(self, subject: exp.Expr, needle: exp.Expr) -> exp.Expr:
        return _fn("ENDSWITH", subject, needle)

    def regex_like(self, subject: exp.Expr, pattern: exp.Expr) -> exp.Expr:
        return exp.RegexpLike(this=subject, expression=pattern)

    def regex_group(self, subject: exp.Expr, pattern: exp.Expr, group: int) -> exp.Expr:
        """Group `group` of the first match; `''` when nothing matches or it took no part."""
        return _fn("REGEXP_EXTRACT", subject, pattern, exp.Literal.number(group))

    def hex_text(self, value: exp.Expr) -> exp.Expr:
        return exp.Lower(this=_fn("HEX", value))

    def from_hex(self, text: str) -> exp.Expr:
        return _fn("UNHEX", exp.Literal.string(text))

    def concat(self, args: list[exp.Expr]) -> exp.Expr:
        return _fn("CONCAT_WS", exp.Literal.string(""), *args)

    def map_get(self, value: exp.Expr, key: str) -> exp.Expr:
        """The value under `key`; null when it is absent."""
        return exp.Bracket(this=value, expressions=[exp.Literal.string(key)])

    def soft_cast(self, value: exp.Expr, sql_type: str) -> exp.Expr:
        """A cast that gives null when the value does not convert (ANSI mode is off)."""
        return exp.Cast(this=value, to=exp.DataType.build(sql_type))

    def java_pattern(self, pattern: str, flags: str) -> str:
        return java.to_java(pattern, flags)

    def percentile(self, value: exp.Expr, fraction: float) -> exp.Expr:
        return _fn("PERCENTILE", value, exp.Literal.number(repr(fraction)))

    def format_seconds(self, seconds: exp.Expr, pattern: str) -> exp.Expr:
        """Whole seconds since the epoch as UTC text in a Java date `pattern`."""
        return _fn("DATE_FORMAT", _fn("TIMESTAMP_SECONDS", seconds), exp.Literal.string(pattern))

    def partition_key(self, bound: ir.TimeBound, is_upper: bool, strftime: str) -> exp.Expr:
        offset = bound.offset - (1 if is_upper and not bound.inclusive else 0)
        base: exp.Expr = (
            exp.Placeholder(this=bound.param) if bound.param is not None else self.now()
        )
        if bound.base is not None and bound.param is None:
            base = _num(bound.base)
        nanos = exp.Add(this=exp.Paren(this=base), expression=_num(offset)) if offset else base
        pattern = {"%Y-%m-%d": "yyyy-MM-dd", "%Y-%m-%dT%H": "yyyy-MM-dd'T'HH"}.get(strftime)
        if pattern is None:
            raise self.unsupported(f"partition keys formatted as {strftime!r}")
        return self.format_seconds(self.floor_div(nanos, 1_000_000_000), pattern)

    # ------------------------------------------------------------ expressions

    def floor_div(self, value: exp.Expr, size: int) -> exp.Expr:
        """`value` divided by `size`, rounded down (negative times too), as an integer."""
        size_sql = exp.Literal.number(size)
        exact = exp.Sub(this=exp.Paren(this=value), expression=self.floor_mod(value, size_sql))
        return self.int_div(exp.Paren(this=exact), size_sql)

    def int_div(self, value: exp.Expr, size: exp.Expr) -> exp.Expr:
        """Integer division (exact here: `value` is a multiple of `size`)."""
        return exp.IntDiv(this=value, expression=size)

    def literal(self, lit: ir.Lit) -> exp.Expr:
        value = lit.value
        if value is None:
            kind = self.types.get(lit.type)
            return exp.Cast(this=exp.Null(), to=exp.DataType.build(kind)) if kind else exp.Null()
        if isinstance(value, bool):
            return exp.Boolean(this=value)
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                text = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(value)]
                return exp.Cast(this=exp.Literal.string(text), to=exp.DataType.build("DOUBLE"))
            literal = exp.Cast(
                this=exp.Literal.number(repr(abs(value))), to=exp.DataType.build("DOUBLE")
            )
            return exp.Neg(this=literal) if value < 0 or repr(value) == "-0.0" else literal
        if isinstance(value, int):
            return _num(value)
        return exp.Literal.string(value)

    def pattern(self, regex: ir.Regex | ir.Param | ir.Expr) -> exp.Expr:
        if isinstance(regex, ir.Regex):
            try:
                return exp.Literal.string(self.java_pattern(regex.pattern, regex.flags))
            except ValueError as exc:
                raise self.unsupported(f"the regex /{regex.pattern}/: {exc}") from None
        return self.expr(regex)

    def expr(self, expr: ir.Expr) -> exp.Expr:  # one case per IR class
        match expr:
            case ir.Lit():
                return self.literal(expr)
            case ir.Regex():
                return self.pattern(expr)
            case ir.Param(name):
                return exp.Placeholder(this=name)
            case ir.Now():
                return self.now()
            case ir.Col(name):
                return exp.column(exp.to_identifier(name, quoted=True))
            case ir.MapGet(m, key):
                return self.map_get(self.expr(m), key)
            case ir.Cast(inner, kind):
                return self.cast(inner, kind)
            case ir.Arith(op, left, right):
                return self.arith(op, left, right)
            case ir.Neg(inner):
                return exp.Neg(this=exp.Paren(this=self.expr(inner)))
            case ir.Compare(op, left, right):
                return self.compare(op, left, right)
            case ir.Match(inner, regex, negated):
                like = self.regex_like(self.expr(inner), self.pattern(regex))
                return exp.Not(this=like) if negated else like
            case ir.StrTest(op, inner, needle, negated):
                subject, text = self.expr(inner), self.expr(needle)
                test = {
                    "contains": self.contains,
                    "startswith": self.starts_with,
                    "endswith": self.ends_with,
                }[op](subject, text)
                return exp.Not(this=test) if negated else test
            case ir.InList(inner, items, negated):
                column = _hex_column(inner)
                texts = [_hex_literal(i) for i in items]
                if column is not None and all(t is not None for t in texts):
                    found: exp.Expr = exp.In(
                        this=self.expr(column),
                        expressions=[self.from_hex(t) for t in texts if t is not None],
                    )
                else:
                    found = exp.In(this=self.expr(inner), expressions=[self.expr(i) for i in items])
                return exp.Not(this=found) if negated else found
            case ir.IsNull(inner, negated):
                test = exp.Is(this=self.expr(inner), expression=exp.Null())
                return exp.Not(this=test) if negated else test
            case ir.And(items):
                return exp.and_(*(exp.Paren(this=self.expr(i)) for i in items))
            case ir.Or(items):
                return exp.Paren(this=exp.or_(*(exp.Paren(this=self.expr(i)) for i in items)))
            case ir.Not(inner):
                return exp.Not(this=exp.Paren(this=self.expr(inner)))
            case ir.Call():
                return self.call(expr)
            case ir.Agg():
                return self.aggregate(expr)
        raise self.unsupported(f"the expression {type(expr).__name__}")

    def cast(self, inner: ir.Expr, kind: Type) -> exp.Expr:
        if inner.type is Type.TIMESTAMP and kind is Type.STRING:
            return self.time_text(self.expr(inner), with_zone=False)
        if kind is Type.TIMESTAMP and inner.type is not Type.TIMESTAMP:
            raise self.unsupported(f"a cast of {inner.type.value} to a time")
        if inner.type is Type.FLOAT and kind is Type.STRING:
            raise self.unsupported("the text of a float (DataFusion and Spark print it apart)")
        target = self.types.get(kind)
        if target is None:
            raise self.unsupported(f"a cast to {kind.value}")
        return self.soft_cast(self.expr(inner), target)

    def arith(self, op: str, left: ir.Expr, right: ir.Expr) -> exp.Expr:
        return shared.arith(op, self.expr(left), self.expr(right))

    def compare(self, op: str, left: ir.Expr, right: ir.Expr) -> exp.Expr:
        if isinstance(left, ir.Call) and isinstance(left.args[0], ir.Col):
            epoch = shared._epoch_comparison(op, left, right)  # on the column: prunable
            if epoch is not None:
                return epoch
        if op in ("==", "!="):
            for side, other in ((left, right), (right, left)):
                column, text = _hex_column(side), _hex_literal(other)
                if column is not None and text is not None:
                    return _COMPARE[op](this=self.expr(column), expression=self.from_hex(text))
        return _COMPARE[op](this=self.expr(left), expression=self.expr(right))

    def call(self, call: ir.Call) -> exp.Expr:  # one case per function
        first = self.first_capture(call)
        if first is not None:
            return first
        name = call.name
        args = [self.expr(a) for a in call.args]
        if name in self.simple:
            return _fn(self.simple[name], *args)
        match name:
            case "concat":
                return self.concat(args)
            case "substr":
                return self.substr(args)
            case "if":
                return exp.Case(ifs=[exp.If(this=args[0], true=args[1])], default=args[2])
            case "round":
                number = exp.Cast(this=args[0], to=exp.DataType.build("DOUBLE"))
                return _fn("ROUND", number, *args[1:])
            case "floor" | "ceil":
                number = exp.Cast(this=args[0], to=exp.DataType.build("DOUBLE"))
                whole = _fn(name.upper(), number)
                return exp.Cast(this=whole, to=exp.DataType.build("DOUBLE"))
            case "tostring":
                if call.args[0].type is Type.TIMESTAMP:  # `…Z`; an implicit cast has no Z
                    return self.time_text(args[0])
                return self.cast(call.args[0], Type.STRING)
            case "tonumber":
                return self.cast(call.args[0], Type.FLOAT)
            case "bin":
                value, width = args
                return exp.Sub(
                    this=exp.Paren(this=value),
                    expression=self.floor_mod(value, exp.Paren(this=width)),
                )
            case "epoch_to_timestamp":
                unit = call.args[1]
                assert isinstance(unit, ir.Lit)
                size = _NANOS_PER_UNIT[str(unit.value)]
                if size == 1:
                    return args[0]
                return exp.Mul(this=exp.Paren(this=args[0]), expression=exp.Literal.number(size))
            case "regex_extract":
                group = call.args[2]
                assert isinstance(group, ir.Lit)
                return self.capture(args[0], call.args[1], int(group.value or 1))
            case "level_from_text":
                return self.level_from_text(args[0])
            case "hex":
                return self.hex_text(args[0])
        raise self.unsupported(f"the function {name}()")

    def substr(self, args: list[exp.Expr]) -> exp.Expr:
        """StarQL's 0-based `substr(s, start[, length])`; a start before 0 counts from 0 as
        DataFusion's `substr` does (Spark would count from the end)."""
        start, rest = args[1], args[2:]
        position = exp.Add(this=exp.Paren(this=start), expression=exp.Literal.number(1))
        if rest:  # DataFusion: characters [start+1, start+1+length) clipped at 1
            end = exp.Add(this=exp.Paren(this=position), expression=exp.Paren(this=rest[0]))
            first = _fn("GREATEST", position, exp.Literal.number(1))
            length = _fn("GREATEST", exp.Sub(this=end, expression=first), exp.Literal.number(0))
            return exp.Case(
                ifs=[
                    exp.If(
                        this=exp.LT(this=exp.Paren(this=rest[0]), expression=exp.Literal.number(0)),
                        true=exp.Null(),
                    )
                ],
                default=_fn("SUBSTRING", args[0], first, length),
            )
        return _fn("SUBSTRING", args[0], _fn("GREATEST", position, exp.Literal.number(1)))

    # ------------------------------------------------------------ regex captures

    def matched_group(
        self, subject: exp.Expr, pattern: str, group: int, optional: bool
    ) -> exp.Expr:
        """Group `group` of `pattern` (Java) in `subject`'s first match; null when nothing
        matches or (when `optional`) the group took no part — then its text is never empty."""
        text = exp.Literal.string(pattern)
        captured = self.regex_group(subject, text, group)
        if optional:
            return exp.Nullif(this=captured, expression=exp.Literal.string(""))
        return exp.Case(ifs=[exp.If(this=self.regex_like(subject, text), true=captured)])

    def capture(self, subject: exp.Expr, regex: ir.Expr, group: int) -> exp.Expr:
        if not isinstance(regex, ir.Regex):  # an unbound parameter: shown, never run
            return self.regex_group(subject, self.expr(regex), group)
        groups = {g.number: g for g in portable.capture_groups(regex.pattern)}
        optional = groups[group].optional
        if optional and java.can_match_empty(java.group_body(regex.pattern, group), regex.flags):
            raise self.unsupported(
                f"a capture of group {group} of /{regex.pattern}/, which may take no part and "
                "may match empty text (Spark cannot tell the two apart)"
            )
        pattern = self.pattern(regex)
        assert isinstance(pattern, exp.Literal)
        return self.matched_group(subject, pattern.this, group, optional)

    def first_capture(self, call: ir.Call) -> exp.Expr | None:
        """`coalesce(regex_extract(s, re, 1), …, regex_extract(s, re, n))` over every group:
        each capture null when its group took no part (as DataFusion's first element of
        `regexp_match`); None for any other call."""
        if call.name != "coalesce" or not call.args:
            return None
        heads = set()
        for number, arg in enumerate(call.args, start=1):
            if not (
                isinstance(arg, ir.Call)
                and arg.name == "regex_extract"
                and isinstance(arg.args[1], ir.Regex)
                and arg.args[2] == ir.Lit(number, Type.INT)
            ):
                return None
            heads.add((arg.args[0], arg.args[1]))
        if len(heads) != 1:
            return None
        return exp.Coalesce(
            this=self.expr(call.args[0]), expressions=[self.expr(a) for a in call.args[1:]]
        )

    def level_from_text(self, subject: exp.Expr) -> exp.Expr:
        groups = portable.capture_groups(LEVEL_TEXT_PATTERN)
        assert len(groups) == len(LEVEL_TEXT_GROUPS)
        pattern = self.java_pattern(LEVEL_TEXT_PATTERN, "")
        captures = [self.matched_group(subject, pattern, g.number, g.optional) for g in groups]
        word = exp.Lower(this=exp.Coalesce(this=captures[0], expressions=captures[1:]))
        return exp.Case(
            this=word,
            ifs=[
                exp.If(this=exp.Literal.string(name), true=exp.Literal.number(number))
                for name, number in LEVELS.items()
            ],
        )

    # ------------------------------------------------------------ times as text

    def time_text(self, nanos: exp.Expr, *, with_zone: bool = True) -> exp.Expr:
        """DataFusion's text of a time: `YYYY-MM-DDTHH:MM:SS`, then `.` and 3, 6 or 9 digits
        when the fraction is not zero (as few as hold it), then `Z` (`tostring`)."""
        second = 1_000_000_000
        seconds = self.floor_div(nanos, second)
        fraction = self.floor_mod(nanos, exp.Literal.number(second))
        digits = []
        for size, width in ((1_000_000, 3), (1_000, 6), (1, 9)):
            exact = exp.EQ(
                this=self.floor_mod(fraction, exp.Literal.number(size)),
                expression=exp.Literal.number(0),
            )
            scaled = self.int_div(fraction, exp.Literal.number(size))
            padded = _fn(
                "LPAD",
                exp.Cast(this=scaled, to=exp.DataType.build(self.types[Type.STRING])),
                exp.Literal.number(width),
                exp.Literal.string("0"),
            )
            digits.append((exact, exp.DPipe(this=exp.Literal.string("."), expression=padded)))
        part = exp.Case(
            ifs=[
                exp.If(
                    this=exp.EQ(this=fraction, expression=exp.Literal.number(0)),
                    true=exp.Literal.string(""),
                ),
                *(exp.If(this=test, true=text) for test, text in digits[:2]),
            ],
            default=digits[2][1],
        )
        text = self.concat([self.format_seconds(seconds, "yyyy-MM-dd'T'HH:mm:ss"), part])
        if with_zone:
            text = self.concat([text, exp.Literal.string("Z")])
        null = exp.Is(this=nanos, expression=exp.Null())
        return exp.Case(ifs=[exp.If(this=null, true=exp.Null())], default=text)

    # ------------------------------------------------------------ aggregates

    def aggregate(self, agg: ir.Agg) -> exp.Expr:
        args = [self.expr(a) for a in agg.args]
        match agg.name:
            case "count":
                return exp.Count(this=args[0] if args else exp.Star())
            case "count_distinct":
                return exp.Count(this=exp.Distinct(expressions=[args[0]]))
            case "pct":
                fraction = agg.args[1]
                assert isinstance(fraction, ir.Lit) and isinstance(fraction.value, float)
                return self.percentile(args[0], fraction.value / 100)
            case "earliest" | "latest":
                name = "MIN_BY" if agg.name == "earliest" else "MAX_BY"
                present = exp.Not(this=exp.Is(this=args[0], expression=exp.Null()))
                return exp.Filter(
                    this=_fn(name, args[0], args[1]), expression=exp.Where(this=present)
                )
        if agg.name in self.aggregates:
            return _fn(self.aggregates[agg.name], *args)
        raise self.unsupported(f"the aggregate {agg.name}()")


SPARK = Dialect()


def to_sql(plan: ir.Plan, *, pretty: bool = False) -> str:
    """The Spark SQL text of `plan`."""
    return SPARK.to_sql(plan, pretty=pretty)
