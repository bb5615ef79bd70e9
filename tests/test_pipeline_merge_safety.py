"""A pipeline merge never joins two people: colleagues at one company, family members at one address, namesakes;
and a person typed twice with slips is found through the index's near-miss keys.

New leads arrive through the real pipeline (process_records, as the drain calls it) with the in-memory
FakeCRMAdapter as the CRM, against records the pipeline saw before (so the dedup index names them as candidates).
They may wait in review; they are never merged. The control case, the same person typed again, is merged: the
leads do reach the dedup step.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from integration.db import session_scope
from integration.models import MergeSnapshot, ReviewItem
from integration.pipeline.flow import process_records
from integration.records import CRMUser
from tests.fakes import FakeFollowUpCRM, tenant_with_rules

ANA = "ana@acme.test"
RULES = {
    "version": 1, "timezone": "UTC", "owners": [{"email": ANA}],
    "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"owner": ANA}}],
    "fallback": {"review": True}, "sla": {"nurture": {"first_touch": "2d"}},
}
ADA = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada.lovelace@engines.co.uk",
       "phone": "+44 20 7946 0018", "company": "Analytical Engines Ltd", "street": "12 St James's Square",
       "city": "London", "postcode": "SW1Y 4JH", "country": "GB"}
OFFICE = {"company": "Acme Corp", "phone": "+1 617 555 0100", "street": "7182 Lake Rd", "city": "Boston",
          "postcode": "02130", "country": "US"}
HOME = {"phone": "0408099933", "street": "23 ramsay place", "city": "garbutt", "postcode": "2260", "country": "AU"}
NORA = {"first_name": "Nora", "last_name": "Quill", "email": "nora.quill@gmail.com", "phone": "0407112233",
        "street": "14 Banksia Street", "city": "Glenroy", "postcode": "3046", "country": "AU"}

# (existing record, new lead): two different people each time
TWO_PEOPLE = {
    "colleague on the switchboard": (ADA, {**ADA, "first_name": "Charles", "last_name": "Babbage",
                                           "email": "charles.babbage@engines.co.uk"}),
    "colleague with the same last name": (ADA, {**ADA, "first_name": "Augusta", "email": "augusta@engines.co.uk"}),
    "colleague, no email": (ADA, {**ADA, "first_name": "Mary", "last_name": "Somerville", "email": ""}),
    "family on the household phone": (NORA, {**NORA, "first_name": "Ivy", "email": "ivy.quill@gmail.com"}),
    # two real given names one letter apart (a made-up "Nola" next to Nora would be read as a typo, rightly)
    "family, names one letter apart": ({**NORA, "first_name": "Mary"}, {**NORA, "first_name": "Mark", "email": ""}),
    "family sharing one mailbox": (NORA, {**NORA, "first_name": "Otto"}),
    "namesake at another company": (ADA, {**ADA, "email": "ada.lovelace@byron-labs.com", "phone": "+44 113 496 0000",
                                          "company": "Byron Labs", "street": "1 Park Row", "city": "Leeds",
                                          "postcode": "LS1 5AB"}),
    "namesake, nothing else given": (NORA, {"first_name": "Nora", "last_name": "Quill", "country": "AU"}),
    "namesake in another suburb": (NORA, {**NORA, "email": "nquill@outlook.com", "phone": "0412998877",
                                          "street": "3 Wattle Place", "city": "Kew", "postcode": "3101"}),
    # Robert and Roberta: a real name and its other-gender form, one letter apart, are two people (no typo)
    "brother and sister on the household phone": ({**NORA, "first_name": "Robert", "email": ""},
                                                  {**NORA, "first_name": "Roberta", "email": ""}),
    "colleagues at one office": ({**OFFICE, "first_name": "Arthur", "last_name": "White", "email": "arthurw@acme.co"},
                                 {**OFFICE, "first_name": "Ronald", "last_name": "Edwards",
                                  "email": "redwards@acme.co"}),
    "family with their own mailboxes": ({**HOME, "first_name": "Luke", "last_name": "Purdon",
                                         "email": "luke.p@gmail.com"},
                                        {**HOME, "first_name": "Mia", "last_name": "Purdon",
                                         "email": "mia.p@yahoo.com"}),
    "family typed without email": ({**HOME, "first_name": "Luke", "last_name": "Purdon"},
                                   {**HOME, "first_name": "Mia", "last_name": "Purdon"}),
    "namesakes in two cities": ({"first_name": "Michelle", "last_name": "White",
                                 "email": "michelle_white@proseware.com", "city": "Austin", "country": "US"},
                                {"first_name": "Michelle", "last_name": "White", "email": "michelle.white@harbor.com",
                                 "city": "Dallas", "country": "US"}),
}
# Review items these pairs make: the caps decide which are worth a human's time (a family typed without email on
# one phone may be one person whose name was replaced)
QUEUED = {"colleagues at one office": 0, "family with their own mailboxes": 0, "family typed without email": 1,
          "namesakes in two cities": 0}


def fake_crm_with_rules(env, wire_adapters) -> FakeFollowUpCRM:
    """A fake CRM with one user, wired as the tenant's adapter, the tenant's rules published."""
    fake = FakeFollowUpCRM()
    fake.users = [CRMUser(id="u1", email=ANA, name="Ana")]
    wire_adapters(lambda _tenant_id: fake)
    tenant_with_rules(env["DATABASE_URL"], fake, RULES)
    return fake


@pytest.fixture()
def crm(app, env, wire_adapters):
    return fake_crm_with_rules(env, wire_adapters)


def arrive(env, fake, record_id: str, fields: dict) -> None:
    """A lead created in the CRM and brought in by the drain, as one batch."""
    fake.put("contact", record_id, **{k: v for k, v in fields.items() if v})
    with session_scope(env["DATABASE_URL"]) as s:
        process_records(s, fake.tenant_id, fake, "contact", [fake.records[("contact", record_id)]], gone=[])


def merges_and_reviews(env) -> tuple[int, int]:
    with session_scope(env["DATABASE_URL"]) as s:
        return (s.scalar(select(func.count()).select_from(MergeSnapshot)),
                s.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.kind == "dedup")))


@pytest.mark.parametrize(("existing", "new"), list(TWO_PEOPLE.values()), ids=list(TWO_PEOPLE))
def test_two_people_are_never_merged(crm, env, existing, new):
    arrive(env, crm, "old", existing)
    arrive(env, crm, "new", new)
    assert crm.calls["merge"] == 0 and merges_and_reviews(env)[0] == 0
    assert {("contact", "old"), ("contact", "new")} <= set(crm.records)


def test_the_same_person_typed_again_is_merged(crm, env):
    # the control: without it, "never merged" could only mean the leads never reached the dedup step
    arrive(env, crm, "old", NORA)
    arrive(env, crm, "new", {**NORA, "first_name": "nora", "phone": "+61 407 112 233", "street": "14 Banksia St"})
    assert crm.calls["merge"] == 1 and merges_and_reviews(env) == (1, 0)


@pytest.mark.parametrize("kind", QUEUED)
def test_which_of_two_people_a_human_is_asked_about(crm, env, kind):
    existing, new = TWO_PEOPLE[kind]
    arrive(env, crm, "old", existing)
    arrive(env, crm, "new", new)
    assert merges_and_reviews(env) == (0, QUEUED[kind])


def test_a_person_typed_twice_with_slips_is_found_through_the_near_keys(crm, env):
    arrive(env, crm, "old", {"first_name": "otto", "last_name": "brandt", "phone": "0403550817",
                             "street": "9 wattle lpace", "city": "kew", "postcode": "3101", "country": "AU"})
    # names swapped and two digits transposed: no exact key in common, only the sound and phone near-miss keys
    arrive(env, crm, "new", {"first_name": "brandt", "last_name": "otto", "phone": "0403550871",
                             "street": "9 wattl e place", "city": "kew", "postcode": "3101", "country": "AU"})
    assert sum(merges_and_reviews(env)) == 1
