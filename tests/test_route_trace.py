"""The route taken and not taken: each rule up to the match with why (not), and who a pool passed over."""
from __future__ import annotations

import datetime as dt
import json

from integration.routing.normalize import Lead
from integration.routing.router import MAX_STEPS, Router, Skip, Step
from integration.routing.score import Qualification
from integration.routing.state import InMemoryPoolState
from integration.rules import validate_rules

MON_NOON_LA = dt.datetime(2026, 12, 28, 20, 0, tzinfo=dt.UTC)  # Monday 12:00 in Los Angeles, during bob's absence
OWNERS = [{"email": "alice@acme.test", "hours": "Mon-Fri 09:00-17:00"},
          {"email": "bob@acme.test", "out_of_office": ["2026-12-24..2026-12-31"]},
          {"email": "carol@acme.test"}, {"email": "dana@acme.test", "timezone": "Europe/Berlin",
                                         "hours": "Mon-Fri 09:00-17:00"}]
ROUTING = [
    {"name": "Existing account owner", "when": {"account_owner": True}, "assign": "account_owner"},
    {"name": "DACH", "when": {"country": ["DE", "AT"]}, "assign": {"owner": "dana@acme.test"}},
    {"name": "Bay Area", "when": {"postcode": ["940-951", "954"]}, "assign": {"owner": "alice@acme.test"}},
    {"name": "Enterprise", "when": {"employees_gte": 200}, "assign": {"pool": "west"}},
    {"name": "Everyone", "when": {"has_email": True}, "assign": {"pool": "west"}},
]
POOLS = {"west": {"strategy": "round_robin", "respect_hours": True,
                  "members": [{"owner": "bob@acme.test"}, {"owner": "carol@acme.test", "capacity": 2},
                              {"owner": "alice@acme.test"}]}}


def router(routing=ROUTING, fallback=None, opens=None, pools=POOLS) -> Router:
    rules = validate_rules({"version": 1, "timezone": "America/Los_Angeles", "owners": OWNERS, "pools": pools,
                            "routing": routing, "fallback": fallback or {"owner": "carol@acme.test"}})
    return Router(rules, InMemoryPoolState(opens or {}))


def test_each_rule_before_the_match_says_why_not_and_the_pool_says_whom_it_passed_over():
    lead = Lead(id="1", email="ada@lovelace.example", country="US", state="NY", postcode="10115")
    route = router(opens={"carol@acme.test": 2}).route_lead(lead, at=MON_NOON_LA, explain=True)
    assert route.owner == "alice@acme.test" and route.rule == "Everyone"
    assert route.path == (
        Step(0, "Existing account owner", False, "no active account owner"),
        Step(1, "DACH", False, "country is US, not one of DE, AT"),
        Step(2, "Bay Area", False, "postcode 10115 outside 940-951, 954"),
        Step(3, "Enterprise", False, "employees unknown (wanted at least 200)"),
        Step(4, "Everyone", True, "has email"),
    )
    assert route.skipped == (Skip("bob@acme.test", "out of office (2026-12-24..2026-12-31)"),
                             Skip("carol@acme.test", "at capacity 2/2"))
    # the audit row stores them as plain JSON
    assert json.loads(json.dumps([s.as_dict() for s in route.path]))[1] == {
        "index": 1, "rule": "DACH", "matched": False, "why": "country is US, not one of DE, AT"}
    # the one-line reason is unchanged by explaining
    plain = router(opens={"carol@acme.test": 2}).route_lead(lead, at=MON_NOON_LA)
    assert plain.reason == route.reason and plain.path == ()
    assert plain.reason == "Rule 'Everyone' (has email) → pool west → alice@acme.test, round-robin, 1 open"


def test_a_missing_value_and_a_known_one_read_differently():
    lead = Lead(id="2", email="x@y.example", country="DE", employees=50)
    route = router(routing=[ROUTING[3], ROUTING[2], ROUTING[1]]).route_lead(lead, at=MON_NOON_LA, explain=True)
    assert [(s.rule, s.matched, s.why) for s in route.path] == [
        ("Enterprise", False, "employees 50, not at least 200"),
        ("Bay Area", False, "postcode unknown (wanted 940-951, 954)"),
        ("DACH", True, "country DE"),
    ]
    assert route.owner == "dana@acme.test" and route.skipped == ()


def test_the_fallback_after_no_rule_matched_lists_every_rule_and_who_was_away():
    lead = Lead(id="3", phone="+14155550100", country="US", postcode="94105")
    rules = [ROUTING[1], {"name": "Hot only", "when": {"tier": ["hot"], "has_phone": True},
                          "assign": {"owner": "carol@acme.test"}}]
    evening = MON_NOON_LA + dt.timedelta(hours=8)  # 20:00 in Los Angeles: alice is off
    route = router(routing=rules, fallback={"pool": "west"}, opens={"carol@acme.test": 2}).route_lead(
        lead, Qualification(10, "nurture", "score 10"), at=evening, explain=True)
    assert route.fallback and route.rule is None and route.owner is None  # nobody in the fallback pool: review
    assert route.path == (Step(0, "DACH", False, "country is US, not one of DE, AT"),
                          Step(1, "Hot only", False, "tier nurture, not one of hot"))
    assert route.skipped == (
        Skip("bob@acme.test", "out of office (2026-12-24..2026-12-31)"),
        Skip("carol@acme.test", "at capacity 2/2"),
        Skip("alice@acme.test", "outside hours (Mon-Fri 09:00-17:00 America/Los_Angeles, Mon 20:00 there)"))
    assert route.reason.startswith("No rule matched → fallback pool west: nobody available (bob@acme.test out of")


def test_a_rule_whose_single_owner_is_inactive_keeps_the_match_and_names_the_skip():
    owners = [*OWNERS[:3], {**OWNERS[3], "active": False}]
    rules = validate_rules({"version": 1, "owners": owners, "routing": [ROUTING[1]],
                            "fallback": {"owner": "carol@acme.test"}})
    route = Router(rules).route_lead(Lead(id="4", email="k@k.example", country="AT"), at=MON_NOON_LA, explain=True)
    assert route.path == (Step(0, "DACH", True, "country AT"),)
    assert route.skipped == (Skip("dana@acme.test", "inactive"),)
    assert (route.owner, route.rule, route.fallback) == ("carol@acme.test", "DACH", True)


def test_any_conditions_explain_every_side_that_failed():
    rules = [{"name": "Partners", "when": {"source": ["partner", "referral"], "has_phone": True, "any": True},
              "assign": {"owner": "carol@acme.test"}}]
    route = router(routing=rules).route_lead(Lead(id="5", email="a@b.example", source="web"), at=MON_NOON_LA,
                                             explain=True)
    assert route.path == (Step(0, "Partners", False, "none of: source is web, not one of partner, referral; "
                                                     "no phone"),)


def test_a_long_territory_table_is_summed_up_not_listed_rule_by_rule():
    territories = [{"name": f"Territory {i}", "when": {"postcode": [f"{i:03d}"]},
                    "assign": {"owner": "alice@acme.test"}} for i in range(200)]
    rules = [ROUTING[1], *territories, ROUTING[4]]
    route = router(routing=rules).route_lead(Lead(id="6", email="a@b.example", country="US", postcode="150"),
                                             at=MON_NOON_LA, explain=True)
    assert route.rule == "Territory 150"
    assert route.path == (Step(0, "DACH", False, "country is US, not one of DE, AT"),
                          Step(1, "150 postcode rules", False, "postcode 150: in none of their ranges"),
                          Step(151, "Territory 150", True, "postcode 150"))
    assert len(route.path) <= MAX_STEPS
