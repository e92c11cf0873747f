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
VAR = "<*>"
_TYPED = (
    ("<UUID>", re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")),
    ("<URL>", re.compile(r"[a-z][a-z0-9+.-]*://[^\s\"'<>]+")),
    ("<IP>", re.compile(r"(?<![\d.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?::\d{1,5})?(?![\d.]\d)")),
    ("<TIME>", re.compile(r"(?<!\d)\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?!\d)")),
    ("<DATE>", re.compile(r"(?<!\d)\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?!\d)")),
    ("<HEX>", re.compile(r"(?<![\w])0[xX][0-9a-fA-F]+|(?<![\w-])(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}(?![\w-])")),
    ("<PATH>", re.compile(r"(?<![\w.])(?:/[\w.@:+-]+){2,}/?|[A-Za-z]:\\[^\s]+")),
    ("<NUM>", re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[a-zA-Z%]{1,3})?(?![\w.]\d)|\d+")),
)
_PLACEHOLDER = re.compile(r"<(?:UUID|URL|IP|TIME|DATE|HEX|PATH|NUM)>")


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


def mine(messages: Sequence[str | None], similarity: float = 0.5, frequent: int = 3) -> Mined:
    """Mine a batch (see the module docstring); ids are numbered by first appearance."""
    counts: Counter[str] = Counter()
    for message in messages:
        if message is not None:
            counts.update({mask(t) for t in tokenize(message)})
    miner = TemplateMiner(similarity=similarity, frequent=frequent, token_counts=counts)
    raw_ids = [miner.add(m) if m is not None else -1 for m in messages]
    # templates may have generalised after early messages joined: the final template is the
    # cluster's; clusters whose final templates are equal are one template
    renumber: dict[str, int] = {}
    by_cluster: dict[int, int] = {}
    for cluster in miner.clusters:
        text = " ".join(cluster.template)
        by_cluster[cluster.id] = renumber.setdefault(text, len(renumber))
    templates = list(renumber)
    sizes = [0] * len(templates)
    ids = []
    for raw in raw_ids:
        if raw < 0:
            ids.append(-1)
        else:
            ids.append(by_cluster[raw])
            sizes[by_cluster[raw]] += 1
    return Mined(ids, templates, sizes)


def generic(template: str) -> str:
    """A template with every placeholder written `<*>` (the benchmarks' notation)."""
    return _PLACEHOLDER.sub(VAR, template)


def mine_array(array: Any, similarity: float = 0.5) -> tuple[Any, Any]:
    """For the `patterns` stage: a pyarrow string array in, (int32 template id per row, null for
    null rows; string array of templates by id) out."""
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    values = array.to_pylist()
    mined = mine(values, similarity)
    ids = pa.array([i if i >= 0 else None for i in mined.ids], pa.int32())
    return ids, pa.array(mined.templates, pa.string())


def group(messages: Iterable[str]) -> Mined:
    return mine(list(messages))
