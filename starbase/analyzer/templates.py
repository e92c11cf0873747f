"""Template mining: group messages by the template they were printed from (a Drain-family miner).

Requires: nothing beyond the standard library (pyarrow for `mine_array`). Guarantees:

- `mask(token)` replaces the variable parts of a token with typed placeholders, in this order:
  `<UUID>`, `<IP>` (v4, optional `:port`), `<TIME>` (`hh:mm:ss[.f]`), `<DATE>`, `<HEX>` (`0x…`
  or 8+ hex digits holding a digit), `<PATH>` (`/a/b`, `C:\\a`), `<URL>`, `<NUM>` (integers,
  decimals, signed, with a unit suffix such as `ms`, `KB`).
- `TemplateMiner` is streaming: `add(message)` returns the id of the cluster the message joins
  (a new one when none is similar enough) and updates that cluster's template; clusters live
  in a fixed-depth prefix tree keyed by token count and the first tokens that hold no
  variable, as in Drain (He et al., ICWS 2017). Differences from Drain, all fixed (no per-data
  tuning): tokens are masked before matching, so typed variables never split clusters; the
  similarity ignores positions that are variables on both sides; and two tokens that are both
  frequent words (seen in at least `frequent` messages so far, more than the cluster's own
  size would explain) are taken as different constants, so "session opened" and "session
  closed" stay apart while user names and host names merge.
- `mine(messages)` runs the miner over a batch twice (the first pass only counts token
  frequencies) and returns per message its template id, and the templates with typed
  placeholders; `template_text` renders a template, `generic` with `<*>` for every variable.
- Every message is cut to `MAX_TOKENS` tokens, so the cost per message is bounded.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_TOKENS = 120
DISTINCT = 4  # an open column with this many different words holds a variable
VAR = "<*>"
_TYPED = (
    (
        "<UUID>",
        re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
    ),
    ("<URL>", re.compile(r"[a-z][a-z0-9+.-]*://[^\s\"'<>]+")),
    ("<IP>", re.compile(r"(?<![\d.])/?\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d{1,5})?(?![\d.]\d)")),
    ("<TIME>", re.compile(r"(?<!\d)\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?!\d)")),
    ("<DATE>", re.compile(r"(?<!\d)\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?!\d)")),
    (
        "<HEX>",
        re.compile(
            r"(?<![\w])0[xX][0-9a-fA-F]+|(?<![\w-])(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}(?![\w-])"
        ),
    ),
    ("<PATH>", re.compile(r"(?<![\w.])(?:/[\w.@:+-]+){2,}/?|[A-Za-z]:\\[^\s]+")),
    ("<NUM>", re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[a-zA-Z%]{1,3})?(?![\w.]\d)")),
)
_PLACEHOLDER = re.compile(r"<(?:UUID|URL|IP|TIME|DATE|HEX|PATH|NUM)>")
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
# date-times written over several tokens become one `<TIME>` token before splitting
_DATETIME = re.compile(
    rf"\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]* +)?{_MONTH} +\d{{1,2}},? +"
    r"(?:\d{4} +)?\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?: +\d{4})?\b"
    r"|\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
)


def mask(token: str) -> str:
    """`token` with its variable parts replaced by typed placeholders."""
    if not any(ch.isdigit() for ch in token) and "/" not in token and "\\" not in token:
        return token
    for name, pattern in _TYPED:
        token = pattern.sub(name, token)
    return token


def has_variable(token: str) -> bool:
    return token == VAR or _PLACEHOLDER.search(token) is not None


def tokenize(message: str) -> list[str]:
    if any(ch.isdigit() for ch in message[:2000]):
        message = _DATETIME.sub("<TIME>", message)
    return message.split()[:MAX_TOKENS]


@dataclass
class Cluster:
    id: int
    template: list[str]
    size: int = 0


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    clusters: list[Cluster] = field(default_factory=list)


class TemplateMiner:
    """See the module docstring. `depth` counts the length layer and the token layers."""

    def __init__(
        self,
        similarity: float = 0.5,
        depth: int = 4,
        max_children: int = 100,
        frequent: int = 0,
        token_counts: Counter[str] | None = None,
    ) -> None:
        self.similarity = similarity
        self.depth = max(depth - 2, 1)
        self.max_children = max_children
        self.frequent = frequent
        self.counts: Counter[str] = token_counts if token_counts is not None else Counter()
        self.count_live = token_counts is None
        self.root = _Node()
        self.clusters: list[Cluster] = []

    # ------------------------------------------------------------ public

    def add(self, message: str) -> int:
        tokens = [mask(t) for t in tokenize(message)]
        if self.count_live:
            self.counts.update(set(tokens))
        cluster = self._search(tokens)
        if cluster is None:
            cluster = Cluster(len(self.clusters), tokens)
            self.clusters.append(cluster)
            self._insert(cluster)
        else:
            cluster.template = [
                a if a == b else _merge(a, b) for a, b in zip(cluster.template, tokens, strict=True)
            ]
        cluster.size += 1
        return cluster.id

    def template(self, cluster_id: int) -> str:
        return " ".join(self.clusters[cluster_id].template)

    # ------------------------------------------------------------ the tree

    def _key(self, token: str) -> str:
        return VAR if has_variable(token) else token

    def _search(self, tokens: list[str]) -> Cluster | None:
        node = self.root.children.get(str(len(tokens)))
        if node is None:
            return None
        depth = 1
        for token in tokens:
            if depth >= self.depth or depth > len(tokens):
                break
            key = self._key(token)
            if key in node.children:
                node = node.children[key]
            elif VAR in node.children:
                node = node.children[VAR]
            else:
                return None
            depth += 1
        return self._best(node.clusters, tokens)

    def _best(self, clusters: list[Cluster], tokens: list[str]) -> Cluster | None:
        best, best_sim, best_vars = None, -1.0, -1
        for cluster in clusters:
            sim, variables = self._similarity(cluster, tokens)
            if sim > best_sim or (sim == best_sim and variables > best_vars):
                best, best_sim, best_vars = cluster, sim, variables
        return best if best is not None and best_sim >= self.similarity else None

    def _similarity(self, cluster: Cluster, tokens: list[str]) -> tuple[float, int]:
        same = variables = compared = 0
        for a, b in zip(cluster.template, tokens, strict=True):
            if has_variable(a) and has_variable(b):
                variables += 1
                continue
            if a == VAR:
                variables += 1
                same += 1
                compared += 1
                continue
            compared += 1
            if a == b:
                same += 1
            elif self.frequent and self._both_constant(a, b, cluster):
                return 0.0, variables
        if compared == 0:
            return 1.0, variables
        return same / compared, variables

    def _both_constant(self, a: str, b: str, cluster: Cluster) -> bool:
        if has_variable(b) or not b.isalpha() or not a.isalpha():
            return False
        limit = max(self.frequent, cluster.size + 1)
        return self.counts[a] >= limit and self.counts[b] >= self.frequent

    def _insert(self, cluster: Cluster) -> None:
        tokens = cluster.template
        node = self.root.children.setdefault(str(len(tokens)), _Node())
        depth = 1
        for token in tokens:
            if depth >= self.depth or depth > len(tokens):
                break
            key = self._key(token)
            if key in node.children:
                node = node.children[key]
            elif key != VAR and len(node.children) + 1 >= self.max_children:
                node = node.children.setdefault(VAR, _Node())
            else:
                node = node.children.setdefault(key, _Node())
            depth += 1
        node.clusters.append(cluster)


def _merge(a: str, b: str) -> str:
    """The template token covering both tokens: equal typed placeholders stay typed."""
    if a == b:
        return a
    if _PLACEHOLDER.fullmatch(a) and _PLACEHOLDER.fullmatch(b):
        return VAR if a != b else a
    return VAR


@dataclass
class Mined:
    ids: list[int]  # per message: its template id (-1 for a null message)
    templates: list[str]  # per template id: the template with typed placeholders
    sizes: list[int]


def mine(messages: Sequence[str | None], distinct: int = DISTINCT) -> Mined:
    """Mine a batch (see the module docstring); ids are numbered by first appearance."""
    tokens = [None if m is None else [mask(t) for t in tokenize(m)] for m in messages]
    buckets: dict[int, list[int]] = {}
    for i, seq in enumerate(tokens):
        if seq is not None:
            buckets.setdefault(len(seq), []).append(i)
    template_of: dict[int, str] = {}
    for members in buckets.values():
        seqs = [tokens[i] for i in members]
        frequency: Counter[tuple[int, str]] = Counter()
        for seq in seqs:
            frequency.update(enumerate(seq))  # type: ignore[arg-type]
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, seq in zip(members, seqs, strict=True):
            assert seq is not None
            groups.setdefault(_root_key(seq, frequency), []).append(i)
        for key, group in groups.items():
            for template, ids in _refine(key, group, tokens, distinct):
                text = " ".join(template)
                for i in ids:
                    template_of[i] = text
    renumber: dict[str, int] = {}
    ids_out: list[int] = []
    for i in range(len(messages)):
        found = template_of.get(i)
        ids_out.append(-1 if found is None else renumber.setdefault(found, len(renumber)))
    sizes = [0] * len(renumber)
    for template_id in ids_out:
        if template_id >= 0:
            sizes[template_id] += 1
    return Mined(ids_out, list(renumber), sizes)


def _root_key(seq: list[str], frequency: Counter[tuple[int, str]]) -> tuple[str, ...]:
    """The constants of a message (as in Brain, Yu et al. 2023): the tokens at least as
    frequent, at their position in messages of this length, as the frequency most of its
    tokens share; the others (and typed variables) are left open as `<*>`."""
    counts = [frequency[(k, t)] for k, t in enumerate(seq) if not has_variable(t)]
    if not counts:
        return tuple(VAR for _ in seq)
    shared = Counter(counts)
    pivot = max(shared, key=lambda f: (shared[f], f))
    return tuple(
        t if not has_variable(t) and frequency[(k, t)] >= pivot else VAR for k, t in enumerate(seq)
    )


def _refine(
    key: tuple[str, ...], group: list[int], tokens: list[list[str] | None], distinct: int
) -> list[tuple[list[str], list[int]]]:
    """Split a group on open columns with few distinct words (constants that differ, e.g.
    `opened`/`closed`); columns with `distinct` or more words are variables."""
    open_columns = [k for k, t in enumerate(key) if t == VAR]
    values = {k: Counter(_at(tokens, i, k) for i in group) for k in open_columns}
    splits = [
        k
        for k in open_columns
        if 1 < len(values[k]) < distinct and _words(values[k]) and not _keyed(values[k])
    ]
    if splits:
        column = min(splits, key=lambda k: (len(values[k]), k))
        parts: dict[str, list[int]] = {}
        for i in group:
            parts.setdefault(_at(tokens, i, column), []).append(i)
        out = []
        for word, part in parts.items():
            sub = list(key)
            sub[column] = word
            out.extend(_refine(tuple(sub), part, tokens, distinct))
        return out
    template = list(key)
    for k in open_columns:
        seen = values[k]
        template[k] = next(iter(seen)) if len(seen) == 1 else _generalise(list(seen))
    return [(template, group)]


def _generalise(values: list[str]) -> str:
    """One token covering different values: their common prefix up to a punctuation mark and
    common suffix from one (`rhost=<*>`, `(<*>)`), the variable in between."""
    prefix = _common_prefix(values)
    cut = max((i + 1 for i, ch in enumerate(prefix) if not ch.isalnum()), default=0)
    prefix = prefix[:cut]
    rests = [v[len(prefix) :] for v in values]
    suffix = _common_prefix([r[::-1] for r in rests])[::-1]
    cut = next((i for i, ch in enumerate(suffix) if not ch.isalnum()), len(suffix))
    suffix = suffix[cut:]
    if any(len(r) <= len(suffix) for r in rests):
        suffix = ""
    return f"{prefix}{VAR}{suffix}"


def _common_prefix(values: list[str]) -> str:
    first, last = min(values), max(values)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def _keyed(values: Counter[str]) -> bool:
    """Values like `user=root` / `user=guest`: a key with different values is a variable."""
    prefix = _common_prefix(list(values))
    return bool(prefix) and prefix[-1] in "=:" and len(prefix) > 1


def _at(tokens: list[list[str] | None], i: int, k: int) -> str:
    seq = tokens[i]
    assert seq is not None
    return seq[k]


def _words(values: Counter[str]) -> bool:
    """Whether a column's values look like constant words (not typed variables)."""
    return not any(has_variable(v) for v in values)


def generic(template: str) -> str:
    """A template with every placeholder written `<*>` (the benchmarks' notation)."""
    return _PLACEHOLDER.sub(VAR, template)


def mine_array(array: Any) -> tuple[Any, Any]:
    """For the `patterns` stage: a pyarrow string array in, (int32 template id per row, null for
    null rows; string array of templates by id) out."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    values = array.to_pylist()
    mined = mine(values)
    ids = pa.array([i if i >= 0 else None for i in mined.ids], pa.int32())
    return ids, pa.array(mined.templates, pa.string())


def group(messages: Iterable[str]) -> Mined:
    return mine(list(messages))
