"""The calibrated match score: a small logistic model over field agreement levels, plus hard-negative caps.

Each field comparison (features.compare) yields one agreement level; "missing" is every field's baseline
and weighs nothing. The score is sigmoid(INTERCEPT + sum of the weights of the levels seen), i.e. the
probability that the two records are one person, estimated on blocked candidate pairs (records sharing an
email, phone, name, name+company or name+postcode key). The weights were fitted with
`python -m integration.dedup.calibrate` (L2-regularised logistic regression, Newton's method) on the
training half of an entity-level split of leads-dev.csv and checked on the held-out half; see that module.

Three rules then cap the probability, because the model only knows what its training pairs showed it and
wrongly merged people are far costlier than a review item:
- a name conflict (first names that are neither equal, nicknames, initials nor typos — two real names
  one letter apart, Mark/Mary, count as different — or unrelated last names)
  never auto-merges, whatever else is shared: colleagues on a switchboard, family members
  on a household phone or shared mailbox. With no shared email or phone it is not even reviewed.
- a pair whose first name is only an initial or missing, or whose last name is missing, is at most a
  review item unless it shares a personal email: "J. Smith" on a household phone may be any Smith.
- a pair that shares nothing but a name (no email, phone, company, street or postcode in common) is
  at most a review item: the same name at another company or in another city is another person.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from integration.dedup.explain import explain
from integration.dedup.features import Levels, compare
from integration.dedup.prepare import Prepared, prepare

# Fitted weights (log-odds), rounded to 0.01. Regenerate with integration.dedup.calibrate. Levels the
# training pairs never showed (first=initial, last=partial, company=similar, street=similar) weigh 0.
INTERCEPT = -1.47
WEIGHTS: dict[str, float] = {
    "city=different": -0.77,
    "city=equal": 0.77,
    "company=core": 0.42,
    "company=different": -0.83,
    "company=exact": -0.05,
    "email=different": -1.4,
    "email=equal": 1.57,
    "email=same_domain": -0.88,
    "first=different": -3.34,
    "first=exact": 1.92,
    "first=nickname": 0.7,
    "first=typo": 0.71,
    "last=different": -2.11,
    "last=exact": 1.03,
    "last=typo": 1.07,
    "phone=different": -1.95,
    "phone=equal": 1.34,
    "postcode=different": -0.98,
    "postcode=equal": 0.29,
    "street=different": -1.02,
    "street=equal": 1.02,
    "transposed": 0.59,
}

CONFLICT_WITH_CONTACT_CAP = 0.80   # inside the default review band: a human decides
CONFLICT_CAP = 0.30                # below review: not worth an admin's time
NAME_ONLY_CAP = 0.80
WEAK_NAME_CAP = 0.80


@dataclass(frozen=True)
class MatchResult:
    """The probability that two records are one person, and the field findings behind it."""

    score: float
    reasons: list[str] = field(default_factory=list)


def active_features(levels: Levels) -> list[str]:
    """The model's indicator features that are on for these levels ("field=level")."""
    names = [f"{name}={value}" for name, value in zip(Levels._fields, levels, strict=True)
             if name != "transposed" and value != "missing"]
    return names + ["transposed"] if levels.transposed else names


def raw_probability(levels: Levels, weights: Mapping[str, float] | None = None, intercept: float | None = None
                    ) -> float:
    """The logistic model alone, before the hard-negative caps."""
    weights = WEIGHTS if weights is None else weights
    z = (INTERCEPT if intercept is None else intercept) + sum(weights.get(f, 0.0) for f in active_features(levels))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def name_conflict(levels: Levels) -> bool:
    """Two different people by name: different first names, or unrelated last names."""
    return levels.first == "different" or levels.last == "different"


def weak_name(levels: Levels) -> bool:
    """Names too thin to tell family members or colleagues apart."""
    return levels.first in ("missing", "initial") or levels.last == "missing"


def shares_contact(levels: Levels) -> bool:
    return levels.email == "equal" or levels.phone == "equal"


def shares_anything_but_name(levels: Levels) -> bool:
    return shares_contact(levels) or levels.company in ("exact", "core", "similar") or (
        levels.street in ("equal", "similar") or levels.postcode == "equal")


def cap(levels: Levels) -> float:
    """The highest score these levels may reach whatever the model says."""
    if name_conflict(levels):
        return CONFLICT_WITH_CONTACT_CAP if shares_contact(levels) else CONFLICT_CAP
    if weak_name(levels) and levels.email != "equal":
        return WEAK_NAME_CAP
    return 1.0 if shares_anything_but_name(levels) else NAME_ONLY_CAP


def probability(levels: Levels) -> float:
    """Calibrated score in 0..1 for one compared pair."""
    return round(min(raw_probability(levels), cap(levels)), 4)


def score_prepared(a: Prepared, b: Prepared) -> float:
    """Score for two already prepared records (the batch path: no reasons built)."""
    return probability(compare(a, b))


def score_pair(a: Mapping, b: Mapping) -> MatchResult:
    """Score two plain lead dicts (neutral field names) and say why."""
    pa, pb = prepare(a), prepare(b)
    levels = compare(pa, pb)
    return MatchResult(probability(levels), explain(levels, pa, pb))


def classify(score: float, auto_merge: float, review: float) -> str:
    """"merge" at or above auto_merge, "review" at or above review, else "distinct"."""
    if score >= auto_merge:
        return "merge"
    return "review" if score >= review else "distinct"
