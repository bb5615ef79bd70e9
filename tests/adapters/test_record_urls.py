"""Each adapter links a record to its page in the CRM's web app (the rep's task, the console): the platform's own
URL shape from the installation, or the same path on the sandbox. No network call."""
from __future__ import annotations

import pytest

from adapters.hubspot.adapter import HubSpotAdapter
from adapters.pipedrive.adapter import PipedriveAdapter
from adapters.salesforce.adapter import SalesforceAdapter
from integration.errors import CRMValidationError
from integration.protocols import CRMAdapter, TenantRef


class NoTokens:
    def access_token(self) -> str:
        raise AssertionError("record_url must not call the CRM")

    def after_unauthorized(self, rejected: str) -> str:
        raise AssertionError("record_url must not call the CRM")


def adapter(cls, platform: str, external_id: str, api_base: str) -> CRMAdapter:
    return cls(TenantRef(id=1, platform=platform, external_id=external_id, api_base=api_base), NoTokens())


@pytest.mark.parametrize(("cls", "platform", "external_id", "api_base", "object_type", "record_id", "url"), [
    (HubSpotAdapter, "hubspot", "4512345", "https://api.hubapi.com", "contact", "1051",
     "https://app.hubspot.com/contacts/4512345/record/0-1/1051"),
    (HubSpotAdapter, "hubspot", "4512345", "https://api.hubapi.com", "company", "77",
     "https://app.hubspot.com/contacts/4512345/record/0-2/77"),
    (HubSpotAdapter, "hubspot", "4512345", "https://127.0.0.1:8701", "contact", "1051",
     "https://127.0.0.1:8701/contacts/4512345/record/0-1/1051"),
    (SalesforceAdapter, "salesforce", "00D5e000000AbCdEAK", "https://acme.my.salesforce.com", "lead",
     "00Q5e00000Ab1CdEAJ", "https://acme.my.salesforce.com/lightning/r/Lead/00Q5e00000Ab1CdEAJ/view"),
    (SalesforceAdapter, "salesforce", "00D5e000000AbCdEAK", "https://acme.my.salesforce.com/", "contact",
     "0035e00000Ab1CdEAJ", "https://acme.my.salesforce.com/lightning/r/Contact/0035e00000Ab1CdEAJ/view"),
    (PipedriveAdapter, "pipedrive", "13", "https://acme-sales.pipedrive.com", "contact", "42",
     "https://acme-sales.pipedrive.com/person/42"),
    (PipedriveAdapter, "pipedrive", "13", "https://acme-sales.pipedrive.com", "deal", "7",
     "https://acme-sales.pipedrive.com/deal/7"),
])
def test_record_url(cls, platform, external_id, api_base, object_type, record_id, url):
    assert adapter(cls, platform, external_id, api_base).record_url(object_type, record_id) == url


def test_an_object_without_a_record_page_is_refused():
    with pytest.raises(CRMValidationError):
        adapter(PipedriveAdapter, "pipedrive", "13", "https://acme.pipedrive.com").record_url("task", "1")
