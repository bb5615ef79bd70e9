"""Batch dedup: score the blocked pairs, then merge without chaining two people through a bridge record.

Merges are transitive (A=B and B=C merges A with C), so a high score on each link is not enough. Merge
links are taken strongest first; two clusters are joined only when every cross pair is consistent
(complete link): no name conflict, and a score of at least the review threshold. A refused link is
downgraded to a review item, so a human still sees it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from integration.dedup.blocking import candidate_pairs
from integration.dedup.features import compare
from integration.dedup.model import classify, name_conflict, probability
from integration.dedup.prepare import Prepared, prepare

Progress = Callable[[str, int, int], None]   # (stage, done, total)
PROGRESS_EVERY = 5000


class FlaggedPair(NamedTuple):
    """One output row: the two ids (input order), the score, and "merge" or "review"."""

    id_a: str
    id_b: str
    score: float
    decision: str


class _Clusters:
    """Union-find that keeps member lists, so complete-link checks can walk both sides."""

    def __init__(self, size: int):
        self.parent = list(range(size))
        self.members = {i: [i] for i in range(size)}

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra] += self.members.pop(rb)


def _score_all(prepared: Sequence[Prepared], pairs: list[tuple[int, int]], progress: Progress | None
               ) -> dict[tuple[int, int], float]:
    scores = {}
    for n, (i, j) in enumerate(pairs):
        scores[(i, j)] = probability(compare(prepared[i], prepared[j]))
        if progress and n % PROGRESS_EVERY == 0:
            progress("scoring", n, len(pairs))
    if progress:
        progress("scoring", len(pairs), len(pairs))
    return scores


def _consistent(x: int, y: int, prepared: Sequence[Prepared], scores: dict, review: float) -> bool:
    key = (x, y) if x < y else (y, x)
    levels = compare(prepared[key[0]], prepared[key[1]])
    score = scores[key] if key in scores else probability(levels)
    return score >= review and not name_conflict(levels)


def _link(clusters: _Clusters, i: int, j: int, prepared: Sequence[Prepared], scores: dict, review: float) -> bool:
    """Join the clusters of i and j when every cross pair is consistent; False when refused."""
    ri, rj = clusters.find(i), clusters.find(j)
    if ri == rj:
        return True
    for x in clusters.members[ri]:
        for y in clusters.members[rj]:
            if (x, y) not in ((i, j), (j, i)) and not _consistent(x, y, prepared, scores, review):
                return False
    clusters.union(i, j)
    return True


def cluster_pairs(prepared: Sequence[Prepared], scores: dict[tuple[int, int], float], auto_merge: float,
                  review: float) -> list[tuple[int, int, float, str]]:
    """Decide every scored pair: merges that keep clusters consistent, then reviews across clusters."""
    clusters = _Clusters(len(prepared))
    decided = []
    strongest_first = sorted(((s, p) for p, s in scores.items() if s >= auto_merge), key=lambda t: (-t[0], t[1]))
    for score, (i, j) in strongest_first:
        merged = _link(clusters, i, j, prepared, scores, review)
        decided.append((i, j, score, "merge" if merged else "review"))
    for (i, j), score in sorted(scores.items()):
        # a review inside a merge cluster is already settled by the merge
        if classify(score, auto_merge, review) == "review" and clusters.find(i) != clusters.find(j):
            decided.append((i, j, score, "review"))
    return decided


def find_duplicates(records: Sequence[Mapping], auto_merge: float = 0.92, review: float = 0.70,
                    progress: Progress | None = None) -> list[FlaggedPair]:
    """Flagged pairs of a batch of lead dicts, merges first (strongest first), then reviews in input order."""
    prepared = []
    for n, record in enumerate(records):
        prepared.append(prepare(record))
        if progress and n % PROGRESS_EVERY == 0:
            progress("reading", n, len(records))
    if progress:
        progress("reading", len(records), len(records))
    pairs = candidate_pairs(prepared)
    scores = _score_all(prepared, pairs, progress)
    decided = cluster_pairs(prepared, scores, auto_merge, review)
    return [FlaggedPair(prepared[i].id, prepared[j].id, score, decision) for i, j, score, decision in decided]
