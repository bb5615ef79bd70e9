"""The rep's first-touch task text (integration/followup/task.py): why the rep got the lead in plain words for every
kind of routing outcome, the score's top reasons, and the possible duplicate."""
from __future__ import annotations

import datetime as dt

import pytest

from integration.followup.common import Duplicate
from integration.followup.task import FirstTouch, duration_words, score_line, task_text, why_you
from integration.rules import load_rules
from integration.rules.values import parse_duration

REP = "casey@acme.test"
RULES = load_rules({
    "version": 1, "timezone": "Europe/Stockholm",
    "owners": [{"email": REP}, {"email": "drew@acme.test"}],
    "pools": {"nordics": {"strategy": "round_robin", "members": [REP, "drew@acme.test"]},
              "big": {"strategy": "weighted", "members": [{"owner": REP, "weight": 2}]},
              "inside": {"strategy": "least_loaded", "members": [REP]}},
    "routing": [{"name": "Existing account owner", "when": {"account_owner": True}, "assign": "account_owner"},
                {"name": "West coast", "when": {"country": ["US"], "state": ["CA"]}, "assign": {"owner": REP}},
                {"name": "Nordics", "when": {"country": ["SE", "NO"]}, "assign": {"pool": "nordics"}},
                {"name": "Enterprise", "when": {"employees_gte": 500, "source": ["referral"]},
                 "assign": {"pool": "big"}},
                {"name": "Bay Area ZIPs", "when": {"postcode": ["940-951"], "country": ["US"]},
                 "assign": {"pool": "inside"}}],
    "fallback": {"pool": "inside"},
    "scoring": {"rules": [{"when": {"source": ["referral"]}, "points": 30},
                          {"name": "Big company", "when": {"employees_gte": 500}, "points": 40},
                          {"when": {"has_phone": True}, "points": 10},
                          {"when": {"email_domain": ["free"]}, "points": -20}],
                "tiers": {"hot": 60, "warm": 30}},
})
SVEN = {"first_name": "Sven", "last_name": "Larsson", "email": "sven@nordbygg.example", "phone": "+46812345678",
        "company": "Nordbygg AB", "country": "SE", "city": "Stockholm", "employees": 800, "source": "referral"}


@pytest.mark.parametrize(("lead", "rule", "reason", "expected"), [
    (SVEN, "Nordics", f"Rule 'Nordics' (country SE) → pool nordics → {REP}, round-robin, 5 open",
     "it comes from Sweden, and the rule “Nordics” shares those leads in turn within the nordics team: it was your "
     "turn."),
    ({**SVEN, "country": "US", "state": "CA"}, "West coast", f"Rule 'West coast' (state CA) → {REP}, 2 open",
     "it is in California, and the rule “West coast” sends those leads to you."),
    ({**SVEN, "country": "DE"}, "Enterprise", "Rule 'Enterprise' (800 employees, source referral) → pool big → …",
     "it came in via referral and Nordbygg AB has 800 employees, and the rule “Enterprise” shares those leads "
     "within the big team by weight: it was your turn."),
    ({**SVEN, "country": "US", "postcode": "94105"}, "Bay Area ZIPs", "Rule 'Bay Area ZIPs' (…) → pool inside → …",
     "it comes from the United States and its postcode 94105 is in the territory, and the rule “Bay Area ZIPs” gives "
     "those leads to whoever in the inside team has the fewest open leads: you."),
    ({**SVEN, "account_owner": REP}, "Existing account owner", f"Rule 'Existing account owner' (…) → {REP} …",
     "you own the account of Nordbygg AB (rule “Existing account owner”)."),
    ({**SVEN, "country": "DE", "source": None, "employees": 3}, None,
     f"No rule matched → fallback pool inside → {REP}, least loaded, 1 open",
     "no routing rule fits it, so it went to the fallback: the inside team, where you had the fewest open leads."),
    ({**SVEN, "country": "NO"}, "Nordics", "Rule 'Nordics' (country NO) → pool nordics: nobody available (…) → "
                                           f"fallback pool inside → {REP}, least loaded, 1 open",
     "it fits the rule “Nordics” (it comes from Norway), but nobody there could take it just now, so it went to the "
     "fallback: the inside team, where you had the fewest open leads."),
    (SVEN, "Manual", f"Assigned by hand by admin@acme.test to {REP.upper()}",
     "assigned by hand by admin@acme.test to you."),
])
def test_why_you_in_plain_words(lead, rule, reason, expected):
    assert why_you(RULES, {"rule": rule, "score": 80, "tier": "hot"}, lead, reason, REP) == expected


def test_the_score_shows_its_top_three_reasons_biggest_first():
    lead = {**SVEN, "email": "sven@gmail.com"}
    assert score_line(RULES, {"score": 60, "tier": "hot"}, lead) == (
        "Score: 60 of 100 (hot). Top reasons: Big company (+40), it came in via referral (+30), its email address "
        "is at gmail.com (-20), and 1 more")


def test_a_score_from_rules_that_changed_since_shows_what_the_decision_said():
    route = {"score": 55, "tier": "warm", "qualification": "score 55 (warm ≥ 30): +30 source referral, +25 VIP"}
    assert score_line(RULES, route, SVEN) == "Score: 55 of 100 (warm). Top reasons: +30 source referral, +25 VIP"


@pytest.mark.parametrize(("text", "business", "words"), [
    ("5m", False, "5 minutes"), ("1h", True, "1 working hour"), ("4h", False, "4 hours"),
    ("1d", True, "1 working day"), ("2d", True, "2 working days"), ("2d", False, "2 days"), ("90m", True,
                                                                                          "90 working minutes")])
def test_duration_words(text, business, words):
    assert duration_words(parse_duration(text), business) == words


def test_the_whole_task_puts_the_action_and_due_time_first_and_never_quotes_the_admin():
    reason = f"Rule 'Nordics' (country SE) → pool nordics → {REP}, round-robin, 5 open"
    subject, body = task_text(RULES, FirstTouch(
        kind="call", tier="hot", first_touch=parse_duration("5m"), business_hours=False,
        due=dt.datetime(2026, 7, 4, 9, 5, tzinfo=dt.UTC), timezone="Europe/Stockholm", owner_email=REP, lead=SVEN,
        route={"rule": "Nordics", "score": 80, "tier": "hot"}, reason=reason, url="https://crm.example/c/1",
        duplicate=Duplicate("https://crm.example/c/0", "Sven Larson", 0.8149, ("same phone", "last name typo"))))
    assert subject == "Call Sven Larsson: new hot lead"
    assert body.split("\n\n") == [
        "Call Sven Larsson by Sat 4 Jul 2026, 11:05 (Europe/Stockholm): a hot lead, first touch within 5 minutes.",
        "You got this lead because it comes from Sweden, and the rule “Nordics” shares those leads in turn within "
        "the nordics team: it was your turn.",
        "Who: Sven Larsson, Nordbygg AB (800 employees)\nEmail: sven@nordbygg.example\nPhone: +46 8 123 456 78\n"
        "Where: Stockholm, Sweden\nSource: referral\nScore: 80 of 100 (hot). Top reasons: Big company (+40), it came "
        "in via referral (+30), it has a phone number (+10)",
        "Open the lead: https://crm.example/c/1",
        "Possible duplicate: Sven Larson, 81% alike (same phone; last name typo): https://crm.example/c/0\n"
        "Check that record before you reach out; your admin decides whether to merge them."]
    assert REP not in body and reason not in body
