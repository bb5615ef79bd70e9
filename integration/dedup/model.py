"""The calibrated match score: a small logistic model over field agreement levels, plus hard-negative caps.

Each field comparison (features.compare) yields one graded agreement level (names: exact, nickname, typo,
Jaro-Winkler alike …; phones and postcodes: equal or one slip apart; streets: same house, same street …);
"missing" is every field's baseline and weighs nothing. The score is sigmoid(INTERCEPT + sum of the weights
of the levels seen), i.e. the probability that the two records are one person, estimated on blocked
candidate pairs. The weights were fitted with `python -m integration.dedup.calibrate` (L2-regularised
logistic regression, Newton's method) on the training halves of entity-level splits of leads-dev.csv and
FEBRL1/FEBRL2 recast as leads, and checked on the held-out halves; see that module. Scoring a batch, the
log-odds also move by the batch's own calibration (`calibrated`: integration.dedup.em) and by how common a
shared last name is there (features.surname_tf).

The rules below then cap the probability, because the model only knows what its training pairs showed it and
wrongly merged people are far costlier than a review item:
- a name conflict (first names that are neither equal, nicknames, initials nor typos — two real names
  one letter apart, Mark/Mary, count as different — or unrelated last names)
  never auto-merges, whatever else is shared: colleagues on a switchboard, family members
  on a household phone or shared mailbox. It is reviewed only when the two share a phone (or phones one
  slip apart at the same house: a typed record), have no email to tell them apart, and the first names are
  not two real names one slip apart.
- a pair whose first name is only an initial or missing, or whose last name is missing, is at most a
  review item unless it shares a personal email: "J. Smith" on a household phone may be any Smith.
- a pair that shares nothing but a name (no email, phone, company, street or postcode in common) is
  at most a review item: the same name at another company or in another city is another person.
- a pair whose personal email addresses differ is at most a review item: leads-dev.csv holds a namesake
  with the same company, switchboard and street who only differs by mailbox.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from integration.dedup.explain import explain
from integration.dedup.features import Levels, compare
from integration.dedup.prepare import Prepared, prepare

# Fitted weights (log-odds), rounded to 0.01. Regenerate with integration.dedup.calibrate. Levels the
# training pairs never showed (first=initial, company=similar) weigh 0.
INTERCEPT = 1.56
WEIGHTS = {
    "city=different": -0.94,
    "city=equal": 1.05,
    "company=core": -0.36,
    "company=different": -0.61,
    "company=exact": -1.72,
    "email=different": -2.19,
    "email=equal": 0.8,
    "email=same_domain": -1.52,
    "first=different": -2.29,
    "first=exact": 1.4,
    "first=fuzzy": -0.1,
    "first=nickname": 0.09,
    "first=typo": 0.59,
    "last=different": -1.56,
    "last=exact": 0.44,
    "last=fuzzy": 0.16,
    "last=partial": -0.03,
    "last=typo": 0.93,
    "phone=different": -2.02,
    "phone=equal": 2.09,
    "phone=near": 0.65,
    "postcode=different": -1.75,
    "postcode=equal": 0.72,
    "postcode=near": 0.73,
    "street=different": -1.14,
    "street=equal": -0.3,
    "street=same_street": 0.28,
    "street=similar": 1.16,
    "transposed": 0.44,
}

CONFLICT_WITH_CONTACT_CAP = 0.80   # inside the default review band: a human decides
CONFLICT_CAP = 0.30                # below review: not worth an admin's time
NAME_ONLY_CAP = 0.80
OTHER_MAILBOX_CAP = 0.90           # the top of the default review band
WEAK_NAME_CAP = 0.80


@dataclass(frozen=True)
class MatchResult:
    """The probability that two records are one person, and the field findings behind it."""

    score: float
    reasons: list[str] = field(default_factory=list)


def active_features(levels: Levels) -> list[str]:
    """The model's indicator features that are on for these levels ("field=level").

    Conflicting first names (Mark/Mary) weigh as different ones: training data rarely shows them, and what
    sets them apart is the cap, not the weight.
    """
    names = [f"{name}={'different' if value == 'conflict' else value}"
             for name, value in zip(Levels._fields, levels, strict=True)
             if name not in ("transposed", "surname_tf") and value != "missing"]
    return names + ["transposed"] if levels.transposed else names


# The log-odds shift of the records at hand (integration.dedup.em), set around one batch by `calibrated`.
_SHIFT: ContextVar[Callable[[Levels], float] | None] = ContextVar("dedup_shift", default=None)


@contextmanager
def calibrated(shift: Callable[[Levels], float] | None) -> Iterator[None]:
    """Score with the fitted model moved by `shift(levels)` (the tenant's own calibration) inside the block;
    None: the fitted model alone."""
    token = _SHIFT.set(shift)
    try:
        yield
    finally:
        _SHIFT.reset(token)


def raw_probability(levels: Levels, weights: Mapping[str, float] | None = None, intercept: float | None = None
                    ) -> float:
    """The logistic model alone (moved by the tenant's calibration when one is active), before the caps."""
    live = weights is None   # the fitted model, as scoring uses it (calibrate passes weights being fitted)
    shift = _SHIFT.get() if live else None
    weights = WEIGHTS if live else weights
    z = (INTERCEPT if intercept is None else intercept) + sum(weights.get(f, 0.0) for f in active_features(levels))
    z += (shift(levels) if shift else 0.0) + (levels.surname_tf if live else 0.0)
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def name_conflict(levels: Levels) -> bool:
    """Two different people by name: different (or conflicting) first names, or unrelated last names."""
    return levels.first in ("different", "conflict") or levels.last == "different"


def weak_name(levels: Levels) -> bool:
    """Names too thin to tell family members or colleagues apart."""
    return levels.first in ("missing", "initial") or levels.last == "missing"


def shares_contact(levels: Levels) -> bool:
    return levels.email == "equal" or levels.phone == "equal"


def shares_home(levels: Levels) -> bool:
    """A phone in common, or one slip apart at the same house: a typed record of one person is possible."""
    return levels.phone == "equal" or (levels.phone == "near" and levels.street in ("equal", "similar"))


def shares_anything_but_name(levels: Levels) -> bool:
    return shares_contact(levels) or levels.company in ("exact", "core", "similar") or (
        levels.street in ("equal", "similar") or levels.postcode == "equal")


def reviewable_conflict(levels: Levels) -> bool:
    """A name conflict a human should see: one phone, and no sign of two people (in a file without emails a
    replaced name is often a typing error; a family's shared mailbox, two mailboxes or Mark/Mary are not)."""
    return shares_home(levels) and levels.email == "missing" and levels.first != "conflict"


def cap(levels: Levels) -> float:
    """The highest score these levels may reach whatever the model says."""
    if name_conflict(levels):
        return CONFLICT_WITH_CONTACT_CAP if reviewable_conflict(levels) else CONFLICT_CAP
    if weak_name(levels) and levels.email != "equal":
        return WEAK_NAME_CAP
    if not shares_anything_but_name(levels):
        return NAME_ONLY_CAP
    # two personal mailboxes that differ: one person's work and home address, or a namesake at the same desk
    return OTHER_MAILBOX_CAP if levels.email in ("different", "same_domain") else 1.0


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
