"""Qualify: points add up, capped to 0..100, then a tier with a reason."""
from __future__ import annotations

from integration.routing.normalize import Lead
from integration.routing.score import Scorer, score_lead
from integration.rules import load_rules

RULES = load_rules("""
version: 1
scoring:
  rules:
    - {when: {source: [referral]}, points: 30}
    - {when: {employees_gte: 200}, points: 30}
    - {when: {has_phone: true}, points: 10}
    - {name: big company, when: {employees_gte: 1000}, points: 50}
    - {name: free mail, when: {email_domain: [free]}, points: -20}
  tiers: {hot: 60, warm: 30}
""")


def test_points_add_up_to_a_tier_with_a_reason():
    result = score_lead(Lead(source="referral", employees=350, phone="+14155550134"), RULES.scoring)
    assert (result.score, result.tier) == (70, "hot")
    assert result.reason == "score 70 (hot ≥ 60): +30 source referral, +30 350 employees, +10 has phone"


def test_warm_and_nurture_thresholds():
    scorer = Scorer(RULES.scoring)
    assert (scorer.score_lead(Lead(source="referral")).score, scorer.score_lead(Lead(source="referral")).tier) == (
        30, "warm")
    assert scorer.score_lead(Lead(phone="+14155550134")).tier == "nurture"


def test_the_score_is_capped_to_0_and_100():
    scorer = Scorer(RULES.scoring)
    high = scorer.score_lead(Lead(source="referral", employees=5000, phone="+14155550134"))
    assert (high.score, high.tier) == (100, "hot")
    assert high.reason.startswith("score 100, capped from 120 (hot ≥ 60): ")
    low = scorer.score_lead(Lead(email="jo@gmail.com"))
    assert (low.score, low.tier) == (0, "nurture")
    assert low.reason == "score 0, capped from -20 (nurture): -20 free mail"


def test_missing_employees_never_match_numeric_rules():
    result = score_lead(Lead(email="jo@corp.com"), RULES.scoring)
    assert (result.score, result.reason) == (0, "score 0 (nurture): no scoring rule matched")
