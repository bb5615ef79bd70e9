"""How well `find_duplicates` does on a labelled set (rows sharing `entity` are one person).

Merges are transitive, so merge figures count the pairs implied by the merge clusters; flagged figures count
those plus every review pair. Candidate pairs per 10k records measure how wide blocking is.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from itertools import combinations

from integration.dedup.blocking import candidate_pairs
from integration.dedup.cluster import FlaggedPair, find_duplicates
from integration.dedup.em import tenant_calibration
from integration.dedup.prepare import prepare


def _clusters(ids: Iterable[str], links: Iterable[tuple[str, str]]) -> list[list[str]]:
    parent = {i: i for i in ids}

    def find(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in links:
        parent[find(a)] = find(b)
    groups = defaultdict(list)
    for i in parent:
        groups[find(i)].append(i)
    return list(groups.values())


def _pairs(groups: Iterable[Sequence[str]]) -> set[frozenset[str]]:
    return {frozenset(p) for g in groups for p in combinations(g, 2)}


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 1.0


def score_flagged(rows: Sequence[dict], flagged: Sequence[FlaggedPair]) -> dict[str, float]:
    """Merge and flagged precision and recall of `flagged` against the rows' `entity` labels."""
    entity = {r["id"]: r["entity"] for r in rows}
    by_entity = defaultdict(list)
    for r in rows:
        by_entity[r["entity"]].append(r["id"])
    truth = _pairs(by_entity.values())
    merged = _pairs(_clusters(entity, ((f.id_a, f.id_b) for f in flagged if f.decision == "merge")))
    flagged_pairs = merged | {frozenset((f.id_a, f.id_b)) for f in flagged}
    return {"true_pairs": len(truth), "merge_pairs": len(merged), "flagged_pairs": len(flagged_pairs),
            "merge_precision": _ratio(len(merged & truth), len(merged)),
            "merge_recall": _ratio(len(merged & truth), len(truth)),
            "flagged_precision": _ratio(len(flagged_pairs & truth), len(flagged_pairs)),
            "flagged_recall": _ratio(len(flagged_pairs & truth), len(truth))}


def evaluate(rows: Sequence[dict], auto_merge: float, review: float, tenant: bool = True) -> dict[str, float]:
    """Every figure for one labelled set: size, blocking width, merge and flagged precision and recall
    (`tenant`: with the set's own EM calibration, as `leadrelay dedup` scores a file)."""
    candidates = len(candidate_pairs([prepare(r) for r in rows]))
    with tenant_calibration(rows) if tenant else nullcontext():
        flagged = find_duplicates(rows, auto_merge, review)
    return {"rows": len(rows), "candidate_pairs": candidates,
            "candidates_per_10k": round(candidates * 10_000 / max(len(rows), 1)), **score_flagged(rows, flagged)}
