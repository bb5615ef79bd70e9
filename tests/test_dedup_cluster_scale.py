"""Clustering is near-linear and decides exactly as complete link member by member would.

The cost is counted, not timed: `Clusters.checks` (kind pairs looked at) and `Clusters.verdicts` (comparisons
made) must grow at most linearly with the records. The decisions are checked against a plain member-by-member
complete-link walk written out here, on random batches of near-duplicates.
"""
from __future__ import annotations

import random
from dataclasses import fields

import pytest

from integration.dedup.blocking import candidate_pairs
from integration.dedup.cluster import MAX_MERGE_KINDS, Clusters, _score_all, cluster_pairs, find_duplicates
from integration.dedup.features import compare
from integration.dedup.model import classify, name_conflict, probability
from integration.dedup.prepare import Prepared, prepare

A1 = {"id": "A1", "first_name": "Robert", "last_name": "Hunt", "email": "robert.hunt@gmail.com",
      "phone": "348-869-2632", "company": "Acme Corp", "street": "7182 Lake Rd", "city": "Boston",
      "postcode": "02130", "state": "MA", "country": "US"}


def links_made(records: list[dict], auto_merge: float = 0.92, review: float = 0.70) -> Clusters:
    """The clusters after every merge link of the batch, strongest first, as `cluster_pairs` takes them."""
    prepared = [prepare(r) for r in records]
    scores = _score_all(prepared, candidate_pairs(prepared), None)
    clusters = Clusters(prepared, review)
    for _, (i, j) in sorted(((s, p) for p, s in scores.items() if s >= auto_merge), key=lambda t: (-t[0], t[1])):
        clusters.link(i, j)
    return clusters


def spammed(n: int) -> list[dict]:
    """One person typed n times: a different street number each time, a typo in every third first name."""
    return [{**A1, "id": f"N{k:05d}", "street": f"{k + 1} Lake Rd",
             "first_name": "Robret" if k % 3 == 0 else "Robert"} for k in range(n)]


@pytest.mark.parametrize("rows", [
    pytest.param(lambda n: [{**A1, "id": f"X{k:05d}"} for k in range(n)], id="same row"),
    pytest.param(spammed, id="near-identical rows"),
    pytest.param(lambda n: [{**A1, "id": f"R{k:05d}"} for k in range(n // 2)]
                 + [{**A1, "id": f"M{k:05d}", "first_name": "Mary"} for k in range(n // 2)],
                 id="two people, one phone"),
])
def test_cluster_checks_grow_linearly_with_the_records(rows):
    small, large = links_made(rows(1_000), auto_merge=0.75), links_made(rows(5_000), auto_merge=0.75)
    # five times the records: at most about five times the work, and never more than a bounded amount per record
    assert large.checks <= 5.5 * small.checks
    assert large.checks <= 25 * 5_000  # about 21 candidate pairs per record in the sorted neighbourhood
    assert large.verdicts <= large.checks


def test_same_row_5000_times_is_one_cluster_after_one_comparison():
    clusters = links_made([{**A1, "id": f"X{k:05d}"} for k in range(5_000)])
    assert len({clusters.find(i) for i in range(5_000)}) == 1
    assert clusters.verdicts == 1  # one kind: its single comparison with itself decides every link


def reference(records: list[dict], auto_merge: float, review: float) -> list[tuple[int, int, float, str]]:
    """Complete link member by member: a link merges when every other cross pair (lower index read first) passes."""
    prepared = [prepare(r) for r in records]
    scores = _score_all(prepared, candidate_pairs(prepared), None)
    cluster = {i: {i} for i in range(len(prepared))}

    def passes(x: int, y: int) -> bool:
        levels = compare(prepared[min(x, y)], prepared[max(x, y)])
        return probability(levels) >= review and not name_conflict(levels)

    decided = []
    for score, (i, j) in sorted(((s, p) for p, s in scores.items() if s >= auto_merge), key=lambda t: (-t[0], t[1])):
        left, right = cluster[i], cluster[j]
        joined = left is right or (len(kinds(prepared, left | right)) <= MAX_MERGE_KINDS and all(
            passes(x, y) for x in left for y in right if (x, y) != (i, j)))
        if joined and left is not right:
            left |= right
            for member in right:
                cluster[member] = left
        decided.append((i, j, score, "merge" if joined else "review"))
    for (i, j), score in sorted(scores.items()):
        if classify(score, auto_merge, review) == "review" and cluster[i] is not cluster[j]:
            decided.append((i, j, score, "review"))
    return decided


def kinds(prepared: list[Prepared], members: set[int]) -> set[tuple]:
    """The different records among the members (all compared fields equal: one kind)."""
    return {tuple(getattr(prepared[m], f.name) for f in fields(Prepared) if f.name != "id") for m in members}


def variant(rng: random.Random, k: int) -> dict:
    """A record of one small household/office: same phone or email, names and streets drawn from a few."""
    return {**A1, "id": str(k), "first_name": rng.choice(["Robert", "Rob", "Robret", "Mary", "", "R"]),
            "last_name": rng.choice(["Hunt", "Hunt", "Hnut", "Grant"]),
            "email": rng.choice(["robert.hunt@gmail.com", "", "mary.hunt@gmail.com"]),
            "street": rng.choice(["7182 Lake Rd", "7128 Lake Rd", ""]), "postcode": rng.choice(["02130", "02131"])}


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("auto_merge", [0.92, 0.75])
def test_decisions_equal_complete_link_member_by_member(seed, auto_merge):
    rng = random.Random(seed)
    pool = [variant(rng, k) for k in range(8)]  # few different records, many copies: kinds repeat across clusters
    records = [variant(rng, k) for k in range(20)] + [{**rng.choice(pool), "id": f"c{k}"} for k in range(20)]
    prepared = [prepare(r) for r in records]
    scores = _score_all(prepared, candidate_pairs(prepared), None)
    assert cluster_pairs(prepared, scores, auto_merge, 0.70) == reference(records, auto_merge, 0.70)
    assert {d for *_, d in reference(records, auto_merge, 0.70)} == {"merge", "review"}


def test_a_link_below_the_bar_is_not_held_against_itself_but_a_second_such_pair_refuses_it():
    # auto_merge under the name-conflict cap: Robert and Mary on one phone (no email to tell them apart) are a
    # merge candidate that fails its own check; alone it merges (the link is not held against itself)
    robert, mary = {**A1, "id": "r1", "email": ""}, {**A1, "id": "m1", "first_name": "Mary", "email": ""}
    assert [d for *_, d in find_duplicates([robert, mary], auto_merge=0.75)] == ["merge"]
    # a copy of Robert next to him: Mary meets a second Robert across the clusters, and the link is refused
    flagged = find_duplicates([robert, {**robert, "id": "r2"}, mary], auto_merge=0.75)
    assert [(a, b, d) for a, b, _, d in flagged] == [
        ("r1", "r2", "merge"), ("r1", "m1", "review"), ("r2", "m1", "review")]
