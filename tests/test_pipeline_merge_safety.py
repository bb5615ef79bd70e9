"""A pipeline merge never joins two people: colleagues at one company, family members at one address, namesakes.

New leads arrive through the real pipeline (process_records, as the drain calls it) with the in-memory
FakeCRMAdapter as the CRM, against records the pipeline saw before (so the dedup index names them as candidates).
They may wait in review; they are never merged. The control case, the same person typed again, is merged: the
leads do reach the dedup step.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from integration.db import session_scope
from integration.models import MergeSnapshot, ReviewItem, RuleSetVersion, Tenant
from integration.pipeline.flow import process_records
from integration.records import CRMUser
from tests.fakes import FakeFollowUpCRM

ANA = "ana@acme.test"
RULES = {
    "version": 1, "timezone": "UTC", "owners": [{"email": ANA}],
    "routing": [{"name": "Everyone", "when": {"has_email": True}, "assign": {"owner": ANA}}],
    "fallback": {"review": True}, "sla": {"nurture": {"first_touch": "2d"}},
}
ADA = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada.lovelace@engines.co.uk",
       "phone": "+44 20 7946 0018", "company": "Analytical Engines Ltd", "street": "12 St James's Square",
       "city": "London", "postcode": "SW1Y 4JH", "country": "GB"}
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
}


@pytest.fixture()
def crm(app, env, wire_adapters):
    fake = FakeFollowUpCRM()
    fake.users = [CRMUser(id="u1", email=ANA, name="Ana")]
    wire_adapters(lambda _tenant_id: fake)
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="fake", external_id="A", name="A")
        s.add(tenant)
        s.flush()
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=RULES))
        fake.tenant_id = tenant.id
    return fake


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


def test_a_family_member_with_the_households_phone_and_mailbox_is_never_merged(crm, env):
    # two different first names on one household mailbox: two people (the matcher does not even queue them,
    # model.CONFLICT_CAP: a shared mailbox tells nothing about who typed); a merge would lose one of them
    arrive(env, crm, "old", NORA)
    arrive(env, crm, "new", {**NORA, "first_name": "Otto"})
    assert merges_and_reviews(env)[0] == 0 and crm.calls["merge"] == 0


def test_a_brother_and_sister_of_one_household_are_never_merged(crm, env):
    """Robert and Roberta: a real name and its other-gender form, one letter apart, are two people (no typo)."""
    arrive(env, crm, "old", {**NORA, "first_name": "Robert", "email": ""})
    arrive(env, crm, "new", {**NORA, "first_name": "Roberta", "email": ""})
    assert merges_and_reviews(env)[0] == 0 and crm.calls["merge"] == 0
