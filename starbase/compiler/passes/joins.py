"""The checks and naming rules of `join` and `lookup`, for resolve.

Requires: the columns in scope on each side (name → type, in order). Guarantees: options are
`kind=inner|left` (KQL's `leftouter` is `left`) and `maxrows=N` with 1 ≤ N ≤
`ir.JOIN_MAX_ROWS`, anything else a positioned error naming what is accepted; every key names
a field of its side, the two sides' key types are comparable (the same, or both numeric),
no key pair is written twice; the right side's other columns get names distinct from the
left's (KQL's rule: `name` becomes `name1`, or the next free number) — never silently
overwriting a left field.

    join kind=left (from lambda | fields trace_id, message) on trace_id
    → kind "left", keys (("trace_id", "trace_id"),), right columns renamed {"message": "message1"}
"""

from __future__ import annotations

import itertools

from starbase.compiler import ast, ir
from starbase.compiler.errors import Code, did_you_mean, error
from starbase.compiler.types import Type

KIND_NAMES = {"inner": "inner", "left": "left", "leftouter": "left"}
UNSUPPORTED_KINDS = {
    "innerunique": "StarQL's inner join keeps every matching pair; to keep one left row per "
    "key first, add '| dedup KEY' to the left side",
    "rightouter": "swap the two sides and use kind=left",
    "fullouter": "not supported: run the two sides as separate queries",
    "leftsemi": "use kind=inner with a subquery that keeps only the key: "
    "'| fields KEY | dedup KEY'",
    "leftanti": "not supported: keep rows without a match with kind=left, then "
    "'| where not exists(FIELD)' on a right field that is never null",
    "rightsemi": "not supported",
    "rightanti": "not supported",
    "outer": "not supported: use kind=left",
}
OPTIONS = ("kind", "maxrows")


def join_options(options: tuple[ast.JoinOption, ...]) -> tuple[str, int]:
    """(kind, max_rows) from `kind=…`, `maxrows=…` (defaults: inner, `ir.JOIN_MAX_ROWS`)."""
    kind, max_rows = "inner", ir.JOIN_MAX_ROWS
    seen: set[str] = set()
    for option in options:
        name, value = option.name.value, option.value
        if name in seen:
            raise error(Code.DUPLICATE_NAME, f"'{name}' is given twice", option.span)
        seen.add(name)
        if name == "kind":
            written = value.value if isinstance(value, ast.Name) else str(value.value)
            if written not in KIND_NAMES:
                hint = UNSUPPORTED_KINDS.get(written) or did_you_mean(written, KIND_NAMES)
                raise error(
                    Code.UNSUPPORTED_OPERATION
                    if written in UNSUPPORTED_KINDS
                    else Code.WRONG_ARGUMENTS,
                    f"join kind '{written}' is not supported; kinds: inner, left (or leftouter)",
                    value.span,
                    *([hint] if hint else []),
                )
            kind = KIND_NAMES[written]
        elif name == "maxrows":
            if not (isinstance(value, ast.NumberLit) and isinstance(value.value, int)):
                raise error(Code.INVALID_LIMIT, "maxrows takes a whole number", value.span)
            if not 1 <= value.value <= ir.JOIN_MAX_ROWS:
                raise error(
                    Code.INVALID_LIMIT,
                    f"maxrows must be between 1 and {ir.JOIN_MAX_ROWS:,}, the most rows a "
                    "join's right side may have",
                    value.span,
                    "narrow the right side (where, since, stats, dedup) so fewer rows remain",
                )
            max_rows = value.value
        else:
            raise error(
                Code.WRONG_ARGUMENTS,
                f"unknown join option '{name}'; options: {', '.join(OPTIONS)}",
                option.name.span,
                did_you_mean(name, OPTIONS),
            )
    return kind, max_rows


def join_keys(
    keys: tuple[ast.JoinKey, ...],
    left: dict[str, Type],
    right: dict[str, Type],
    right_what: str,
) -> tuple[tuple[str, str], ...]:
    """The (left, right) key pairs, checked (module docstring); `right_what` names the right
    side in messages ("the subquery", "the table 'owners'")."""
    pairs: list[tuple[str, str]] = []
    for key in keys:
        for name, columns, what in (
            (key.left, left, "the query before 'join'"),
            (key.right, right, right_what),
        ):
            if name.value not in columns:
                raise error(
                    Code.UNKNOWN_FIELD,
                    f"{what} has no field '{name.value}' to join on",
                    name.span,
                    did_you_mean(name.value, columns),
                    f"{what} has: {', '.join(columns) or '(no fields)'}",
                )
        lt, rt = left[key.left.value], right[key.right.value]
        for kind, name in ((lt, key.left), (rt, key.right)):
            if kind in (Type.MAP, Type.REGEX, Type.DURATION):
                raise error(
                    Code.TYPE_MISMATCH,
                    f"cannot join on '{name.value}', which is {_a(kind)}",
                    name.span,
                    "join on a text, number, boolean or timestamp field "
                    "(extend k = attributes.key first)",
                )
        if not (lt == rt or (lt.numeric and rt.numeric) or Type.NULL in (lt, rt)):
            raise error(
                Code.TYPE_MISMATCH,
                f"the join keys differ in type: '{key.left.value}' is {_a(lt)}, "
                f"'{key.right.value}' is {_a(rt)}",
                key.span,
                "convert one side first, e.g. | extend k = tostring(k)",
            )
        pair = (key.left.value, key.right.value)
        if pair in pairs:
            raise error(Code.DUPLICATE_NAME, "this key is given twice", key.span)
        pairs.append(pair)
    return tuple(pairs)


def right_names(
    left: dict[str, Type], right: dict[str, Type], keys: tuple[tuple[str, str], ...]
) -> dict[str, str]:
    """The output name of each right column that is not a key: its own, or `name1`, `name2`…
    (the first not taken) when the left side — or an earlier renamed column — has it."""
    dropped = {r for _, r in keys}
    taken = set(left) | set(right)
    out: dict[str, str] = {}
    for name in right:
        if name in dropped:
            continue
        if name not in left:
            out[name] = name
            continue
        new = next(f"{name}{i}" for i in itertools.count(1) if f"{name}{i}" not in taken)
        taken.add(new)
        out[name] = new
    return out


def _a(kind: Type) -> str:
    word = kind.value
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"
