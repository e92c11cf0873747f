"""IR expressions → Logs Insights expressions, conditions and aggregates, or `NotExpressible`.

Requires: expressions over Insights fields — `Col("@…")` system fields and `Col(name)` fields
that an earlier command created (parse captures, stats aliases) — and the capability `Profile`
of the source. Guarantees: what is returned means exactly what the IR means on the rows
Insights sees, else `NotExpressible` names the construct (`function if`, `operator %`, `regex
flag s`, …):

- conditions are lowered in a filter's context (negation normal form, a null result drops the
  row), where a null operand may be read as false; a negated test (`!=`, `not in`, `!~`,
  `not contains`) on a field that may be missing is guarded by `ispresent(field)`, since
  Insights may treat a missing field as unequal where SQL gives null;
- `regex_extract(field, re, g)` becomes a `parse field /re/` with group g named (queued in
  `commands` for the caller to emit first); `level_from_text(field)` parses the mapping's
  `LEVEL_TEXT_PATTERN` the same way, and a condition that depends on the severity only is
  evaluated for every level word, so it lowers to
  `tolower(coalesce(json, word)) in ["error", …]` — the first match decides, as in DataFusion;
- `/` and `%` only with a non-zero literal divisor (Insights' division by zero is undocumented);
  numeric casts are dropped (Insights fields are dynamically typed);
- a JSON member (`json_get(@message, key)`, `attributes.KEY`) is never read from the fields
  Insights discovers: Insights flattens nested objects into dotted names and reads duplicate
  keys its own way, so a member is computed from `@message` on the fetched rows; `prefilter`
  gives a filter on `@message` that every event such a condition selects passes.

`snapshot`/`restore` make a failed attempt leave no trace.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from starbase.backends.cloudwatch import syntax
from starbase.backends.cloudwatch.severity import level_words, severity_call
from starbase.backends.cloudwatch.syntax import NotExpressible
from starbase.compiler import ir
from starbase.compiler.passes.resolve import escape_regex
from starbase.compiler.types import Type
from starbase.mappings import LEVEL_TEXT_GROUPS, LEVEL_TEXT_PATTERN, Profile

SYSTEM_FIELDS = frozenset({"@timestamp", "@message", "@log", "@logStream", "@ingestionTime"})
TIME_FIELDS = frozenset({"@timestamp", "@ingestionTime"})
_COMPARE = {"==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_SCALARS = {
    "lower": "tolower",
    "upper": "toupper",
    "length": "strlen",
    "trim": "trim",
    "substr": "substr",
    "concat": "concat",
    "replace": "replace",
    "coalesce": "coalesce",
    "abs": "abs",
    "floor": "floor",
    "ceil": "ceil",
    "bin": "bin",
}
Cond = str | bool  # a condition's text, or a constant truth value


@dataclass
class _State:
    commands: list[str] = field(default_factory=list)  # parse commands not yet emitted
    derived: dict[tuple[str, str, str, int], str] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)  # Insights field names we create
    counter: int = 0


class ExprLowering:
    """Lowers expressions for one Insights query (see the module docstring)."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.state = _State()

    # ------------------------------------------------------------ bookkeeping

    def snapshot(self) -> _State:
        return copy.deepcopy(self.state)

    def restore(self, state: _State) -> None:
        self.state = state

    def take_commands(self) -> list[str]:
        """The parse commands queued since the last call, in order."""
        commands, self.state.commands = self.state.commands, []
        return commands

    def create(self, name: str) -> str:
        """Register `name` as a field Insights will create; its reference text."""
        if name in SYSTEM_FIELDS:
            raise NotExpressible(f"the name {name!r}, also a field of the log events")
        if name in self.state.created:
            raise NotExpressible(f"the name {name!r}, defined twice")
        text = syntax.name(name)
        self.state.created.add(name)
        return text

    def fresh(self, stem: str) -> str:
        """A new name for a field Starbase needs (letters and digits only)."""
        while True:
            self.state.counter += 1
            candidate = f"starbase{stem}{self.state.counter}"
            if candidate not in self.state.created:
                return candidate

    def _need(self, kind: str, item: str, allowed: tuple[str, ...]) -> None:
        if item not in allowed:
            raise NotExpressible(f"{kind} {item}")

    # ------------------------------------------------------------ fields

    def field_of(self, expr: ir.Expr) -> str | None:
        """The field `expr` reads as is (numeric casts and epoch conversions of the time
        fields looked through), or None when it is not a plain field."""
        expr = strip_casts(expr)
        match expr:
            case ir.Col(name):
                return syntax.field(name) if name.startswith("@") else syntax.name(name)
            case ir.Call("json_get"):
                raise NotExpressible(
                    "attributes.KEY read by Insights (it flattens nested JSON objects and "
                    "reads duplicate keys its own way)"
                )
            case ir.Call("regex_extract", (subject, ir.Regex(pattern, flags), ir.Lit(int() as g))):
                return self.derived(subject, pattern, flags, (g,))[0]
        return None

    def derived(
        self,
        subject: ir.Expr,
        pattern: str,
        flags: str,
        groups: tuple[int, ...],
        stem: str = "Rx",
    ) -> list[str]:
        """Fields holding capture groups `groups` of `pattern` searched in `subject`, parsed
        by a queued `parse` command when not parsed before."""
        self._need("stage", "parse_regex", self.profile.stages)
        source = self.field_of(subject)
        if source is None:
            raise NotExpressible("a regex capture of an expression")
        key = (source, pattern, flags)
        missing = {g: self.fresh(stem) for g in groups if (*key, g) not in self.state.derived}
        if missing:
            for alias in missing.values():
                self.create(alias)
            rewritten = syntax.name_groups(pattern, missing)
            body = syntax.regex(rewritten, flags, self.profile.regex_flags)
            self.state.commands.append(f"parse {source} {body}")
            self.state.derived.update({(*key, g): alias for g, alias in missing.items()})
        return [syntax.name(self.state.derived[(*key, g)]) for g in groups]

    # ------------------------------------------------------------ values

    def value(self, expr: ir.Expr) -> str:
        """A scalar expression."""
        as_field = self.field_of(expr)
        if as_field is not None:
            return as_field
        match expr:
            case ir.Lit(str() as text, Type.STRING):
                return syntax.string(text)
            case ir.Lit(int() | float() as num, Type.INT | Type.FLOAT):
                return syntax.number(num)
            case ir.Lit(None):
                raise NotExpressible("null")
            case ir.Lit():
                raise NotExpressible(f"a {expr.type} literal")
            case ir.Param(name):
                raise NotExpressible(f"parameter ${name} (bind parameters before lowering)")
            case ir.Cast(inner, Type.INT | Type.FLOAT):
                return self.value(inner)
            case ir.Cast():
                raise NotExpressible("function tostring")
            case ir.Neg(inner):
                self._need("operator", "-", self.profile.operators)
                return f"-({self.value(inner)})"
            case ir.Arith(op, left, right):
                return self._arith(op, left, right, self.value)
            case ir.Call():
                return self._call(expr)
            case ir.Now():
                raise NotExpressible("function now")
            case ir.Agg(name):
                raise NotExpressible(f"aggregate {name} outside stats")
        raise NotExpressible(f"the expression {type(expr).__name__}")

    def _arith(self, op: str, left: ir.Expr, right: ir.Expr, part: Callable[[ir.Expr], str]) -> str:
        self._need("operator", op, self.profile.operators)
        if op in "/%" and not (
            isinstance(right, ir.Lit) and isinstance(right.value, int | float) and right.value
        ):
            raise NotExpressible(f"operator {op} by a value that may be zero")
        return f"({part(left)}) {op} ({part(right)})"

    def _call(self, call: ir.Call) -> str:
        name, args = call.name, call.args
        if name == "level_from_text":
            raise NotExpressible("severity as a value (Insights has no CASE or if)")
        if name == "bin":
            self._need("function", "bin", self.profile.functions)
            return self.bin(call)
        if name not in _SCALARS:
            raise NotExpressible(f"function {name}")
        self._need("function", name, self.profile.functions)
        if name == "concat" and any(a.type is not Type.STRING for a in args):
            raise NotExpressible("concat of a value that is not text")
        return f"{_SCALARS[name]}({', '.join(self.value(a) for a in args)})"

    def bin(self, call: ir.Call) -> str:
        """`bin(timestamp, d)` → `bin(period)`: Insights bins `@timestamp` only."""
        stamp, width = call.args
        if stamp.type is not Type.TIMESTAMP or self.field_of(stamp) != "@timestamp":
            raise NotExpressible("bin of a time other than @timestamp")
        if not (isinstance(width, ir.Lit) and isinstance(width.value, int)):
            raise NotExpressible("bin with a width that is not a literal")
        return f"bin({syntax.period(width.value)})"

    # ------------------------------------------------------------ conditions

    def condition(self, expr: ir.Expr) -> Cond:
        """A filter condition, or True/False when it is constant on every row."""
        levels = self._severity(expr)
        if levels is not None:
            return levels
        match expr:
            case ir.Lit(value, Type.BOOL):
                return bool(value)
            case ir.And(items) | ir.Or(items):
                return self._junction(isinstance(expr, ir.And), items)
            case ir.Compare(op, left, right):
                return self._compare(op, left, right)
            case ir.Match(subject, pattern, negated):
                self._need("operator", "!~" if negated else "~", self.profile.operators)
                if isinstance(pattern, ir.Param):
                    raise NotExpressible(f"parameter ${pattern.name} (bind parameters first)")
                body = syntax.regex(pattern.pattern, pattern.flags, self.profile.regex_flags)
                return self._test(subject, lambda s: f"{s} =~ {body}", negated)
            case ir.StrTest(op, subject, needle, negated):
                self._need("operator", op, self.profile.operators)
                if not (isinstance(needle, ir.Lit) and isinstance(needle.value, str)):
                    raise NotExpressible(f"{op} with a needle that is not a literal string")
                text = syntax.literal_regex(needle.value)
                if op == "icontains":  # Insights regexes take an inline (?i)
                    self._need("regex flag", "i", self.profile.regex_flags)
                    text = f"(?i){text}"
                text = {"startswith": f"^{text}", "endswith": f"{text}$"}.get(op, text)
                return self._test(subject, lambda s: f"{s} like /{text}/", negated)
            case ir.InList(subject, items, negated):
                self._need("operator", "in", self.profile.operators)
                values = [i for i in items if not _is_null(i)]
                if not values or (negated and len(values) < len(items)):
                    return False  # `x not in (null, …)` is never true in SQL
                listed = ", ".join(self.value(v) for v in values)
                return self._test(subject, lambda s: f"{s} in [{listed}]", negated)
            case ir.IsNull(inner, negated):
                if _is_null(inner):
                    return not negated
                target = self.field_of(inner)
                if target is None:
                    raise NotExpressible("a null test on an expression")
                return f"ispresent({target})" if negated else f"not ispresent({target})"
            case ir.Not() | ir.Col():
                raise NotExpressible("a boolean field as a condition")
        raise NotExpressible(f"the condition {type(expr).__name__}")

    def _junction(self, is_and: bool, items: tuple[ir.Expr, ...]) -> Cond:
        self._need("operator", "and" if is_and else "or", self.profile.operators)
        parts: list[str] = []
        for item in items:
            part = self.condition(item)
            if part is (not is_and):  # false in an and, true in an or: decides the whole
                return part
            if isinstance(part, str):
                parts.append(part)
        if not parts:
            return is_and
        return f" {'and' if is_and else 'or'} ".join(
            f"({p})" if len(parts) > 1 else p for p in parts
        )

    def _compare(self, op: str, left: ir.Expr, right: ir.Expr) -> Cond:
        if _is_null(left) or _is_null(right):
            return False  # null: the row is dropped (filter context)
        self._need("operator", op, self.profile.operators)
        if {left.type, right.type} & {Type.TIMESTAMP, Type.DURATION, Type.BOOL}:
            raise NotExpressible(f"a {left.type} comparison outside the time range")
        if op != "!=":
            return f"{self.value(left)} {_COMPARE[op]} {self.value(right)}"
        target = self._negatable(left)
        return self._guard(left, target, f"{target} != {self.value(right)}")

    def _test(self, subject: ir.Expr, render: Callable[[str], str], negated: bool) -> Cond:
        """`render(subject)`, or for a negated test `not (…)` guarded by `ispresent` when the
        subject is a field that may be missing (its SQL value would be null)."""
        if _is_null(subject):
            return False
        if not negated:
            return render(self.value(subject))
        target = self._negatable(subject)
        return self._guard(subject, target, f"not ({render(target)})")

    def _negatable(self, subject: ir.Expr) -> str:
        target = self.field_of(subject)
        if target is None:
            raise NotExpressible("a negated test on an expression (missing-field semantics)")
        return target

    def _guard(self, subject: ir.Expr, target: str, text: str) -> str:
        stripped = strip_casts(subject)
        if isinstance(stripped, ir.Col) and stripped.name in SYSTEM_FIELDS:
            return text  # always present
        return f"ispresent({target}) and {text}"

    def prefilter(self, conjunct: ir.Expr) -> str | None:
        """A condition on `@message` that every event `conjunct` selects satisfies, when
        `conjunct` tests a JSON member (`attributes.KEY`) in a way that is false for a missing
        member: the key — and for `== "text"` the value after it — in any JSON spelling (raw
        or escaped). Not exact (nested or duplicate keys also match): `conjunct` itself must
        still run on the fetched rows. None when no such condition can be said."""
        found = _member_test(conjunct)
        if found is None or "~" not in self.profile.operators:
            return None
        key, value = found
        pattern = '"' + _json_string(key) + '"\\s*:'
        if value is not None and not value.startswith(("{", "[")):
            bare = f"|{escape_regex(value)}" if value else ""
            pattern += f'\\s*(?:"{_json_string(value)}"{bare})'
        return f"@message =~ {syntax.regex(pattern, '', self.profile.regex_flags)}"

    # ------------------------------------------------------------ severity

    def _severity(self, expr: ir.Expr) -> Cond | None:
        """A condition reading the severity only, as membership of the level word; None when
        `expr` also reads something else."""
        call = severity_call(expr)
        if call is None:
            return None
        words = level_words(expr, call)
        if not words:
            return False
        self._need("operator", "in", self.profile.operators)
        json_word, bare_word = self.derived(
            call.args[0], LEVEL_TEXT_PATTERN, "", LEVEL_TEXT_GROUPS, stem="Level"
        )
        listed = ", ".join(syntax.string(w) for w in words)
        return f"tolower(coalesce({json_word}, {bare_word})) in [{listed}]"

    # ------------------------------------------------------------ aggregates

    def aggregate(self, expr: ir.Expr) -> str:
        """A `stats` item: aggregates, possibly combined with arithmetic and numbers."""
        match expr:
            case ir.Agg(name, args):
                return self._agg(name, args)
            case ir.Arith(op, left, right):
                return self._arith(op, left, right, self.aggregate)
            case ir.Lit(int() | float() as num, Type.INT | Type.FLOAT):
                return syntax.number(num)
            case ir.Cast(inner, Type.INT | Type.FLOAT):
                return self.aggregate(inner)
            case ir.Call(name):
                raise NotExpressible(f"function {name} in stats")
        raise NotExpressible(f"the stats item {type(expr).__name__} (not an aggregate)")

    def _agg(self, name: str, args: tuple[ir.Expr, ...]) -> str:
        self._need("aggregate", name, self.profile.aggregates)
        if name in self.profile.approximate:
            raise NotExpressible(f"aggregate {name} (approximate in Insights)")
        if not args:
            return "count(*)"
        target = self.field_of(args[0])
        if target is None:
            raise NotExpressible(f"aggregate {name} of an expression")
        if name in ("earliest", "latest"):
            if self.field_of(args[1]) != "@timestamp":
                raise NotExpressible(f"aggregate {name} by a time other than @timestamp")
            return f"{name}({target})"
        if name == "pct":
            percent = args[1]
            assert isinstance(percent, ir.Lit) and isinstance(percent.value, int | float)
            return f"pct({target}, {syntax.number(percent.value)})"
        return f"{name}({target})"


# ---------------------------------------------------------------- helpers


def strip_casts(expr: ir.Expr) -> ir.Expr:
    """`expr` without numeric casts, and a time field without its epoch conversion."""
    while True:
        match expr:
            case ir.Cast(inner, Type.INT | Type.FLOAT):
                expr = inner
            case ir.Call("epoch_to_timestamp", (ir.Col(name) as column, _)) if name in TIME_FIELDS:
                return column
            case _:
                return expr


def _member_test(conjunct: ir.Expr) -> tuple[str, str | None] | None:
    """(key, compared text) of a test on `json_get(@message, key)` that is never true when
    the member is missing; the text only for `== "text"`; None for any other conjunct."""
    match conjunct:
        case ir.Compare(op, left, right):
            for subject, other in ((left, right), (right, left)):
                key = _member_key(subject)
                if key is not None:
                    equal = op == "==" and subject == strip_casts(subject)
                    text = other.value if equal and isinstance(other, ir.Lit) else None
                    return key, text if isinstance(text, str) else None
        case ir.Match(subject) | ir.StrTest(_, subject) | ir.InList(subject):
            key = _member_key(subject)
            return None if key is None else (key, None)
        case ir.IsNull(subject, negated=True):
            key = _member_key(subject)
            return None if key is None else (key, None)
    return None


def _member_key(expr: ir.Expr) -> str | None:
    match strip_casts(expr):
        case ir.Call("json_get", (ir.Col("@message"), ir.Lit(str() as key))):
            return key
    return None


_JSON_SHORT_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "\b": "b", "\f": "f", "\n": "n"}
_JSON_SHORT_ESCAPES |= {"\r": "r", "\t": "t"}


def _json_string(text: str) -> str:
    """A regex matching every way JSON can write the characters of `text` inside quotes:
    each as itself (when JSON allows it raw), as a short escape, or as `\\uXXXX` (hex digits
    in either case; surrogate pairs beyond U+FFFF)."""
    parts = []
    for ch in text:
        ways = []
        if ch not in '"\\' and ord(ch) >= 0x20:
            ways.append(escape_regex(ch))
        if ch in _JSON_SHORT_ESCAPES:
            ways.append("\\\\" + escape_regex(_JSON_SHORT_ESCAPES[ch]))
        units = [ord(ch)] if ord(ch) <= 0xFFFF else list(_surrogates(ord(ch)))
        ways.append("".join("\\\\u" + "".join(_hex_digit(d) for d in f"{u:04x}") for u in units))
        parts.append(ways[0] if len(ways) == 1 else "(?:" + "|".join(ways) + ")")
    return "".join(parts)


def _surrogates(code: int) -> tuple[int, int]:
    code -= 0x10000
    return 0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)


def _hex_digit(digit: str) -> str:
    return digit if digit.isdigit() else f"[{digit}{digit.upper()}]"


def _is_null(expr: ir.Expr) -> bool:
    match expr:
        case ir.Lit(None):
            return True
        case ir.Cast(inner) | ir.MapGet(inner):
            return _is_null(inner)
    return False
