"""Calibration from the tenant's own records: Fellegi–Sunter m/u probabilities re-estimated by EM.

The logistic model (model.py) is the prior: it knows what the labelled dev data taught. A tenant's records
can differ from that data: a typed trade-show list where a replaced first name is common among otherwise
identical records, or a B2B export where whole offices share one phone. EM over the file's own candidate
pairs (as Splink and fastLink do, without labels) estimates, per field and level, how likely the level is
for one person (m) and for two (u), shrunk towards the dev estimates below; each pair's log-odds then moves
by the difference between its Fellegi–Sunter weight under the tenant's estimate and under the prior one.
A tenant whose records look like the dev data is scored as before; the caps apply after, unchanged.

    PRIOR_M / PRIOR_U: `python -m integration.dedup.calibrate --input leads-dev.csv febrl1 febrl2 --fs`
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from integration.dedup.blocking import candidate_pairs
from integration.dedup.cluster import kinds_of
from integration.dedup.features import Levels, Surnames, compare, count_surnames, surname_frequencies
from integration.dedup.model import calibrated
from integration.dedup.prepare import Prepared, prepare

FIELDS = tuple(f for f in Levels._fields if f not in ("transposed", "surname_tf"))
STRENGTH = 200.0   # pseudo-pairs of prior behind every field's estimate: a small file moves it little
ROUNDS = 15
FLOOR = 1e-4
SAMPLE = 50_000    # candidate pairs EM looks at; evenly spread over the batch, so a big file costs no more
SAMPLE_RECORDS = 20_000   # records (evenly spread) whose candidate pairs and last names calibrate a batch
MIN_PAIRS = 500    # fewer distinct candidate pairs say too little about a file: the prior model scores it
MIN_RECORDS = 1000  # fewer distinct records say too little about how common a last name is
# The most a tenant's calibration may move a pair's log-odds either way. A tenant with no duplicates among its
# candidate pairs (a B2B account whose colleagues share switchboards) leads EM to read every shared field as
# worthless, and it would then score one person typed twice, same email and phone, at 0.0001; the dev figures
# are the same with or without the bound (leads-dev, FEBRL1/2).
MAX_SHIFT = 3.0

PRIOR_LAMBDA = 0.5369
PRIOR_M: dict[str, dict[str, float]] = {"city": {"different": 0.0584, "equal": 0.9416},
 "company": {"core": 0.1314, "exact": 0.8686},
 "email": {"different": 0.1471, "equal": 0.8529},
 "first": {"different": 0.0658, "exact": 0.7728, "fuzzy": 0.0011, "nickname": 0.0591, "typo": 0.1012},
 "last": {"different": 0.0751, "exact": 0.7245, "fuzzy": 0.0056, "typo": 0.1948},
 "phone": {"different": 0.0344, "equal": 0.9165, "near": 0.049},
 "postcode": {"different": 0.0169, "equal": 0.8533, "near": 0.1297},
 "street": {"different": 0.0804, "equal": 0.5124, "same_street": 0.1024, "similar": 0.3049}}
PRIOR_U: dict[str, dict[str, float]] = {"city": {"different": 0.3239, "equal": 0.6761},
 "company": {"core": 0.1405, "different": 0.0885, "exact": 0.7709},
 "email": {"different": 0.6187, "equal": 0.0066, "same_domain": 0.3747},
 "first": {"different": 0.811, "exact": 0.1384, "fuzzy": 0.0083, "nickname": 0.0397, "typo": 0.0026},
 "last": {"different": 0.7918, "exact": 0.2011, "fuzzy": 0.0006, "partial": 0.0019, "typo": 0.0045},
 "phone": {"different": 0.9605, "equal": 0.0167, "near": 0.0228},
 "postcode": {"different": 0.3338, "equal": 0.6635, "near": 0.0027},
 "street": {"different": 0.3159, "equal": 0.6631, "same_street": 0.0172, "similar": 0.0038}}


@dataclass(frozen=True)
class Estimate:
    """P(same person) among candidate pairs, and per field and level P(level | same) and P(level | not)."""

    share: float
    m: dict[str, dict[str, float]]
    u: dict[str, dict[str, float]]


PRIOR = Estimate(PRIOR_LAMBDA, PRIOR_M, PRIOR_U)


def _level(levels: Levels, name: str) -> str:
    value = getattr(levels, name)
    return "different" if value == "conflict" else value


def weight(estimate: Estimate, levels: Levels) -> float:
    """Fellegi–Sunter log-likelihood ratio of the pair; a missing value weighs nothing either way."""
    total = 0.0
    for name in FIELDS:
        level = _level(levels, name)
        if level != "missing":
            m, u = estimate.m.get(name, {}).get(level, FLOOR), estimate.u.get(name, {}).get(level, FLOOR)
            total += math.log(max(m, FLOOR) / max(u, FLOOR))
    return total


def _posteriors(estimate: Estimate, patterns: Sequence[Levels]) -> list[float]:
    prior_odds = math.log(estimate.share / (1 - estimate.share))
    return [1 / (1 + math.exp(-max(-30.0, min(30.0, prior_odds + weight(estimate, p))))) for p in patterns]


def _table(patterns: Sequence[Levels], counts: Sequence[int], weights: Sequence[float], prior: dict) -> dict:
    table = {}
    for name in FIELDS:
        seen: dict[str, float] = {}
        for levels, n, w in zip(patterns, counts, weights, strict=True):
            level = _level(levels, name)
            if level != "missing":
                seen[level] = seen.get(level, 0.0) + n * w
        total = sum(seen.values())
        base = prior.get(name, {})
        strength = STRENGTH if base else 0.0
        table[name] = {level: (seen.get(level, 0.0) + strength * base.get(level, 0.0)) / (total + strength)
                       for level in set(seen) | set(base)}
    return table


def estimate(pairs: Sequence[Levels], prior: Estimate = PRIOR, rounds: int = ROUNDS) -> Estimate:
    """EM over the candidate pairs' levels, starting from and shrunk towards `prior`."""
    if not pairs or not prior.m:
        return prior
    counted: dict[Levels, int] = {}
    for levels in pairs:
        counted[levels] = counted.get(levels, 0) + 1
    patterns, counts = list(counted), list(counted.values())
    current = prior
    for _ in range(rounds):
        post = _posteriors(current, patterns)
        share = sum(p * n for p, n in zip(post, counts, strict=True)) / sum(counts)
        current = Estimate(min(max(share, 0.01), 0.99), _table(patterns, counts, post, prior.m),
                           _table(patterns, counts, [1 - p for p in post], prior.u))
    return current


def shift(tenant: Estimate, prior: Estimate = PRIOR):
    """The log-odds shift a pair's levels get under the tenant's estimate (for model.calibrated).

    Only the evidence moves, not the share of duplicates among candidates: that share depends on how wide
    blocking is and on what a file holds, and moving it cost leads-dev 1.5 points of flagged recall.
    """

    def moved(levels: Levels) -> float:
        return max(-MAX_SHIFT, min(MAX_SHIFT, weight(tenant, levels) - weight(prior, levels)))

    return moved


def _distinct(records: Sequence[Mapping]) -> tuple[list[Prepared], list[int]]:
    # an even sample: a 100k-row file is calibrated in a second or two, and its pairs are a fair sample
    step = max(1, -(-len(records) // SAMPLE_RECORDS))
    prepared = [prepare(r) for r in records[::step]]
    return prepared, kinds_of(prepared)


def sample_levels(records: Sequence[Mapping], distinct: tuple[list[Prepared], list[int]] | None = None
                  ) -> list[Levels]:
    """Levels of up to SAMPLE distinct candidate pairs of a batch, evenly spread.

    Rows repeated verbatim are one kind (cluster.kinds_of) and their pairs count once: a row typed 5,000 times
    is one person's evidence, not 60,000 pairs' worth.
    """
    prepared, kind = distinct or _distinct(records)
    unique = {(kind[i], kind[j]): (i, j) for i, j in candidate_pairs(prepared)}
    pairs = sorted(unique.values())
    step = max(1, len(pairs) // SAMPLE)
    return [compare(prepared[i], prepared[j]) for i, j in pairs[::step]]


def batch_surnames(prepared: Sequence[Prepared], kind: Sequence[int]) -> Surnames | None:
    """Last-name shares over the batch's distinct records; None below MIN_RECORDS (too few to tell)."""
    last = {k: p.last for p, k in zip(prepared, kind, strict=True)}
    return count_surnames(last.values()) if len(last) >= MIN_RECORDS else None


@contextmanager
def tenant_calibration(records: Sequence[Mapping]) -> Iterator[None]:
    """A context in which `model.probability` scores this batch with its own EM calibration and its own
    last-name frequencies (a shared rare name counts more than a shared common one); a batch with fewer than
    MIN_PAIRS distinct candidate pairs or MIN_RECORDS distinct records keeps the prior model for either."""
    distinct = _distinct(records)
    levels = sample_levels(records, distinct)
    with calibrated(shift(estimate(levels)) if len(levels) >= MIN_PAIRS else None), \
            surname_frequencies(batch_surnames(*distinct)):
        yield
