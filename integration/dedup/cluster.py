"""Batch dedup: score the blocked pairs, then merge without chaining two people through a bridge record.

Merges are transitive (A=B and B=C merges A with C), so a high score on each link is not enough. Merge
links are taken strongest first; two clusters are joined only when every cross pair is consistent
(complete link): no name conflict, and a score of at least the review threshold. A refused link is
downgraded to a review item, so a human still sees it. Records whose compared fields are all equal are one
kind and are checked once per kind, so repeated rows cost no more than one; a cluster holds at most
MAX_MERGE_KINDS different records, so one link costs at most MAX_MERGE_KINDS² kind-pair checks and a batch
costs a bounded number per scored pair: near-linear in the records, whatever their clusters' sizes.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import NamedTuple

from integration.dedup.blocking import candidate_pairs
from integration.dedup.features import compare
from integration.dedup.model import classify, name_conflict, probability
from integration.dedup.prepare import Prepared, prepare

Progress = Callable[[str, int, int], None]   # (stage, done, total)
PROGRESS_EVERY = 5000
# Distinct records (kinds) one merge cluster may hold. One person has a handful of records (leads-dev.csv: at
# most 4); hundreds of different records joined by one email or phone are a spammed form or a switchboard, not
# duplicates to merge into one, and complete-link checks cost the product of the two sides' sizes. Links past
# the cap become review items. Identical rows are one kind, so a row repeated 50,000 times still merges whole.
MAX_MERGE_KINDS = 50
_VERDICTS_KEPT = 1_000_000  # memoised kind-pair checks, dropped wholesale past this (memory stays bounded)


class FlaggedPair(NamedTuple):
    """One output row: the two ids (input order), the score, and "merge" or "review"."""

    id_a: str
    id_b: str
    score: float
    decision: str


_COMPARED = tuple(f.name for f in fields(Prepared) if f.name != "id")   # everything `compare` may read


def kinds_of(prepared: Sequence[Prepared]) -> list[int]:
    """A number per record, equal for records whose compared fields are all equal (only their ids differ).

    Two pairs of records of the same kinds compare alike, so a file that repeats one row 50,000 times is
    scored and clustered as one kind, not as 50,000 records checked against each other.
    """
    numbers: dict[tuple, int] = {}
    return [numbers.setdefault(tuple(getattr(p, name) for name in _COMPARED), len(numbers)) for p in prepared]


class Clusters:
    """Union-find over records for complete-link merging, at a cost that grows with the kinds, not the members.

    Each cluster keeps, per kind of record in it, its extremes: the two lowest and the two highest member
    indexes. Every cross pair of two clusters is consistent exactly when every pair of their kinds is, in each
    order in which a lower-indexed member of one meets a higher-indexed member of the other (`compare` reads
    the lower index first); the extremes tell whether such a pair exists, and whether one exists besides the
    link pair itself. So a link walks kinds × kinds (at most MAX_MERGE_KINDS²), never members × members.
    `checks` counts the kind pairs looked at, `verdicts` the comparisons made.
    """

    def __init__(self, prepared: Sequence[Prepared], review: float):
        self.prepared, self.review = prepared, review
        self.kind = kinds_of(prepared)
        self.example: dict[int, int] = {}
        for index, kind in enumerate(self.kind):
            self.example.setdefault(kind, index)
        self.parent = list(range(len(prepared)))
        self.size = [1] * len(prepared)
        self.extremes: dict[int, dict[int, tuple[int, ...]]] = {i: {k: (i,)} for i, k in enumerate(self.kind)}
        self._verdicts: dict[tuple[int, int], bool] = {}
        self.checks = self.verdicts = 0

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        small, large = sorted((self.extremes.pop(rb), self.extremes[ra]), key=len)
        for kind, indexes in small.items():
            large[kind] = _extremes(indexes + large.get(kind, ()))
        self.extremes[ra] = large

    def consistent(self, first: int, second: int) -> bool:
        """Whether a record of kind `first` and a later one of kind `second` may be one person."""
        key = (first, second)
        if key not in self._verdicts:
            if len(self._verdicts) >= _VERDICTS_KEPT:
                self._verdicts.clear()
            self.verdicts += 1
            levels = compare(self.prepared[self.example[first]], self.prepared[self.example[second]])
            self._verdicts[key] = probability(levels) >= self.review and not name_conflict(levels)
        return self._verdicts[key]

    def _kinds_after_union(self, ri: int, rj: int) -> int:
        small, large = sorted((self.extremes[ri], self.extremes[rj]), key=len)
        return len(large) + sum(1 for kind in small if kind not in large)

    def _kinds_consistent(self, ri: int, rj: int, skip: tuple[int, int] | None) -> bool:
        """Every cross pair of ri's and rj's members consistent, the pair `skip` (ri's, rj's) excepted."""
        for a, xs in self.extremes[ri].items():
            for b, ys in self.extremes[rj].items():
                self.checks += 1
                if (_pair_besides(xs, ys, skip) and not self.consistent(a, b)) or (
                        ys[0] < xs[-1] and not self.consistent(b, a)):
                    return False
        return True

    def link(self, i: int, j: int) -> bool:
        """Join the clusters of i and j (i < j) when every cross pair is consistent; False when refused."""
        ri, rj = self.find(i), self.find(j)
        if ri == rj:
            return True
        if self._kinds_after_union(ri, rj) > MAX_MERGE_KINDS:
            return False
        # a link below the consistency bar (auto_merge set under a name conflict's cap) is not held against
        # itself; a passing one changes nothing when checked along with the others
        skip = None if self.consistent(self.kind[i], self.kind[j]) else (i, j)
        joined = self._kinds_consistent(ri, rj, skip)
        if joined:
            self.union(i, j)
        return joined


def _extremes(indexes: tuple[int, ...]) -> tuple[int, ...]:
    """The two lowest and two highest of some member indexes, ascending (fewer when there are fewer)."""
    ordered = sorted(set(indexes))
    return tuple(ordered) if len(ordered) <= 4 else (*ordered[:2], *ordered[-2:])


def _pair_besides(xs: tuple[int, ...], ys: tuple[int, ...], skip: tuple[int, int] | None) -> bool:
    """Whether some x of `xs`'s members comes before some y of `ys`'s, other than the pair `skip`.

    Any such pair other than (lowest x, highest y) has the second-lowest x or the second-highest y in a pair
    that comes in order, so the extremes are enough.
    """
    if xs[0] >= ys[-1]:
        return False
    if (xs[0], ys[-1]) != skip:
        return True
    return (len(xs) > 1 and xs[1] < ys[-1]) or (len(ys) > 1 and xs[0] < ys[-2])


def _score_all(prepared: Sequence[Prepared], pairs: list[tuple[int, int]], progress: Progress | None
               ) -> dict[tuple[int, int], float]:
    kind = kinds_of(prepared)
    repeated = {k for k, n in Counter(kind).items() if n > 1}
    same_kinds: dict[tuple[int, int], float] = {}   # pairs of repeated rows are scored once per pair of kinds
    scores = {}
    for n, (i, j) in enumerate(pairs):
        key = (kind[i], kind[j])
        if key in same_kinds:
            scores[(i, j)] = same_kinds[key]
        else:
            scores[(i, j)] = probability(compare(prepared[i], prepared[j]))
            if key[0] in repeated or key[1] in repeated:
                same_kinds[key] = scores[(i, j)]
        if progress and n % PROGRESS_EVERY == 0:
            progress("scoring", n, len(pairs))
    if progress:
        progress("scoring", len(pairs), len(pairs))
    return scores


def cluster_pairs(prepared: Sequence[Prepared], scores: dict[tuple[int, int], float], auto_merge: float,
                  review: float) -> list[tuple[int, int, float, str]]:
    """Decide every scored pair (i < j, scored as `find_duplicates` scores them): merges that keep clusters
    consistent, then reviews across clusters."""
    clusters = Clusters(prepared, review)
    decided = []
    strongest_first = sorted(((s, p) for p, s in scores.items() if s >= auto_merge), key=lambda t: (-t[0], t[1]))
    for score, (i, j) in strongest_first:
        decided.append((i, j, score, "merge" if clusters.link(i, j) else "review"))
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
