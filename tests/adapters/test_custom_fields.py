"""ensure_custom_fields and the leadrelay_* fields, per adapter, against the sandbox (HTTPS, the real SDKs)."""
from __future__ import annotations

import pytest
import requests

from adapters.hubspot.adapter import HubSpotAdapter
from adapters.pipedrive.adapter import PipedriveAdapter
from adapters.salesforce.adapter import SalesforceAdapter
from integration.errors import CRMValidationError
from tests.adapters.conftest import StaticTokens, sandbox_account, tenant_for

HTTP = requests.Session()
HTTP.trust_env = False
ADAPTERS = {"hubspot": HubSpotAdapter, "salesforce": SalesforceAdapter, "pipedrive": PipedriveAdapter}
# a seeded lead of each demo account: (object type, the sandbox table, how to find an id)
LEAD_OBJECT = {"hubspot": ("contact", "contacts", "id"), "salesforce": ("lead", "Lead", "Id"),
               "pipedrive": ("contact", "persons", "id")}
WRITTEN = {"leadrelay_score": 85, "leadrelay_tier": "hot", "leadrelay_rule": "Germany",
           "leadrelay_reason": "Rule 'Germany' (country DE) → Ben Owner", "leadrelay_duplicate_of": "123",
           "leadrelay_enriched": "city, state, county, time zone from ZIP 75201; country from phone +1 214…",
           "leadrelay_email_type": "business", "leadrelay_timezone": "America/Chicago"}


def make(server, platform: str, **settings):
    account = sandbox_account(server, platform)
    adapter = ADAPTERS[platform](tenant_for(account, platform, **settings), StaticTokens(account["access_token"]))
    return account, adapter


def first_lead(server, account: dict, platform: str) -> str:
    _, table, key = LEAD_OBJECT[platform]
    rows = HTTP.get(f"{server.url}/_sandbox/accounts/{account['account_id']}/{table}", timeout=10).json()["results"]
    return str(rows[0][key])


def test_hubspot_creates_its_group_and_properties_once(adapter_sandbox):
    account, adapter = make(adapter_sandbox, "hubspot")
    assert adapter.ensure_custom_fields() == ["leadrelay_score", "leadrelay_tier", "leadrelay_rule",
                                              "leadrelay_reason", "leadrelay_duplicate_of", "leadrelay_enriched",
                                              "leadrelay_email_type", "leadrelay_timezone"]
    assert adapter.ensure_custom_fields() == []  # idempotent
    listed = adapter.client.call("default", "properties", "core_api", "get_all", "contacts")
    score = next(p for p in listed.results if p.name == "leadrelay_score")
    assert (score.type, score.group_name, score.hubspot_defined) == ("number", "leadrelay", False)


def test_pipedrive_creates_person_fields_and_maps_them_by_key(adapter_sandbox):
    account, adapter = make(adapter_sandbox, "pipedrive")
    created = adapter.ensure_custom_fields()
    # five reason fields, lifecycle and three of enrichment
    assert len(created) == 9 and all(len(key) == 40 for key in created)
    assert adapter.ensure_custom_fields() == []
    keys = adapter.leadrelay_keys()
    assert sorted(keys) == sorted([*WRITTEN, "leadrelay_lifecycle"]) and sorted(keys.values()) == sorted(created)
    person = first_lead(adapter_sandbox, account, "pipedrive")
    adapter.set_fields("contact", person, WRITTEN)
    stored = HTTP.get(f"{adapter_sandbox.url}/_sandbox/accounts/{account['account_id']}/persons",
                      timeout=10).json()["results"]
    row = next(r for r in stored if str(r["id"]) == person)
    assert row["custom_fields"][keys["leadrelay_rule"]] == "Germany"


def test_pipedrive_finds_the_keys_by_name_when_the_install_job_has_not_stored_them(adapter_sandbox):
    account, installer = make(adapter_sandbox, "pipedrive")
    installer.ensure_custom_fields()
    fresh = PipedriveAdapter(tenant_for(account, "pipedrive"), StaticTokens(account["access_token"]))
    person = first_lead(adapter_sandbox, account, "pipedrive")
    fresh.set_fields("contact", person, {"leadrelay_tier": "warm"})
    assert fresh.get_record("contact", person).fields["leadrelay_tier"] == "warm"


@pytest.mark.parametrize("platform", ["hubspot", "salesforce", "pipedrive"])
def test_written_fields_read_back_as_neutral_names(adapter_sandbox, platform):
    account, installer = make(adapter_sandbox, platform)
    installer.ensure_custom_fields()
    settings = {"leadrelay_fields": {"ready": True}}
    if platform == "pipedrive":
        settings["leadrelay_fields"]["keys"] = installer.leadrelay_keys()
    adapter = ADAPTERS[platform](tenant_for(account, platform, **settings), StaticTokens(account["access_token"]))
    object_type = LEAD_OBJECT[platform][0]
    lead = first_lead(adapter_sandbox, account, platform)
    adapter.set_fields(object_type, lead, WRITTEN)
    fields = adapter.get_record(object_type, lead).fields
    assert {k: fields.get(k) for k in WRITTEN} == {**WRITTEN, "leadrelay_score": fields["leadrelay_score"]}
    assert float(fields["leadrelay_score"]) == 85


def test_salesforce_package_fields_are_checked_not_created(adapter_sandbox):
    _, adapter = make(adapter_sandbox, "salesforce")
    assert adapter.ensure_custom_fields() == []


def test_salesforce_without_the_package_tells_the_admin_to_install_it(adapter_sandbox, monkeypatch):
    _, adapter = make(adapter_sandbox, "salesforce")
    real = adapter._rest

    def without_package(path, method="GET", **kwargs):
        answer = real(path, method, **kwargs)
        if path.endswith("/describe"):
            answer = {**answer, "fields": [f for f in answer["fields"] if not f["name"].startswith("LeadRelay_")]}
        return answer

    monkeypatch.setattr(adapter, "_rest", without_package)
    with pytest.raises(CRMValidationError, match="install the LeadRelay package") as refused:
        adapter.ensure_custom_fields()
    assert "Lead.LeadRelay_Score__c" in str(refused.value)


def test_salesforce_reads_leave_package_fields_out_until_the_install_job_found_them(adapter_sandbox):
    account, adapter = make(adapter_sandbox, "salesforce")
    lead = first_lead(adapter_sandbox, account, "salesforce")
    adapter.set_fields("lead", lead, {"leadrelay_tier": "hot"})
    assert "leadrelay_tier" not in adapter.get_record("lead", lead).fields
