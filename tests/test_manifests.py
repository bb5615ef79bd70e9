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
    rules = {r.rule for r in app.url_map.iter_rules()}
    assert "/oauth/<platform>/callback" in rules and "/webhooks/<platform>" in rules
    webhooks = json.loads(build("http://localhost")["hubspot/webhooks-hsmeta.json"])
    assert webhooks["config"]["settings"]["targetUrl"] == "http://localhost/webhooks/hubspot"
    types = {s["subscriptionType"] for s in webhooks["config"]["subscriptions"]["legacyCrmObjects"]}
    assert "contact.creation" in types and "contact.propertyChange" in types
