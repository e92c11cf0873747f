"""Loading mapping files, with errors that point at the offending line.

Requires: a mapping YAML file (see README.md in this package). Guarantees: `load_mapping_file`
returns a validated `Mapping` (its `path` and per-field lines set) or raises `MappingError`
naming the file, line, column and problem — for YAML syntax errors, shape errors (pydantic)
and cross-reference errors alike. The YAML is composed into a node tree first so every value
keeps its position; each validation error's location is walked back to the nearest node.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from starbase.mappings.model import Loc, Mapping, MappingProblems, Problem, suggest

_PACKAGE = "starbase.mappings"
_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Located:
    """A problem with its 1-based position in the file (0 when the file has no position)."""

    line: int
    column: int
    problem: str


class MappingError(Exception):
    """A mapping file that cannot be used: `path:line:column: problem` (first problem first)."""

    def __init__(self, path: Path | None, problems: list[Located]) -> None:
        ordered = sorted(problems, key=lambda p: (p.line, p.column))
        first = ordered[0]
        self.path, self.line, self.column, self.problem = (
            path,
            first.line,
            first.column,
            first.problem,
        )
        self.problems = tuple(ordered)
        name = str(path) if path is not None else "<mapping>"
        super().__init__(
            "\n".join(
                f"{name}:{p.line}:{p.column}: {p.problem}" if p.line else f"{name}: {p.problem}"
                for p in ordered
            )
        )


def available_formats() -> tuple[str, ...]:
    """Names of the packaged mapping files (the formats a source may name)."""
    names = (entry.name for entry in resources.files(_PACKAGE).iterdir())
    return tuple(sorted(n.removesuffix(".yaml") for n in names if n.endswith(".yaml")))


@cache
def load_mapping(format_name: str) -> Mapping:
    """The packaged mapping of `format_name`, loaded once per process."""
    known = available_formats()
    if format_name not in known:
        message = f"unknown format '{format_name}'{suggest(format_name, list(known))}"
        raise MappingError(None, [Located(0, 0, message)])
    return load_mapping_file(Path(str(resources.files(_PACKAGE) / f"{format_name}.yaml")))


def load_mapping_file(path: Path) -> Mapping:
    """Load and validate any mapping file; its `format` must equal the file's stem."""
    mapping, tree, data = load_validated(path, Mapping)
    if mapping.format != path.stem:
        message = f"format '{mapping.format}' must match the file name '{path.name}'"
        raise MappingError(path, [tree.locate(Problem(("format",), message), data)])
    mapping._path = path
    mapping._lines = {name: tree.line(("fields", name)) for name in mapping.fields}
    return mapping


def load_validated(path: Path, model: type[_M], text: str | None = None) -> tuple[_M, _Tree, Any]:
    """Read `path` (or `text`, named `path`) as YAML and validate it as `model`: the model,
    the position tree and the plain data, or a `MappingError` with every problem located."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise MappingError(path, [Located(0, 0, f"cannot read: {exc}")]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = str(exc.problem or exc.context)
        if exc.context and exc.problem and exc.context_mark:
            problem += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise MappingError(path, [Located(line, column, f"YAML syntax error: {problem}")]) from None
    if not isinstance(root, MappingNode):
        raise MappingError(path, [Located(1, 1, "a mapping file must be a YAML mapping")])
    tree = _Tree()
    data = tree.build(root, ())
    if tree.problems:
        raise MappingError(path, tree.problems)
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # a list whose items failed is also reported "too short" by pydantic: keep the items'
        deeper = [tuple(e["loc"]) for e in errors]
        errors = [
            e
            for e in errors
            if e["type"] != "too_short"
            or not any(
                len(d) > len(e["loc"]) and d[: len(e["loc"])] == tuple(e["loc"]) for d in deeper
            )
        ]
        raise MappingError(path, [tree.locate(_problem(err), data) for err in errors]) from None
    except MappingProblems as exc:
        raise MappingError(path, [tree.locate(p, data) for p in exc.problems]) from None
    return validated, tree, data


def _problem(err: Any) -> Problem:
    """A pydantic error entry in the words of a mapping author."""
    loc: Loc = tuple(err["loc"])
    kind, message = err["type"], str(err["msg"])
    if kind == "missing":
        return Problem(loc, "required key missing")
    if kind == "extra_forbidden":
        return Problem(loc, f"unknown key '{loc[-1]}'")
    if kind == "union_tag_invalid":
        tag, expected = err["ctx"]["tag"], err["ctx"]["expected_tags"]
        return Problem((*loc, "kind"), f"unknown kind '{tag}' (known: {expected})")
    if kind == "union_tag_not_found":
        return Problem(loc, "missing 'kind'")
    return Problem(loc, message.removeprefix("Value error, "))


class _Tree:
    """Plain data from a YAML node tree, remembering where each key and item was written."""

    def __init__(self) -> None:
        self.marks: dict[Loc, tuple[int, int]] = {}
        self.problems: list[Located] = []
        self._scalars = SafeConstructor()

    def build(self, node: Node, at: Loc) -> Any:
        self.marks.setdefault(at, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                position = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                key = self._scalar(key_node)
                if not isinstance(key, str | int) or isinstance(key, bool):
                    self.problems.append(Located(*position, "keys must be plain names"))
                    continue
                if key in out:
                    self.problems.append(Located(*position, f"duplicate key '{key}'"))
                    continue
                self.marks[(*at, key)] = position
                out[key] = self.build(value_node, (*at, key))
            return out
        if isinstance(node, SequenceNode):
            return [self.build(item, (*at, i)) for i, item in enumerate(node.value)]
        return self._scalar(node)

    def _scalar(self, node: Node) -> Any:
        return self._scalars.construct_object(node) if isinstance(node, ScalarNode) else None

    def line(self, loc: Loc) -> int:
        return self.marks.get(loc, (0, 0))[0]

    def locate(self, problem: Problem, data: Any) -> Located:
        """Walk `problem.loc` through the data; union tags and unknown parts are skipped."""
        found: Loc = ()
        tag_at: Loc | None = None
        shown: list[str] = []
        node = data
        for part in problem.loc:
            if isinstance(node, dict) and node.get("kind") == part and tag_at != found:
                tag_at = found  # a discriminated-union tag (once per level), not a key
                continue
            if (*found, part) in self.marks and isinstance(node, dict | list):
                found = (*found, part)
                node = node[part] if isinstance(node, dict) else node[int(part)]
            else:
                node = None
            shown.append(str(part))
        line, column = self.marks.get(found, (1, 1))
        where = ".".join(shown)
        return Located(line, column, f"{where}: {problem.message}" if where else problem.message)
