"""How the console names a record, an owner and a field: a person with a link to the CRM (built from the
installation alone, the same URL the adapter gives a rep's task), an owner by name, a key in plain words."""
from __future__ import annotations

import pytest

from adapters.hubspot.adapter import HubSpotAdapter
from adapters.pipedrive.adapter import PipedriveAdapter
from adapters.salesforce.adapter import SalesforceAdapter
from integration.models import Tenant
from integration.protocols import TenantRef
from integration.records import CRMUser, Record
from integration.rules.model import RuleSet
from marketplace.labels import decision_label, label, readable, review_kind_label
from marketplace.record_display import Owners, crm_links, from_records, view, with_names
from tests.adapters.test_record_urls import NoTokens

TENANTS = {
    "hubspot": (HubSpotAdapter, Tenant(id=1, platform="hubspot", external_id="4512345", name="H",
                                       api_base="https://api.hubapi.com")),
    "salesforce": (SalesforceAdapter, Tenant(id=2, platform="salesforce", external_id="00D5e000000AbCdEAK",
                                             name="S", api_base="https://acme.my.salesforce.com")),
    "pipedrive": (PipedriveAdapter, Tenant(id=3, platform="pipedrive", external_id="13", name="P",
                                           api_base="https://acme-sales.pipedrive.com")),
}


@pytest.mark.parametrize(("platform", "object_type", "record_id", "url", "title"), [
    ("hubspot", "contact", "363", "https://app.hubspot.com/contacts/4512345/record/0-1/363", "HubSpot"),
    ("salesforce", "lead", "00Q5e00000Ab1CdEAJ",
     "https://acme.my.salesforce.com/lightning/r/Lead/00Q5e00000Ab1CdEAJ/view", "Salesforce"),
    ("pipedrive", "contact", "42", "https://acme-sales.pipedrive.com/person/42", "Pipedrive"),
])
def test_the_crm_link_is_the_adapters_own_url_without_a_token(platform, object_type, record_id, url, title):
    cls, tenant = TENANTS[platform]
    ref = TenantRef(id=tenant.id, platform=platform, external_id=tenant.external_id, api_base=tenant.api_base)
    assert crm_links(tenant)(object_type, record_id) == url
    assert cls(ref, NoTokens()).record_url(object_type, record_id) == url  # one source of truth
    shown = view(tenant, crm_links(tenant), object_type, record_id, {"first_name": "Ada"})
    assert (shown.crm_url, shown.crm_label) == (url, f"Open in {title}")


def test_no_link_where_the_crm_has_no_page_or_the_install_has_no_address():
    _, pipedrive = TENANTS["pipedrive"]
    assert crm_links(pipedrive)("task", "1") == ""
    assert crm_links(Tenant(id=9, platform="hubspot", external_id="1", name="x", api_base=""))("contact", "5") == ""
    assert crm_links(Tenant(id=9, platform="nowhere", external_id="1", name="x", api_base="https://x"))(
        "contact", "5") == ""


def test_a_record_is_named_by_its_person_else_its_email_else_unnamed():
    _, tenant = TENANTS["hubspot"]
    links = crm_links(tenant)
    ada = view(tenant, links, "contact", "1", {"first_name": " Ada ", "last_name": "Lovelace", "company": "Acme",
                                                  "email": "Ada@Acme.test"})
    assert (ada.name, ada.company, ada.email, ada.short) == ("Ada Lovelace", "Acme", "ada@acme.test",
                                                           "Ada Lovelace · Acme")
    assert view(tenant, links, "contact", "2", {"email": "x@y.test"}).name == "x@y.test"
    assert view(tenant, links, "company", "3", {"name": "Acme Inc."}).name == "Acme Inc."
    nobody = view(tenant, links, "contact", "4", None)
    assert (nobody.name, nobody.crm_url) == ("Unnamed lead", "https://app.hubspot.com/contacts/4512345/record/0-1/4")
    _, pipedrive = TENANTS["pipedrive"]
    found = from_records(pipedrive, [Record("contact", "42", {"first_name": "Bo", "last_name": "Li"})])
    assert (found[("contact", "42")].name, found[("contact", "42")].kind_label) == ("Bo Li", "Person")


def test_owners_by_name_with_the_email_secondary_and_never_a_bare_id():
    rules = RuleSet.model_validate({"version": 1, "owners": [{"email": "cy@acme.test", "name": "Cy Rule"}]})
    owners = Owners([CRMUser(id="60000002", email="alice@acme.test", name="Alice Adams"),
                     CRMUser(id="60000003", email="nameless@acme.test", name="")], rules)
    assert (owners.get("60000002").name, owners.get("60000002").email) == ("Alice Adams", "alice@acme.test")
    assert owners.get("ALICE@acme.test").name == "Alice Adams"
    assert owners.get("nameless@acme.test").name == "nameless@acme.test"
    assert owners.get("cy@acme.test").name == "Cy Rule"  # not in the CRM's list: the rule set names them
    assert owners.label("60000002") == "Alice Adams <alice@acme.test>"
    gone = owners.get("60000099")
    assert "60000099" not in gone.name and not gone.known
    assert owners.get(None) is None


@pytest.mark.parametrize(("key", "text"), [
    ("first_name", "First name"), ("leadrelay_reason", "Routing reason"), ("owner_id", "Owner"),
    ("employees", "Employees"), ("time_to_first_touch_median_seconds", "Time to first touch (median)"),
    ("some_key", "Some key"), ("leadrelay_custom_thing", "Custom thing"), ("", ""),
])
def test_a_key_reads_as_words(key, text):
    assert label(key) == text


def test_kinds_and_nested_inputs_read_as_words():
    assert decision_label("route", "review") == "Sent to review"
    assert decision_label("route", "alice@acme.test") == "Routed"
    assert decision_label("dedup", "merged into 5") == "Duplicate merged"
    assert decision_label("sla", "notify_manager") == "SLA escalated"
    assert decision_label("review", "merged into 5") == "Merged by hand"
    assert decision_label("brand_new", "x") == "Brand new"
    assert review_kind_label("routing") == "Nobody could take this lead"
    rows = readable({"score": 0.875, "sla_task": False, "lead": {"country": "US", "employees": 350},
                     "crm_refused": ["a", "b"], "empty": None, "written_at": "2024-03-01T09:00:00+00:00",
                     "extra": {"nested_key": 1}})
    assert rows == [("Score", "0.88"), ("SLA task opened", "No"), ("Country", "US"), ("Employees", "350"),
                    ("Not written to the CRM", "a, b"), ("Written to the CRM", "2024-03-01 09:00 UTC"),
                    ("Extra · Nested key", "1")]


def test_ids_in_a_sentence_become_names_only_where_they_stand_alone():
    names = {"501": "Grace Hopper", "81": "Ann Lee", "7": "Unnamed lead"}
    assert with_names("Merged 501 into 500 (score 0.81)", names) == "Merged Grace Hopper into 500 (score 0.81)"
    assert with_names("81 is not a duplicate of 5011", names) == "Ann Lee is not a duplicate of 5011"
    assert with_names("x81@acme.test and 81.5 stay; 7 stays unnamed", names) == \
        "x81@acme.test and 81.5 stay; 7 stays unnamed"
