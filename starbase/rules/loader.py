"""Loading rule files (Prometheus rule-group YAML with StarQL `expr`), with positioned errors.

Requires: the compiler and the sources (`Config`) the queries read. Guarantees:
`load_rule_files(paths, config)` returns every group, each rule's query compiled, or raises
`RuleFileError` holding every problem found in every file, each with the file, line and
column: YAML syntax errors, unknown or missing keys, bad durations and names, templates
outside the supported subset (`templates`), and StarQL compile errors inside `expr` —
positioned in the YAML file (the query's line and column mapped through the scalar's
style: plain, quoted, `|` and `>` blocks), with the compiler's code and hints. A query must
give each row a numeric value (`model.value_column`) and only scalar labels.

The window a rule looks at is its query's own: `since 5m` looks 5 minutes back from each
evaluation. A query that states no window (no `since`, no `between`) gets `since INTERVAL`
(the group's interval) added after its `from` stage, so consecutive evaluations see each
record once.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from starbase.compiler import ast
from starbase.compiler.driver import CompiledQuery, compile
from starbase.compiler.errors import CompileError
from starbase.config import Config
from starbase.rules.model import (
    LABEL_NAME,
    METRIC_NAME,
    RESERVED_LABELS,
    Group,
    Kind,
    Rule,
    Where,
    format_duration,
    label_name,
    parse_duration,
    value_column,
)
from starbase.rules.templates import Template, TemplateError
from starbase.runtime.errors import one_line

DEFAULT_INTERVAL_S = 60.0
_GROUP_KEYS = ("name", "interval", "query_offset", "limit", "labels", "rules")
_RULE_KEYS = (
    "alert",
    "record",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a rule file, at `where`; `code`/`hints` for StarQL errors."""

    where: Where
    message: str
    code: str = ""
    hints: tuple[str, ...] = ()
    source_line: str = ""  # the file's line, for a caret under the column

    def render(self) -> str:
        head = f"{self.where}: " + (f"error[{self.code}]: " if self.code else "") + self.message
        lines = [head]
        if self.source_line and self.where.column:
            gutter = f"{self.where.line} | "
            lines.append(gutter + self.source_line)
            lines.append(" " * (len(gutter) + self.where.column - 1) + "^")
        lines.extend(f"  hint: {h}" for h in self.hints)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.where.file,
            "line": self.where.line,
            "column": self.where.column,
            "message": self.message,
            "code": self.code or None,
            "hints": list(self.hints),
        }


class RuleFileError(Exception):
    """Rule files that cannot be used; `problems` in file and position order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(
            sorted(problems, key=lambda p: (p.where.file, p.where.line, p.where.column))
        )
        super().__init__("\n".join(p.render() for p in self.problems))


@dataclass(frozen=True)
class RuleSet:
    """Every group of the loaded files, with each rule's compiled query."""

    groups: tuple[Group, ...]
    compiled: Mapping[tuple[str, str, int], CompiledQuery] = field(default_factory=dict)

    def query(self, group: Group, index: int) -> CompiledQuery:
        return self.compiled[(group.file, group.name, index)]


def load_rule_files(
    paths: Iterable[str | Path],
    config: Config,
    *,
    default_interval_s: float = DEFAULT_INTERVAL_S,
) -> RuleSet:
    """Every group of every file (see the module docstring); all problems at once."""
    problems: list[Problem] = []
    groups: list[Group] = []
    compiled: dict[tuple[str, str, int], CompiledQuery] = {}
    for path in paths:
        reader = _FileReader(Path(path), config, default_interval_s)
        found = reader.read()
        problems.extend(reader.problems)
        groups.extend(found)
        compiled.update(reader.compiled)
    if problems:
        raise RuleFileError(problems)
    return RuleSet(tuple(groups), compiled)


class _FileReader:
    def __init__(self, path: Path, config: Config, default_interval_s: float) -> None:
        self.path = path
        self.file = str(path)
        self.config = config
        self.default_interval_s = default_interval_s
        self.problems: list[Problem] = []
        self.compiled: dict[tuple[str, str, int], CompiledQuery] = {}
        self.lines: list[str] = []

    # ------------------------------------------------------------ reporting

    def _where(self, node: Node | None, offset: int = 0) -> Where:
        if node is None:
            return Where(self.file, 1, 1)
        return Where(self.file, node.start_mark.line + 1, node.start_mark.column + 1 + offset)

    def _problem(
        self, where: Where, message: str, code: str = "", hints: Sequence[str] = ()
    ) -> None:
        line = self.lines[where.line - 1] if 0 < where.line <= len(self.lines) else ""
        self.problems.append(Problem(where, message, code, tuple(hints), line))

    def _at(self, node: Node | None, message: str) -> None:
        self._problem(self._where(node), message)

    # ------------------------------------------------------------ reading

    def read(self) -> list[Group]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(Problem(Where(self.file), f"cannot read: {exc}"))
            return []
        self.lines = text.splitlines()
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = Where(self.file, mark.line + 1, mark.column + 1) if mark else Where(self.file)
            problem = str(exc.problem or exc.context)
            if exc.context and exc.problem and exc.context_mark:
                problem += f" ({exc.context} at line {exc.context_mark.line + 1})"
            self._problem(where, f"YAML syntax error: {problem}")
            return []
        except yaml.YAMLError as exc:  # the reader's: characters YAML does not allow
            line, column = _offset_position(text, getattr(exc, "position", 0))
            self._problem(Where(self.file, line, column), f"YAML error: {one_line(exc)}")
            return []
        if root is None:
            self._problem(Where(self.file, 1, 1), "the file is empty: expected 'groups:'")
            return []
        keys = self._mapping(root, "a rule file", ("groups",))
        if keys is None:
            return []
        groups_node = keys.get("groups")
        if groups_node is None:
            self._at(root, "required key 'groups' missing")
            return []
        if not isinstance(groups_node, SequenceNode):
            self._at(groups_node, "'groups' must be a list of groups")
            return []
        groups: list[Group] = []
        seen: dict[str, Node] = {}
        for node in groups_node.value:
            group = self._group(node)
            if group is None:
                continue
            if group.name in seen:
                self._at(node, f"duplicate group name '{group.name}' in this file")
                continue
            seen[group.name] = node
            groups.append(group)
        return groups

    def _mapping(self, node: Node, what: str, allowed: Sequence[str]) -> dict[str, Node] | None:
        if not isinstance(node, MappingNode):
            self._at(node, f"{what} must be a mapping")
            return None
        out: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                self._at(key_node, "keys must be plain names")
                continue
            if key not in allowed:
                close = [k for k in allowed if _close(k, key)]
                hint = (
                    f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(allowed)})"
                )
                self._at(key_node, f"unknown key '{key}' in {what}{hint}")
                continue
            if key in out:
                self._at(key_node, f"duplicate key '{key}'")
                continue
            out[key] = value_node
        return out

    def _string(self, node: Node | None, what: str) -> str | None:
        if node is None:
            return None
        if not isinstance(node, ScalarNode) or node.tag == "tag:yaml.org,2002:null":
            self._at(node, f"{what} must be a string")
            return None
        return str(node.value)

    def _duration(self, node: Node | None, what: str) -> float | None:
        text = self._string(node, what)
        if text is None:
            return None
        try:
            return parse_duration(text)
        except ValueError as exc:
            self._at(node, f"{what}: {exc}")
            return None

    def _labels(self, node: Node | None, what: str, templated: bool) -> dict[str, str]:
        if node is None or (isinstance(node, ScalarNode) and node.tag.endswith(":null")):
            return {}
        if not isinstance(node, MappingNode):
            self._at(node, f"{what} must be a mapping of names to strings")
            return {}
        out: dict[str, str] = {}
        for key_node, value_node in node.value:
            name = str(key_node.value) if isinstance(key_node, ScalarNode) else ""
            if what != "annotations" and (not LABEL_NAME.match(name) or name.startswith("__")):
                self._at(key_node, f"invalid label name '{name}' (letters, digits, _)")
                continue
            if what != "annotations" and name in RESERVED_LABELS:
                self._at(key_node, f"'{name}' is set by the evaluator and cannot be a label")
                continue
            if name in out:
                self._at(key_node, f"duplicate {what[:-1]} '{name}'")
                continue
            if not isinstance(value_node, ScalarNode):
                self._at(value_node, f"{what}.{name} must be a string")
                continue
            value = str(value_node.value)
            if templated:
                try:
                    Template(value)
                except TemplateError as exc:
                    self._problem(self._scalar_where(value_node, value, exc.offset), str(exc))
                    continue
            out[name] = value
        return out

    def _group(self, node: Node) -> Group | None:
        keys = self._mapping(node, "a group", _GROUP_KEYS)
        if keys is None:
            return None
        name = self._string(keys.get("name"), "name")
        if "name" not in keys:
            self._at(node, "required key 'name' missing in a group")
        elif name == "":
            self._at(keys["name"], "a group name must not be empty")
        interval = self._duration(keys.get("interval"), "interval")
        if interval is not None and interval <= 0:
            self._at(keys["interval"], "interval must be positive")
            interval = None
        offset = self._duration(keys.get("query_offset"), "query_offset") or 0.0
        limit = 0
        if "limit" in keys:
            raw = self._string(keys["limit"], "limit")
            if raw is not None and (not raw.isdigit()):
                self._at(keys["limit"], "limit must be a whole number (0: no limit)")
            elif raw is not None:
                limit = int(raw)
        labels = self._labels(keys.get("labels"), "labels", templated=False)
        rules_node = keys.get("rules")
        if rules_node is None:
            self._at(node, f"required key 'rules' missing in group '{name or '?'}'")
            return None
        if not isinstance(rules_node, SequenceNode):
            self._at(rules_node, "'rules' must be a list")
            return None
        interval_s = interval or self.default_interval_s
        rules: list[Rule] = []
        for index, rule_node in enumerate(rules_node.value):
            rule = self._rule(rule_node, interval_s, name or "", index)
            if rule is not None:
                rules.append(rule)
        if name is None:
            return None
        return Group(
            name=name,
            file=self.file,
            interval_s=interval_s,
            rules=tuple(rules),
            query_offset_s=offset,
            limit=limit,
            labels=labels,
            where=self._where(node),
        )

    def _rule(self, node: Node, interval_s: float, group: str, index: int) -> Rule | None:
        keys = self._mapping(node, "a rule", _RULE_KEYS)
        if keys is None:
            return None
        if ("alert" in keys) == ("record" in keys):
            self._at(node, "a rule needs exactly one of 'alert' or 'record'")
            return None
        kind: Kind = "alert" if "alert" in keys else "record"
        name_node = keys[kind]
        name = self._string(name_node, kind)
        if name is None:
            return None
        if kind == "record" and not METRIC_NAME.match(name):
            self._at(name_node, f"invalid series name '{name}' (letters, digits, _ and :)")
        if kind == "alert" and not name.strip():
            self._at(name_node, "an alert name must not be empty")
        if kind == "record":
            for key in ("for", "keep_firing_for", "annotations"):
                if key in keys:
                    self._at(keys[key], f"'{key}' is for alerting rules, not recording rules")
        for_s = self._duration(keys.get("for"), "for") or 0.0
        keep_s = self._duration(keys.get("keep_firing_for"), "keep_firing_for") or 0.0
        labels = self._labels(keys.get("labels"), "labels", templated=kind == "alert")
        annotations = self._labels(keys.get("annotations"), "annotations", templated=True)
        expr_node = keys.get("expr")
        if expr_node is None:
            self._at(node, f"required key 'expr' missing in {kind} '{name}'")
            return None
        expr = self._string(expr_node, "expr")
        if expr is None:
            return None
        assert isinstance(expr_node, ScalarNode)
        compiled = self._compile(expr, expr_node)
        if compiled is None:
            return None
        shape = self._shape(compiled, expr_node, expr)
        if shape is None:
            return None
        value, label_columns = shape
        query, window_s, window_span = with_window(expr, compiled.ast, interval_s)
        if query != expr:
            try:
                compiled = compile(query, self.config)
            except CompileError as exc:  # cannot happen for a query that compiled: say so
                self._at(expr_node, f"the query with its window added does not compile: {exc}")
                return None
        self.compiled[(self.file, group, index)] = compiled
        return Rule(
            kind=kind,
            name=name,
            expr=expr,
            query=query,
            window_s=window_s,
            window_span=window_span,
            value_column=value,
            label_columns=label_columns,
            for_s=for_s,
            keep_firing_for_s=keep_s,
            labels=labels,
            annotations=annotations,
            where=self._where(node),
        )

    # ------------------------------------------------------------ the StarQL inside

    def _compile(self, expr: str, node: ScalarNode) -> CompiledQuery | None:
        try:
            return compile(expr, self.config)
        except CompileError as exc:
            for diagnostic in exc.diagnostics:
                span = diagnostic.span
                start = span.start if span is not None else 0
                self._problem(
                    self._scalar_where(node, expr, start),
                    diagnostic.message,
                    diagnostic.code.value,
                    diagnostic.hints,
                )
            return None

    def _shape(
        self, compiled: CompiledQuery, node: ScalarNode, expr: str
    ) -> tuple[str, tuple[str, ...]] | None:
        columns = compiled.columns
        value = value_column(columns)
        where = self._scalar_where(node, expr, 0)
        if value is None:
            names = ", ".join(c.name for c in columns) or "none"
            self._problem(
                where,
                f"the query's result has no numeric column for the sample value (columns: {names})",
                hints=("end with stats, e.g. `| stats count() as value by service`",),
            )
            return None
        labels = tuple(c.name for c in columns if c.name != value)
        problems = False
        seen: dict[str, str] = {}
        for column in columns:
            if column.name == value:
                continue
            if column.type.value == "map":
                self._problem(
                    where,
                    f"column '{column.name}' is a map and cannot be a label",
                    hints=("choose the columns with `fields` or `stats … by`",),
                )
                problems = True
            name = label_name(column.name)
            if name in seen:
                self._problem(
                    where,
                    f"columns '{seen[name]}' and '{column.name}' both become label '{name}'",
                    hints=("name them apart with `as`",),
                )
                problems = True
            if name in RESERVED_LABELS or name.startswith("__"):
                self._problem(where, f"column '{column.name}' would be the reserved label '{name}'")
                problems = True
            seen[name] = column.name
        return None if problems else (value, labels)

    def _scalar_where(self, node: ScalarNode, value: str, offset: int) -> Where:
        """The file position of character `offset` of a scalar's value."""
        positions = _scalar_positions(self.lines, node, value)
        if positions is not None and positions:
            line, column = positions[min(offset, len(positions) - 1)]
            return Where(self.file, line, column)
        return self._where(node)


def with_window(
    expr: str, query: ast.Query, interval_s: float
) -> tuple[str, float, tuple[int, int] | None]:
    """The query to run, its window in seconds and where the query's text states it
    (see the module docstring)."""
    for stage in query.stages:
        if isinstance(stage, ast.Since) and isinstance(stage.duration, ast.DurationLit):
            return expr, stage.duration.nanos / 1e9, (stage.span.start, stage.span.end)
        if isinstance(stage, ast.Since | ast.Between):
            return expr, 0.0, None  # a parameter or a fixed range: as written
    end = query.source.span.end
    since = f"since {format_duration(interval_s)}"
    start = end + len(" | ")
    return expr[:end] + " | " + since + expr[end:], interval_s, (start, start + len(since))


def _scalar_positions(
    lines: list[str], node: ScalarNode, value: str
) -> list[tuple[int, int]] | None:
    """(line, column) of each character of `value` as written in the file, or None when
    the scalar's form (escapes, blank lines in folded text) does not map one for one."""
    start, end = node.start_mark, node.end_mark
    style = node.style
    chars: list[str] = []
    positions: list[tuple[int, int]] = []

    def add(text: str, line: int, column: int) -> None:
        for i, ch in enumerate(text):
            chars.append(ch)
            positions.append((line + 1, column + i + 1))

    if style in ("|", ">"):
        stop = end.line + (1 if end.column else 0)
        body = [(n, lines[n]) for n in range(start.line + 1, min(stop, len(lines)))]
        indent = min((len(t) - len(t.lstrip(" ")) for _, t in body if t.strip()), default=0)
        separator = "\n" if style == "|" else " "
        for k, (n, text) in enumerate(body):
            if k and chars:
                add(separator, n - 1, len(lines[n - 1]))
            add(text[indent:], n, indent)
    else:
        skip = 1 if style in ('"', "'") else 0
        last = min(end.line, len(lines) - 1)
        for n in range(start.line, last + 1):
            text = lines[n]
            first = start.column + skip if n == start.line else len(text) - len(text.lstrip())
            stop = end.column - skip if n == end.line else len(text.rstrip())
            if n != start.line:
                add(" ", n - 1, len(lines[n - 1].rstrip()))
            add(text[first:stop] if n == start.line else text[first:stop].rstrip(), n, first)
    built = "".join(chars)
    if built.rstrip("\n ") != value.rstrip("\n "):
        return None
    return positions


def _offset_position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _close(known: str, key: str) -> bool:
    return bool(difflib.get_close_matches(key, [known], n=1, cutoff=0.6))


def check(paths: Iterable[str | Path], config: Config) -> tuple[RuleSet | None, list[Problem]]:
    """`load_rule_files` for `starbase rules check`: the rules, or every problem."""
    try:
        return load_rule_files(paths, config), []
    except RuleFileError as exc:
        return None, list(exc.problems)
