"""The marketplace manifests say what the code does: scopes, redirect URLs, webhook target and events."""
from __future__ import annotations

import json

from marketplace.manifests import HERE, build
from oauth.hubspot import HubSpotOAuth


def test_committed_manifests_match_the_code():
    expected = build()
    for name, text in expected.items():
        path = HERE / name
        assert path.exists(), f"{name} missing: run python -m marketplace.manifests"
        assert path.read_text() == text, f"{name} drifted from the code: run python -m marketplace.manifests"


def test_hubspot_manifest_routes_exist_in_the_app(app):
    manifest = json.loads(build("http://localhost")["hubspot/app-hsmeta.json"])
    assert manifest["config"]["auth"]["requiredScopes"] == list(HubSpotOAuth.SCOPES)
    assert manifest["config"]["auth"]["optionalScopes"] == list(HubSpotOAuth.OPTIONAL_SCOPES)
    rules = {r.rule for r in app.url_map.iter_rules()}
    assert "/oauth/<platform>/callback" in rules and "/webhooks/<platform>" in rules
    webhooks = json.loads(build("http://localhost")["hubspot/webhooks-hsmeta.json"])
    assert webhooks["config"]["settings"]["targetUrl"] == "http://localhost/webhooks/hubspot"
    types = {s["subscriptionType"] for s in webhooks["config"]["subscriptions"]["legacyCrmObjects"]}
    assert "contact.creation" in types and "contact.propertyChange" in types


def test_the_salesforce_setup_sheet_lists_the_fields_the_parser_uses_and_the_sandbox_sends():
    from adapters.salesforce.webhooks import SalesforceWebhooks
    from sandbox.salesforce.outbound import DOCUMENTED_FIELDS

    sheet = json.loads(build("http://localhost")["salesforce/outbound-messages.json"])
    assert sheet["endpoint_url"].startswith("http://localhost/webhooks/salesforce/")
    assert {name: spec["fields"] for name, spec in sheet["objects"].items()} == {
        name: ["Id", "CreatedDate", "LastModifiedById", "LastModifiedDate"]
        for name in ("Lead", "Contact", "Account", "Opportunity")}
    assert tuple(sheet["objects"]["Lead"]["fields"]) == SalesforceWebhooks.OUTBOUND_FIELDS == DOCUMENTED_FIELDS
    assert {n.split(".")[0] for n in SalesforceWebhooks.EVENT_KINDS} == set(sheet["objects"])
