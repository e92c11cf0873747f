"""Drain (He et al., ICWS 2017) as the logparser benchmark implements it — the peer in
`benchmarks/analyzer.py`. Written from the published algorithm, with its published defaults:
depth 4 (two token layers), similarity threshold 0.4, 100 children per node, no
preprocessing regexes (the untuned setting); tokens holding a digit go down the `<*>` branch.
Benchmark use only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WILD = "<*>"


def _has_digit(token: str) -> bool:
    return any(ch.isdigit() for ch in token)


@dataclass
class _Cluster:
    template: list[str]
    ids: list[int] = field(default_factory=list)


@dataclass
class _Node:
    children: dict[Any, Any] = field(default_factory=dict)


class Drain:
    def __init__(self, depth: int = 4, st: float = 0.4, max_child: int = 100) -> None:
        self.depth = depth - 2
        self.st = st
        self.max_child = max_child
        self.root = _Node()
        self.clusters: list[_Cluster] = []

    def _seq_dist(self, template: list[str], seq: list[str]) -> tuple[float, int]:
        same = params = 0
        for a, b in zip(template, seq, strict=True):
            if a == WILD:
                params += 1
                continue
            if a == b:
                same += 1
        return (same / len(template) if template else 1.0), params

    def _fast_match(self, clusters: list[_Cluster], seq: list[str]) -> _Cluster | None:
        best, best_sim, best_params = None, -1.0, -1
        for cluster in clusters:
            sim, params = self._seq_dist(cluster.template, seq)
            if sim > best_sim or (sim == best_sim and params > best_params):
                best, best_sim, best_params = cluster, sim, params
        return best if best is not None and best_sim >= self.st else None

    def _search(self, seq: list[str]) -> _Cluster | None:
        node = self.root.children.get(len(seq))
        if node is None:
            return None
        depth = 1
        for token in seq:
            if depth >= self.depth or depth > len(seq):
                break
            if token in node.children:
                node = node.children[token]
            elif WILD in node.children:
                node = node.children[WILD]
            else:
                return None
            depth += 1
        clusters = node.children if isinstance(node.children, list) else []
        return self._fast_match(clusters, seq)

    def _add(self, cluster: _Cluster) -> None:
        seq = cluster.template
        node = self.root.children.setdefault(len(seq), _Node())
        depth = 1
        if not seq:
            old = node.children if isinstance(node.children, list) else []
            node.children = [*old, cluster]
            return
        for token in seq:
            if depth >= self.depth or depth > len(seq):
                if not isinstance(node.children, list) or not node.children:
                    node.children = [cluster]
                else:
                    node.children.append(cluster)
                break
            if token not in node.children:
                if not _has_digit(token):
                    if WILD in node.children:
                        if len(node.children) < self.max_child:
                            node.children[token] = _Node()
                            node = node.children[token]
                        else:
                            node = node.children[WILD]
                    elif len(node.children) + 1 < self.max_child:
                        node.children[token] = _Node()
                        node = node.children[token]
                    elif len(node.children) + 1 == self.max_child:
                        node.children[WILD] = _Node()
                        node = node.children[WILD]
                    else:
                        node = node.children[WILD]
                else:
                    node = node.children.setdefault(WILD, _Node())
            else:
                node = node.children[token]
            depth += 1

    def parse(self, messages: list[str]) -> list[str]:
        """The template of each message (after all messages were seen)."""
        owner: list[_Cluster] = []
        for i, message in enumerate(messages):
            seq = message.strip().split()
            cluster = self._search(seq)
            if cluster is None:
                cluster = _Cluster(seq)
                self.clusters.append(cluster)
                self._add(cluster)
            else:
                merged = [a if a == b else WILD for a, b in zip(seq, cluster.template, strict=True)]
                if merged != cluster.template:
                    cluster.template = merged
            cluster.ids.append(i)
            owner.append(cluster)
        return [" ".join(c.template) for c in owner]
