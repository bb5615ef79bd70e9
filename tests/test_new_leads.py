"""Which leads the pipeline routes (integration.pipeline.new_leads), with the in-memory FakeCRMAdapter: an owned
lead that was there before routing started keeps its owner whatever brings it in; a lead is decided once."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from adapters.hubspot import fields as hubspot_fields
from adapters.pipedrive import fields as pipedrive_fields
from adapters.salesforce import fields as salesforce_fields
from integration.admin.tenancy import mark_uninstalled, upsert_tenant
from integration.db import session_scope
from integration.errors import CRMValidationError
from integration.intake.events import record_events
from integration.models import Decision, EventRecord, MergeSnapshot, ReviewItem, RuleSetVersion, Tenant
from integration.pipeline.flow import process_records
from integration.pipeline.new_leads import SKEW
from integration.records import CRMUser, Event
from tests.fakes import FakeFollowUpCRM
from tests.team_rules import team_rules

ANA, BEN = "ana@acme.test", "ben@acme.test"
RULES = team_rules(ANA, BEN)
INSTALLED = dt.datetime(2026, 3, 2, 7, 25, 5, tzinfo=dt.UTC)  # the demo's install


@pytest.fixture()
def crm(app, env, wire_adapters):
    fake = FakeFollowUpCRM()
    fake.users = [CRMUser(id="u1", email=ANA, name="Ana"), CRMUser(id="u2", email=BEN, name="Ben"),
                  CRMUser(id="u9", email="rep@acme.test", name="A rep")]
    wire_adapters(lambda _tenant_id: fake)
    with session_scope(env["DATABASE_URL"]) as s:
        tenant = Tenant(platform="fake", external_id="A", name="A", installed_at=INSTALLED)
        s.add(tenant)
        s.flush()
        s.add(RuleSetVersion(tenant_id=tenant.id, version=1, status="published", body=RULES,
                             created_at=INSTALLED, published_at=INSTALLED))
        fake.tenant_id = tenant.id
    return fake


def lead(fake, lead_id: str, created: dt.datetime, owner: str | None = "u9", email: str | None = None):
    """A contact the CRM says was created at `created`, owned by a rep (u9) unless `owner` says otherwise."""
    fields = {"email": email or f"{lead_id}@example.com", "first_name": "Ada", "last_name": "Lovelace"}
    return fake.put("contact", lead_id, updated_at=created, owner_id=owner, **fields)


def run(env, fake, *ids: str) -> None:
    """What the drain does with a batch of changed contacts, whatever event brought them in."""
    with session_scope(env["DATABASE_URL"]) as s:
        process_records(s, fake.tenant_id, fake, "contact", [fake.records[("contact", i)] for i in ids], gone=[])


def webhook(env, fake, lead_id: str, kind: str, received: dt.datetime) -> None:
    """An event stored as the webhook endpoint stores it, received at `received`."""
    with session_scope(env["DATABASE_URL"]) as s:
        record_events(s, fake.tenant_id, [Event(platform="fake", account_id="A", object_type="contact",
                                                object_id=lead_id, kind=kind, occurred_at=received,
                                                event_id=f"{kind}-{lead_id}")])
        s.execute(update(EventRecord).where(EventRecord.object_id == lead_id).values(received_at=received))


def routed(env) -> dict[str, str]:
    with session_scope(env["DATABASE_URL"]) as s:
        return {d.object_id: d.outcome for d in s.scalars(select(Decision).where(Decision.kind == "route"))}


def test_an_owned_lead_from_before_the_install_keeps_its_owner_and_gets_no_task(crm, env):
    lead(crm, "seeded", INSTALLED - dt.timedelta(seconds=1))  # the demo's seeded leads: one second before
    lead(crm, "old", INSTALLED - dt.timedelta(days=400))
    lead(crm, "skewed", INSTALLED + SKEW - dt.timedelta(seconds=1))  # the CRM's clock runs ahead of ours
    crm.records[("contact", "undated")] = replace(lead(crm, "undated", INSTALLED), created_at=None)
    run(env, crm, "seeded", "old", "skewed", "undated")  # the sweep's batch, or an edit's webhook
    assert {i: crm.records[("contact", i)].owner_id for i in ("seeded", "old", "skewed", "undated")} == {
        "seeded": "u9", "old": "u9", "skewed": "u9", "undated": "u9"}
    assert crm.tasks == {} and routed(env) == {}
    assert (crm.calls["set_owners"], crm.calls["set_owner"]) == (0, 0)


def test_an_unowned_old_lead_and_an_owned_new_one_are_routed(crm, env):
    lead(crm, "unowned", INSTALLED - dt.timedelta(days=400), owner=None)
    lead(crm, "new", INSTALLED + SKEW + dt.timedelta(seconds=1))
    run(env, crm, "unowned", "new")
    assert routed(env) == {"unowned": ANA, "new": BEN}
    assert len(crm.tasks) == 2


def test_within_the_skew_margin_only_a_creation_webhook_after_go_live_makes_an_owned_lead_new(crm, env):
    for name in ("by-webhook", "by-sweep", "webhook-before-live"):
        lead(crm, name, INSTALLED + dt.timedelta(seconds=10))
    webhook(env, crm, "by-webhook", "created", INSTALLED + dt.timedelta(seconds=11))
    webhook(env, crm, "by-sweep", "updated", INSTALLED + dt.timedelta(seconds=11))
    webhook(env, crm, "webhook-before-live", "created", INSTALLED - dt.timedelta(seconds=1))
    run(env, crm, "by-webhook", "by-sweep", "webhook-before-live")
    assert routed(env) == {"by-webhook": ANA}
    assert crm.records[("contact", "by-sweep")].owner_id == "u9"


def test_within_the_skew_margin_a_webhook_that_does_not_say_creation_counts_only_for_an_unsaved_record(crm, env):
    """A Salesforce Outbound Message without the date fields says "changed": a record never saved since its
    creation can only have sent it for its creation; one saved since may have sent it for the edit."""
    created = INSTALLED + dt.timedelta(seconds=10)
    lead(crm, "pristine", created)
    edited = lead(crm, "edited", created)
    crm.records[("contact", "edited")] = replace(edited, updated_at=created + dt.timedelta(seconds=5))
    for name in ("pristine", "edited"):
        webhook(env, crm, name, "changed", INSTALLED + dt.timedelta(seconds=16))
    run(env, crm, "pristine", "edited")
    assert routed(env) == {"pristine": ANA}
    assert crm.records[("contact", "edited")].owner_id == "u9"


def test_routing_starts_with_the_first_published_rule_set_not_the_install(crm, env):
    live = INSTALLED + dt.timedelta(days=2)  # installed, simulated for two days, then published
    with session_scope(env["DATABASE_URL"]) as s:
        s.execute(update(RuleSetVersion).values(status="archived", published_at=None))
        s.add(RuleSetVersion(tenant_id=crm.tenant_id, version=2, status="published", body=RULES,
                             created_at=live, published_at=live))
        s.execute(update(RuleSetVersion).where(RuleSetVersion.version == 1).values(
            status="draft", created_at=INSTALLED))
    lead(crm, "during-setup", INSTALLED + dt.timedelta(days=1))  # a rep owns it since the day before go-live
    lead(crm, "after-live", live + SKEW + dt.timedelta(seconds=1))
    run(env, crm, "during-setup", "after-live")
    assert routed(env) == {"after-live": ANA}
    assert crm.records[("contact", "during-setup")].owner_id == "u9"


def test_after_an_uninstall_routing_starts_again_at_the_reinstall(crm, env):
    """Uninstalled (and erased), then installed again: a lead a rep took while LeadRelay was gone stays theirs."""
    with session_scope(env["DATABASE_URL"]) as s:
        mark_uninstalled(s, s.get(Tenant, crm.tenant_id))
    lead(crm, "while-away", dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    with session_scope(env["DATABASE_URL"]) as s:
        upsert_tenant(s, "fake", {"external_id": "A"})
    lead(crm, "after", dt.datetime.now(dt.UTC) + SKEW + dt.timedelta(seconds=1))
    run(env, crm, "while-away", "after")
    assert routed(env) == {"after": ANA}
    assert crm.records[("contact", "while-away")].owner_id == "u9"


def test_a_later_crm_error_in_the_batch_keeps_the_decisions_made_before_it(crm, env):
    """A review and a merge made earlier in a drain batch are not rolled back by a later record's CRM error: the
    next event about them must not decide them again (nor merge without a snapshot)."""
    lead(crm, "first", INSTALLED + dt.timedelta(hours=1), owner=None)
    run(env, crm, "first")
    lead(crm, "twin", INSTALLED + dt.timedelta(hours=2), owner=None, email="first@example.com")  # a sure merge
    crm.put("contact", "broken", updated_at=INSTALLED + dt.timedelta(hours=2), email="x@broken.example",
            first_name="Alan", last_name="Turing")
    real = crm.find_duplicate_candidates

    def refuse_broken(object_type, **criteria):
        if "x@broken.example" in criteria.get("emails", ()):
            raise CRMValidationError("fake 400: search refused")
        return real(object_type, **criteria)

    crm.find_duplicate_candidates = refuse_broken
    run(env, crm, "twin", "broken")
    with session_scope(env["DATABASE_URL"]) as s:
        snapshot = s.scalar(select(MergeSnapshot))
        assert snapshot is not None and (snapshot.loser_id, snapshot.status) == ("twin", "merged")
        assert s.scalar(select(Decision.outcome).where(Decision.idempotency_key == "route:contact:twin")) == "merged"
        assert [(r.kind, r.object_id) for r in s.scalars(select(ReviewItem))] == [("crm_error", "broken")]


# the CRM's own created date, as each adapter reads it ---------------------------------------------------------
SEEDED = dt.datetime(2026, 3, 2, 7, 25, 4, tzinfo=dt.UTC)


def _hubspot(created_at: dt.datetime, **props: str):
    obj = SimpleNamespace(id="101", properties={"email": "ada@example.com", **props}, created_at=created_at,
                          updated_at=created_at, associations=None)
    return hubspot_fields.to_record("contacts", obj)


def _salesforce(created: str):
    return salesforce_fields.to_record("lead", {
        "Id": "00Q000000000001", "OwnerId": "005000000000001", "LastName": "Lovelace", "Company": "Acme",
        "CreatedDate": created, "LastModifiedDate": created})


def _pipedrive(created: str):
    return pipedrive_fields.to_record("persons", {"id": 7, "name": "Ada Lovelace", "owner_id": 3,
                                                  "add_time": created, "update_time": created}, {})


READERS = {
    # HubSpot: the `createdate` property (an import may have set it earlier than createdAt), else createdAt; the
    # SDK's datetimes are made stdlib UTC, a zone-less one included
    "hubspot createdate": lambda: _hubspot(dt.datetime(2026, 3, 2, 9, 0), createdate="2026-03-02T07:25:04.000Z"),
    "hubspot createdAt": lambda: _hubspot(dt.datetime(2026, 3, 2, 7, 25, 4)),
    "salesforce": lambda: _salesforce("2026-03-02T08:25:04.000+0100"),  # CreatedDate with its +hhmm offset
    "pipedrive v1": lambda: _pipedrive("2026-03-02 07:25:04"),  # add_time is UTC: v1 without a zone
    "pipedrive v2": lambda: _pipedrive("2026-03-02T07:25:04Z"),  # v2 in RFC 3339
}


@pytest.mark.parametrize("reader", list(READERS))
def test_each_crm_created_date_is_read_in_utc(reader):
    created = READERS[reader]().created_at
    assert created == SEEDED and created.utcoffset() == dt.timedelta(0)
