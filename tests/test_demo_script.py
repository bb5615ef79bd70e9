"""The demo's cast against the demo rules, with the pipeline's own normalize, score, route and dedup steps: each
scripted person does what leadrelay/demo_script.py says, on the fields each CRM's adapter reads."""
from __future__ import annotations

import datetime as dt

import pytest

from integration.dedup import classify, score_pair
from integration.enrich import enrich
from integration.routing.normalize import normalize_lead, with_fields
from integration.routing.router import Router
from integration.routing.score import Scorer
from integration.rules import load_rules
from leadrelay.demo_flow import DEMO_RULES
from leadrelay.demo_script import ACCOUNT_OWNER, STORY, Person, schedule, story_size, twin

PLATFORMS = ["hubspot", "salesforce", "pipedrive"]
RULES = load_rules(DEMO_RULES)
BY_ROLE = {p.role: p for p in STORY}
SATURDAY_NIGHT = dt.datetime(2026, 12, 5, 23, 30, tzinfo=dt.UTC)  # nobody's working hours: pools ignore them


def fields(person: Person, platform: str) -> dict:
    """The neutral fields LeadRelay reads back from the CRM (Pipedrive persons: name, email and phone only)."""
    raw = {"first_name": person.first, "last_name": person.last, "email": person.email, "phone": person.phone}
    if platform != "pipedrive":
        raw.update(country=person.country, state=person.state, postcode=person.postcode, company=person.company)
    else:
        raw["country"] = enrich(raw).filled.get("country")  # as the pipeline does for a person without address
    return raw


def decide(person: Person, platform: str, account_owner: str | None = None) -> tuple[str, str, str]:
    lead = with_fields(normalize_lead(fields(person, platform), RULES.source_labels).lead, account_owner=account_owner)
    qualification = Scorer(RULES.scoring).score_lead(lead)
    decision = Router(RULES).route_lead(lead, qualification, at=SATURDAY_NIGHT)
    return qualification.tier, decision.rule, decision.owner


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_scripted_people_are_routed_and_scored_as_the_story_says(platform):
    assert decide(BY_ROLE["hot_breached"], platform)[:2] == ("hot", "Rest of world")  # pool international
    assert decide(BY_ROLE["hot_met"], platform) == ("hot", "Asia Pacific", "drew.tanaka@example.com")
    assert decide(BY_ROLE["territory"], platform)[1:] == ("DACH", "casey.muller@example.com")
    elaine = BY_ROLE["account_owner"]
    assert decide(elaine, platform, ACCOUNT_OWNER) == ("nurture", "Existing account owner", ACCOUNT_OWNER)
    assert decide(elaine, platform)[1] != "Existing account owner"  # without the company it is a territory lead
    assert RULES.pools["international"].strategy == "round_robin"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_twins_are_a_sure_duplicate_and_an_unsure_one(platform):
    def verdict(role: str) -> str:
        original = BY_ROLE[{"merge_twin": "merge_original", "review_twin": "review_original"}[role]]
        score = score_pair(fields(original, platform), fields(twin(role, original, platform), platform)).score
        return classify(score, RULES.dedup.auto_merge, RULES.dedup.review)

    assert (verdict("merge_twin"), verdict("review_twin")) == ("merge", "review")


def test_each_crm_gets_the_whole_story_in_order_with_random_leads_between_the_twins():
    plan = schedule(PLATFORMS, 60)
    assert len(plan) == 60 and [p for p, _ in plan[:3]] == PLATFORMS  # the CRMs take turns
    for platform in PLATFORMS:
        roles = [person.role for p, person in plan if p == platform]
        scripted = [r for r in roles if r not in ("filler", "duplicate")]
        assert scripted == ["hot_breached", "hot_met", "territory", "merge_original", "review_original",
                            "account_owner", "merge_twin", "review_twin"]
        assert roles.index("merge_twin") - roles.index("merge_original") > 3  # its original is decided by then
        assert len(roles) == 20


def test_fewer_leads_than_the_story_takes_send_the_story_first_and_exactly_that_many():
    plan = schedule(PLATFORMS, 12)
    assert len(plan) == 12 and story_size(PLATFORMS) == 39
    assert [person.role for p, person in plan if p == "hubspot"] == ["hot_breached", "hot_met", "territory",
                                                                     "merge_original"]
