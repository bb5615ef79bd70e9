"""Qualify (pipeline step 5): scoring rules → points capped to 0..100 → tier hot / warm / nurture."""
from __future__ import annotations

from dataclasses import dataclass

from integration.routing.conditions import Facts, RuleMatcher
from integration.routing.normalize import Lead
from integration.rules.model import Scoring


@dataclass(frozen=True)
class Qualification:
    score: int
    tier: str
    reason: str  # "score 70 (hot ≥ 60): +30 source referral, +30 350 employees, +10 has phone"


class Scorer:
    """Scoring rules compiled once per rule set."""

    def __init__(self, scoring: Scoring) -> None:
        self.scoring = scoring
        self.matcher = RuleMatcher([r.when for r in scoring.rules])

    def tier_for(self, score: int) -> str:
        tiers = self.scoring.tiers
        return "hot" if score >= tiers.hot else "warm" if score >= tiers.warm else "nurture"

    def score_lead(self, lead: Lead) -> Qualification:
        facts = self.matcher.prepare(Facts(lead))
        matched = self.matcher.all(facts)
        total = sum(self.scoring.rules[i].points for i in matched)
        score = max(0, min(100, total))
        tier = self.tier_for(score)
        threshold = {"hot": f" (hot ≥ {self.scoring.tiers.hot})", "warm": f" (warm ≥ {self.scoring.tiers.warm})"}
        parts = [f"{self.scoring.rules[i].points:+d} {self._label(i, facts)}" for i in matched]
        capped = f", capped from {total}" if total != score else ""
        detail = ": " + ", ".join(parts) if parts else ": no scoring rule matched"
        return Qualification(score, tier, f"score {score}{capped}{threshold.get(tier, ' (nurture)')}{detail}")

    def _label(self, i: int, facts: Facts) -> str:
        rule = self.scoring.rules[i]
        return rule.name or self.matcher.rules[i].describe(facts)


def score_lead(lead: Lead, scoring: Scoring) -> Qualification:
    """Score one lead (compiles the rules each call: keep a Scorer for many leads)."""
    return Scorer(scoring).score_lead(lead)
