"""HubSpotAdapter contract tests: the real adapter and hubspot-api-client against the sandbox (HTTPS).

Assertions are about what a user would notice in the CRM (the sandbox's stored records, read through
its control API), plus the number of API calls the sandbox saw.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from types import SimpleNamespace

import pytest
import requests

from adapters.hubspot import queries as q
from adapters.hubspot.adapter import HubSpotAdapter
from adapters.hubspot.batch import match_created
from adapters.hubspot.errors import translate
from adapters.registry import get_adapter_class
from integration.errors import (
    CRMAuthError,
    CRMConflict,
    CRMNotFound,
    CRMRateLimited,
    CRMTransient,
    CRMValidationError,
    ReauthRequired,
)
from integration.protocols import CRMAdapter
from integration.records import NewRecord, OwnerWrite, TaskSpec
from tests.adapters.conftest import StaticTokens, believed_limits, sandbox_account, shared_budget, tenant_for

HTTP = requests.Session()
HTTP.trust_env = False


class Portal:
    """A demo-seeded sandbox portal and helpers over the sandbox control API."""

    def __init__(self, server, **extra) -> None:
        self.server = server
        self.account = sandbox_account(server, "hubspot", **extra)
        self.base = f"{server.url}/_sandbox/accounts/{self.account['account_id']}"

    def adapter(self, budget=None, writes=None, tokens=None) -> HubSpotAdapter:
        return HubSpotAdapter(tenant_for(self.account, "hubspot"), tokens or StaticTokens(self.account["access_token"]),
                              budget, writes)

    def records(self, object_type: str) -> list[dict]:
        return HTTP.get(f"{self.base}/{object_type}", timeout=10).json()["results"]

    def record(self, object_type: str, record_id: str) -> dict | None:
        return next((r for r in self.records(object_type) if r["id"] == str(record_id)), None)

    def contact(self, email: str) -> dict:
        return next(r for r in self.records("contacts") if (r["properties"].get("email") or "").lower() == email)

    def simulate(self, **payload) -> dict:
        resp = HTTP.post(f"{self.base}/simulate", json=payload, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def reset_calls(self) -> None:
        HTTP.delete(f"{self.base}/calls", timeout=10)

    def calls(self) -> list[dict]:
        return HTTP.get(f"{self.base}/calls", timeout=10).json()["calls"]

    def first(self, object_type: str, n: int = 3) -> list[str]:
        return [r["id"] for r in self.records(object_type)[:n]]


@pytest.fixture()
def portal(adapter_sandbox) -> Portal:
    """A portal of its own per test: writes stay apart, and the per-token search limit (5/s) too."""
    return Portal(adapter_sandbox)


@pytest.fixture()
def staged(adapter_sandbox):
    """Stage sandbox config (faults, limits) for one test; always reset afterwards."""
    def stage(**config) -> None:
        HTTP.post(f"{adapter_sandbox.url}/_sandbox/config", json=config, timeout=10).raise_for_status()
    yield stage
    HTTP.post(f"{adapter_sandbox.url}/_sandbox/config/reset", timeout=10).raise_for_status()


# construction -----------------------------------------------------------------------------
def test_registry_class_implements_the_protocol_without_network_in_the_constructor():
    class NoTokens:
        def access_token(self):
            raise AssertionError("constructor must not ask for a token")

    tenant = tenant_for({"account_id": "1", "api_base": "https://127.0.0.1:9"}, "hubspot")
    adapter = get_adapter_class("hubspot")(tenant, NoTokens())
    assert isinstance(adapter, CRMAdapter) and adapter.LEAD_OBJECT == "contact"
    assert adapter.subscribe_webhooks("https://x.test/webhooks/hubspot", "", "") == []
    assert adapter.unsubscribe_webhooks() is None


# reads ------------------------------------------------------------------------------------
def test_get_record_has_neutral_fields_owner_and_company(portal):
    jennifer = portal.contact("jennifer.walsh@acmerobotics.com")
    acme = next(c for c in portal.records("companies") if c["properties"]["name"] == "Acme Robotics")
    record = portal.adapter().get_record("contact", jennifer["id"])
    assert record.fields["email"] == "jennifer.walsh@acmerobotics.com"
    assert (record.fields["first_name"], record.fields["last_name"], record.fields["lifecycle_stage"]) == (
        "Jennifer", "Walsh", "opportunity")
    assert record.owner_id == jennifer["properties"]["hubspot_owner_id"] and record.company_id == acme["id"]
    assert record.object_type == "contact" and record.created_at.tzinfo is not None


def test_a_neutral_lead_is_a_hubspot_contact(portal):
    hank = portal.contact("hank@globex.com")
    assert portal.adapter().get_record("lead", hank["id"]).fields["title"] == "CEO"


def test_get_record_of_a_missing_id_is_none(portal):
    assert portal.adapter().get_record("contact", "987654321") is None


def test_batch_read_takes_one_call_and_leaves_missing_ids_out(portal):
    ids = [r["id"] for r in portal.records("contacts")[:3]]
    portal.reset_calls()
    records = portal.adapter().get_records("contact", [*ids, "987654321"])
    assert [r.id for r in records] == ids
    assert [c["path"] for c in portal.calls()] == ["/crm/v3/objects/contacts/batch/read?archived=False"]


def test_duplicates_by_email_case(portal):
    found = portal.adapter().find_duplicate_candidates("contact", emails=["MARIA.GARCIA@globex.COM"])
    assert [r.fields["email"] for r in found] == ["Maria.Garcia@Globex.com"]


def test_duplicates_by_phone_in_other_formats(portal):
    found = portal.adapter().find_duplicate_candidates("contact", phones=["+16175550150"])
    assert sorted(r.fields["phone"] for r in found) == ["+1 (617) 555-0150", "617.555.0150"]


def test_duplicates_by_name_and_company_in_one_search(portal, budget):
    found = portal.adapter(budget).find_duplicate_candidates("contact", name="Bob Chen", company="Globex Corporation")
    assert [r.fields["email"] for r in found] == ["bob.chen@globex.com"]
    assert budget.acquired == [("search", 1)]


def test_users_have_active_flags_and_the_portal_time_zone(adapter_sandbox):
    users = [{"email": "ann@example.com", "name": "Ann Active", "timezone": "Europe/Berlin"},
             {"email": "ian@example.com", "name": "Ian Inactive", "active": False}]
    portal = Portal(adapter_sandbox, seed=None, users=users)
    listed = {u.email: u for u in portal.adapter().list_users()}
    assert (listed["ann@example.com"].active, listed["ian@example.com"].active) == (True, False)
    assert listed["ann@example.com"].name == "Ann Active"
    assert {u.timezone for u in listed.values()} == {"Europe/Berlin"}


def test_find_company_by_domain_then_name(portal):
    adapter = portal.adapter()
    northwind = adapter.find_company(domain="https://www.northwind.io/contact")
    assert (northwind.name, northwind.domain) == ("Northwind Traders", "northwind.io")
    assert northwind.owner_id is not None
    assert adapter.find_company(name="Initech").domain == "initech.com"
    assert adapter.find_company(domain="nowhere.example") is None


def _three_companies(portal) -> tuple[list[str], list[str]]:
    """Alpha, Beta and Gamma (.example), each with its own owner: (company ids, owner ids)."""
    owners = portal.first("owners")
    made = [portal.simulate(action="create", object_type="companies",
                            properties={"name": name, "domain": f"{name.lower()}.example", "hubspot_owner_id": owner})
            for name, owner in zip(("Alpha", "Beta", "Gamma"), owners, strict=True)]
    return [c["id"] for c in made], owners


def test_find_companies_is_one_search_and_agrees_with_find_company(portal):
    ids, owners = _three_companies(portal)
    adapter = portal.adapter()
    portal.reset_calls()
    found = adapter.find_companies(["alpha.example", "https://www.BETA.example/", "nowhere.example"])
    assert [c["path"] for c in portal.calls()] == ["/crm/v3/objects/companies/search"]
    assert {d: c and (c.id, c.name, c.owner_id) for d, c in found.items()} == {
        "alpha.example": (ids[0], "Alpha", owners[0]), "https://www.BETA.example/": (ids[1], "Beta", owners[1]),
        "nowhere.example": None}
    assert [adapter.find_company(domain=d) for d in found] == list(found.values())


def test_find_companies_reads_every_page(portal, monkeypatch):
    ids, _ = _three_companies(portal)
    monkeypatch.setattr(q, "MAX_PAGE", 2)
    portal.reset_calls()
    found = portal.adapter().find_companies(["alpha.example", "beta.example", "gamma.example"])
    assert [c.id for c in found.values()] == ids
    assert len(portal.calls()) == 2


# writes -----------------------------------------------------------------------------------
def test_set_owner_changes_the_stored_owner_and_is_reported(portal, writes):
    peter = portal.contact("peter.gibbons@initech.com")
    owners = [o["id"] for o in portal.records("owners") if o["id"] != peter["properties"]["hubspot_owner_id"]]
    portal.adapter(writes=writes).set_owner("contact", peter["id"], owners[0])
    assert portal.record("contacts", peter["id"])["properties"]["hubspot_owner_id"] == owners[0]
    assert writes.writes == [("contact", peter["id"], ("owner",))]


def test_set_fields_writes_properties(portal, writes):
    samir = portal.contact("samir.n@initech.com")
    portal.adapter(writes=writes).set_fields("contact", samir["id"], {"lifecycle_stage": "salesqualifiedlead",
                                                                     "lead_status": "OPEN"})
    props = portal.record("contacts", samir["id"])["properties"]
    assert (props["lifecyclestage"], props["hs_lead_status"]) == ("salesqualifiedlead", "OPEN")
    assert writes.writes == [("contact", samir["id"], ("lifecycle_stage", "lead_status"))]


def test_set_owners_writes_owners_and_leadrelay_fields_in_one_call(portal, writes):
    contacts, owners = portal.first("contacts"), portal.first("owners")
    adapter = portal.adapter(writes=writes)
    adapter.ensure_custom_fields()
    portal.reset_calls()
    failures = adapter.set_owners("contact", [OwnerWrite(c, o, {"leadrelay_tier": "hot"})
                                              for c, o in zip(contacts, owners, strict=True)])
    assert failures == {}
    assert [c["path"] for c in portal.calls()] == ["/crm/v3/objects/contacts/batch/update"]
    stored = [portal.record("contacts", c)["properties"] for c in contacts]
    assert [(p["hubspot_owner_id"], p["leadrelay_tier"]) for p in stored] == [(o, "hot") for o in owners]
    assert writes.writes == [("contact", c, ("owner", "leadrelay_tier")) for c in contacts]


def test_set_owners_batch_with_a_missing_record_fails_each_of_its_records(portal):
    ids = [*portal.first("contacts", 2), "987654321"]
    before = portal.record("contacts", ids[0])["properties"]["hubspot_owner_id"]
    failures = portal.adapter().set_owners("contact", [OwnerWrite(i, portal.first("owners", 1)[0]) for i in ids])
    assert sorted(failures) == sorted(ids) and {type(e) for e in failures.values()} == {CRMNotFound}
    assert portal.record("contacts", ids[0])["properties"]["hubspot_owner_id"] == before


def test_unknown_neutral_field_or_merge_of_tasks_is_a_validation_error(portal):
    portal.reset_calls()
    with pytest.raises(CRMValidationError):
        portal.adapter().set_fields("contact", "1", {"shoe_size": "42"})
    with pytest.raises(CRMValidationError):
        portal.adapter().merge("task", "1", "2")
    assert portal.calls() == []


def test_merge_gives_the_merged_record_a_new_id_and_reports_both_old_ids(portal, writes):
    # developer changelog "Updated merge functionality for contacts and companies": the merged record is a new one
    survivor = portal.contact("johnsmith@gmail.com")  # no job title, no company
    other = portal.contact("john.smith@gmail.com")    # Consultant at Acme Robotics
    adapter = portal.adapter(writes=writes)
    result = adapter.merge("contact", survivor["id"], other["id"], fields={"lifecycle_stage": "lead"})
    assert result.survivor_id not in (survivor["id"], other["id"])
    assert result.merged_ids == (survivor["id"], other["id"])
    props = portal.record("contacts", result.survivor_id)["properties"]
    assert (props["email"], props["phone"], props["jobtitle"], props["company"]) == (
        "johnsmith@gmail.com", "617.555.0150", "Consultant", "Acme Robotics")
    assert props["hs_additional_emails"] == "john.smith@gmail.com" and props["lifecyclestage"] == "lead"
    assert portal.record("contacts", other["id"]) is None and portal.record("contacts", survivor["id"]) is None
    assert {("contact", i, ("*",)) for i in (survivor["id"], other["id"], result.survivor_id)} <= set(writes.writes)


def test_an_old_id_reads_as_the_merged_record_under_its_new_id(portal):
    survivor, other = portal.contact("johnsmith@gmail.com"), portal.contact("john.smith@gmail.com")
    adapter = portal.adapter()
    result = adapter.merge("contact", survivor["id"], other["id"])
    # a single read follows HubSpot's redirect: the caller sees where the record lives now
    assert adapter.get_record("contact", other["id"]).id == result.survivor_id
    # a batch read leaves an old id out (its merge event brings the new one) and never doubles a record
    records = adapter.get_records("contact", [other["id"], result.survivor_id, survivor["id"]])
    assert [r.id for r in records] == [result.survivor_id]


def test_additional_emails_are_set_through_the_v1_secondary_email_api(portal, writes):
    """hs_additional_emails is read-only in v3: the adapter adds and removes one address at a time (v1)."""
    john, other = portal.contact("johnsmith@gmail.com"), portal.contact("olivia.grant@acmerobotics.com")
    adapter = portal.adapter(writes=writes)
    with pytest.raises(CRMValidationError, match="Property values were not valid"):
        adapter.client.call("default", "contacts", "basic_api", "update", john["id"],
                            q.package("contacts").SimplePublicObjectInput(properties={"hs_additional_emails": ""}))
    adapter.set_additional("contact", john["id"], emails=["js@home.example", "js@old.example"])
    assert adapter.get_record("contact", john["id"]).extra_emails == ("js@home.example", "js@old.example")
    portal.reset_calls()
    adapter.set_additional("contact", john["id"], emails=["js@old.example"])
    assert adapter.get_record("contact", john["id"]).extra_emails == ("js@old.example",)
    assert [(c["method"], c["path"].rsplit("/", 1)[-1]) for c in portal.calls() if c["method"] != "GET"] == [
        ("DELETE", "js@home.example")]
    portal.reset_calls()
    adapter.set_additional("contact", john["id"], emails=["js@old.example"])  # nothing to change: one read
    assert [c["method"] for c in portal.calls()] == ["GET"]
    with pytest.raises(CRMConflict):  # unique among contacts, as a primary email too
        adapter.set_additional("contact", john["id"], emails=["js@old.example", other["properties"]["email"]])
    with pytest.raises(CRMValidationError, match="no additional phones"):
        adapter.set_additional("contact", john["id"], phones=["+1 617 555 0100"])
    assert ("contact", john["id"], ("extra_emails",)) in writes.writes


# creates and notes ---------------------------------------------------------------------------
def company_links(portal: Portal, contact_id: str) -> list[tuple[str, str]]:
    """(company id, association label) of a stored contact: "contact_to_company" is the primary company."""
    block = (portal.record("contacts", contact_id).get("associations") or {}).get("companies") or {}
    return sorted((a["id"], a["type"]) for a in block.get("results") or [])


def test_create_record_links_its_primary_company_in_the_same_call(portal, writes):
    acme = next(c["id"] for c in portal.records("companies") if c["properties"]["name"] == "Acme Robotics")
    adapter = portal.adapter(writes=writes)
    portal.reset_calls()
    new_id = adapter.create_record("contact", {"email": "ada@acmerobotics.com", "first_name": "Ada"}, None, acme)
    assert [c["path"] for c in portal.calls()] == ["/crm/v3/objects/contacts"]
    assert company_links(portal, new_id) == [(acme, "contact_to_company"), (acme, "contact_to_company_unlabeled")]
    assert adapter.get_record("contact", new_id).company_id == acme
    assert company_links(portal, adapter.create_record("contact", {"email": "bo@example.org"}, None)) == []
    assert writes.writes == [("contact", new_id, ("*",)), ("contact", writes.writes[1][1], ("*",))]


def test_create_records_creates_the_others_when_hubspot_refuses_the_batch_for_a_taken_email(portal, writes):
    owners = portal.first("owners", 2)
    companies = portal.first("companies", 2)
    items = [NewRecord({"email": "ann@newco.example", "first_name": "Ann"}, owners[0], companies[0]),
             NewRecord({"email": "JENNIFER.WALSH@acmerobotics.com", "first_name": "Twice"}, owners[0]),
             NewRecord({"email": "bob@newco.example", "last_name": "Bobson"}, owners[1], companies[1])]
    adapter = portal.adapter(writes=writes)
    portal.reset_calls()
    ann, taken, bob = adapter.create_records("contact", items)
    # one batch (409 for the whole of it, nothing created), then each input alone
    assert [c["path"].rsplit("/crm/v3/objects/", 1)[-1] for c in portal.calls()] == [
        "contacts/batch/create", "contacts", "contacts", "contacts"]
    assert isinstance(taken, CRMConflict) and "Existing ID" in str(taken)
    assert [portal.record("contacts", i)["properties"]["email"] for i in (ann, bob)] == [
        "ann@newco.example", "bob@newco.example"]
    assert [portal.record("contacts", i)["properties"]["hubspot_owner_id"] for i in (ann, bob)] == owners
    assert [adapter.get_record("contact", i).company_id for i in (ann, bob)] == companies
    assert len([c for c in portal.records("contacts") if c["properties"].get("firstname") == "Twice"]) == 0
    assert writes.writes == [("contact", ann, ("*",)), ("contact", bob, ("*",))]


def test_create_records_of_150_takes_two_batch_calls_and_keeps_input_order(portal):
    items = [NewRecord({"email": f"lead{n}@burst.example", "first_name": f"Lead{n}"}) for n in range(150)]
    adapter = portal.adapter()
    portal.reset_calls()
    ids = adapter.create_records("contact", items)
    assert [c["path"] for c in portal.calls()] == ["/crm/v3/objects/contacts/batch/create"] * 2
    emails = {r["id"]: r["properties"].get("email") for r in portal.records("contacts")}
    assert [emails[i] for i in ids] == [f"lead{n}@burst.example" for n in range(150)]  # answers come reversed


def test_create_records_refusing_a_field_fails_that_item_alone_before_any_call(portal):
    items = [NewRecord({"email": "cy@newco.example"}), NewRecord({"shoe_size": "42"})]
    made, refused = portal.adapter().create_records("contact", items)
    assert portal.record("contacts", made)["properties"]["email"] == "cy@newco.example"
    assert isinstance(refused, CRMValidationError)


def test_a_rate_limit_among_single_creates_fails_the_rest_without_another_call(portal, staged):
    items = [NewRecord({"email": "jennifer.walsh@acmerobotics.com"}),
             *(NewRecord({"email": f"wave{n}@burst.example"}) for n in range(100))]  # two chunks: 100 + 1
    adapter = portal.adapter()
    staged(limits={"hubspot": {"burst_per_10s": 3}})  # the batch (409), two single creates, then 429s
    portal.reset_calls()
    results = adapter.create_records("contact", items)
    assert [type(r) for r in results[:2]] == [CRMConflict, str]
    assert [type(r) for r in results[2:]] == [CRMRateLimited] * 99
    assert [c["path"] for c in portal.calls()] == [
        "/crm/v3/objects/contacts/batch/create", *["/crm/v3/objects/contacts"] * 3]


def test_add_notes_puts_each_note_on_its_record_in_one_call(portal, writes):
    contacts = portal.first("contacts", 2)
    adapter = portal.adapter(writes=writes)
    portal.reset_calls()
    note_ids = adapter.add_notes("contact", [(contacts[0], "Form: pricing page"), (contacts[1], "Form: demo")])
    assert [c["path"] for c in portal.calls()] == ["/crm/v3/objects/notes/batch/create"]
    stored = [portal.record("notes", n) for n in note_ids]
    assert [s["properties"]["hs_note_body"] for s in stored] == ["Form: pricing page", "Form: demo"]
    assert [[a["id"] for a in s["associations"]["contacts"]["results"]] for s in stored] == [[c] for c in contacts]
    assert writes.writes == [("note", n, ("*",)) for n in note_ids]


def test_rate_limited_create_records_gives_every_item_the_rate_limit(portal, staged):
    staged(limits={"hubspot": {"burst_per_10s": 0}})
    results = portal.adapter().create_records("contact", [NewRecord({"email": f"r{n}@x.example"}) for n in range(3)])
    assert [type(r) for r in results] == [CRMRateLimited] * 3


# tasks ------------------------------------------------------------------------------------
def test_task_lifecycle(portal, writes):
    lead = portal.contact("olivia.grant@acmerobotics.com")
    owner, other = [o["id"] for o in portal.records("owners")][:2]
    due = dt.datetime(2026, 12, 1, 14, 5, tzinfo=dt.UTC)
    adapter = portal.adapter(writes=writes)
    task_id = adapter.create_task(TaskSpec(subject="Call Olivia", body="Hot lead: routed by territory", due_at=due,
                                           owner_id=owner, record_type="contact", record_id=lead["id"]))
    stored = portal.record("tasks", task_id)
    assert stored["properties"]["hubspot_owner_id"] == owner and stored["properties"]["hs_task_type"] == "CALL"
    assert [a["id"] for a in stored["associations"]["contacts"]["results"]] == [lead["id"]]
    state = adapter.get_task(task_id)
    assert (state.done, state.owner_id, state.due_at) == (False, owner, due)
    adapter.update_task(task_id, owner_id=other, due_at=due + dt.timedelta(hours=1))
    adapter.complete_task(task_id, note="Escalation not needed")
    state = adapter.get_task(task_id)
    assert (state.done, state.owner_id, state.due_at) == (True, other, due + dt.timedelta(hours=1))
    assert state.completed_at is not None
    assert portal.record("tasks", task_id)["properties"]["hs_task_body"] == (
        "Hot lead: routed by territory<br><br>Escalation not needed")
    assert writes.writes[0] == ("task", task_id, ("*",))


def test_create_tasks_makes_each_task_on_its_contact_in_one_call(portal, writes):
    due = dt.datetime(2026, 12, 1, 14, 5, tzinfo=dt.UTC)
    specs = [TaskSpec(subject="Call new lead", body="First touch", due_at=due + dt.timedelta(minutes=n), owner_id=o,
                      record_type="contact", record_id=c)
             for n, (c, o) in enumerate(zip(portal.first("contacts"), portal.first("owners"), strict=True))]
    adapter = portal.adapter(writes=writes)
    portal.reset_calls()
    task_ids = adapter.create_tasks(specs)
    assert [c["path"] for c in portal.calls()] == ["/crm/v3/objects/tasks/batch/create"]
    for task_id, spec in zip(task_ids, specs, strict=True):
        state = adapter.get_task(task_id)
        assert (state.owner_id, state.due_at) == (spec.owner_id, spec.due_at)
        links = portal.record("tasks", task_id)["associations"]["contacts"]["results"]
        assert [a["id"] for a in links] == [spec.record_id]
    assert writes.writes == [("task", t, ("*",)) for t in task_ids]


def test_created_tasks_are_matched_to_their_inputs_whatever_the_answer_order():
    sent = [{"hs_task_subject": "Call Ann", "hubspot_owner_id": "7", "hs_timestamp": "1796133900000"},
            {"hs_task_subject": "Call Bob", "hubspot_owner_id": "7", "hs_timestamp": "1796133900000"}]
    answer = [SimpleNamespace(id="102", properties={**sent[1], "hs_timestamp": "2026-12-01T14:05:00Z"}),
              SimpleNamespace(id="101", properties={**sent[0], "hs_timestamp": "2026-12-01T14:05:00.000Z"})]
    assert match_created(sent, answer) == ["101", "102"]


def test_get_task_of_a_deleted_task_is_none(portal):
    assert portal.adapter().get_task("987654321") is None


def test_activity_logged_since_sees_a_logged_call(portal):
    lead = portal.contact("lukas.braun@umbrellahealth.de")
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    adapter = portal.adapter()
    assert adapter.activity_logged_since("contact", lead["id"], since) is False
    portal.simulate(action="create", object_type="notes", properties={"hs_timestamp": "2026-01-01T00:00:00Z",
                                                                     "hs_note_body": "internal note"})
    call = portal.simulate(action="create", object_type="calls", properties={
        "hs_timestamp": dt.datetime.now(dt.UTC).isoformat(), "hs_call_title": "Discovery call"})
    assert adapter.activity_logged_since("contact", lead["id"], since) is False  # not yet on the record
    portal.simulate(action="associate", object_type="calls", id=call["id"], to_object_type="contacts",
                   to_id=lead["id"])
    assert adapter.activity_logged_since("contact", lead["id"], since) is True


def _pass(adapter, cursor: str | None, limit: int = 100, overlap=dt.timedelta(0)) -> tuple[list, str]:
    """One sweep pass: every page until has_more ends; (records seen, the cursor it ends with)."""
    seen = []
    while True:
        page = adapter.changed_since("contact", cursor, limit=limit, overlap=overlap)
        seen += page.records
        cursor, overlap = page.cursor, dt.timedelta(0)
        if not page.has_more:
            return seen, cursor


class QuickHubSpot(HubSpotAdapter):
    """HubSpot's lag bound scaled down with the sandbox's lag, so that a test waits a second instead of ten."""

    SEARCH_LAG = dt.timedelta(seconds=1)


def test_changed_since_pages_through_changes_oldest_first(portal):
    adapter = portal.adapter()
    seen, cursor = _pass(adapter, None, limit=12)
    assert len(seen) == len(portal.records("contacts")) == 30
    assert [r.updated_at for r in seen] == sorted(r.updated_at for r in seen)
    katrin = portal.contact("katrin.vogel@umbrellahealth.de")
    portal.simulate(action="update", object_type="contacts", id=katrin["id"], properties={"jobtitle": "Leitung"})
    # the 30 were changed (seeded) within SEARCH_LAG: the next pass reads them again, katrin's change last
    again, _ = _pass(adapter, cursor)
    assert {r.id for r in again} == {r.id for r in seen} and again[-1].id == katrin["id"]


def test_changed_since_moves_its_cursor_only_past_settled_changes(adapter_sandbox, staged):
    portal = Portal(adapter_sandbox, seed=None)
    adapter = QuickHubSpot(tenant_for(portal.account, "hubspot"), StaticTokens(portal.account["access_token"]))
    staged(search_lag_ms=500)
    first, second = (portal.simulate(action="create", object_type="contacts", properties={"email": e})["id"]
                     for e in ("first@lag.example", "second@lag.example"))
    time.sleep(1.1)  # both indexed and settled: first, then second in the index's order
    portal.simulate(action="update", object_type="contacts", id=first, properties={"jobtitle": "CTO"})
    # the index still sorts `first` by its old time but the answer carries its new one; a cursor taken from it
    # would skip `second`
    seen, cursor = _pass(adapter, None, limit=1)
    assert [r.id for r in seen] == [first, second]
    time.sleep(1.1)
    assert [r.id for r in _pass(adapter, cursor)[0]] == [first]  # its change, read again once settled
    assert _pass(adapter, _pass(adapter, cursor)[1])[0] == []


def test_changed_since_with_an_overlap_reads_again_what_changed_just_before_the_cursor(adapter_sandbox):
    portal = Portal(adapter_sandbox, seed=None)
    adapter = QuickHubSpot(tenant_for(portal.account, "hubspot"), StaticTokens(portal.account["access_token"]))
    late = portal.simulate(action="create", object_type="contacts", properties={"email": "late@lag.example"})["id"]
    time.sleep(1.1)
    seen, cursor = _pass(adapter, None)
    assert [r.id for r in seen] == [late] and _pass(adapter, cursor)[0] == []
    assert [r.id for r in _pass(adapter, cursor, overlap=dt.timedelta(seconds=5))[0]] == [late]


# errors, budget ---------------------------------------------------------------------------
def test_bad_token_refreshes_once_then_raises_auth_error(portal):
    tokens = StaticTokens("bad-token", refreshed="still-bad")
    with pytest.raises(CRMAuthError):
        portal.adapter(tokens=tokens).get_record("contact", "1")
    assert tokens.refresh_calls == 1


def test_refreshed_token_is_used_for_the_retry(portal):
    tokens = StaticTokens("expired-token", refreshed=portal.account["access_token"])
    assert portal.adapter(tokens=tokens).find_company(name="Initech").name == "Initech"
    assert tokens.refresh_calls == 1


def test_refused_refresh_propagates_reauth_required(portal):
    with pytest.raises(ReauthRequired):
        portal.adapter(tokens=StaticTokens("bad-token")).list_users()


def test_staged_server_error_is_transient(portal, staged):
    staged(error_rate=1.0)
    with pytest.raises(CRMTransient):
        portal.adapter().get_record("contact", "1")


def test_staged_timeout_is_transient(portal, staged):
    staged(timeout_rate=1.0, timeout_s=1.0)
    adapter = portal.adapter()
    adapter.client.timeout = (1.0, 0.2)
    with pytest.raises(CRMTransient):
        adapter.get_task("1")


def test_burst_limit_is_rate_limited_with_the_window_to_wait(portal, staged, budget):
    staged(limits={"hubspot": {"burst_per_10s": 2}})
    adapter = portal.adapter(budget)
    adapter.get_task("1"), adapter.get_task("2")
    with pytest.raises(CRMRateLimited) as err:
        adapter.get_task("3")
    assert err.value.retry_after == 10.0
    assert budget.observed[-1] == ("default", 0, 2, 10.0)


def test_rate_limited_batch_call_gives_every_item_the_rate_limit(portal, staged):
    contacts, owner = portal.first("contacts"), portal.first("owners", 1)[0]
    spec = TaskSpec(subject="Call", body="", due_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC), owner_id=owner,
                    record_type="contact", record_id=contacts[0])
    staged(limits={"hubspot": {"burst_per_10s": 0}})
    adapter = portal.adapter()
    failures = adapter.set_owners("contact", [OwnerWrite(c, owner) for c in contacts])
    assert sorted(failures) == sorted(contacts) and {type(e) for e in failures.values()} == {CRMRateLimited}
    assert [type(r) for r in adapter.create_tasks([spec, spec])] == [CRMRateLimited, CRMRateLimited]


def test_search_limit_is_rate_limited_for_a_second(portal, staged):
    staged(limits={"hubspot": {"search_per_second": 1}})
    adapter = portal.adapter()
    adapter.find_company(name="Initech")
    with pytest.raises(CRMRateLimited) as err:
        adapter.find_company(name="Initech")  # the sandbox answers with the real body: no policyName
    assert err.value.retry_after == 1.0


def test_a_search_429_without_policy_name_holds_the_shared_budget_for_a_second_not_ten(portal, staged, redis_url):
    from redis import Redis

    from integration.ratelimit import RedisRateBudget

    staged(limits={"hubspot": {"search_per_second": 1}})
    budget = RedisRateBudget(Redis.from_url(redis_url), 1, HubSpotAdapter.RATE_LIMITS, max_wait=0.0)
    adapter = portal.adapter(budget)  # with the shared budget, as build_adapter makes it for the jobs
    adapter.find_companies(["initech.example"])
    with pytest.raises(CRMRateLimited) as err:
        adapter.find_companies(["globex.example"])
    assert err.value.retry_after == 1.0 and not getattr(err.value, "ours", False)
    with pytest.raises(CRMRateLimited) as held:  # the next search LeadRelay would send waits this long
        budget.acquire("search")
    assert 1.0 <= held.value.retry_after < 2.0  # the 10-second default held it 10.4 s
    budget.acquire("default")  # other calls are not held


def test_a_burst_429_lowers_the_limit_every_worker_believes(portal, staged, redis_url):
    """Calls the tenant's budget never saw (another app, a user's import) used up the portal's window: the CRM's 429
    holds the shared budget off and makes it believe a quarter less than even that 429's headers say."""
    staged(limits={"hubspot": {"burst_per_10s": 4}})
    budget = shared_budget(redis_url, HubSpotAdapter)
    elsewhere = portal.adapter()
    for task_id in ("1", "2", "3", "4"):
        elsewhere.get_task(task_id)
    with pytest.raises(CRMRateLimited) as err:
        portal.adapter(budget).get_task("5")
    assert not getattr(err.value, "ours", False)
    assert believed_limits(redis_url, HubSpotAdapter) == {"default": 3, "search": None}  # the headers said 4
    with pytest.raises(CRMRateLimited) as held:  # the next call LeadRelay would send waits out the 429
        budget.acquire("default")
    assert held.value.retry_after >= err.value.retry_after


def test_a_429_of_our_own_budget_teaches_it_nothing(portal, redis_url):
    budget = shared_budget(redis_url, HubSpotAdapter)
    budget.acquire("default", 90)  # all of the 90 % of 100 per 10 s LeadRelay allows itself
    portal.reset_calls()
    with pytest.raises(CRMRateLimited) as err:
        portal.adapter(budget).get_task("1")
    assert err.value.ours and portal.calls() == []
    assert believed_limits(redis_url, HubSpotAdapter) == {"default": None, "search": None}


def test_a_429_is_told_by_its_policy_then_its_endpoint_then_its_message():
    def answer(body: dict) -> SimpleNamespace:
        return SimpleNamespace(status=429, headers={}, body=json.dumps(body))

    # a real search 429 (recorded, see adapters/hubspot/errors.py): no policyName, no errorType, no headers
    recorded = {"status": "error", "message": "You have reached your secondly limit.",
                "correlationId": "de61843f-b3ab-4bc1-8c54-358e37eb0621", "category": "RATE_LIMITS"}
    other = {**recorded, "message": "Too many requests"}
    assert translate(answer(recorded)).retry_after == 1.0
    assert translate(answer(other), search=True).retry_after == 1.0
    assert translate(answer(other)).retry_after == 10.0
    assert translate(answer({**other, "policyName": "TEN_SECONDLY_ROLLING"}), search=True).retry_after == 10.0


def test_budget_is_taken_per_call_and_fed_from_headers(portal, budget):
    portal.adapter(budget).get_record("contact", portal.records("contacts")[0]["id"])
    assert budget.acquired == [("default", 1)]
    [(bucket, remaining, limit, reset_after)] = budget.observed
    assert (bucket, limit, reset_after) == ("default", 110, 10.0) and 0 <= remaining < 110
