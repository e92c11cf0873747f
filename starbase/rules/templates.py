"""Templated labels and annotations, as Prometheus writes them: `{{ $labels.service }}`.

Requires: nothing. Guarantees: `Template(text)` parses once and raises `TemplateError` (with
the offset of the offending action in `text`) for anything outside the subset below;
`render(labels, value, external_url)` never fails.

The subset of Go templates that Prometheus rule files use in practice:

- `{{ $labels.NAME }}` / `{{ .Labels.NAME }}` — a label of the alert instance ('' if absent);
- `{{ $value }}` / `{{ .Value }}` — the sample value; `{{ $externalURL }}`;
- pipes: `humanize` (SI prefixes, 4 significant digits), `humanize1024`, `humanizePercentage`
  (0.25 → 25%), `humanizeDuration` (seconds → `1h 2m 3s`), `printf "%.2f"` (one `%` verb:
  d, f, e, g, s, v), `toUpper`, `toLower`, `title`;
- `{{-` / `-}}` trim the whitespace beside the action, as in Go.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_ACTION = re.compile(r"\{\{(-\s)?\s*(.*?)\s*(\s-)?\}\}", re.S)
_TERM = re.compile(r"^(?:\$labels|\.Labels)\.([a-zA-Z_][a-zA-Z0-9_]*)$")
_PRINTF = re.compile(r'^printf\s+"((?:[^"\\]|\\.)*)"(?:\s+(\S+))?$')
_VERB = re.compile(r"%[-+ #0]*\d*(?:\.\d+)?[dfegsv]")


class TemplateError(ValueError):
    """An action outside the supported subset; `offset` is where it starts in the text."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


Scope = tuple[Mapping[str, str], float, str]  # labels, value, external URL


@dataclass(frozen=True)
class _Action:
    term: Callable[[Scope], object]
    pipes: tuple[Callable[[object], object], ...]


class Template:
    """A parsed template (see the module docstring)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._parts: list[str | _Action] = []
        position = 0
        for match in _ACTION.finditer(text):
            literal = text[position : match.start()]
            if match.group(1):
                literal = literal.rstrip()
            self._parts.append(literal)
            self._parts.append(_parse_action(match.group(2), match.start()))
            position = match.end()
            if match.group(3):
                rest = text[position:]
                position += len(rest) - len(rest.lstrip())
        tail = text[position:]
        if "{{" in tail:
            raise TemplateError("unclosed '{{' (no matching '}}')", position + tail.index("{{"))
        self._parts.append(tail)

    def render(self, labels: Mapping[str, str], value: float, external_url: str = "") -> str:
        scope: Scope = (labels, value, external_url)
        out = []
        for part in self._parts:
            if isinstance(part, str):
                out.append(part)
                continue
            result = part.term(scope)
            for pipe in part.pipes:
                result = pipe(result)
            out.append(_show(result))
        return "".join(out)


def expand(text: str, labels: Mapping[str, str], value: float, external_url: str = "") -> str:
    """Parse and render `text`; a template that does not parse is returned as written."""
    try:
        return Template(text).render(labels, value, external_url)
    except TemplateError:
        return text


def _parse_action(body: str, offset: int) -> _Action:
    pieces = [p.strip() for p in body.split("|")]
    head, pipes = pieces[0], pieces[1:]
    printf = _PRINTF.match(head)
    if printf and printf.group(2):  # {{ printf "%.2f" $value }}
        fmt, verbs = _printf(head, offset)
        if verbs != 1:
            raise TemplateError("printf takes a format with exactly one % verb", offset)
        inner = _term(printf.group(2), body, offset)
        term: Callable[[Scope], object] = lambda scope: _format(fmt, inner(scope))  # noqa: E731
    else:
        term = _term(head, body, offset)
    return _Action(term, tuple(_pipe(p, offset) for p in pipes))


def _term(head: str, body: str, offset: int) -> Callable[[Scope], object]:
    label = _TERM.match(head)
    if label:
        name = label.group(1)
        return lambda scope: scope[0].get(name, "")
    if head in ("$value", ".Value"):
        return lambda scope: scope[1]
    if head == "$externalURL":
        return lambda scope: scope[2]
    raise TemplateError(
        f"unsupported template action '{{{{ {body} }}}}' (supported: $labels.NAME, $value, "
        "$externalURL, printf, and pipes to humanize, humanize1024, humanizePercentage, "
        "humanizeDuration, printf, toUpper, toLower, title)",
        offset,
    )


def _pipe(text: str, offset: int) -> Callable[[object], object]:
    if text in _FUNCTIONS:
        return _FUNCTIONS[text]
    if text.startswith("printf"):
        fmt, verbs = _printf(text, offset)
        if verbs != 1:
            raise TemplateError("printf in a pipe takes a format with exactly one % verb", offset)
        return lambda v: _format(fmt, v)
    raise TemplateError(f"unknown template function '{text}'", offset)


def _printf(text: str, offset: int) -> tuple[str, int]:
    match = _PRINTF.match(text)
    if not match:
        raise TemplateError('printf needs one quoted format: printf "%.2f"', offset)
    fmt = match.group(1).replace('\\"', '"').replace("\\\\", "\\")
    return fmt, len(_VERB.findall(fmt.replace("%%", "")))


def _format(fmt: str, value: object) -> str:
    verb = _VERB.search(fmt.replace("%%", "\0\0"))
    if verb is None:
        return fmt.replace("%%", "%")
    spec = verb.group(0)
    kind = spec[-1]
    try:
        if kind == "d":
            text = spec % int(_number(value))
        elif kind in "feg":
            text = spec % _number(value)
        else:
            text = (spec[:-1] + "s") % _show(value)
    except (TypeError, ValueError, OverflowError):
        text = _show(value)
    start, end = verb.span()
    return (fmt[:start] + text + fmt[end:]).replace("%%", "%")


def _number(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return math.nan


def _show(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return repr(value) if not value.is_integer() else str(int(value))
    return str(value)


def humanize(value: object) -> str:
    """Prometheus' `humanize`: 1234567 → `1.235M`, 0.0012 → `1.2m`."""
    v = _number(value)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return f"{v:.4g}"
    if abs(v) >= 1:
        prefixes = ("", "k", "M", "G", "T", "P", "E", "Z", "Y")
        i = 0
        while abs(v) >= 1000 and i < len(prefixes) - 1:
            v, i = v / 1000, i + 1
        return f"{v:.4g}{prefixes[i]}"
    small = ("", "m", "u", "n", "p", "f", "a", "z", "y")
    i = 0
    while abs(v) < 1 and i < len(small) - 1:
        v, i = v * 1000, i + 1
    return f"{v:.4g}{small[i]}"


def humanize1024(value: object) -> str:
    """Prometheus' `humanize1024`: 1048576 → `1Mi`."""
    v = _number(value)
    if abs(v) < 1 or math.isnan(v) or math.isinf(v):
        return f"{v:.4g}"
    prefixes = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi")
    i = 0
    while abs(v) >= 1024 and i < len(prefixes) - 1:
        v, i = v / 1024, i + 1
    return f"{v:.4g}{prefixes[i]}"


def humanize_percentage(value: object) -> str:
    """Prometheus' `humanizePercentage`: 0.1234 → `12.34%`."""
    return f"{_number(value) * 100:.4g}%"


def humanize_duration(value: object) -> str:
    """Prometheus' `humanizeDuration`: 3725 → `1h 2m 5s`, 0.25 → `250ms`."""
    v = _number(value)
    if math.isnan(v) or math.isinf(v):
        return f"{v:.4g}"
    if v == 0:
        return "0s"
    if abs(v) < 1:
        return f"{v * 1000:.4g}ms" if abs(v) >= 0.001 else f"{v * 1e6:.4g}us"
    sign = "-" if v < 0 else ""
    v = abs(v)
    days, rest = divmod(int(v), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    fraction = v - int(v)
    parts = []
    if days:
        parts.append(f"{days}d")
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if days == hours == minutes == 0 and fraction:
        parts.append(f"{seconds + fraction:.4g}s")
    elif seconds or not parts:
        parts.append(f"{seconds}s")
    return sign + " ".join(parts)


_FUNCTIONS: dict[str, Callable[[object], object]] = {
    "humanize": humanize,
    "humanize1024": humanize1024,
    "humanizePercentage": humanize_percentage,
    "humanizeDuration": humanize_duration,
    "toUpper": lambda v: _show(v).upper(),
    "toLower": lambda v: _show(v).lower(),
    "title": lambda v: _show(v).title(),
}
